"""Interrupted runs: SIGKILL at random points, corrupt checkpoints, diverging losses.

Kills are real: a child process (``reliability_worker.py``) trains or writes, and is SIGKILLed at a
point drawn from a seeded generator (``KILL_SEED``), so a failure can be replayed. After every kill
the checkpoints must all verify, ``CheckpointStore.latest()`` must not raise, and a folder written
atomically must be either the old complete version, the new complete version, or absent.
"""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from fsft_helpers import blob_set, tiny_config
from reliability_worker import new_volumes

from aitom.classify.deep.fsft import CheckpointError, SubtomogramClassifier, TrainingDivergedError, train
from aitom.classify.deep.fsft.checkpoint import CheckpointStore
from aitom.classify.deep.fsft.pipeline import RUN_MARKER
from aitom.classify.deep.fsft.stages import STAGES
from aitom.classify.deep.fsft import cli
from aitom.classify.deep.fsft import data as data_module
from aitom.io.dataset import (SubtomogramSet, load_subtomogram_set, load_two_domain, save_subtomogram_set,
                              save_two_domain)

KILL_SEED = 20240607
N_PER_CLASS = 8
CFG = tiny_config(epochs_stage1=3, epochs_stage2_1=3, epochs_stage2_2=3, epochs_stage3=3, widths=(4, 4, 4, 8),
                  dcd_hidden=8, shots=2)
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
    for stage in STAGES:
        epoch = int(rng.integers(1, getattr(CFG, EPOCHS[stage])))  # a stage always has an epoch after it
        tag = f"stage{stage}-epoch{epoch:04d}"
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
