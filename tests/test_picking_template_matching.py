"""aitom.picking.template_matching: the score is the masked Pearson correlation; peaks and picks."""
import numpy as np
import pytest

from aitom.errors import InputError
from aitom.geometry.ang_loc import random_rotation_matrix, rotation_matrix_zyz_normalized_angle
from aitom.picking.template_matching import find_peaks, match_template, pick_particles, spherical_mask

S = 16


def template():
    t = np.zeros((S, S, S), np.float32)
    t[5:11, 6:10, 7:9] = 1.0
    t[8:11, 8:12, 4:8] = 0.5
    return t


def pearson_under_mask(v, t, mask, x):
    """Direct reference: correlation of the template and the tomogram region centred on voxel ``x``."""
    c = S // 2
    region = v[tuple(slice(x[d] - c, x[d] - c + S) for d in range(3))]
    m = mask > 0
    a, b = t[m] - t[m].mean(), region[m] - region[m].mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def test_score_equals_the_masked_pearson_correlation_at_every_interior_voxel():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(32, 30, 28)).astype(np.float32)
    t = template()
    score = match_template(v, t, np.eye(3)[None])["score"]
    mask = spherical_mask(S)
    for x in rng.integers(S // 2, np.array(v.shape) - S // 2, size=(6, 3)):
        assert score[tuple(x)] == pytest.approx(pearson_under_mask(v, t, mask, x), abs=1e-4)


def test_score_ignores_brightness_and_contrast_of_the_tomogram():
    rng = np.random.default_rng(1)
    v = rng.normal(size=(24, 24, 24)).astype(np.float32)
    a = match_template(v, template(), np.eye(3)[None])["score"]
    b = match_template(3.5 * v + 20.0, template(), np.eye(3)[None])["score"]
    np.testing.assert_allclose(a, b, atol=2e-4)


def test_flat_regions_score_zero_and_the_best_rotation_is_kept():
    v = np.zeros((32, 32, 32), np.float32)
    t = template()
    rotations = random_rotation_matrix(np.random.default_rng(2), 4)
    v[8:24, 8:24, 8:24] = t  # identity copy at (16, 16, 16); the rest of the tomogram is flat
    rotations[2] = np.eye(3)
    result = match_template(v, t, rotations)
    assert result["score"][16, 16, 16] == pytest.approx(1.0, abs=1e-4)
    assert result["rotation_index"][16, 16, 16] == 2
    assert result["score"][2, 2, 2] == 0.0


@pytest.mark.parametrize("tomogram, tmpl, mask, field", [
    (np.zeros((8, 8, 8)), template(), None, "template"),  # template larger than the tomogram
    (np.ones((24, 24, 24)), np.ones((S, S, S)), None, "template"),  # constant under the mask
    (np.ones((24, 24, 24)), template(), np.zeros((S, S, S)), "mask"),
    (np.ones((24, 24, 24)), template(), np.ones((8, 8, 8)), "mask"),
])
def test_unusable_inputs_are_named(tomogram, tmpl, mask, field):
    with pytest.raises(InputError, match=field):
        match_template(tomogram, tmpl, np.eye(3)[None], mask=mask)


def test_spherical_mask_is_a_ball_about_the_centre_voxel():
    m = spherical_mask(S, radius=3)
    assert m.dtype == np.float32 and m[S // 2, S // 2, S // 2] == 1
    assert m[S // 2 + 3, S // 2, S // 2] == 1 and m[S // 2 + 4, S // 2, S // 2] == 0
    assert m.sum() == pytest.approx(4 / 3 * np.pi * 27, rel=0.2)
    inner = m[1:, 1:, 1:]  # indices 1 .. S - 1, symmetric about voxel S // 2
    np.testing.assert_array_equal(inner, inner[::-1, ::-1, ::-1])
    assert not m[0].any()


def test_find_peaks_respects_threshold_border_and_count():
    score = np.zeros((20, 20, 20), np.float32)
    for p, s in (((5, 5, 5), 0.9), ((15, 15, 15), 0.8), ((10, 10, 10), 0.3), ((1, 10, 10), 1.0)):
        score[p] = s
    coords, values = find_peaks(score, n=5, min_distance=2, threshold=0.5, exclude_border=2)
    np.testing.assert_array_equal(coords, [[5, 5, 5], [15, 15, 15]])
    coords, _ = find_peaks(score, n=2, min_distance=2)
    np.testing.assert_array_equal(coords, [[1, 10, 10], [5, 5, 5]])
    assert find_peaks(score, n=0, min_distance=2)[0].shape == (0, 3)


def test_picks_carry_the_angles_of_their_best_rotation():
    rng = np.random.default_rng(3)
    v = rng.normal(0, 0.2, (40, 40, 40)).astype(np.float32)
    t = template()
    v[12:28, 12:28, 12:28] += t
    rotations = random_rotation_matrix(rng, 3)
    rotations[1] = np.eye(3)
    picks = pick_particles(v, t, rotations, n=1, min_distance=8)
    assert list(picks[["x_px", "y_px", "z_px"]].iloc[0]) == [20.0, 20.0, 20.0]
    assert picks["rotation_index"].iloc[0] == 1
    np.testing.assert_allclose(picks[["phi", "theta", "psi"]].iloc[0],
                               rotation_matrix_zyz_normalized_angle(np.eye(3)), atol=1e-12)
