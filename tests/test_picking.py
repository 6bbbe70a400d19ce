"""Extraction from memory-mapped tomograms, edges, rescaling, background negatives, template matching."""
import numpy as np
import pandas as pd
import pytest

from aitom.errors import InputError
from aitom.geometry.ang_loc import random_rotation_matrix
from aitom.geometry.rotate import rotate
from aitom.io.file import put_mrc
from aitom.io.particles import COORDINATE_COLUMNS, read_particles, write_particles
from aitom.classify.deep.fsft.streaming import subtomogram_dataset
from aitom.io.tomogram import open_tomogram
from aitom.picking import (extract_background, extract_subtomogram, extract_subtomograms, find_peaks, match_picks,
                           match_template, pick_particles, picking_metrics, plan_extraction, read_order,
                           tomogram_coordinates)

SHAPE = (48, 40, 36)
VOXEL_A = 8.0
CENTRE = np.array([30, 14, 20])
BOX = 12


def _blob():
    """Asymmetric blob: peak 3 at the centre, arms of different lengths along +x, +y, -z."""
    b = np.zeros((7, 7, 7), np.float32)
    b[3, 3, 3] = 3.0
    b[4:7, 3, 3] = 1.0
    b[3, 4:6, 3] = 1.5
    b[3, 3, 2] = 2.0
    return b


@pytest.fixture(scope="module")
def tomogram_file(tmp_path_factory):
    v = np.random.default_rng(0).normal(0, 0.05, SHAPE).astype(np.float32)
    v[tuple(slice(c - 3, c + 4) for c in CENTRE)] += _blob()
    path = tmp_path_factory.mktemp("tomo") / "rec_TS_7.mrc"
    put_mrc(v, path, voxel_spacing=VOXEL_A)
    return path, v


def _list_in_format(fmt, tmp_path):
    """The blob's position as each format writes it (pytom/CSV/pickle in tomogram voxels, RELION 4 in
    half-size pixels, RELION 5 in Å from the centre)."""
    if fmt == "relion4":
        df = pd.DataFrame([CENTRE * 2.0], columns=list(COORDINATE_COLUMNS))
        df["pixel_size_A"] = VOXEL_A / 2
    else:
        df = pd.DataFrame([CENTRE.astype(float)], columns=list(COORDINATE_COLUMNS))
        df["pixel_size_A"] = VOXEL_A
    df["tomogram"] = "TS_7"
    path = tmp_path / f"picks.{ {'csv': 'csv', 'aitom': 'pkl'}.get(fmt, 'star') }"
    write_particles(df, path, fmt=fmt, tomogram_shape=SHAPE)
    return path


@pytest.mark.parametrize("fmt", ["pytom", "relion4", "relion5", "csv", "aitom"])
def test_extracted_cube_is_centred_on_the_particle(tomogram_file, tmp_path, fmt):
    path, v = tomogram_file
    picks = read_particles(_list_in_format(fmt, tmp_path), tomogram_shape=SHAPE, pixel_size_A=VOXEL_A, trusted=True)
    with open_tomogram(path) as tomo:
        assert isinstance(tomo.data, np.memmap) and tomo.shape == SHAPE and tomo.voxel_size_A == VOXEL_A
        centres = tomogram_coordinates(picks, tomo.voxel_size_A)
        cubes, mask, _ = extract_subtomograms(tomo, centres, BOX)
    assert mask.all()
    peak = np.array(np.unravel_index(np.argmax(cubes[0]), cubes[0].shape))
    assert np.abs(peak - BOX // 2).max() <= 1
    # exact content and axis order: the asymmetric blob sits at the box centre as in the tomogram
    np.testing.assert_array_equal(cubes[0], v[tuple(slice(c - BOX // 2, c + BOX // 2) for c in CENTRE)])


@pytest.mark.parametrize("scale", [0.5, 2.0])
def test_rescaled_cube_stays_centred(tomogram_file, scale):
    path, _ = tomogram_file
    with open_tomogram(path) as tomo:
        cube = extract_subtomogram(tomo.data, CENTRE, 8, scale=scale)
    peak = np.array(np.unravel_index(np.argmax(cube), cube.shape))
    assert np.abs(peak - 4).max() <= 1
    # voxel (4 + k) of the cube samples tomogram voxel CENTRE + k * scale: the +x arm lies in +x
    assert cube[5, 4, 4] > cube[3, 4, 4]


def test_edges_pad_or_skip_with_reasons(tomogram_file):
    path, v = tomogram_file
    centres = [[2, 20, 18], [np.nan, 1, 1], [60, 5, 5], list(CENTRE)]
    with open_tomogram(path) as tomo:
        cubes, mask, reasons = extract_subtomograms(tomo, centres, BOX, edge="pad", pad_value="mean")
        assert list(mask) == [True, False, False, True]
        assert list(reasons) == ["", "invalid_coordinate", "outside_tomogram", ""]
        np.testing.assert_allclose(cubes[0][:4], v.mean(), rtol=1e-4)  # x < 0 is padded with the mean
        np.testing.assert_array_equal(cubes[0][4:], v[0:8, 14:26, 12:24])
        zero, _, _ = extract_subtomograms(tomo, centres[:1], BOX, pad_value=0.0)
        assert (zero[0][:4] == 0).all()
        _, mask, reasons = extract_subtomograms(tomo, centres, BOX, edge="skip")
    assert list(mask) == [False, False, False, True] and reasons[0] == "box_crosses_edge"
    with pytest.raises(InputError):
        plan_extraction(SHAPE, centres, BOX, edge="wrap")


def test_coordinates_need_tomogram_voxel_size():
    picks = pd.DataFrame({"x_px": [2.0], "y_px": [4.0], "z_px": [6.0], "pixel_size_A": [5.0]})
    np.testing.assert_allclose(tomogram_coordinates(picks, 10.0), [[1, 2, 3]])
    with pytest.raises(InputError, match="voxel size"):
        tomogram_coordinates(picks, None, source="t.mrc")
    np.testing.assert_allclose(tomogram_coordinates(picks.drop(columns="pixel_size_A"), None), [[2, 4, 6]])


def test_read_order_follows_file_layout():
    centres = np.array([[0, 0, 5], [9, 0, 1], [0, 3, 1], [1, 3, 1]])
    assert list(read_order(centres)) == [1, 2, 3, 0]


def test_streaming_dataset_batches_standardised_cubes(tomogram_file):
    path, _ = tomogram_file
    centres = np.array([CENTRE, CENTRE + 1, CENTRE - 2])
    with open_tomogram(path) as tomo:
        batches = [b.numpy() for b in subtomogram_dataset(tomo, centres, BOX, batch_size=2)]
        expected, _, _ = extract_subtomograms(tomo, centres, BOX)
    assert [b.shape for b in batches] == [(2, BOX, BOX, BOX, 1), (1, BOX, BOX, BOX, 1)]
    x = np.concatenate(batches)[..., 0]
    np.testing.assert_allclose(x.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=(1, 2, 3)), 1, atol=1e-4)
    np.testing.assert_allclose(x[0], (expected[0] - expected[0].mean()) / expected[0].std(), atol=1e-5)


def test_background_negatives_avoid_picks():
    rng = np.random.default_rng(1)
    v = rng.normal(size=(40, 40, 40)).astype(np.float32)
    picks = np.array([[20, 20, 20], [10, 10, 10]])
    cubes, centres = extract_background(v, picks, 12, 8, np.random.default_rng(2), min_distance=10)
    assert cubes.shape == (12, 8, 8, 8) and centres.shape == (12, 3)
    assert np.min(np.linalg.norm(centres[:, None] - picks[None], axis=2)) >= 10
    again, _ = extract_background(v, picks, 12, 8, np.random.default_rng(2), min_distance=10)
    np.testing.assert_array_equal(cubes, again)
    with pytest.raises(InputError, match="background positions"):
        extract_background(v, picks, 5, 8, rng, min_distance=100, max_rounds=3)


def _template():
    t = np.zeros((16, 16, 16), np.float32)
    t[5:11, 6:10, 7:9] = 1.0
    t[8:11, 8:12, 4:8] = 0.5
    return t


def test_template_matching_finds_rotated_copies():
    rng = np.random.default_rng(0)
    t = _template()
    v = rng.normal(0, 0.3, (64, 56, 48)).astype(np.float32)
    truth = np.array([[16, 16, 16], [40, 30, 20], [48, 40, 32]])
    rotations = random_rotation_matrix(rng, 9)
    for i, p in enumerate(truth):
        v[tuple(slice(c - 8, c + 8) for c in p)] += rotate(t, rm=rotations[3 * i], c1=(8,) * 3, c2=(8,) * 3)
    result = match_template(v, t, rotations)
    assert result["score"].shape == v.shape and result["score"].max() <= 1.0 + 1e-5
    picks = pick_particles(v, t, rotations, n=5, min_distance=8)
    top = picks.iloc[:3]
    assert picking_metrics(match_picks(top, truth, 1.0), 3)["recall"] == 1.0
    np.testing.assert_array_equal(top["rotation_index"], 3 * match_picks(top, truth, 1.0))
    assert (picks["score"].diff().dropna() <= 0).all()


def test_find_peaks_non_maximum_suppression():
    score = np.zeros((30, 30, 30), np.float32)
    score[10, 10, 10], score[12, 10, 10], score[20, 20, 20], score[1, 1, 1] = 1.0, 0.9, 0.8, 2.0
    coords, values = find_peaks(score, n=10, min_distance=5, threshold=0.1, exclude_border=3)
    np.testing.assert_array_equal(coords, [[10, 10, 10], [20, 20, 20]])
    np.testing.assert_allclose(values, [1.0, 0.8])
    coords, _ = find_peaks(score, n=1, min_distance=1)
    np.testing.assert_array_equal(coords, [[1, 1, 1]])


def test_match_picks_is_one_to_one():
    truth = np.array([[0, 0, 0], [10, 0, 0]])
    picks = np.array([[1, 0, 0], [0.5, 0, 0], [30, 0, 0]])
    matched = match_picks(picks, truth, radius=2)
    assert sorted(matched[:2]) == [-1, 0] and matched[2] == -1
    m = picking_metrics(matched, len(truth))
    assert (m["true_positives"], m["precision"], m["recall"]) == (1, 1 / 3, 0.5)
