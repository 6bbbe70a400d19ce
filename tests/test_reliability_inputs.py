"""Bad inputs through the entry points a user calls: ``aitom-fsft`` (``cli.main``), ``train`` and the loaders.

Every case must end in one clear line naming the file or field and the problem (exit code 2 for the
CLI, :class:`InputError` for the API), and leave nothing behind: no run folder, no output file, no
hidden ``.partial`` temporary. The reader-level checks themselves are unit-tested in
``test_io_file.py`` and ``test_io_dataset.py``; here they are exercised end to end.
"""
import gzip
import os
import tempfile

import mrcfile
import numpy as np
import pandas as pd
import pytest
from fsft_helpers import blob_set, tiny_config
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from aitom.classify.deep.fsft import SubtomogramClassifier, train
from aitom.classify.deep.fsft import cli
from aitom.classify.deep.fsft.models import FSFTNetworks
from aitom.errors import InputError
from aitom.io.dataset import SubtomogramSet, save_subtomogram_set, save_two_domain, to_dj
from aitom.io.file import put_mrc
from aitom.io.particles import read_particles, write_particles

NO_TRAINING = ["--stages", "1", "--epochs-stage1", "0", "--widths", "4,4,4,8", "--batch-size", "8", "--shots", "2"]


def files_under(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs + _)


def run_cli(args, capsys, code=2):
    """Run ``aitom-fsft args``; return its one-line error message (without the 'aitom-fsft: error: ' prefix)."""
    assert cli.main([str(a) for a in args]) == code
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("aitom-fsft: error: "), err
    return err[len("aitom-fsft: error: "):]


def assert_nothing_partial(folder):
    assert not [f for f in files_under(folder) if ".partial" in f]


@pytest.fixture(scope="module")
def sets():
    return blob_set(6, seed=0), blob_set(6, shift=1.5, noise=1.5, seed=1)


@pytest.fixture
def data(tmp_path, sets):
    """``classes/<class>/pNNNN.mrc`` (the source, as MRC files) and ``target/`` (a set folder)."""
    source, target = sets
    for i, (v, y) in enumerate(zip(source.x, source.y)):
        put_mrc(v, tmp_path / "classes" / source.class_names[y] / f"p{i:04d}.mrc", voxel_spacing=10.0)
    save_subtomogram_set(target, tmp_path / "target")
    return tmp_path


def write_raw(path, zyx):
    os.remove(path)
    with mrcfile.new(path, data=zyx):
        pass


def mrc_with(value):
    def damage(path):
        v = np.random.default_rng(0).normal(size=(16, 16, 16)).astype(np.float32)
        v[3, 4, 5] = value
        os.remove(path)
        with mrcfile.new(path, data=v):  # mrcfile warns about NaN; the reader must refuse it
            pass
    return damage


def to_gzip_truncated(path):
    raw = gzip.compress(open(path, "rb").read())
    os.remove(path)
    with open(path + ".gz", "wb") as f:
        f.write(raw[:len(raw) // 2])
    return path + ".gz"


BAD_FILES = {
    "truncated": (lambda p: os.truncate(p, os.path.getsize(p) - 100), "truncated"),
    "not an MRC file": (lambda p: open(p, "wb").write(b"not a map\n" * 200), "not an MRC file"),
    "int8 (mode 0)": (lambda p: write_raw(p, np.ones((16, 16, 16), np.int8)), "mode 0 holds integers"),
    "int16 (mode 1)": (lambda p: write_raw(p, np.ones((16, 16, 16), np.int16)), "mode 1 holds integers"),
    "uint16 (mode 6)": (lambda p: write_raw(p, np.ones((16, 16, 16), np.uint16)), "mode 6 holds integers"),
    "complex (mode 4)": (lambda p: write_raw(p, np.ones((16, 16, 16), np.complex64)), "complex"),
    "NaN": (mrc_with(np.nan), "1 of 4096 voxels are NaN or infinite"),
    "inf": (mrc_with(-np.inf), "1 of 4096 voxels are NaN or infinite"),
    "constant": (lambda p: put_mrc(np.full((16, 16, 16), 0.5), p, overwrite=True), "volume is constant"),
    "other size": (lambda p: put_mrc(np.ones((20, 20, 20)), p, overwrite=True), "(20, 20, 20) differs from (16, 16, 16)"),
    "truncated gzip": (to_gzip_truncated, "cannot read file"),
}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_volume_file_in_a_data_set(data, case, capsys):
    damage, problem = BAD_FILES[case]
    bad = str(data / "classes" / "class1" / "p0008.mrc")
    out = damage(bad)
    bad = out if isinstance(out, str) else bad  # (a damage may rename the file)
    run_dir = data / "run"
    msg = run_cli(["train", "--source", data / "classes", "--target", data / "target", "--run-dir", run_dir,
                   *NO_TRAINING], capsys)
    assert msg.startswith(bad) and problem in msg
    assert not run_dir.exists()
    assert_nothing_partial(data)


# data sets that are each fine but do not go together, or do not fit the request

def set_like(s, **changes):
    fields = dict(x=s.x, y=s.y, class_names=s.class_names, voxel_spacing_nm=s.voxel_spacing_nm)
    fields.update(changes)
    return SubtomogramSet(**fields)


MISMATCHES = {
    "class only in the target": (
        lambda t: set_like(t, class_names=("class0", "class1", "zzz")), [], "target: class 'zzz' is absent from the source"),
    "too few labelled target subtomograms": (
        lambda t: t, ["--shots", "7"], "target: class 'class0' has 6 labelled subtomograms, fewer than shots=7"),
    "target class without labelled subtomograms": (
        lambda t: set_like(t, y=np.where(t.y == 2, -1, t.y)), [], "class 'class2' has 0 labelled subtomograms"),
    "other voxel size": (
        lambda t: set_like(t, voxel_spacing_nm=2.0), [], "voxel spacing 2.0 nm differs from the source's 1.0 nm"),
    "other box size": (
        lambda t: set_like(t, x=np.ascontiguousarray(t.x[:, :12, :12, :12])), [], "box size 12 differs"),
}


@pytest.mark.parametrize("case", MISMATCHES)
def test_data_sets_that_do_not_fit(tmp_path, sets, case, capsys):
    change, extra, problem = MISMATCHES[case]
    source, target = sets
    save_subtomogram_set(source, tmp_path / "source")
    save_subtomogram_set(change(target), tmp_path / "target")
    msg = run_cli(["train", "--source", tmp_path / "source", "--target", tmp_path / "target",
                   "--run-dir", tmp_path / "run", *NO_TRAINING, *extra], capsys)
    assert problem in msg
    assert not (tmp_path / "run").exists()
    assert_nothing_partial(tmp_path)


@pytest.mark.parametrize("damage, file, problem", [
    (lambda p: os.remove(p / "target" / "labels.npy"), "target/labels.npy", "missing"),
    (lambda p: os.truncate(p / "source" / "subtomograms.npy", 1000), "source/subtomograms.npy", "corrupt .npy"),
    (lambda p: open(p / "dataset.json", "w").write("{"), "dataset.json", "not valid JSON"),
])
def test_damaged_two_domain_folder(tmp_path, sets, damage, file, problem, capsys):
    save_two_domain(tmp_path / "two", *sets)
    damage(tmp_path / "two")
    msg = run_cli(["train", "--dataset", tmp_path / "two", "--run-dir", tmp_path / "run", *NO_TRAINING], capsys)
    assert msg.startswith(str(tmp_path / "two" / file)) and problem in msg
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("content, args, source, problem", [
    (None, [], "missing.json", "No such file"),
    ("{", [], "config.json", "JSONDecodeError"),
    ('{"epochs": 3}', [], "config.json", "unexpected keyword argument 'epochs'"),
    ('{"lr_stage1": -1}', [], "config.json", "config.lr_stage1: must be a finite number > 0, got -1"),
    ("{}", ["--stage3-batch-size", "0"], "config.stage3_batch_size", "must be an integer >= 1, got 0"),
    ("{}", ["--coral-batch-size", "1"], "config.coral_batch_size", "must be an integer >= 2"),
    ("{}", ["--stages", "1,4"], "stages", "unknown stage(s) ['4']"),
])
def test_bad_configuration_is_refused_before_training(data, content, args, source, problem, capsys):
    config = data / ("missing.json" if content is None else "config.json")
    if content is not None:
        config.write_text(content)
    msg = run_cli(["train", "--source", data / "classes", "--target", data / "target", "--run-dir", data / "run",
                   "--config", config, *NO_TRAINING, *args], capsys)
    assert source in msg.split(": ")[0] and problem in msg
    assert not (data / "run").exists()


# in-memory inputs through train(): the error says which domain

@pytest.mark.parametrize("make, problem", [
    (lambda s, t: (s, to_dj(set_like(t, x=np.where(np.arange(18)[:, None, None, None] == 3, np.nan, t.x)))),
     r"^target dj\[3\]: 4096 of 4096 voxels are NaN or infinite"),
    (lambda s, t: (to_dj(s)[:2] + [{"pdb_id": "class0", "v": np.ones((20, 20, 20))}], t),
     r"^source dj\[2\]: volume shape \(20, 20, 20\) differs from \(16, 16, 16\) of dj\[0\]"),
    (lambda s, t: (s, {"class0": t.x[:3], "class1": np.concatenate([t.x[:2], np.full((1, 16, 16, 16), 7.0)])}),
     r"^target dict\['class1'\]\[2\]: volume is constant"),
    (lambda s, t: (set_like(s, x=np.where(np.arange(18)[:, None, None, None] == 4, 1.0, s.x)), t),
     r"^source.x \(subtomogram 4\): volume is constant"),
    (lambda s, t: (s, t.x), r"^target dataset: cannot load a ndarray"),
])
def test_bad_in_memory_data_name_the_domain(sets, make, problem):
    with pytest.raises(InputError, match=problem):
        train(*make(*sets), shots=2, config=tiny_config(), progress=False)


def test_bad_shots_argument():
    source, target = blob_set(3), blob_set(3, seed=1)
    with pytest.raises(InputError, match=r"^config.shots: must be an integer >= 1, got 0"):
        train(source, target, shots=0, config=tiny_config(), progress=False)


# a trained classifier applied to data it does not fit

@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, sets):
    net = FSFTNetworks(16, 3, tiny_config(widths=(4, 4, 4, 8), dcd_hidden=8))
    path = tmp_path_factory.mktemp("model") / "classifier"
    SubtomogramClassifier(net.inference_model("source"), sets[0].class_names, 16, 1.0).save(path)
    return path


@pytest.mark.parametrize("command", ["predict", "evaluate"])
@pytest.mark.parametrize("change, problem", [
    (dict(x=np.ones((2, 20, 20, 20), np.float32) * np.arange(20)), "box size 20 does not match the model's 16"),
    (dict(voxel_spacing_nm=2.0), "voxel spacing 2.0 nm does not match the model's 1.0 nm"),
])
def test_model_applied_to_the_wrong_box_or_voxel_size(tmp_path, sets, model_dir, command, change, problem, capsys):
    t = sets[1].subset(np.arange(2))
    save_subtomogram_set(set_like(t, **change), tmp_path / "data")
    out = ["--out", tmp_path / "p.csv"] if command == "predict" else ["--out-dir", tmp_path / "report"]
    msg = run_cli([command, "--model", model_dir, "--data", tmp_path / "data", *out], capsys)
    assert problem in msg
    assert os.listdir(tmp_path) == ["data"]


@pytest.mark.parametrize("damage, file, problem", [
    (lambda p: os.remove(p / "classifier.json"), "classifier.json", "missing: not a classifier folder"),
    (lambda p: os.truncate(p / "model.keras", 200), "model.keras", "unreadable Keras model"),
    (lambda p: (p / "classifier.json").write_text('{"class_names": []}'), "classifier.json", "unreadable"),
])
def test_damaged_classifier_folder(tmp_path, sets, model_dir, damage, file, problem, capsys):
    model = tmp_path / "classifier"
    model.mkdir()
    for name in os.listdir(model_dir):
        (model / name).write_bytes((model_dir / name).read_bytes())
    damage(model)
    save_subtomogram_set(sets[1].subset(np.arange(2)), tmp_path / "data")
    msg = run_cli(["predict", "--model", model, "--data", tmp_path / "data", "--out", tmp_path / "p.csv"], capsys)
    assert msg.startswith(str(model / file)) and problem in msg
    assert not (tmp_path / "p.csv").exists()


def test_evaluate_refuses_unknown_classes(tmp_path, sets, model_dir, capsys):
    t = sets[1].subset(np.arange(3))
    save_subtomogram_set(set_like(t, class_names=("class0", "class1", "zzz")), tmp_path / "data")
    msg = run_cli(["evaluate", "--model", model_dir, "--data", tmp_path / "data", "--out-dir", tmp_path / "r"], capsys)
    assert "classes ['zzz'] are not among the classifier's" in msg
    assert not (tmp_path / "r").exists()


def test_missing_inputs_are_named(tmp_path, model_dir, capsys):
    msg = run_cli(["predict", "--model", model_dir, "--data", tmp_path / "none", "--out", tmp_path / "p.csv"], capsys)
    assert msg == f"{tmp_path / 'none'}: no such file or folder"
    msg = run_cli(["train", "--source", tmp_path / "none", "--target", tmp_path / "t", "--run-dir", tmp_path / "r",
                   *NO_TRAINING], capsys)
    assert msg == f"{tmp_path / 'none'}: no such file or folder"
    assert os.listdir(tmp_path) == []


# particle lists and tomograms (aitom-fsft classify-picks)

STAR = ("data_particles\nloop_\n_rlnTomoName\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnCoordinateZ\n"
        "_rlnTomoTiltSeriesPixelSize\n{rows}\n")


@pytest.fixture
def tomogram(tmp_path):
    put_mrc(np.random.default_rng(0).normal(size=(40, 36, 32)), tmp_path / "TS_1.mrc", voxel_spacing=10.0)
    put_mrc(np.random.default_rng(1).normal(size=(40, 36, 32)), tmp_path / "TS_2.mrc")  # no voxel size
    return tmp_path


@pytest.mark.parametrize("tomo, text, problem", [
    ("TS_1", STAR.replace("_rlnCoordinateZ\n", "").format(rows="TS_1 20 18 10.0"), "missing column 'rlnCoordinateZ'"),
    ("TS_1", "data_\nloop_\n_rlnTomoName\n_rlnAngleRot\nTS_1 3\n", "no coordinate column"),
    ("TS_1", STAR.format(rows="TS_1 20 18 16 10.0\nTS_1 20 abc 16 10.0"),
     "column 'rlnCoordinateY', row 1: 'abc' is not a finite number"),
    ("TS_1", STAR.format(rows="TS_1 20 18 16 0"), "column 'rlnTomoTiltSeriesPixelSize', row 0: 0 is not a positive"),
    ("TS_2", "data_\nloop_\n_rlnTomoName\n_rlnCenteredCoordinateXAngst\n_rlnCenteredCoordinateYAngst\n"
             "_rlnCenteredCoordinateZAngst\nTS_2 0 0 0\n", "no pixel size for RELION 5 centred coordinates"),
    ("TS_2", STAR.format(rows="TS_2 20 18 16 10.0"), "records no voxel size"),
])
def test_bad_particle_list(tomogram, model_dir, tomo, text, problem, capsys):
    picks = tomogram / "picks.star"
    picks.write_text(text)
    out = tomogram / "out.star"
    msg = run_cli(["classify-picks", "--tomogram", tomogram / f"{tomo}.mrc", "--picks", picks, "--model", model_dir,
                   "--out", out, "--no-progress"], capsys)
    assert msg.startswith(str(picks) if "column" in problem else str(tomogram)) and problem in msg
    assert not out.exists()
    assert_nothing_partial(tomogram)


def test_picks_outside_the_tomogram_are_skipped_with_a_reason(tomogram, model_dir, capsys):
    picks = tomogram / "picks.star"
    # inside; centre outside in x; negative; box crossing the edge (padded by default)
    picks.write_text(STAR.format(rows="TS_1 20 18 16 10.0\nTS_1 45 18 16 10.0\nTS_1 -3 5 5 10.0\nTS_1 2 2 2 10.0"))
    out = tomogram / "out.csv"
    assert cli.main(["classify-picks", "--tomogram", str(tomogram / "TS_1.mrc"), "--picks", str(picks),
                     "--model", str(model_dir), "--out", str(out), "--no-progress"]) == 0
    assert "skipped=2" in capsys.readouterr().out
    result = pd.read_csv(out, keep_default_na=False)
    assert list(result["fsft_skip_reason"]) == ["", "outside_tomogram", "outside_tomogram", ""]
    assert list(result["fsft_class"] == "skipped") == [False, True, True, False]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_pick_in_a_nan_patch_is_skipped_with_a_reason_not_classified(tmp_path, model_dir, capsys):
    v = np.random.default_rng(0).normal(size=(40, 36, 32)).astype(np.float32)
    v[4:12, 4:12, 4:12] = np.nan  # a damaged region (x, y, z)
    with mrcfile.new(tmp_path / "TS_1.mrc", data=np.ascontiguousarray(v.transpose(2, 1, 0))) as mrc:
        mrc.voxel_size = 10.0
    picks = tmp_path / "picks.csv"
    # in the patch; clear of it; a box crossing the edge, padded with the tomogram mean (NaN here)
    picks.write_text("x_px,y_px,z_px\n8,8,8\n25,20,20\n1,28,24\n")
    base = ["classify-picks", "--tomogram", tmp_path / "TS_1.mrc", "--picks", picks, "--model", model_dir,
            "--no-progress"]
    assert cli.main([str(a) for a in base + ["--out", tmp_path / "out.csv"]]) == 0
    assert "skipped=2" in capsys.readouterr().out
    result = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert list(result["fsft_skip_reason"]) == ["non_finite_voxels", "", "non_finite_voxels"]
    assert result["fsft_class"][0] == "skipped" and result["fsft_class"][1] in ("class0", "class1", "class2")
    assert result["fsft_probability"][0] == "" and float(result["fsft_probability"][1]) > 0
    assert cli.main([str(a) for a in base + ["--out", tmp_path / "out2.csv", "--pad-value", "0"]]) == 0
    padded = pd.read_csv(tmp_path / "out2.csv", keep_default_na=False)
    assert list(padded["fsft_skip_reason"]) == ["non_finite_voxels", "", ""]


# arrays given to predict and evaluate are checked as data sets are

@pytest.mark.parametrize("change, problem", [
    (lambda x: np.where(np.arange(len(x))[:, None, None, None] == 1, np.nan, x),
     r"^data.x \(subtomogram 1\): 4096 of 4096 voxels are NaN or infinite"),
    (lambda x: x.astype(np.complex64), r"^data.x: dtype complex64, expected float32"),
])
def test_predict_and_evaluate_refuse_arrays_with_nan_rows_or_complex_values(sets, model_dir, change, problem):
    from aitom.classify.deep.fsft import evaluate, predict
    x = change(sets[1].x[:3].copy())
    clf = SubtomogramClassifier.load(model_dir)
    with pytest.raises(InputError, match=problem):
        predict(clf, x)
    with pytest.raises(InputError, match=problem):
        evaluate(clf, SubtomogramSet(x, np.arange(3), sets[1].class_names))
    with pytest.raises(InputError, match=r"^subtomograms: "):
        clf.predict_proba(x)


# train's arguments and outputs

@pytest.mark.parametrize("shots, expected", [(None, 4), (2, 2)])
def test_shots_argument_does_not_override_the_config_unless_given(sets, shots, expected):
    result = train(*sets, shots=shots, config=tiny_config(shots=4, epochs_stage1=0), stages=("1",), progress=False)
    assert len(result.split.target_shots) == expected * len(sets[1].class_names)
    assert result.classifier.meta["config"]["shots"] == expected


def test_accuracy_json_is_valid_json_without_a_target_test_set(tmp_path, sets):
    import json

    def strict(text):
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))

    train(*sets, config=tiny_config(target_test_fraction=0.0, epochs_stage1=0), stages=("1",),
          run_dir=tmp_path / "run", progress=False)
    accuracy = strict((tmp_path / "run" / "accuracy.json").read_text())
    assert accuracy["1"]["target_test_acc"] is None and 0 <= accuracy["1"]["source_val_acc"] <= 1
    strict((tmp_path / "run" / "history.json").read_text())
    assert strict((tmp_path / "run" / "classifier" / "classifier.json").read_text())["meta"]["accuracy"] == accuracy


def test_a_box_size_below_16_is_one_line(tmp_path, sets, capsys):
    for name, s in zip(("source", "target"), sets):
        save_subtomogram_set(set_like(s, x=np.ascontiguousarray(s.x[:, :12, :12, :12])), tmp_path / name)
    msg = run_cli(["train", "--source", tmp_path / "source", "--target", tmp_path / "target",
                   "--run-dir", tmp_path / "run", *NO_TRAINING], capsys)
    assert msg.startswith("box_size: 12 voxels is too small")
    assert not (tmp_path / "run").exists()


def test_a_stage_2_1_pool_too_small_is_refused_before_stage_1_trains(tmp_path, capsys):
    source = blob_set(6, n_classes=1, seed=0)
    target = blob_set(1, n_classes=1, seed=1)  # one target subtomogram: the shot; no unlabelled pool
    for name, s in (("source", source), ("target", target)):
        save_subtomogram_set(s, tmp_path / name)
    msg = run_cli(["train", "--source", tmp_path / "source", "--target", tmp_path / "target", "--run-dir",
                   tmp_path / "run", "--stages", "1,2.1", "--shots", "1", "--widths", "4,4,4,8",
                   "--batch-size", "4", "--epochs-stage1", "50"], capsys)
    assert msg.startswith("target: stage 2.1 needs at least two unlabelled target subtomograms")
    assert not (tmp_path / "run").exists()  # refused before anything ran or was written


# property: a particle list written as STAR reads back the same, or the write is refused

_NA_WORDS = {"", "#n/a", "#n/a n/a", "#na", "-1.#ind", "-1.#qnan", "-nan", "1.#ind", "1.#qnan", "<na>", "n/a", "na",
             "null", "nan", "none"}  # pandas reads these as missing


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.tuples(st.text(st.characters(min_codepoint=9, max_codepoint=126), min_size=1, max_size=6),
                               *[st.floats(-1e4, 1e4)] * 3), min_size=1, max_size=4),
       fmt=st.sampled_from(["relion4", "pytom", "relion5"]))
def test_star_write_then_read_round_trips_or_refuses(rows, fmt):
    assume(all(name.strip().lower() not in _NA_WORDS for name, *_ in rows))
    df = pd.DataFrame(rows, columns=["tomogram", "x_px", "y_px", "z_px"]).assign(pixel_size_A=10.0)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "p.star")
        try:
            write_particles(df, path, fmt=fmt, tomogram_shape=(64, 64, 64))
        except InputError as err:
            assert path in str(err) and "cannot be written to a STAR file" in str(err)
            assert os.listdir(d) == []
            return
        back = read_particles(path, fmt=fmt, tomogram_shape=(64, 64, 64), pixel_size_A=10.0)
    assert list(back["tomogram"]) == list(df["tomogram"])
    np.testing.assert_allclose(back[["x_px", "y_px", "z_px"]], df[["x_px", "y_px", "z_px"]], rtol=1e-6, atol=1e-5)
