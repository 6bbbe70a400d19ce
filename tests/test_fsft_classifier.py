"""aitom.classify.deep.fsft.classifier: predictions, input checks, the classifier folder."""
import json

import numpy as np
import pytest

from aitom.classify.deep.fsft import FSFTConfig, SubtomogramClassifier
from aitom.classify.deep.fsft.classifier import is_classifier_folder, json_safe, softmax
from aitom.classify.deep.fsft.models import FSFTNetworks
from aitom.errors import InputError


@pytest.fixture(scope="module")
def classifier():
    net = FSFTNetworks(16, 3, FSFTConfig(widths=(4, 4, 6, 8), dcd_hidden=8))
    return SubtomogramClassifier(net.inference_model("source"), ("a", "b", "c"), 16, voxel_spacing_nm=1.0,
                                 meta={"accuracy": float("nan")})


def cubes(n=6, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 16, 16, 16)).astype(np.float32)


def test_probabilities_are_distributions_and_predict_is_their_argmax(classifier):
    x = cubes()
    p = classifier.predict_proba(x, batch_size=4)  # two batches, the second one short
    assert p.shape == (6, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(classifier.predict(x), p.argmax(axis=1))
    assert classifier.predict_proba(x[:0]).shape == (0, 3)


def test_each_subtomogram_is_standardised_inside(classifier):
    x = cubes(seed=1)
    np.testing.assert_allclose(classifier.predict_proba(x * 250.0 - 40.0), classifier.predict_proba(x),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((2, 16, 16)), "shape"),
    (np.zeros((2, 16, 16, 12)), "shape"),
    (np.zeros((2, 20, 20, 20)), "box size"),
    (np.zeros((2, 16, 16, 16), np.complex64), "real"),
])
def test_inputs_that_do_not_fit_are_named(classifier, bad, message):
    with pytest.raises(InputError, match=message):
        classifier.predict_proba(bad)


def test_non_finite_subtomograms_and_other_voxel_sizes_are_refused(classifier):
    x = cubes(3)
    x[1, 0, 0, 0] = np.nan
    with pytest.raises(InputError, match="subtomogram 1 holds NaN"):
        classifier.predict_proba(x)
    classifier.predict_proba(cubes(2), voxel_spacing_nm=1.005)  # within 1 %
    with pytest.raises(InputError, match="voxel spacing"):
        classifier.predict_proba(cubes(2), voxel_spacing_nm=1.1)


def test_save_and_load_give_the_same_classifier(classifier, tmp_path):
    path = str(tmp_path / "clf")
    assert classifier.save(path) == path and is_classifier_folder(path)
    loaded = SubtomogramClassifier.load(path)
    assert (loaded.class_names, loaded.box_size, loaded.voxel_spacing_nm) == (("a", "b", "c"), 16, 1.0)
    assert loaded.meta == {"accuracy": None}  # NaN is stored as null: the JSON stays valid
    x = cubes(seed=2)
    np.testing.assert_allclose(loaded.predict_proba(x), classifier.predict_proba(x), rtol=1e-5, atol=1e-6)


def test_save_replaces_only_a_classifier_folder_and_only_when_asked(classifier, tmp_path):
    path = str(tmp_path / "clf")
    classifier.save(path)
    with pytest.raises(InputError, match="overwrite=True"):
        classifier.save(path)
    classifier.save(path, overwrite=True)
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not a classifier folder"):
        classifier.save(str(other), overwrite=True)
    assert (other / "keep.txt").read_text() == "mine"


def test_loading_a_folder_that_is_not_a_classifier_names_the_missing_file(tmp_path):
    with pytest.raises(InputError, match="classifier.json"):
        SubtomogramClassifier.load(str(tmp_path))
    (tmp_path / "classifier.json").write_text("{not json")
    (tmp_path / "model.keras").write_bytes(b"")
    with pytest.raises(InputError, match="unreadable classifier description"):
        SubtomogramClassifier.load(str(tmp_path))
    assert not is_classifier_folder(str(tmp_path))


def test_softmax_is_stable_for_large_logits_and_json_safe_drops_non_finite_numbers():
    p = softmax(np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(p, [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    obj = {"a": [1.0, float("inf"), (float("nan"), 2)], "b": "x"}
    assert json.loads(json.dumps(json_safe(obj), allow_nan=False)) == {"a": [1.0, None, [None, 2]], "b": "x"}
