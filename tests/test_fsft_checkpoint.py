"""aitom.classify.deep.fsft.checkpoint: save / verify / restore, pruning, refusals, the run lock."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from aitom.classify.deep.fsft import CheckpointError
from aitom.classify.deep.fsft.checkpoint import CheckpointStore, run_lock
from aitom.errors import InputError


def variables(seed=0, shape=(3, 2)):
    rng = np.random.default_rng(seed)
    return {"net": [tf.Variable(rng.normal(size=shape).astype(np.float32)), tf.Variable(np.float32(seed))]}


def values(objects):
    return [v.numpy().copy() for v in objects["net"]]


def test_save_latest_restore_round_trip(tmp_path):
    store = CheckpointStore(tmp_path)
    saved = variables(seed=1)
    store.save("stage1-epoch3", saved, {"epoch": 3})
    manifest = store.latest()
    assert manifest["tag"] == "stage1-epoch3" and manifest["state"] == {"epoch": 3}
    target = variables(seed=2)
    store.restore(manifest, target)
    for a, b in zip(values(target), values(saved)):
        np.testing.assert_array_equal(a, b)


def test_an_empty_run_has_no_checkpoint(tmp_path):
    assert CheckpointStore(tmp_path).latest() is None


def test_only_the_newest_keep_checkpoints_stay(tmp_path):
    store = CheckpointStore(tmp_path, keep=2)
    for i in range(4):
        store.save(f"t{i}", variables(i), {"i": i})
        os.utime(os.path.join(store.dir, f"t{i}.json"), (1000 + i, 1000 + i))  # distinct mtimes on coarse clocks
    names = sorted(os.listdir(store.dir))
    assert names == ["latest.json", "t2.json", "t2.npz", "t3.json", "t3.npz"]
    assert store.latest()["state"] == {"i": 3}


def test_changed_bytes_are_reported_as_corrupt_not_loaded(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save("a", variables(), {})
    npz = os.path.join(store.dir, "a.npz")
    data = bytearray(open(npz, "rb").read())
    data[-30] ^= 0xFF
    open(npz, "wb").write(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        store.latest()


def test_a_missing_data_file_is_named(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save("a", variables(), {})
    os.remove(os.path.join(store.dir, "a.npz"))
    with pytest.raises(CheckpointError, match="missing"):
        store.latest()


def test_non_finite_values_are_never_saved_and_the_last_good_one_stays(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save("good", variables(), {"ok": True})
    bad = variables()
    bad["net"][0].assign(np.full((3, 2), np.nan, np.float32))
    with pytest.raises(CheckpointError, match="NaN"):
        store.save("bad", bad, {})
    assert store.latest()["tag"] == "good"
    assert not os.path.exists(os.path.join(store.dir, "bad.npz"))


def test_restore_refuses_other_shapes_and_names_but_partial_takes_a_subset(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save("a", {**variables(), "opt": [tf.Variable(np.zeros(2, np.float32))]}, {})
    manifest = store.latest()
    with pytest.raises(CheckpointError, match="does not fit"):
        store.restore(manifest, variables())
    store.restore(manifest, variables(seed=5), partial=True)
    wrong_shape = {**variables(shape=(2, 3)), "opt": [tf.Variable(np.zeros(2, np.float32))]}
    with pytest.raises(CheckpointError, match="shape"):
        store.restore(manifest, wrong_shape)


def test_a_store_that_does_not_write_checks_but_writes_nothing(tmp_path):
    store = CheckpointStore(tmp_path, write=False)
    store.save("a", variables(), {})
    assert not os.path.exists(os.path.join(tmp_path, "checkpoints"))
    bad = variables()
    bad["net"][1].assign(np.float32(np.inf))
    with pytest.raises(CheckpointError):
        store.save("b", bad, {})


def test_manifest_naming_a_file_outside_the_folder_is_refused(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save("a", variables(), {})
    path = os.path.join(store.dir, "a.json")
    manifest = json.load(open(path))
    manifest["file"] = "../../elsewhere.npz"
    json.dump(manifest, open(path, "w"))
    with pytest.raises(CheckpointError, match="unreadable checkpoint manifest"):
        store.latest()


def test_run_lock_keeps_a_second_run_out_until_the_first_ends(tmp_path):
    with run_lock(tmp_path / "run"):
        with pytest.raises(InputError, match="another run"):
            with run_lock(tmp_path / "run"):
                pass
    with run_lock(tmp_path / "run"):
        pass
