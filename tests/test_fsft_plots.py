"""aitom.classify.deep.fsft.plots: PNG figures written atomically, sized by their content, without pyplot."""
import os
import struct

import numpy as np

from aitom.classify.deep.fsft.plots import save_confusion_matrix, save_figure, save_training_curves, subplots


def png_size(path):
    """(width, height) in pixels from the PNG header."""
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_confusion_matrix_grows_with_the_classes_and_shows_the_counts(tmp_path):
    small = save_confusion_matrix([[5, 0], [0, 5]], ["a", "b"], str(tmp_path / "two.png"))
    names = [f"class{i}" for i in range(8)]
    large = save_confusion_matrix(np.eye(8, dtype=int) * 3, names, str(tmp_path / "eight.png"))
    assert all(l > s for l, s in zip(png_size(large), png_size(small)))
    swapped = save_confusion_matrix([[0, 5], [5, 0]], ["a", "b"], str(tmp_path / "swapped.png"))
    assert open(swapped, "rb").read() != open(small, "rb").read()


def test_a_class_without_rows_does_not_divide_by_zero(tmp_path):
    path = save_confusion_matrix([[3, 1], [0, 0]], ["a", "b"], str(tmp_path / "cm.png"))
    assert png_size(path)[0] > 0


def test_training_curves_have_one_panel_per_non_empty_stage_and_create_the_folder(tmp_path):
    one = save_training_curves({"1": {"loss": [1.0, 0.5]}, "2.1": {}}, str(tmp_path / "a" / "one.png"))
    three = save_training_curves({s: {"loss": [1.0, 0.5], "acc": [0.2, 0.4]} for s in ("1", "2.1", "3")},
                                 str(tmp_path / "b" / "three.png"))
    assert png_size(three)[0] > 2 * png_size(one)[0]
    assert png_size(save_training_curves({}, str(tmp_path / "empty.png")))[0] > 0


def test_writes_replace_a_file_whole_and_leave_nothing_else(tmp_path):
    path = tmp_path / "fig.png"
    path.write_bytes(b"old")
    fig, ax = subplots(1, 2, figsize=(4, 2), squeeze=False)
    assert ax.shape == (1, 2)
    ax[0, 0].plot([0, 1], [0, 1])
    save_figure(fig, str(path))
    assert png_size(str(path))[0] > 0
    assert os.listdir(tmp_path) == ["fig.png"]
