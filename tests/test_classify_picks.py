"""Classifying picks: streaming inference over several tomograms, thresholds, edges, strategies, the
``classify-picks`` command and a fast run of the end-to-end tutorial."""
import importlib.util
import os

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from aitom.classify.deep.fsft.classifier import SubtomogramClassifier
from aitom.classify.deep.fsft.cli import main as aitom_fsft
from aitom.classify.deep.fsft.picks import classify_picks, group_by_tomogram, tomogram_aliases
from aitom.errors import InputError
from aitom.io.file import put_mrc
from aitom.io.particles import read_particles

BOX = 16
BLOBS = [(20, 20, 20), (40, 28, 18)]
NOISE = [(44, 12, 24)]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _classifier(class_names=("background", "blob")):
    """Deterministic 'blob detector': logit of 'blob' = 3 x mean of the standardised central 4^3 voxels."""
    inp = keras.Input((BOX, BOX, BOX, 1))
    x = keras.layers.GlobalAveragePooling3D()(keras.layers.Cropping3D(6)(inp))
    out = keras.layers.Dense(2)(x)
    model = keras.Model(inp, out)
    model.layers[-1].set_weights([np.array([[0.0, 3.0]]), np.zeros(2)])
    return SubtomogramClassifier(model, class_names, BOX, voxel_spacing_nm=1.0)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("picks")
    rng = np.random.default_rng(0)
    paths = []
    for name in ("rec_TS_1.mrc", "TS_2.mrc"):
        v = rng.normal(0, 1, (64, 48, 40)).astype(np.float32)
        for c in BLOBS:
            v[tuple(slice(k - 2, k + 3) for k in c)] += 5.0
        for c in NOISE:  # a dark spot: a false pick the blob detector calls background
            v[tuple(slice(k - 2, k + 3) for k in c)] -= 5.0
        put_mrc(v, d / name, voxel_spacing=10.0)
        paths.append(str(d / name))
    star = d / "picks.star"
    rows = [(name, *c) for name in ("TS_1", "TS_2") for c in BLOBS + NOISE] + [("TS_2", 1, 1, 1)]
    lines = "\n".join(f"{n} {x} {y} {z} 1" for n, x, y, z in rows)
    star.write_text("data_optics\nloop_\n_rlnOpticsGroup\n_rlnTomoTiltSeriesPixelSize\n1 10.0\n\n"
                    "data_particles\nloop_\n_rlnTomoName\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnCoordinateZ\n"
                    f"_rlnOpticsGroup\n{lines}\n")
    model_dir = d / "model"
    _classifier().save(str(model_dir))
    return {"dir": d, "tomograms": paths, "star": str(star), "model": str(model_dir)}


def test_classify_picks_over_two_tomograms(data):
    picks = read_particles(data["star"])
    result = classify_picks(data["tomograms"], picks, _classifier(), batch_size=2, progress=False, edge="skip")
    assert list(result["rlnTomoName"]) == list(picks["rlnTomoName"])  # row order and input columns kept
    assert list(result["fsft_class"]) == ["blob", "blob", "background"] * 2 + ["skipped"]
    assert list(result["fsft_skip_reason"]) == [""] * 6 + ["box_crosses_edge"]
    p = result[["fsft_p_background", "fsft_p_blob"]].to_numpy()
    np.testing.assert_allclose(p[:6].sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(result["fsft_probability"][:6], p[:6].max(axis=1))
    assert np.isnan(p[6]).all() and np.isnan(result["fsft_probability"][6])
    # same probabilities as the classifier's own batch prediction on the cut cubes
    padded = classify_picks(data["tomograms"], picks, _classifier(), batch_size=64, progress=False)
    np.testing.assert_allclose(padded[["fsft_p_background", "fsft_p_blob"]].to_numpy()[:6], p[:6], rtol=1e-5)
    assert padded["fsft_class"].iloc[6] in ("blob", "background")


def test_threshold_and_strategy(data):
    picks = read_particles(data["star"]).iloc[:3]
    low = classify_picks(data["tomograms"], picks, _classifier(), threshold=0.999999, progress=False)
    assert list(low["fsft_class"]) == ["background"] * 3
    no_background = classify_picks(data["tomograms"], picks, _classifier(("blob", "other")), threshold=0.999999,
                                   progress=False)
    assert list(no_background["fsft_class"]) == ["unassigned"] * 3
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    a = classify_picks(data["tomograms"], picks, _classifier(), strategy=strategy, progress=False)
    b = classify_picks(data["tomograms"], picks, _classifier(), progress=False)
    np.testing.assert_allclose(a["fsft_p_blob"], b["fsft_p_blob"], rtol=1e-5)
    with pytest.raises(InputError, match="threshold"):
        classify_picks(data["tomograms"], picks, _classifier(), threshold=2.0, progress=False)



def test_rotation_averaging_classifier_gives_its_own_probabilities_on_picks(data):
    from aitom.classify.deep.fsft import FSFTConfig
    from aitom.classify.deep.fsft.models import FSFTNetworks
    from aitom.io.file import read_mrc_data
    from aitom.picking import extract_subtomograms
    tf.keras.utils.set_random_seed(1)
    net = FSFTNetworks(BOX, 2, FSFTConfig(widths=(4, 4, 6, 8), dcd_hidden=8))
    clf = SubtomogramClassifier(net.inference_model("source"), ("background", "blob"), BOX, 1.0,
                                rotation_averaging=True)
    picks = read_particles(data["star"]).iloc[:3]  # TS_1's
    cubes, _, _ = extract_subtomograms(read_mrc_data(data["tomograms"][0]), picks[["x_px", "y_px", "z_px"]].to_numpy(),
                                       BOX)
    for strategy in (None, tf.distribute.OneDeviceStrategy("/cpu:0")):
        out = classify_picks(data["tomograms"], picks, clf, strategy=strategy, progress=False)
        np.testing.assert_allclose(out[["fsft_p_background", "fsft_p_blob"]].to_numpy(), clf.predict_proba(cubes),
                                   atol=1e-5)
    # the command line follows the saved classifier, or predicts once per pick with --single-pass
    clf.save(str(data["dir"] / "averaging_model"))
    one = SubtomogramClassifier(clf.model, clf.class_names, BOX, 1.0).predict_proba(cubes)
    assert np.abs(one - clf.predict_proba(cubes)).max() > 1e-4
    for flags, want in (([], clf.predict_proba(cubes)), (["--single-pass"], one)):
        out = data["dir"] / "averaged.csv"
        assert aitom_fsft(["classify-picks", "--tomogram", *data["tomograms"], "--picks", data["star"], "--model",
                           str(data["dir"] / "averaging_model"), "--out", str(out), "--no-progress", "--overwrite",
                           *flags]) == 0
        np.testing.assert_allclose(pd.read_csv(out)[["fsft_p_background", "fsft_p_blob"]].to_numpy()[:3], want,
                                   atol=1e-5)


def test_tomogram_matching():
    assert tomogram_aliases("/d/rec_TS_01.mrc") == {"rec_TS_01.mrc", "rec_TS_01", "TS_01"}
    picks = pd.DataFrame({"tomogram": ["a", "b", "a"]})
    groups = group_by_tomogram(picks, ["x/a.mrc", "y/b.rec"])
    assert {k: list(v) for k, v in groups.items()} == {"x/a.mrc": [0, 2], "y/b.rec": [1]}
    with pytest.raises(InputError, match="'c'"):
        group_by_tomogram(pd.DataFrame({"tomogram": ["a", "c"]}), ["a.mrc", "b.mrc"])
    with pytest.raises(InputError, match="empty"):
        group_by_tomogram(pd.DataFrame({"tomogram": [None, "a"]}), ["a.mrc", "b.mrc"])
    assert list(group_by_tomogram(pd.DataFrame({"tomogram": [None, None]}), ["a.mrc"])["a.mrc"]) == [0, 1]


def test_command_line(data, capsys):
    out = data["dir"] / "classified.star"
    status = aitom_fsft(["classify-picks", "--tomogram", *data["tomograms"], "--picks", data["star"],
                         "--model", data["model"], "--out", str(out), "--edge", "skip", "--no-progress"])
    assert status == 0 and "7 picks from 2 tomogram(s)" in capsys.readouterr().out
    back = read_particles(out)
    assert "data_optics" in out.read_text()
    assert list(back["fsft_class"]) == ["blob", "blob", "background"] * 2 + ["skipped"]
    csv = data["dir"] / "classified.csv"
    assert aitom_fsft(["classify-picks", "--tomogram", *data["tomograms"], "--picks", data["star"], "--model",
                       data["model"], "--out", str(csv), "--threshold", "0.5", "--no-progress"]) == 0
    assert "fsft_p_blob" in pd.read_csv(csv).columns
    assert aitom_fsft(["classify-picks", "--tomogram", data["tomograms"][0], "--picks", data["star"],
                       "--model", data["model"], "--out", str(csv), "--no-progress", "--overwrite"]) == 2  # TS_2 unmatched
    assert "TS_2" in capsys.readouterr().err


def test_tutorial_quick(tmp_path):
    spec = importlib.util.spec_from_file_location("picks_tutorial",
                                                  os.path.join(REPO, "doc", "tutorials", "picks_tutorial.py"))
    tutorial = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tutorial)
    metrics = tutorial.run(str(tmp_path), quick=True, seed=0, progress=False)
    for name in ("test_tomogram.mrc", "test_truth.csv", "picks.star", "classified.star", "metrics.json"):
        assert (tmp_path / name).exists()
    assert metrics["template_matching"]["recall"] >= 0.8
    classified = read_particles(tmp_path / "classified.star")
    assert {"ptmLCCmax", "fsft_class", "fsft_probability", "fsft_p_background"} <= set(classified.columns)
