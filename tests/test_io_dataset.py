"""Tests for aitom.io.dataset: subtomogram sets, their on-disk format and the other loaders."""
import json
import os

import mrcfile
import numpy as np
import pytest

import aitom.io.dataset as D
from aitom.errors import InputError
from aitom.io.dataset import (SubtomogramSet, SubtomogramSetWriter, from_dj, harmonize_classes,
                              load_class_folders, load_dataset, load_demo_pickle, load_subtomogram_set,
                              load_two_domain, save_subtomogram_set, save_two_domain, to_dj)
from aitom.io.file import pickle_dump, put_mrc


def volumes(n, s=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n, s, s, s)).astype(np.float32)


def make_set(n=5, names=("a", "b"), y=(0, 1, 1, -1, 0), **kw):
    return SubtomogramSet(volumes(n), np.array(y[:n]), names, **kw)


@pytest.fixture
def saved(tmp_path):
    return save_subtomogram_set(make_set(voxel_spacing_nm=1.2, meta={"op": "demo"}), tmp_path / "set")


# SubtomogramSet

def test_set_basics():
    s = SubtomogramSet(volumes(3).astype(np.float64), [1, 0, -1], ["a", "b"], np.float32(0.5))
    assert s.x.dtype == np.float32 and s.y.dtype == np.int64 and s.class_names == ("a", "b")
    assert isinstance(s.voxel_spacing_nm, float)
    assert len(s) == 3 and s.box_size == 4
    assert s.counts() == {"a": 1, "b": 1}
    assert "n=3" in repr(s)
    assert s.validate() is s


def test_subset_by_indices_and_mask(saved):
    s = load_subtomogram_set(saved)
    sub = s.subset([3, 0])
    assert type(sub.x) is np.ndarray and sub.x.flags.writeable
    assert np.array_equal(sub.x, s.x[[3, 0]]) and list(sub.y) == [-1, 0]
    assert sub.meta == s.meta and sub.meta is not s.meta
    assert len(s.subset(s.y == 1)) == 2


@pytest.mark.parametrize("change, match", [
    (lambda s: setattr(s, "x", s.x[:, :, :3]), "not cubic"),
    (lambda s: s.x.__setitem__((2, 0, 0, 0), np.nan), r"subtomogram 2\): 1 of 64 voxels are NaN"),
    (lambda s: s.x.__setitem__(3, 1.0), r"subtomogram 3\): volume is constant"),
    (lambda s: s.y.__setitem__(1, 2), "label id 2 at row 1"),
    (lambda s: setattr(s, "y", s.y[:4]), "4 labels for 5 subtomograms"),
    (lambda s: setattr(s, "class_names", ("a", 1)), "must be str"),
    (lambda s: setattr(s, "class_names", ("b", "a")), "sorted"),
    (lambda s: setattr(s, "meta", {"k": object()}), "JSON"),
    (lambda s: setattr(s, "voxel_spacing_nm", -1.0), "voxel_spacing_nm"),
    (lambda s: setattr(s, "x", s.x.astype(np.float16)), "float32"),
])
def test_validate_errors(change, match):
    s = make_set()
    change(s)
    with pytest.raises(InputError, match=match) as err:
        s.validate(source="train")
    assert str(err.value).startswith("train.")


# On-disk format

def test_save_load_round_trip(saved):
    with open(os.path.join(saved, "meta.json")) as f:
        meta = json.load(f)
    assert meta == {"format": "aitom-subtomogram-set", "version": 1, "n": 5, "box_size": 4,
                    "class_names": ["a", "b"], "voxel_spacing_nm": 1.2, "meta": {"op": "demo"}}
    s = load_subtomogram_set(saved)
    assert isinstance(s.x, np.memmap) and not s.x.flags.writeable
    assert np.array_equal(s.x, volumes(5)) and list(s.y) == [0, 1, 1, -1, 0]
    assert s.class_names == ("a", "b") and s.voxel_spacing_nm == 1.2 and s.meta == {"op": "demo"}
    assert not isinstance(load_subtomogram_set(saved, mmap=False).x, np.memmap)
    assert sorted(os.listdir(os.path.dirname(saved))) == ["set"]


def test_save_replaces_a_set_but_not_other_folders(saved, tmp_path):
    save_subtomogram_set(make_set(3), saved)
    assert len(load_subtomogram_set(saved)) == 3
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="refusing to replace"):
        save_subtomogram_set(make_set(), tmp_path / "mine")
    assert os.listdir(tmp_path / "mine") == ["keep.txt"]


def test_resave_a_memory_mapped_set_onto_itself(saved):
    s = load_subtomogram_set(saved)
    s.meta = {"op": "edited"}
    save_subtomogram_set(s, saved)
    again = load_subtomogram_set(saved)
    assert again.meta == {"op": "edited"} and np.array_equal(again.x, volumes(5))


def test_save_validates_first(tmp_path):
    s = make_set()
    s.x[0, 0, 0, 0] = np.inf
    with pytest.raises(InputError, match="subtomogram 0"):
        save_subtomogram_set(s, tmp_path / "set")
    assert not os.listdir(tmp_path)


def rewrite_meta(folder, **changes):
    path = os.path.join(folder, "meta.json")
    with open(path) as f:
        meta = json.load(f)
    meta.update(changes)
    with open(path, "w") as f:
        json.dump(meta, f)


@pytest.mark.parametrize("damage, file, match", [
    (lambda p: os.remove(os.path.join(p, "meta.json")), "meta.json", "missing"),
    (lambda p: open(os.path.join(p, "meta.json"), "w").write("{"), "meta.json", "not valid JSON"),
    (lambda p: rewrite_meta(p, format="other"), "meta.json", "not an aitom-subtomogram-set"),
    (lambda p: rewrite_meta(p, version=2), "meta.json", "unsupported version 2"),
    (lambda p: rewrite_meta(p, n=6), "subtomograms.npy", "does not match meta.json"),
    (lambda p: rewrite_meta(p, box_size="4"), "meta.json", "box_size must be an integer"),
    (lambda p: rewrite_meta(p, class_names=["b", "a"]), "meta.json", "sorted"),
    (lambda p: rewrite_meta(p, class_names=["a", 2]), "meta.json", "must be str"),
    (lambda p: rewrite_meta(p, class_names=["a"]), "labels.npy", "label id 1"),
    (lambda p: os.remove(os.path.join(p, "labels.npy")), "labels.npy", "missing"),
    (lambda p: open(os.path.join(p, "subtomograms.npy"), "wb").write(b"junk" * 50), "subtomograms.npy",
     "corrupt .npy"),
    (lambda p: os.truncate(os.path.join(p, "subtomograms.npy"), 500), "subtomograms.npy", "corrupt .npy"),
    (lambda p: np.save(os.path.join(p, "labels.npy"), np.zeros(5, np.int32)), "labels.npy", "int32"),
])
def test_load_errors_name_the_file(saved, damage, file, match):
    damage(saved)
    with pytest.raises(InputError, match=match) as err:
        load_subtomogram_set(saved)
    assert err.value.source.startswith(os.path.join(saved, file))


def test_load_missing_folder(tmp_path):
    with pytest.raises(InputError, match="no such folder"):
        load_subtomogram_set(tmp_path / "none")


def test_memmap_is_checked_in_chunks(saved, monkeypatch):
    x = np.load(os.path.join(saved, "subtomograms.npy"))
    x[4, 1, 2, 3] = np.nan
    np.save(os.path.join(saved, "subtomograms.npy"), x)
    monkeypatch.setattr(D, "_CHUNK_VOXELS", 64)  # one volume per chunk
    with pytest.raises(InputError, match=r"subtomograms.npy \(subtomogram 4\): 1 of 64 voxels") as err:
        load_subtomogram_set(saved)
    assert "subtomograms.npy" in err.value.source
    assert len(load_subtomogram_set(saved, check_values=False)) == 5


# Streaming writer

def test_writer_streams_rows(tmp_path):
    s = make_set()
    with SubtomogramSetWriter(tmp_path / "w", 5, 4, ("a", "b"), 0.8, {"op": "x"}) as w:
        w.write(3, s.x[3:], s.y[3:])
        w.write(0, s.x[:3].astype(np.float64), s.y[:3])
        assert "w" not in os.listdir(tmp_path)  # appears only on close
    out = load_subtomogram_set(tmp_path / "w")
    assert np.array_equal(out.x, s.x) and np.array_equal(out.y, s.y)
    assert out.voxel_spacing_nm == 0.8 and out.meta == {"op": "x"}
    assert os.listdir(tmp_path) == ["w"]


def test_writer_close_returns_path_and_replaces_a_set(saved):
    w = SubtomogramSetWriter(saved, 1, 4, ["a"])
    w.write(0, volumes(1), [0])
    assert w.close() == str(saved)
    assert len(load_subtomogram_set(saved)) == 1
    with pytest.raises(InputError, match="closed"):
        w.write(0, volumes(1), [0])


def test_writer_exception_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with SubtomogramSetWriter(tmp_path / "w", 2, 4, ("a",)) as w:
            w.write(0, volumes(1), [0])
            raise RuntimeError("boom")
    assert not os.listdir(tmp_path)


def test_writer_missing_rows_leave_nothing(tmp_path):
    with pytest.raises(InputError, match="1 of 2 rows were never written"):
        with SubtomogramSetWriter(tmp_path / "w", 2, 4, ("a",)) as w:
            w.write(0, volumes(1), [0])
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("start, x, y, match", [
    (0, volumes(1, s=3), [0], "x_batch"),
    (0, volumes(1), [0, 0], "y_batch"),
    (2, volumes(1), [0], "start"),
    (0, volumes(1), [1], "label id 1 for row 0"),
    (1, np.zeros((1, 4, 4, 4)), [0], r"x_batch \(row 1\): volume is constant"),
])
def test_writer_rejects_bad_batches(tmp_path, start, x, y, match):
    w = SubtomogramSetWriter(tmp_path / "w", 2, 4, ("a",))
    with pytest.raises(InputError, match=match):
        w.write(start, x, y)
    w.abort()
    assert not os.listdir(tmp_path)


def test_writer_rejects_bad_arguments(tmp_path):
    with pytest.raises(InputError, match="sorted"):
        SubtomogramSetWriter(tmp_path / "w", 2, 4, ("b", "a"))
    with pytest.raises(InputError, match="box_size"):
        SubtomogramSetWriter(tmp_path / "w", 2, 0, ("a",))
    assert not os.listdir(tmp_path)


# AITom inputs

def test_from_dj_and_back():
    v = volumes(3)
    s = from_dj([{"pdb_id": "b", "v": v[0]}, {"pdb_id": "a", "v": v[1]}, {"v": v[2]}], voxel_spacing_nm=1.0)
    assert s.class_names == ("a", "b") and list(s.y) == [1, 0, -1] and np.array_equal(s.x, v)
    dj = to_dj(s)
    assert [d.get("pdb_id") for d in dj] == ["b", "a", None]
    back = from_dj(dj)
    assert np.array_equal(back.x, s.x) and np.array_equal(back.y, s.y)


def test_from_dj_with_class_names_and_mrc_paths(tmp_path):
    put_mrc(volumes(1)[0], tmp_path / "v.mrc")
    s = from_dj([{"pdb_id": "b", "subtomogram": str(tmp_path / "v.mrc")}], class_names=["c", "b", "a"])
    assert s.class_names == ("a", "b", "c") and list(s.y) == [1]
    assert np.array_equal(s.x[0], volumes(1)[0])


@pytest.mark.parametrize("dj, kw, source, match", [
    ([], {}, "dj", "no subtomograms"),
    ([{"pdb_id": "a", "v": volumes(1)[0]}, {"pdb_id": "a", "v": volumes(1, s=5)[0]}], {}, "dj[1]",
     r"\(5, 5, 5\) differs from \(4, 4, 4\) of dj\[0\]"),
    ([{"pdb_id": "a", "v": np.ones((4, 4, 3))}], {}, "dj[0]", "cubic"),
    ([{"pdb_id": "a", "v": volumes(1)[0]}, {"pdb_id": "a", "v": np.zeros((4, 4, 4))}], {}, "dj[1]",
     "constant"),
    ([{"pdb_id": "a"}], {}, "dj[0]", "neither 'v'"),
    ([{"pdb_id": 7, "v": volumes(1)[0]}], {}, "dj[0]['pdb_id']", "must be str"),
    ([{"pdb_id": "z", "v": volumes(1)[0]}], {"class_names": ["a"]}, "dj[0]['pdb_id']", "'z' is not in"),
])
def test_from_dj_errors(dj, kw, source, match):
    with pytest.raises(InputError, match=match) as err:
        from_dj(dj, **kw)
    assert err.value.source == source


def test_demo_pickle(tmp_path):
    pickle_dump({"5T2C_data": volumes(2), "1KYI_data": volumes(3, seed=1)}, tmp_path / "demo.pickle")
    s = load_demo_pickle(tmp_path / "demo.pickle", voxel_spacing_nm=1.0, trusted=True)
    assert s.class_names == ("1KYI_data", "5T2C_data") and s.counts() == {"1KYI_data": 3, "5T2C_data": 2}
    assert np.array_equal(s.x[3:], volumes(2))
    pickle_dump({"a": volumes(1), "b": volumes(1, s=5)}, tmp_path / "mixed.pkl")
    with pytest.raises(InputError, match=r"mixed.pkl\['b'\]\[0\]"):
        load_demo_pickle(tmp_path / "mixed.pkl", trusted=True)
    pickle_dump([1, 2], tmp_path / "list.pkl")
    with pytest.raises(InputError, match="expected a dict"):
        load_demo_pickle(tmp_path / "list.pkl", trusted=True)


@pytest.fixture
def class_folders(tmp_path):
    root = tmp_path / "classes"
    (root / "b").mkdir(parents=True)
    (root / "a").mkdir()
    np.save(root / "a" / "one.npy", volumes(1)[0])
    np.save(root / "a" / "two.npy", volumes(2, seed=1))
    put_mrc(volumes(1, seed=2)[0], root / "b" / "p.mrc")
    (root / "b" / "notes.txt").write_text("ignored")
    (root / ".hidden").mkdir()
    return root


def test_class_folders(class_folders):
    s = load_class_folders(class_folders, voxel_spacing_nm=1.0)
    assert s.class_names == ("a", "b") and list(s.y) == [0, 0, 0, 1]
    assert np.array_equal(s.x[1:3], volumes(2, seed=1)) and np.array_equal(s.x[3], volumes(1, seed=2)[0])


def test_class_folders_errors(class_folders):
    np.save(class_folders / "b" / "big.npy", volumes(1, s=5)[0])
    with pytest.raises(InputError, match="differs") as err:
        load_class_folders(class_folders)
    assert err.value.source.endswith("big.npy")
    os.remove(class_folders / "b" / "big.npy")
    put_mrc(np.arange(64).reshape(4, 4, 4), class_folders / "b" / "z.mrc")
    np.save(class_folders / "b" / "z.npy", np.full((4, 4, 4), np.nan))
    with pytest.raises(InputError, match="NaN") as err:
        load_class_folders(class_folders)
    assert err.value.source.endswith("z.npy")
    os.remove(class_folders / "b" / "z.npy")
    with mrcfile.new(class_folders / "b" / "int.mrc", data=np.arange(64, dtype=np.int16).reshape(4, 4, 4)):
        pass
    with pytest.raises(InputError, match="allow_int") as err:
        load_class_folders(class_folders)
    assert err.value.source.endswith("int.mrc")
    os.remove(class_folders / "b" / "int.mrc")
    (class_folders / "c").mkdir()
    with pytest.raises(InputError, match="no .npy or MRC files"):
        load_class_folders(class_folders)


def test_load_dataset_dispatch(tmp_path, saved, class_folders):
    s = make_set()
    assert load_dataset(s) is s
    assert isinstance(load_dataset(saved).x, np.memmap)
    assert not isinstance(load_dataset(saved, mmap=False).x, np.memmap)
    assert load_dataset(class_folders).class_names == ("a", "b")
    assert load_dataset(to_dj(s)).class_names == ("a", "b")
    assert load_dataset({"a": volumes(2)}).counts() == {"a": 2}
    pickle_dump(to_dj(s), tmp_path / "dj.pkl")
    pickle_dump({"a": volumes(2)}, tmp_path / "demo.pickle")
    assert len(load_dataset(tmp_path / "dj.pkl", trusted=True)) == 5
    assert len(load_dataset(str(tmp_path / "demo.pickle"), trusted=True)) == 2
    with pytest.raises(InputError, match="no such file"):
        load_dataset(tmp_path / "none")
    with pytest.raises(InputError, match="cannot load a int"):
        load_dataset(3)


# Two domains

def test_harmonize_classes():
    source = make_set(names=("a", "b", "c"), y=(0, 1, 2, 2, 0))
    target = SubtomogramSet(volumes(3, seed=1), [0, 1, -1], ("c", "d"))
    with pytest.raises(InputError, match="'d' is absent from the source"):
        harmonize_classes(source, target)
    target.y[1] = -1  # 'd' declared but unused: dropped
    src, tgt = harmonize_classes(source, target)
    assert src is source and tgt.class_names == source.class_names
    assert list(tgt.y) == [2, -1, -1] and np.shares_memory(tgt.x, target.x)


def test_two_domain_round_trip(tmp_path):
    source = make_set(names=("a", "b"))
    target = SubtomogramSet(volumes(2, seed=1), [0, 0], ("b",), meta={"domain": "real"})
    path = save_two_domain(tmp_path / "two", source, target, meta={"note": "x"})
    assert sorted(os.listdir(path)) == ["dataset.json", "source", "target"]
    src, tgt = load_two_domain(path)
    assert src.class_names == tgt.class_names == ("a", "b")
    assert list(tgt.y) == [1, 1] and tgt.meta == {"domain": "real"}
    assert isinstance(tgt.x, np.memmap)
    rewrite_meta(os.path.join(path, "target"), class_names=["a", "b", "c"])
    with pytest.raises(InputError, match="differ from"):
        load_two_domain(path)
    with pytest.raises(InputError, match="refusing to replace"):
        save_two_domain(os.path.join(path, "source"), source, target)
    assert os.listdir(tmp_path) == ["two"]
