"""Tests for aitom.io.file: MRC and pickle I/O with strict validation."""
import gzip
import os
import time
from importlib import resources

import mrcfile
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aitom.errors import InputError
from aitom.io.file import (get_mrc_voxel_spacing, pickle_dump, pickle_load, put_mrc, read_mrc_data,
                           read_mrc_header)


def volume(shape=(2, 3, 4), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def write_raw(path, data, **header):
    """Write (z, y, x) ``data`` with mrcfile directly, setting header fields."""
    with mrcfile.new(path, data=data) as mrc:
        for k, val in header.items():
            setattr(mrc.header, k, val)
    return path


@pytest.fixture
def mrc_path(tmp_path):
    path = tmp_path / "v.mrc"
    put_mrc(volume(), path, voxel_spacing=4.2)
    return path


def test_round_trip_keeps_values_and_voxel_size(mrc_path):
    assert np.array_equal(read_mrc_data(mrc_path), volume())
    header = read_mrc_header(mrc_path)
    assert header["shape"] == (2, 3, 4)
    assert header["mode"] == 2
    assert header["voxel_size_A"] == (4.2, 4.2, 4.2)
    assert header["voxel_spacing_nm"] == 0.42
    assert get_mrc_voxel_spacing(mrc_path) == 4.2


def test_axis_order_is_xyz(mrc_path):
    v = volume()
    with mrcfile.open(mrc_path) as mrc:
        assert mrc.data.shape == (4, 3, 2)
        assert mrc.data[3, 1, 0] == v[0, 1, 3]
    out = read_mrc_data(mrc_path)
    assert out.dtype == np.float32 and out.flags.c_contiguous


def test_permuted_axis_map_is_honoured(tmp_path):
    data = volume((4, 2, 3))  # (sections, rows, columns) with columns = y, rows = x, sections = z
    path = write_raw(tmp_path / "p.mrc", data, mapc=2, mapr=1, maps=3)
    out = read_mrc_data(path)
    assert out.shape == (2, 3, 4) == read_mrc_header(path)["shape"]
    assert out[1, 2, 3] == data[3, 1, 2]


def test_no_voxel_size_recorded(tmp_path):
    put_mrc(volume(), tmp_path / "v.mrc")
    assert get_mrc_voxel_spacing(tmp_path / "v.mrc") is None
    assert read_mrc_header(tmp_path / "v.mrc")["voxel_spacing_nm"] is None


@pytest.mark.parametrize("name", ["v.map", "v.rec", "v.mrc.gz"])
def test_other_extensions_and_gzip(tmp_path, name):
    put_mrc(volume(), tmp_path / name, voxel_spacing=10)
    assert np.array_equal(read_mrc_data(tmp_path / name), volume())
    assert read_mrc_header(tmp_path / name)["compression"] == ("gzip" if name.endswith(".gz") else None)


def test_gzip_written_by_other_tools(tmp_path, mrc_path):
    gz = tmp_path / "other.mrc.gz"
    gz.write_bytes(gzip.compress(mrc_path.read_bytes()))
    assert np.array_equal(read_mrc_data(gz), volume())


def test_shipped_structure_reads():
    path = resources.files("aitom") / "data" / "structures" / "1bxn.mrc.gz"
    assert read_mrc_header(path)["voxel_spacing_nm"] == 1.0
    assert read_mrc_data(path).shape == (52, 52, 52)


def test_overwrite_refused_then_allowed(mrc_path):
    with pytest.raises(InputError, match="overwrite=True"):
        put_mrc(volume(seed=1), mrc_path)
    assert np.array_equal(read_mrc_data(mrc_path), volume())
    put_mrc(volume(seed=1), mrc_path, overwrite=True)
    assert np.array_equal(read_mrc_data(mrc_path), volume(seed=1))
    assert os.listdir(mrc_path.parent) == ["v.mrc"]


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 3)), "3D"),
    (np.full((2, 2, 2), np.nan), "8 NaN"),
    (np.zeros((2, 2, 2), complex), "real"),
])
def test_put_mrc_rejects_bad_volumes(tmp_path, bad, match):
    with pytest.raises(InputError, match=match):
        put_mrc(bad, tmp_path / "v.mrc")
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("spacing", [0, -1, float("nan"), "a"])
def test_put_mrc_rejects_bad_voxel_spacing(tmp_path, spacing):
    with pytest.raises(InputError, match="voxel_spacing"):
        put_mrc(volume(), tmp_path / "v.mrc", voxel_spacing=spacing)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file") as err:
        read_mrc_data(tmp_path / "missing.mrc")
    assert "missing.mrc" in str(err.value)


def test_truncated_file(mrc_path):
    mrc_path.write_bytes(mrc_path.read_bytes()[:-5])
    with pytest.raises(InputError, match="truncated") as err:
        read_mrc_data(mrc_path)
    assert str(mrc_path) in str(err.value)


def test_trailing_bytes(mrc_path):
    mrc_path.write_bytes(mrc_path.read_bytes() + b"\0" * 8)
    with pytest.raises(InputError, match="8 bytes beyond"):
        read_mrc_header(mrc_path)


@pytest.mark.parametrize("size", [100, 3000])
def test_random_bytes(tmp_path, size):
    path = tmp_path / "junk.mrc"
    path.write_bytes(np.random.default_rng(size).bytes(size))
    with pytest.raises(InputError, match="not an MRC file"):
        read_mrc_data(path)


def test_integer_mode_needs_allow_int(tmp_path):
    data = np.arange(24, dtype=np.int16).reshape(4, 3, 2)
    path = write_raw(tmp_path / "i.mrc", data)
    with pytest.raises(InputError, match="mode 1.*int16.*allow_int"):
        read_mrc_data(path)
    out = read_mrc_data(path, allow_int=True)
    assert out.dtype == np.float32 and np.array_equal(out, data.transpose(2, 1, 0))


def test_complex_mode_refused(tmp_path):
    path = write_raw(tmp_path / "c.mrc", np.ones((2, 2, 2), np.complex64))
    with pytest.raises(InputError, match="mode 4.*complex"):
        read_mrc_data(path, allow_int=True)


def test_unsupported_mode(mrc_path):
    with mrcfile.open(mrc_path, "r+") as mrc:
        mrc.header.mode = 3
    with pytest.raises(InputError, match="unsupported MRC mode 3"):
        read_mrc_header(mrc_path)


def test_non_finite_values(tmp_path):
    data = np.ones((4, 3, 2), np.float32)
    data[0, 0, 0], data[1, 1, 1] = np.nan, np.inf
    with pytest.warns(RuntimeWarning, match="NaN"):  # mrcfile warns when writing it
        path = write_raw(tmp_path / "n.mrc", data)
    with pytest.raises(InputError, match="2 of 24 voxels are NaN or infinite") as err:
        read_mrc_data(path)
    assert "n.mrc" in str(err.value)
    assert np.isnan(read_mrc_data(path, check_finite=False)[0, 0, 0])


def test_progress_bar_output_is_the_same(mrc_path):
    assert np.array_equal(read_mrc_data(mrc_path, show_progress=True), volume())


def test_progress_is_the_keyword_and_show_progress_a_deprecated_alias(mrc_path, capsys):
    assert np.array_equal(read_mrc_data(mrc_path, progress=True), volume())
    assert "v.mrc" in capsys.readouterr().err  # the bar, on stderr, named after the file
    read_mrc_data(mrc_path)
    assert capsys.readouterr().err == ""
    with pytest.warns(DeprecationWarning, match="progress="):
        read_mrc_data(mrc_path, show_progress=True)
    assert "v.mrc" in capsys.readouterr().err


def test_mrc_suffix_is_the_one_list_of_mrc_file_endings():
    from aitom.io.file import mrc_suffix
    assert [mrc_suffix(n) for n in ("a.mrc", "B.MAP", "c.rec.gz", "d.st", "e.mrc.bz2", "f.npy", "mrc", "g.mrcs")] == [
        ".mrc", ".map", ".rec.gz", ".st", ".mrc.bz2", "", "", ""]


def test_pickle_round_trip_and_errors(tmp_path):
    obj = {"a": np.arange(3), "b": [1, "x"]}
    pickle_dump(obj, tmp_path / "o.pkl")
    back = pickle_load(tmp_path / "o.pkl", trusted=True)
    assert np.array_equal(back["a"], obj["a"]) and back["b"] == obj["b"]
    assert os.listdir(tmp_path) == ["o.pkl"]
    with pytest.raises(InputError, match="no such file"):
        pickle_load(tmp_path / "none.pkl", trusted=True)
    (tmp_path / "bad.pkl").write_bytes(b"\x80\x05garbage")
    with pytest.raises(InputError, match="cannot unpickle"):
        pickle_load(tmp_path / "bad.pkl", trusted=True)


# Property tests: a damaged MRC file reads correctly or raises InputError, never anything else.

@pytest.fixture(scope="module")
def valid_mrc(tmp_path_factory):
    path = tmp_path_factory.mktemp("valid") / "v.mrc"
    put_mrc(np.linspace(-1, 1, 60, dtype=np.float32).reshape(5, 4, 3), path, voxel_spacing=5)
    return path.read_bytes()


def damage(draw, raw, limit):
    """Overwrite 1-6 random bytes among the first ``limit``, then maybe truncate."""
    raw = bytearray(raw)
    for _ in range(draw(st.integers(1, 6))):
        raw[draw(st.integers(0, min(limit, len(raw)) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        raw = raw[:draw(st.integers(0, len(raw)))]
    return bytes(raw)


def reads_or_input_error(path):
    start = time.monotonic()
    for read in (read_mrc_header, lambda p: read_mrc_data(p, allow_int=True)):
        try:
            out = read(path)
        except InputError as err:
            assert str(path) in str(err)
        else:
            assert isinstance(out, (dict, np.ndarray))
    assert time.monotonic() - start < 5


PROPERTY = settings(max_examples=50, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY
@given(data=st.data())
def test_damaged_mrc_reads_or_raises_input_error(tmp_path, valid_mrc, data):
    limit = data.draw(st.sampled_from([1100, len(valid_mrc)]))  # header-heavy or anywhere
    path = tmp_path / "d.mrc"
    path.write_bytes(damage(data.draw, valid_mrc, limit))
    reads_or_input_error(path)


@settings(PROPERTY, max_examples=30)
@given(data=st.data())
def test_damaged_gzip_mrc_reads_or_raises_input_error(tmp_path, valid_mrc, data):
    raw = gzip.compress(damage(data.draw, valid_mrc, 1100))
    if data.draw(st.booleans()):
        raw = damage(data.draw, raw, len(raw))
    path = tmp_path / "d.mrc.gz"
    path.write_bytes(raw)
    reads_or_input_error(path)
