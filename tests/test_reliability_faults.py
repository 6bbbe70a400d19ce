"""Interrupted runs: SIGKILL at random points, corrupt checkpoints, diverging losses.

Kills are real: a child process (``reliability_worker.py``) trains or writes, and is SIGKILLed at a
point drawn from a seeded generator (``KILL_SEED``), so a failure can be replayed. After every kill
the checkpoints must all verify, ``CheckpointStore.latest()`` must not raise, and a folder written
atomically must be either the old complete version, the new complete version, or absent.
"""
import contextlib
import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from fsft_helpers import blob_set, tiny_config
from reliability_worker import new_volumes

from aitom.classify.deep.fsft import CheckpointError, SubtomogramClassifier, TrainingDivergedError, train
from aitom.classify.deep.fsft import checkpoint as checkpoint_module
from aitom.classify.deep.fsft.checkpoint import CheckpointStore, run_lock
from aitom.classify.deep.fsft.models import FSFTNetworks
from aitom.classify.deep.fsft.pipeline import RUN_MARKER
from aitom.classify.deep.fsft.stages import STAGES
from aitom.classify.deep.fsft import cli
from aitom.classify.deep.fsft import data as data_module
from aitom.errors import InputError
from aitom.io.dataset import (SubtomogramSet, load_subtomogram_set, load_two_domain, save_subtomogram_set,
                              save_two_domain)
from aitom.io.file import put_mrc

KILL_SEED = 20240607
N_PER_CLASS = 8
CFG = tiny_config(epochs_stage1=3, epochs_stage2_1=3, epochs_stage2_2=3, epochs_stage3=3, widths=(4, 4, 4, 8),
                  dcd_hidden=8, shots=2, self_training_rounds=1)
EPOCHS = {"1": "epochs_stage1", "2.1": "epochs_stage2_1", "2.2": "epochs_stage2_2", "3": "epochs_stage3"}
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reliability_worker.py")


def domains():
    return blob_set(N_PER_CLASS, seed=0), blob_set(N_PER_CLASS, shift=1.5, noise=1.5, seed=1)


def weights(result):
    return [w for m in result.networks.components().values() for w in m.get_weights()]


def assert_same_run(a, b):
    assert all(np.array_equal(x, y) for x, y in zip(weights(a), weights(b)))
    assert a.history == b.history and a.accuracy == b.accuracy


@pytest.fixture(scope="module")
def reference():
    """The uninterrupted run every interrupted one must reproduce exactly (CPU)."""
    return train(*domains(), shots=CFG.shots, config=CFG, progress=False)


# helpers for child processes

def start(spec, cwd):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    log = open(os.path.join(cwd, f"worker-{time.monotonic_ns()}.log"), "w+")
    proc = subprocess.Popen([sys.executable, WORKER, json.dumps(spec)], cwd=cwd, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    proc.log = log
    return proc


def output(proc):
    proc.log.seek(0)
    return proc.log.read()[-3000:]


def wait_for(condition, proc, timeout=240):
    end = time.monotonic() + timeout
    try:
        while not condition():
            assert proc.poll() is None, f"worker exited ({proc.returncode}) before the kill point:\n{output(proc)}"
            assert time.monotonic() < end, "kill point not reached in time"
            time.sleep(0.003)
    except BaseException:
        kill(proc)  # never leave a worker behind
        raise


def kill(proc):
    """SIGKILL ``proc``; returns False if it had already finished (a kill point past its end)."""
    alive = proc.poll() is None
    if alive:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.log.close()
    return alive


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def assert_checkpoints_intact(run_dir):
    """Every manifest's file exists, matches its SHA-256 and loads; ``latest()`` does not raise."""
    folder = os.path.join(run_dir, "checkpoints")
    for name in os.listdir(folder):
        if name.endswith(".json") and name != "latest.json":
            with open(os.path.join(folder, name)) as f:
                manifest = json.load(f)
            npz = os.path.join(folder, manifest["file"])
            assert sha256(npz) == manifest["sha256"], name
            with np.load(npz) as z:
                assert all(np.isfinite(z[k]).all() for k in z.files)
    for name in ("config.json", "split.json"):
        with open(os.path.join(run_dir, name)) as f:
            json.load(f)
    return CheckpointStore(run_dir).latest()


def latest_tag(run_dir):
    try:
        with open(os.path.join(run_dir, "checkpoints", "latest.json")) as f:
            return json.load(f)["tag"]
    except FileNotFoundError:
        return None


# training killed in every stage

def test_sigkill_in_every_stage_then_resume_reproduces_the_uninterrupted_run(tmp_path, reference):
    rng = np.random.default_rng(KILL_SEED)
    run_dir = str(tmp_path / "run")
    os.makedirs(run_dir)
    # as if an earlier attempt was killed between writing config.json and split.json
    open(os.path.join(run_dir, RUN_MARKER), "w").close()
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump(CFG.to_dict(), f)
    folder = os.path.join(run_dir, "checkpoints")
    base = dict(task="train", run_dir=run_dir, resume=True, config=CFG.to_dict(), n_per_class=N_PER_CLASS)
    assert CFG.self_training_rounds == 1
    for stage, part in [(s, "") for s in STAGES] + [("3", "-round1")]:  # and in stage 3's self-training round
        epoch = int(rng.integers(1, getattr(CFG, EPOCHS[stage])))  # a stage always has an epoch after it
        tag = f"stage{stage}{part}-epoch{epoch:04d}"
        if rng.integers(2):  # inside the atomic write of this epoch's checkpoint
            proc = start(dict(base, slow_npz=tag + ".npz", slow_s=1.0), str(tmp_path))
            wait_for(lambda: os.path.isdir(folder) and any(n.startswith(f".{tag}.npz.") for n in os.listdir(folder)),
                     proc)
            time.sleep(rng.uniform(0.0, 0.8))
            assert kill(proc)
            latest = assert_checkpoints_intact(run_dir)
            assert latest is None or latest["tag"] != tag  # the interrupted checkpoint never became current
        else:  # shortly after this epoch's checkpoint became current: training or saving the next epoch
            proc = start(base, str(tmp_path))
            wait_for(lambda: latest_tag(run_dir) == tag, proc)
            time.sleep(rng.uniform(0.0, 0.03))
            assert kill(proc)
            latest = assert_checkpoints_intact(run_dir)
            assert latest["state"]["stage"] == stage
    result = train(*domains(), shots=CFG.shots, config=CFG, run_dir=run_dir, resume=True, progress=False)
    assert_same_run(result, reference)
    assert SubtomogramClassifier.load(os.path.join(run_dir, "classifier")).class_names == reference.classifier.class_names

    # killed while the resumed, finished run replaces its classifier folder: the old one stays whole
    x = domains()[1].x[:4]
    expected = result.classifier.predict_proba(x)
    proc = start(dict(base, slow_model_save=True, slow_s=1.5), str(tmp_path))
    wait_for(lambda: any(n.startswith(".classifier.") for n in os.listdir(run_dir)), proc)
    time.sleep(rng.uniform(0.0, 1.0))
    assert kill(proc)
    clf = SubtomogramClassifier.load(os.path.join(run_dir, "classifier"))
    np.testing.assert_array_equal(clf.predict_proba(x), expected)
    assert_checkpoints_intact(run_dir)


# atomic folders under SIGKILL (no TensorFlow in these children: about a second each)

def version(path, n, seeds):
    """Which of the sets written from ``seeds`` is at ``path`` (None: nothing); a partial set fails to load."""
    if not os.path.exists(path):
        return None
    x = load_subtomogram_set(path).x
    return next(seed for seed in seeds if np.array_equal(x, new_volumes(n, seed=seed)))


def new_entry(folder, prefix, before):
    return lambda: any(x.startswith(prefix) and x not in before for x in os.listdir(folder))


def test_sigkill_during_subtomogram_set_writer_leaves_old_set_or_nothing(tmp_path):
    rng = np.random.default_rng(KILL_SEED + 1)
    n = 8
    for trial, old in enumerate((None, 99, 99)):
        path = str(tmp_path / f"set{trial}")
        if old is not None:
            save_subtomogram_set(SubtomogramSet(new_volumes(n, seed=old), np.arange(n) % 2, ("a", "b")), path)
        proc = start(dict(task="writer", path=path, n=n, seed=trial, slow_s=0.05), str(tmp_path))
        wait_for(new_entry(tmp_path, f".set{trial}.", ()), proc)
        time.sleep(rng.uniform(0.0, 0.5))
        killed = kill(proc)
        assert version(path, n, (99, trial)) in ((old, trial) if killed else (trial,))


def test_sigkill_during_save_two_domain_leaves_old_folder_or_nothing(tmp_path):
    rng = np.random.default_rng(KILL_SEED + 2)
    n = 6
    path = str(tmp_path / "two")
    for old, seed in ((None, 10), (10, 20)):  # first into an empty place, then over a complete folder
        before = set(os.listdir(tmp_path))
        proc = start(dict(task="two_domain", path=path, n=n, seed=seed, slow_s=0.15), str(tmp_path))
        wait_for(new_entry(tmp_path, ".two.", before), proc)
        time.sleep(rng.uniform(0.0, 0.5))
        killed = kill(proc)
        found = version(os.path.join(path, "source"), n, (10, 20))
        assert found in ((old, seed) if killed else (seed,))
        if found is not None:
            _, target = load_two_domain(path)
            np.testing.assert_array_equal(target.x, new_volumes(n, seed=found + 1))
        if found is None:
            source = SubtomogramSet(new_volumes(n, seed=seed), np.arange(n) % 2, ("a", "b"))
            target = SubtomogramSet(new_volumes(n, seed=seed + 1), np.arange(n) % 2, ("a", "b"))
            save_two_domain(path, source, target)


# corrupt checkpoints

@pytest.fixture(scope="module")
def stage1_run(tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp("stage1"))
    train(*domains(), shots=CFG.shots, config=CFG.replace(epochs_stage1=1), run_dir=run_dir, progress=False,
          stages=("1",))
    return run_dir


def _npz_of_latest(run_dir):
    return os.path.join(run_dir, "checkpoints", latest_tag(run_dir) + ".npz")


@pytest.mark.parametrize("damage, match", [
    (lambda p: os.truncate(p, os.path.getsize(p) // 2), "corrupt"),
    (os.remove, "missing"),
])
def test_truncated_or_deleted_checkpoint_is_reported_by_cli_resume(stage1_run, tmp_path, damage, match, capsys):
    run_dir = str(tmp_path / "run")
    os.makedirs(run_dir)
    for name in ("config.json", "split.json"):
        with open(os.path.join(stage1_run, name)) as src, open(os.path.join(run_dir, name), "w") as dst:
            dst.write(src.read())
    os.makedirs(os.path.join(run_dir, "checkpoints"))
    for name in os.listdir(os.path.join(stage1_run, "checkpoints")):
        with open(os.path.join(stage1_run, "checkpoints", name), "rb") as src:
            with open(os.path.join(run_dir, "checkpoints", name), "wb") as dst:
                dst.write(src.read())
    npz = _npz_of_latest(run_dir)
    damage(npz)
    with pytest.raises(CheckpointError, match=match):
        CheckpointStore(run_dir).latest()
    source, target = domains()
    data = tmp_path / "data"
    save_subtomogram_set(source, data / "source")
    save_subtomogram_set(target, data / "target")
    assert cli.main(["train", "--source", str(data / "source"), "--target", str(data / "target"), "--run-dir",
                     run_dir, "--resume", "--quiet", "--stages", "1",
                     "--config", os.path.join(run_dir, "config.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("aitom-fsft: error: ") and npz in err and match in err
    assert not os.path.exists(os.path.join(run_dir, "classifier"))


# the non-finite loss guard, through train

def test_non_finite_loss_keeps_the_last_good_checkpoint_and_resume_with_fixed_data_completes(tmp_path, reference,
                                                                                           monkeypatch):
    source, target = domains()
    clean = source.x.copy()
    run_dir = str(tmp_path / "run")
    real_save = CheckpointStore.save

    def save(self, tag, objects, state):
        real_save(self, tag, objects, state)
        if tag == "stage1-epoch0002":
            source.x[:5] = np.nan  # the data go bad after epoch 2 (say, a flaky network file system)

    monkeypatch.setattr(CheckpointStore, "save", save)
    with pytest.raises(TrainingDivergedError, match=r"stage 1, epoch 3, step 1: weights are not finite"):
        train(source, target, shots=CFG.shots, config=CFG, run_dir=run_dir, progress=False)
    monkeypatch.undo()
    assert assert_checkpoints_intact(run_dir)["tag"] == "stage1-epoch0002"
    assert not os.path.exists(os.path.join(run_dir, "classifier"))
    source.x[:] = clean
    result = train(source, target, shots=CFG.shots, config=CFG, run_dir=run_dir, resume=True, progress=False)
    assert_same_run(result, reference)


def test_cli_reports_a_diverged_run_in_one_line(tmp_path, monkeypatch, capsys):
    source, target = domains()
    save_subtomogram_set(source, tmp_path / "source")
    save_subtomogram_set(target, tmp_path / "target")
    monkeypatch.setattr(data_module, "standardize", lambda x: np.full(np.shape(x), np.inf, np.float32))
    code = cli.main(["train", "--source", str(tmp_path / "source"), "--target", str(tmp_path / "target"),
                     "--run-dir", str(tmp_path / "run"), "--quiet", "--stages", "1", "--epochs-stage1", "1",
                     "--widths", "4,4,4,8", "--batch-size", "8", "--shots", "2"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err
    assert "stage 1, epoch 1, step 1: weights are not finite" in err


def test_a_checkpoint_with_non_finite_values_is_refused_and_the_previous_stays_current(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save("good", {"w": [np.ones(3, np.float32)]}, {"epoch": 1})
    with pytest.raises(CheckpointError, match=r"not saving bad: w/0 holds NaN"):
        store.save("bad", {"w": [np.array([1.0, np.nan], np.float32)]}, {"epoch": 2})
    assert store.latest()["tag"] == "good"
    assert not [n for n in os.listdir(store.dir) if n.startswith(("bad", ".bad"))]


# concurrent runs on one run folder

def test_a_second_run_on_a_busy_run_folder_fails_fast_in_one_line(tmp_path, capsys):
    """A run holds its folder's lock for the whole run; a second one (another process) stops at once."""
    run_dir = str(tmp_path / "run")
    tag = "stage1-epoch0001"
    proc = start(dict(task="train", run_dir=run_dir, resume=False, config=CFG.to_dict(), n_per_class=N_PER_CLASS,
                      slow_npz=tag + ".npz", slow_s=60.0), str(tmp_path))
    folder = os.path.join(run_dir, "checkpoints")
    wait_for(lambda: os.path.isdir(folder) and any(n.startswith(f".{tag}.npz.") for n in os.listdir(folder)), proc)
    try:
        source, target = domains()
        save_subtomogram_set(source, tmp_path / "source")
        save_subtomogram_set(target, tmp_path / "target")
        before = sorted(os.listdir(folder))
        started = time.monotonic()
        assert cli.main(["train", "--source", str(tmp_path / "source"), "--target", str(tmp_path / "target"),
                         "--run-dir", run_dir, "--resume", "--quiet", "--stages", "1", "--epochs-stage1", "1",
                         "--widths", "4,4,4,8", "--batch-size", "8", "--shots", "2"]) == 2
        assert time.monotonic() - started < 30  # data loading and checks only: no training
        err = capsys.readouterr().err.strip()
        assert err == f"aitom-fsft: error: {run_dir}: another run is using this run folder (it holds .lock); wait " \
                      "for it to finish or choose another folder"
        assert sorted(os.listdir(folder)) == before  # the second run wrote nothing
        assert proc.poll() is None  # and the first goes on
    finally:
        kill(proc)
    assert_checkpoints_intact(run_dir)
    with run_lock(run_dir):  # a killed holder leaves no lock behind
        with pytest.raises(InputError, match="another run is using this run folder"):
            train(*domains(), shots=CFG.shots, config=CFG, run_dir=run_dir, resume=True, progress=False)


def test_a_manifest_never_vouches_for_bytes_another_writer_put_in_place(tmp_path, monkeypatch):
    """The SHA-256 is of the bytes this process wrote, taken before the rename: if another writer's file of
    the same name lands in place afterwards, the checkpoint reads as corrupt instead of loading its weights."""
    real = checkpoint_module.atomic_open

    @contextlib.contextmanager
    def racing(path, *args, **kwargs):
        with real(path, *args, **kwargs) as f:
            yield f
        if path.endswith(".npz"):  # another run's checkpoint of the same name, renamed in just after ours
            with open(path, "wb") as g:
                np.savez(g, **{"w|0": np.zeros(3, np.float32)})

    store = CheckpointStore(tmp_path)
    monkeypatch.setattr(checkpoint_module, "atomic_open", racing)
    store.save("t", {"w": [np.ones(3, np.float32)]}, {"epoch": 1})
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match=r"t.npz: checkpoint is corrupt \(SHA-256 does not match"):
        store.latest()


# failing writes and broken manifests

def test_a_failing_checkpoint_write_is_one_line_and_keeps_the_earlier_checkpoints(tmp_path, monkeypatch, capsys):
    """A write that fails (ENOSPC, a stand-in for a full disk) ends the run with one line naming the file;
    the checkpoint before it stays current and intact, and the failed one leaves no file behind."""
    source, target = domains()
    save_subtomogram_set(source, tmp_path / "source")
    save_subtomogram_set(target, tmp_path / "target")
    run_dir = str(tmp_path / "run")
    real_savez, calls = np.savez, []

    def savez(f, *args, **kwargs):
        calls.append(getattr(f, "name", ""))
        if len(calls) == 2:
            real_savez(f, *args, **kwargs)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f.name)
        return real_savez(f, *args, **kwargs)

    monkeypatch.setattr(np, "savez", savez)
    code = cli.main(["train", "--source", str(tmp_path / "source"), "--target", str(tmp_path / "target"),
                     "--run-dir", run_dir, "--quiet", "--stages", "1", "--epochs-stage1", "3", "--widths", "4,4,4,8",
                     "--batch-size", "8", "--shots", "2"])
    monkeypatch.undo()
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err, err
    assert err.startswith(f"aitom-fsft: error: {os.path.join(run_dir, 'checkpoints', '.stage1-epoch0002.npz.')}")
    assert "No space left on device" in err and "the last good checkpoint stays current" in err
    assert assert_checkpoints_intact(run_dir)["tag"] == "stage1-epoch0001"
    assert sorted(os.listdir(os.path.join(run_dir, "checkpoints"))) == ["latest.json", "stage1-epoch0001.json",
                                                                       "stage1-epoch0001.npz"]


@pytest.mark.parametrize("damage, problem", [
    (lambda m: m.pop("file"), "no 'file' field"),
    (lambda m: m.pop("sha256"), "no 'sha256' field"),
    (lambda m: m.pop("state"), "no 'state' field"),
    (lambda m: m.update(file="../../elsewhere.npz"), "'file' '../../elsewhere.npz' is not a file name"),
    (lambda m: m.update(state=[1]), "'state' is not an object"),
])
def test_a_manifest_with_a_missing_or_bad_field_is_a_checkpoint_error(tmp_path, damage, problem):
    store = CheckpointStore(tmp_path)
    store.save("t", {"w": [np.ones(3, np.float32)]}, {"epoch": 1})
    path = os.path.join(store.dir, "t.json")
    with open(path) as f:
        manifest = json.load(f)
    damage(manifest)
    with open(path, "w") as f:
        json.dump(manifest, f)
    with pytest.raises(CheckpointError) as err:
        store.latest()
    assert str(err.value).startswith(f"{path}: unreadable checkpoint manifest") and problem in str(err.value)


def test_a_resume_with_a_broken_manifest_is_one_line(stage1_run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(stage1_run, run_dir)
    manifest = run_dir / "checkpoints" / (latest_tag(str(run_dir)) + ".json")
    manifest.write_text(json.dumps({k: v for k, v in json.loads(manifest.read_text()).items() if k != "sha256"}))
    source, target = domains()
    save_subtomogram_set(source, tmp_path / "source")
    save_subtomogram_set(target, tmp_path / "target")
    assert cli.main(["train", "--source", str(tmp_path / "source"), "--target", str(tmp_path / "target"), "--run-dir",
                     str(run_dir), "--resume", "--quiet", "--stages", "1", "--config",
                     str(run_dir / "config.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"aitom-fsft: error: {manifest}: unreadable checkpoint manifest (ValueError: no 'sha256' field)"


# SIGKILL during classify-picks and during the experiment runner: no partial output a re-run would trust

def test_sigkill_during_classify_picks_leaves_no_partial_output(tmp_path):
    rng = np.random.default_rng(KILL_SEED + 3)
    put_mrc(np.random.default_rng(0).normal(size=(48, 48, 40)), tmp_path / "TS_1.mrc", voxel_spacing=10.0)
    centres = np.random.default_rng(1).uniform(4, 36, size=(40, 3))
    pd.DataFrame(centres, columns=["x_px", "y_px", "z_px"]).to_csv(tmp_path / "picks.csv", index=False)
    net = FSFTNetworks(16, 3, CFG)
    SubtomogramClassifier(net.inference_model("source"), ("a", "b", "c"), 16, 1.0).save(tmp_path / "model")
    args = ["classify-picks", "--tomogram", str(tmp_path / "TS_1.mrc"), "--picks", str(tmp_path / "picks.csv"),
            "--model", str(tmp_path / "model"), "--no-progress", "--batch-size", "4"]
    assert cli.main(args + ["--out", str(tmp_path / "reference.csv")]) == 0
    reference = pd.read_csv(tmp_path / "reference.csv")
    out = tmp_path / "out.csv"

    def check():
        if out.exists():  # only ever the complete output
            pd.testing.assert_frame_equal(pd.read_csv(out), reference)

    # killed inside the atomic write of the output, then at a random moment of a run
    proc = start(dict(task="cli", args=args + ["--out", str(out)], slow_replace="out.csv", slow_s=1.0), str(tmp_path))
    wait_for(new_entry(tmp_path, ".out.csv.", ()), proc)
    time.sleep(rng.uniform(0.0, 0.9))
    assert kill(proc)
    check()
    proc = start(dict(task="cli", args=args + ["--out", str(out), "--overwrite"]), str(tmp_path))
    time.sleep(rng.uniform(0.0, 8.0))
    kill(proc)
    check()
    assert cli.main(args + ["--out", str(out)] + (["--overwrite"] if out.exists() else [])) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out), reference)


def test_sigkill_during_the_experiment_runner_leaves_no_partial_output_a_rerun_trusts(tmp_path):
    from aitom.classify.deep.fsft.experiment import CSV_NAME, KEY, cell_name, read_runs, simulated_cell
    from aitom.io.dataset import load_two_domain

    rng = np.random.default_rng(KILL_SEED + 4)
    out, data = tmp_path / "out", tmp_path / "data"
    simulation = dict(n_per_class=6, box_size=16, n_classes=2, voxel_spacing_nm=1.5, seed=0)
    args = ["experiment", "--out", str(out), "--data-dir", str(data), "--source-snrs", "1000", "--target-snrs", "0.5",
            "--shots", "2", "--seeds", "0", "--methods", "source_only,fsft", "--quiet",
            "--n-per-class", "6", "--n-classes", "2", "--box-size", "16", "--voxel-spacing-nm", "1.5",
            "--widths", "4,4,4,8", "--dcd-hidden", "8", "--epochs-stage1", "2", "--epochs-stage2-1", "1",
            "--epochs-stage2-2", "1", "--epochs-stage3", "1", "--batch-size", "4", "--coral-batch-size", "4",
            "--dcd-batch-size", "4", "--stage3-batch-size", "4", "--dcd-source-per-class", "3"]
    cell = cell_name(1000, 0.5)
    csv_path = out / CSV_NAME

    def check():
        """What a re-run reads is complete: the cell's data set loads, every row of runs.csv is whole."""
        if (data / cell).exists():
            load_two_domain(data / cell)
        for row in read_runs(csv_path):
            assert all(row[k] for k in KEY + ("accuracy", "stage_accuracy", "finished", "confusion")), row
            assert 0 <= float(row["accuracy"]) <= 1 and json.loads(row["stage_accuracy"])

    # killed while simulating the data set, inside the atomic write of runs.csv, and at a random moment
    # after the first run was recorded
    for slow in (cell, "runs.csv", None):
        proc = start(dict(task="cli", args=args, slow_replace=slow, slow_s=1.0), str(tmp_path))
        if slow == cell:
            wait_for(lambda: data.is_dir() and any(n.startswith(f".{cell}.") for n in os.listdir(data)), proc)
            time.sleep(rng.uniform(0.0, 1.5))
        elif slow == "runs.csv":
            wait_for(lambda: out.is_dir() and any(n.startswith(".runs.csv.") for n in os.listdir(out)), proc)
            time.sleep(rng.uniform(0.0, 0.9))
        else:
            wait_for(lambda: len(read_runs(csv_path)) >= 1, proc)
            time.sleep(rng.uniform(0.0, 3.0))
        kill(proc)
        check()
    assert cli.main(args) == 0
    check()
    rows = read_runs(csv_path)
    assert sorted(r["method"] for r in rows) == ["fsft", "source_only"]
    fresh = simulated_cell(tmp_path / "fresh", 1000, 0.5, **simulation)  # simulated data depend on the seed only
    for kept, new in zip(load_two_domain(data / cell), fresh):
        np.testing.assert_array_equal(kept.x, new.x)
        np.testing.assert_array_equal(kept.y, new.y)
    assert (out / "results_table.md").exists()
