"""Particle lists: round trips, coordinate conventions, errors naming file and column, fuzzed STAR text."""
import os
import pickle
import tempfile

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aitom.errors import InputError
from aitom.io.particles import (CANONICAL_COLUMNS, COORDINATE_COLUMNS, FORMATS, detect_format, read_particles,
                                write_particles)

SHAPE = (100, 80, 40)
EXTENSION = {"pytom": ".star", "relion4": ".star", "relion5": ".star", "csv": ".csv", "aitom": ".pkl"}


def _picks():
    return pd.DataFrame({"x_px": [1.0, 2.5, 99.0], "y_px": [3.0, 4.0, 0.0], "z_px": [5.0, 6.25, 39.0],
                         "tomogram": ["TS_01", "TS_02", "001"], "pixel_size_A": [10.0, 10.0, 10.0],
                         "score": [0.3, 0.4, 0.5], "label": ["a", "b c", ""]})


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_every_format(tmp_path, fmt):
    path = tmp_path / f"picks{EXTENSION[fmt]}"
    write_particles(_picks(), path, fmt=fmt, tomogram_shape=SHAPE)
    assert detect_format(path) == fmt
    back = read_particles(path, tomogram_shape=SHAPE, pixel_size_A=10.0, trusted=True)
    expected = _picks()
    np.testing.assert_allclose(back[list(COORDINATE_COLUMNS)], expected[list(COORDINATE_COLUMNS)], atol=1e-5)
    assert list(back["tomogram"]) == ["TS_01", "TS_02", "001"]  # "001" stays a string
    np.testing.assert_allclose(back["pixel_size_A"], 10.0)
    np.testing.assert_allclose(back["score"], expected["score"])
    assert list(back["label"].fillna("")) == ["a", "b c", ""]


def test_round_trip_keeps_input_columns_and_adds_new_ones(tmp_path):
    src = tmp_path / "in.star"
    src.write_text(PYTOM_STAR)
    picks = read_particles(src)
    picks["fsft_class"] = ["x", "y"]
    picks["fsft_p_x"] = [0.9, 0.2]
    out = tmp_path / "out.star"
    write_particles(picks, out, like=src)
    back = read_particles(out)
    for column in ("ptmAngleRot", "ptmAngleTilt", "ptmAnglePsi", "ptmLCCmax", "ptmCutOff", "fsft_class", "fsft_p_x"):
        assert column in back
    np.testing.assert_allclose(back[list(COORDINATE_COLUMNS)], picks[list(COORDINATE_COLUMNS)])
    text = out.read_text()
    assert "_x_px" not in text and "_tomogram " not in text  # canonical columns are not written to STAR


PYTOM_STAR = """
data_

loop_
_ptmCoordinateX #1
_ptmCoordinateY #2
_ptmCoordinateZ #3
_ptmAngleRot #4
_ptmAngleTilt #5
_ptmAnglePsi #6
_ptmLCCmax #7
_ptmCutOff #8
_ptmSearchStd #9
_ptmDetectorPixelSize #10
_ptmMicrographName #11
37	52	18	-130.1	45.2	12.0	0.41	0.2	0.05	13.79	tomo_200
 8	 9	10	10.0	20.0	30.0	0.22	0.2	0.05	13.79	tomo_200
"""


def test_pytom_match_pick_star(tmp_path):
    path = tmp_path / "tomo_200_particles.star"
    path.write_text(PYTOM_STAR)
    df = read_particles(path)
    assert detect_format(path) == "pytom"
    np.testing.assert_array_equal(df[list(COORDINATE_COLUMNS)].to_numpy(), [[37, 52, 18], [8, 9, 10]])
    assert list(df["tomogram"]) == ["tomo_200", "tomo_200"]
    np.testing.assert_allclose(df["pixel_size_A"], 13.79)
    np.testing.assert_allclose(df["ptmLCCmax"], [0.41, 0.22])


RELION4_STAR = """
data_optics

loop_
_rlnOpticsGroup
_rlnTomoTiltSeriesPixelSize
1 1.35
2 2.70

data_particles

loop_
_rlnTomoName
_rlnCoordinateX
_rlnCoordinateY
_rlnCoordinateZ
_rlnOpticsGroup
TS_01 100 200 300 1
TS_02 10.5 20 30 2
"""


def test_relion4_pixel_size_from_optics_table_and_like_keeps_it(tmp_path):
    path = tmp_path / "particles.star"
    path.write_text(RELION4_STAR)
    df = read_particles(path)
    np.testing.assert_allclose(df["pixel_size_A"], [1.35, 2.70])
    np.testing.assert_allclose(df["x_px"], [100, 10.5])
    out = tmp_path / "out.star"
    write_particles(df, out, like=path)
    text = out.read_text()
    assert "data_optics" in text and "data_particles" in text
    np.testing.assert_allclose(read_particles(out)["pixel_size_A"], [1.35, 2.70])


def test_relion5_centred_angstrom_convention(tmp_path):
    # RELION 5: decentred pixel = Å / pixel size + size / 2 (floating point), 0-based
    path = tmp_path / "r5.star"
    path.write_text("data_particles\nloop_\n_rlnTomoName\n_rlnCenteredCoordinateXAngst\n"
                    "_rlnCenteredCoordinateYAngst\n_rlnCenteredCoordinateZAngst\n_rlnTomoTiltSeriesPixelSize\n"
                    "TS_1 0 -100 25 10\n")
    df = read_particles(path, tomogram_shape=(101, 80, 40))
    np.testing.assert_allclose(df[list(COORDINATE_COLUMNS)].to_numpy(), [[50.5, 30.0, 22.5]])
    # the tomogram's own (binned) voxel size overrides the unbinned tilt-series pixel size
    df = read_particles(path, tomogram_shape={"TS_1": (50, 40, 20)}, pixel_size_A=20.0)
    np.testing.assert_allclose(df[list(COORDINATE_COLUMNS)].to_numpy(), [[25.0, 15.0, 11.25]])
    with pytest.raises(InputError, match="tomogram_shape"):
        read_particles(path)
    with pytest.raises(InputError, match="TS_1"):
        read_particles(path, tomogram_shape={"TS_9": SHAPE})


def test_aitom_dog_pickle(tmp_path):
    path = tmp_path / "pp.pickle"
    records = [{"val": 2.0, "x": [np.int64(4), np.int64(5), np.int64(6)], "uuid": "u1"},
               {"val": 1.0, "x": [7, 8, 9], "uuid": "u2"}]
    path.write_bytes(pickle.dumps(records))
    df = read_particles(path, trusted=True)
    np.testing.assert_array_equal(df[list(COORDINATE_COLUMNS)].to_numpy(), [[4, 5, 6], [7, 8, 9]])
    assert list(df["uuid"]) == ["u1", "u2"] and df["pixel_size_A"].isna().all() and df["tomogram"].isna().all()


@pytest.mark.parametrize("fmt, text, column", [
    ("pytom", PYTOM_STAR.replace("_ptmCoordinateY #2", "_ptmSomethingElse #2"), "ptmCoordinateY"),
    ("relion4", RELION4_STAR.replace("_rlnCoordinateZ\n", "_rlnOther\n"), "rlnCoordinateZ"),
    ("relion5", "data_\nloop_\n_rlnCenteredCoordinateXAngst\n_rlnCenteredCoordinateYAngst\n1 2\n",
     "rlnCenteredCoordinateZAngst"),
])
def test_missing_coordinate_column_names_file_and_column(tmp_path, fmt, text, column):
    path = tmp_path / "bad.star"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_particles(path, fmt=fmt, tomogram_shape=SHAPE, pixel_size_A=1.0)
    assert str(path) in str(err.value) and column in str(err.value)


def test_bad_values_and_missing_pixel_size(tmp_path):
    path = tmp_path / "bad.star"
    path.write_text(PYTOM_STAR.replace("37\t52", "37\tabc"))
    with pytest.raises(InputError, match=r"ptmCoordinateY.*row 0"):
        read_particles(path)
    csv = tmp_path / "p.csv"
    pd.DataFrame({"x_px": [1], "y_px": [2]}).to_csv(csv, index=False)
    with pytest.raises(InputError, match="'z_px'"):
        read_particles(csv)
    r5 = tmp_path / "r5.star"
    r5.write_text("data_\nloop_\n_rlnCenteredCoordinateXAngst\n_rlnCenteredCoordinateYAngst\n"
                  "_rlnCenteredCoordinateZAngst\n1 2 3\n")
    with pytest.raises(InputError, match="pixel"):
        read_particles(r5, tomogram_shape=SHAPE)
    with pytest.raises(InputError, match="no such file"):
        read_particles(tmp_path / "missing.star")
    with pytest.raises(InputError, match="record 0"):
        (tmp_path / "x.pkl").write_bytes(pickle.dumps([{"y": 1}]))
        read_particles(tmp_path / "x.pkl", trusted=True)


def test_write_needs_canonical_columns(tmp_path):
    with pytest.raises(InputError, match="'y_px'"):
        write_particles(pd.DataFrame({"x_px": [1.0]}), tmp_path / "o.star")
    with pytest.raises(InputError, match="tomogram_shape"):
        write_particles(_picks(), tmp_path / "o.star", fmt="relion5")
    assert not os.listdir(tmp_path)  # nothing half-written


def test_canonical_columns_constant():
    assert CANONICAL_COLUMNS[:3] == COORDINATE_COLUMNS == ("x_px", "y_px", "z_px")


_STAR_TOKENS = st.sampled_from([
    "data_", "data_particles", "data_optics", "loop_", "\n", " ", "\t", "#", "'", '"', "_rlnCoordinateX",
    "_rlnCoordinateY", "_rlnCoordinateZ", "_ptmCoordinateX", "_ptmCoordinateY", "_ptmCoordinateZ",
    "_rlnCenteredCoordinateXAngst", "_rlnCenteredCoordinateYAngst", "_rlnCenteredCoordinateZAngst",
    "_rlnTomoName", "_rlnOpticsGroup", "_rlnTomoTiltSeriesPixelSize", "_ptmDetectorPixelSize", "1", "-2.5",
    "nan", "inf", "1e309", "abc", "<NA>", "0",
])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_STAR_TOKENS, st.text(max_size=5)), max_size=40).map("".join))
def test_malformed_star_text_raises_only_input_error(text):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "fuzz.star")
        with open(path, "w", encoding="utf-8", errors="surrogatepass") as f:
            f.write(text)
        try:
            df = read_particles(path, tomogram_shape=SHAPE, pixel_size_A=1.0)
        except InputError:
            return
        assert np.isfinite(df[list(COORDINATE_COLUMNS)].to_numpy(dtype=float)).all()


@settings(max_examples=20, deadline=None)
@given(st.binary(max_size=200))
def test_binary_garbage_raises_only_input_error(data):
    with tempfile.TemporaryDirectory() as d:
        for name in ("g.star", "g.csv", "g.pkl"):
            path = os.path.join(d, name)
            with open(path, "wb") as f:
                f.write(data)
            try:
                read_particles(path, tomogram_shape=SHAPE, pixel_size_A=1.0, trusted=True)
            except InputError:
                pass
