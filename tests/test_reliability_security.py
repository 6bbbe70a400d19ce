"""Untrusted files and destructive writes: what a file from someone else can make the package do, and what
the package may replace or delete.

* Pickles (data sets, AITom particle lists) are read only with an explicit opt-in (``trusted=True``,
  ``--allow-pickle``), and even then by an unpickler that builds NumPy arrays and built-in containers
  only: a crafted pickle never runs its code.
* Classifier folders are loaded with Keras' ``safe_mode=True`` passed explicitly.
* Nothing the user made is replaced or deleted without ``overwrite=True`` / ``--overwrite``; an output is
  never written over an input; report names cannot leave their folder.

Every refusal is one line naming the file (exit code 2 from ``aitom-fsft``), and leaves the files as they were.
"""
import os
import pickle

import keras
import numpy as np
import pytest
from fsft_helpers import blob_set, tiny_config

from aitom.classify.deep.fsft import SubtomogramClassifier, train
from aitom.classify.deep.fsft import cli
from aitom.classify.deep.fsft.models import FSFTNetworks
from aitom.errors import InputError
from aitom.io.dataset import load_dataset, load_demo_pickle, save_subtomogram_set, to_dj
from aitom.io.file import pickle_dump, pickle_load, put_mrc
from aitom.io.particles import read_particles

NO_TRAINING = ["--stages", "1", "--epochs-stage1", "0", "--widths", "4,4,4,8", "--batch-size", "8", "--shots", "2"]


class RunsAShellCommand:
    """Unpickling this runs ``touch <marker>``: a stand-in for any command a crafted pickle could run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def files_under(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs)


def snapshot(folder):
    return {f: open(os.path.join(folder, f), "rb").read() for f in files_under(folder)}


def run_cli(args, capsys, code=2):
    """Run ``aitom-fsft args``; return its one-line error message (without the 'aitom-fsft: error: ' prefix)."""
    assert cli.main([str(a) for a in args]) == code
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("aitom-fsft: error: "), err
    return err[len("aitom-fsft: error: "):]


@pytest.fixture
def crafted(tmp_path):
    """``evil.pkl``: a dict of class name -> volumes whose unpickling would run a shell command."""
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"class0": [RunsAShellCommand(marker)]}))
    return path, marker


@pytest.fixture(scope="module")
def sets():
    return blob_set(6, seed=0), blob_set(6, shift=1.5, noise=1.5, seed=1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, sets):
    net = FSFTNetworks(16, 3, tiny_config(widths=(4, 4, 4, 8), dcd_hidden=8))
    path = tmp_path_factory.mktemp("model") / "classifier"
    SubtomogramClassifier(net.inference_model("source"), sets[0].class_names, 16, 1.0).save(path)
    return path


# pickles

LOADERS = {
    "pickle_load": lambda p, **kw: pickle_load(p, **kw),
    "load_dataset": lambda p, **kw: load_dataset(p, **kw),
    "load_demo_pickle": lambda p, **kw: load_demo_pickle(p, **kw),
    "read_particles": lambda p, **kw: read_particles(p, **kw),
}


@pytest.mark.parametrize("loader", LOADERS)
def test_a_pickle_is_not_read_without_opt_in(crafted, loader):
    path, marker = crafted
    with pytest.raises(InputError) as err:
        LOADERS[loader](path)
    assert str(err.value).startswith(f"{path}: pickle files can run code when loaded")
    assert "trusted=True" in str(err.value) and "--allow-pickle" in str(err.value) and "STAR or CSV" in str(err.value)
    assert not marker.exists()


@pytest.mark.parametrize("loader", LOADERS)
def test_a_trusted_pickle_still_runs_no_code(crafted, loader):
    path, marker = crafted
    with pytest.raises(InputError, match=r"refused to load global '(posix|os)\.system'") as err:
        LOADERS[loader](path, trusted=True)
    assert str(err.value).startswith(str(path))
    assert not marker.exists()


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_trusted_pickles_of_arrays_and_containers_load_in_every_protocol(tmp_path, protocol):
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 8)).astype(np.float32)
    obj = {"a": x, "b": [x[0], np.arange(3)], "s": np.float32(1.5), "i": np.int64(3), "set": {1, 2},
           "f": frozenset({3}), "c": 1j, "t": (1, "x"), "raw": b"\x00\xff", "ba": bytearray(b"ab")}
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    back = pickle_load(path, trusted=True)
    assert np.array_equal(back["a"], x) and back["a"].dtype == np.float32
    assert np.array_equal(back["b"][0], x[0]) and np.array_equal(back["b"][1], np.arange(3))
    assert {k: back[k] for k in ("s", "i", "set", "f", "c", "t", "raw", "ba")} == \
        {k: obj[k] for k in ("s", "i", "set", "f", "c", "t", "raw", "ba")}


def test_a_numpy_1_pickle_loads(tmp_path):
    """NumPy 1 pickled arrays as ``numpy.core.multiarray._reconstruct``; NumPy 2 names it ``numpy._core``."""
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    raw = pickle.dumps({"a": x, "s": np.float64(2.5)}, protocol=2)
    assert b"numpy._core.multiarray" in raw
    (tmp_path / "old.pkl").write_bytes(raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    back = pickle_load(tmp_path / "old.pkl", trusted=True)
    assert np.array_equal(back["a"], x) and back["s"] == 2.5


@pytest.mark.parametrize("content, where, problem", [
    ({"class0": 5}, "['class0']", "expected (n, s, s, s) volumes or a list of volumes, got int"),
    ({"class0": {"v": 1}}, "['class0']", "expected (n, s, s, s) volumes or a list of volumes, got dict"),
    ({"class0": [[[1.0, 2.0], [1.0]]]}, "['class0'][0]", "ragged sequence"),
    ([{"pdb_id": "a", "v": [[1.0], [1.0, 2.0]]}], "dj[0]", "ragged sequence"),
])
def test_a_pickle_of_something_else_than_volumes_is_one_line(tmp_path, content, where, problem):
    path = tmp_path / "odd.pkl"
    pickle_dump(content, path)
    with pytest.raises(InputError) as err:
        load_dataset(path, trusted=True)
    assert str(err.value).startswith(f"{path}{where}" if where.startswith("[") else where)
    assert problem in str(err.value) and "\n" not in str(err.value)


@pytest.fixture
def tomogram(tmp_path):
    put_mrc(np.random.default_rng(0).normal(size=(40, 36, 32)), tmp_path / "TS_1.mrc", voxel_spacing=10.0)
    return tmp_path / "TS_1.mrc"


def pickle_commands(path, tmp_path, model_dir, tomogram):
    """Every command that reads a data set or a particle list, given the pickle ``path``."""
    return {
        "train": ["train", "--source", path, "--target", path, "--run-dir", tmp_path / "run", *NO_TRAINING],
        "predict": ["predict", "--model", model_dir, "--data", path, "--out", tmp_path / "p.csv"],
        "evaluate": ["evaluate", "--model", model_dir, "--data", path, "--out-dir", tmp_path / "report"],
        "classify-picks": ["classify-picks", "--tomogram", tomogram, "--picks", path, "--model", model_dir,
                           "--out", tmp_path / "out.csv", "--no-progress"],
    }


@pytest.mark.parametrize("command", ["train", "predict", "evaluate", "classify-picks"])
def test_the_command_line_reads_no_pickle_without_allow_pickle_and_runs_no_code_with_it(crafted, tmp_path, model_dir,
                                                                                         tomogram, command, capsys):
    path, marker = crafted
    args = pickle_commands(path, tmp_path, model_dir, tomogram)[command]
    before = files_under(tmp_path)
    msg = run_cli(args, capsys)
    assert msg.startswith(f"{path}: pickle files can run code") and "--allow-pickle" in msg
    msg = run_cli(args + ["--allow-pickle"], capsys)
    assert msg.startswith(str(path)) and "refused to load global" in msg
    assert not marker.exists() and files_under(tmp_path) == before


def test_train_reads_a_trusted_pickle_with_allow_pickle(tmp_path, sets, capsys):
    source, target = sets
    pickle_dump(to_dj(source), tmp_path / "source.pkl")
    pickle_dump(to_dj(target), tmp_path / "target.pkl")
    assert cli.main(["train", "--source", str(tmp_path / "source.pkl"), "--target", str(tmp_path / "target.pkl"),
                     "--run-dir", str(tmp_path / "run"), "--quiet", "--allow-pickle", *NO_TRAINING]) == 0
    assert SubtomogramClassifier.load(tmp_path / "run" / "classifier").class_names == source.class_names


# Keras classifier folders

def test_classifier_folders_are_loaded_with_keras_safe_mode(tmp_path, monkeypatch):
    marker = tmp_path / "code-ran"
    inp = keras.Input((16, 16, 16, 1))
    command = f"touch {marker}"
    out = keras.layers.Lambda(lambda v: v + float(os.system(command) * 0))(inp)
    out = keras.layers.Dense(2)(keras.layers.Flatten()(out))
    SubtomogramClassifier(keras.Model(inp, out), ("a", "b"), 16).save(tmp_path / "clf")
    marker.unlink(missing_ok=True)  # building the model ran the lambda once; loading must not
    calls = []
    real = keras.saving.load_model

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(keras.saving, "load_model", spy)
    with pytest.raises(InputError, match=r"model.keras: unreadable Keras model .*safe_mode"):
        SubtomogramClassifier.load(tmp_path / "clf")
    assert calls and calls[0].get("safe_mode") is True  # passed explicitly, not left to Keras' default
    assert not marker.exists()


# nothing the user made is replaced or deleted

def test_classifier_save_never_replaces_a_user_folder_and_replaces_a_classifier_only_with_overwrite(tmp_path,
                                                                                                     model_dir):
    clf = SubtomogramClassifier.load(model_dir)
    mine = tmp_path / "mydata"
    mine.mkdir()
    (mine / "notes.txt").write_text("three weeks of picking")
    (tmp_path / "file").write_text("x")
    for target in (mine, tmp_path / "file"):
        for overwrite in (False, True):
            with pytest.raises(InputError, match="exists and is not a classifier folder; refusing to replace it"):
                clf.save(target, overwrite=overwrite)
    assert (mine / "notes.txt").read_text() == "three weeks of picking" and os.listdir(mine) == ["notes.txt"]
    assert (tmp_path / "file").read_text() == "x"
    clf.save(tmp_path / "clf")
    with pytest.raises(InputError, match="classifier folder exists; pass overwrite=True"):
        clf.save(tmp_path / "clf")
    clf.save(tmp_path / "clf", overwrite=True)
    assert SubtomogramClassifier.load(tmp_path / "clf").class_names == clf.class_names
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]


@pytest.mark.parametrize("resume", [False, True])
def test_train_refuses_a_run_folder_that_is_not_a_run(tmp_path, sets, resume, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.json").write_text('{"microscope": "Krios G4"}\n')
    (folder / "notes.txt").write_text("do not delete")
    before = snapshot(folder)
    with pytest.raises(InputError, match=r"is not an aitom-fsft run folder \(it holds 'config.json'\)"):
        train(*sets, config=tiny_config(epochs_stage1=0), stages=("1",), run_dir=folder, resume=resume,
              progress=False)
    save_subtomogram_set(sets[0], tmp_path / "source")
    save_subtomogram_set(sets[1], tmp_path / "target")
    msg = run_cli(["train", "--source", tmp_path / "source", "--target", tmp_path / "target", "--run-dir", folder,
                   *NO_TRAINING] + (["--resume"] if resume else []), capsys)
    assert msg.startswith(f"{folder}: is not an aitom-fsft run folder")
    assert snapshot(folder) == before  # (the run's hidden .lock aside)


def test_classify_picks_never_writes_over_its_input_and_replaces_its_output_only_with_overwrite(
        tmp_path, model_dir, tomogram, capsys):
    picks = tmp_path / "picks.csv"
    picks.write_text("x_px,y_px,z_px\n20,18,16\n10,10,10\n")
    base = ["classify-picks", "--tomogram", tomogram, "--picks", picks, "--model", model_dir, "--no-progress"]
    for extra in ([], ["--overwrite"]):
        msg = run_cli(base + ["--out", picks] + extra, capsys)
        assert msg == f"{picks}: is also an input of this command ({picks}); write the output to another file"
        msg = run_cli(base + ["--out", tomogram] + extra, capsys)
        assert msg.startswith(f"{tomogram}: is also an input")
    assert picks.read_text() == "x_px,y_px,z_px\n20,18,16\n10,10,10\n"
    out = tmp_path / "out.csv"
    out.write_text("someone's table\n")
    assert run_cli(base + ["--out", out], capsys) == f"{out}: exists; pass --overwrite to replace it"
    assert out.read_text() == "someone's table\n"
    assert cli.main([str(a) for a in base + ["--out", out, "--overwrite"]]) == 0
    assert "fsft_class" in out.read_text()


def test_predict_replaces_its_output_only_with_overwrite_and_never_its_data(tmp_path, sets, model_dir, capsys):
    data = tmp_path / "data"
    save_subtomogram_set(sets[1].subset(np.arange(3)), data)
    out = tmp_path / "p.csv"
    out.write_text("keep me\n")
    base = ["predict", "--model", model_dir, "--data", data]
    assert run_cli(base + ["--out", out], capsys) == f"{out}: exists; pass --overwrite to replace it"
    assert out.read_text() == "keep me\n"
    assert run_cli(base + ["--out", data, "--overwrite"], capsys).startswith(f"{data}: is also an input")
    assert cli.main([str(a) for a in base + ["--out", out, "--overwrite"]]) == 0
    assert out.read_text().startswith("index,class,probability")


@pytest.mark.parametrize("name", ["../escaped", "sub/report", "..", "/tmp/abs"])
def test_evaluate_report_names_cannot_leave_the_output_folder(tmp_path, sets, model_dir, name, capsys):
    save_subtomogram_set(sets[1].subset(np.arange(3)), tmp_path / "data")
    (tmp_path / "reports").mkdir()
    before = files_under(tmp_path)
    msg = run_cli(["evaluate", "--model", model_dir, "--data", tmp_path / "data", "--out-dir", tmp_path / "reports",
                   "--name", name], capsys)
    assert msg.startswith(f"name: {name!r} must be a plain file name")
    assert files_under(tmp_path) == before


def test_evaluate_replaces_an_existing_report_only_with_overwrite(tmp_path, sets, model_dir, capsys):
    save_subtomogram_set(sets[1].subset(np.arange(3)), tmp_path / "data")
    args = ["evaluate", "--model", model_dir, "--data", tmp_path / "data", "--out-dir", tmp_path / "r", "--name", "x"]
    assert cli.main([str(a) for a in args]) == 0
    report = (tmp_path / "r" / "x.json").read_text()
    (tmp_path / "r" / "x.json").write_text("edited by hand\n")
    msg = run_cli(args, capsys)
    assert msg.startswith(str(tmp_path / "r" / "x")) and "exists; pass overwrite=True (--overwrite)" in msg
    assert (tmp_path / "r" / "x.json").read_text() == "edited by hand\n"
    assert cli.main([str(a) for a in args + ["--overwrite"]]) == 0
    assert (tmp_path / "r" / "x.json").read_text() == report
