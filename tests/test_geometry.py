"""aitom.geometry: ZYZ angles, uniform random rotations, volume rotation (real space and Fourier)."""
import numpy as np
import pytest
from scipy import stats

from aitom.errors import InputError
from aitom.geometry import ang_loc
from aitom.geometry.rotate import FourierRotator, rotate, translate


def blob(shape, offset, sigma=1.2, center=None):
    """Gaussian blob at ``center + offset`` (centre default ``(shape - 1) / 2``)."""
    c = (np.array(shape) - 1) / 2.0 if center is None else np.asarray(center, float)
    g = np.indices(shape, dtype=float) - (c + np.asarray(offset, float)).reshape(3, 1, 1, 1)
    return np.exp(-np.sum(g * g, axis=0) / (2 * sigma ** 2))


def centroid(v):
    w = np.clip(v, 0, None)
    return np.array([np.sum(g * w) for g in np.indices(v.shape)]) / w.sum()


def test_rotation_matrix_zyz_is_aitom_convention():
    phi, theta, psi = 0.3, 1.1, -2.0
    rz, ry = (lambda a: ang_loc.rotation_matrix_axis(2, a)), (lambda a: ang_loc.rotation_matrix_axis(1, a))
    np.testing.assert_allclose(ang_loc.rotation_matrix_zyz([phi, theta, psi]), (rz(phi) @ ry(theta) @ rz(psi)).T)
    np.testing.assert_allclose(ang_loc.rotation_matrix_axis(2, np.pi / 2) @ [1, 0, 0], [0, 1, 0], atol=1e-12)


@pytest.mark.parametrize("ang", [(0.3, 1.1, -2.0), (-3.0, 0.01, 2.5), (1.0, 0.0, 0.5), (0.7, np.pi, -0.4),
                                 (2.0, np.pi - 1e-12, 1.0), (0.0, 0.0, 0.0)])
def test_angle_matrix_round_trip(ang):
    rm = ang_loc.rotation_matrix_zyz(ang)
    np.testing.assert_allclose(rm @ rm.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rm) == pytest.approx(1.0)
    back = ang_loc.rotation_matrix_zyz_normalized_angle(rm)
    assert -np.pi <= back[0] <= np.pi and 0 <= back[1] <= np.pi and -np.pi <= back[2] <= np.pi
    np.testing.assert_allclose(ang_loc.rotation_matrix_zyz(back), rm, atol=1e-9)


def test_random_rotations_are_orthogonal_and_reproducible():
    a = ang_loc.random_rotation_matrix(np.random.default_rng(3), 50)
    np.testing.assert_allclose(a @ a.transpose(0, 2, 1), np.broadcast_to(np.eye(3), (50, 3, 3)), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(a), 1.0)
    np.testing.assert_array_equal(a, ang_loc.random_rotation_matrix(np.random.default_rng(3), 50))
    assert ang_loc.random_rotation_matrix(np.random.default_rng(3)).shape == (3, 3)


def haar_tests(rms):
    """KS p-values: rotated z axis uniform on the sphere (z, azimuth) and rotation angle density (1 - cos)/pi."""
    z_axis = rms[:, :, 2]
    p_z = stats.kstest(z_axis[:, 2], stats.uniform(-1, 2).cdf).pvalue
    p_az = stats.kstest(np.arctan2(z_axis[:, 1], z_axis[:, 0]), stats.uniform(-np.pi, 2 * np.pi).cdf).pvalue
    angle = np.arccos(np.clip((np.trace(rms, axis1=1, axis2=2) - 1) / 2, -1, 1))
    p_angle = stats.kstest(angle, lambda t: (t - np.sin(t)) / np.pi).pvalue
    return p_z, p_az, p_angle


def test_random_rotation_matrix_is_haar_uniform():
    assert min(haar_tests(ang_loc.random_rotation_matrix(np.random.default_rng(0), 4000))) > 0.01


def test_random_rotation_angle_zyz_is_haar_uniform():
    rng = np.random.default_rng(1)
    rms = np.stack([ang_loc.rotation_matrix_zyz(ang_loc.random_rotation_angle_zyz(rng)) for _ in range(2000)])
    assert min(haar_tests(rms)) > 0.01


def test_haar_check_rejects_uniform_euler_angles():
    """The KS checks have power: Euler angles drawn uniformly per component are not uniform on SO(3)."""
    rng = np.random.default_rng(0)
    angles = rng.uniform([-np.pi, 0, -np.pi], [np.pi, np.pi, np.pi], size=(4000, 3))
    rms = np.stack([ang_loc.rotation_matrix_zyz(a) for a in angles])
    assert min(haar_tests(rms)) < 1e-6


def test_rotation_moves_a_blob_where_the_matrix_says():
    shape = (24, 24, 24)
    p, t = np.array([5.0, 2.0, -1.0]), np.array([1.0, -2.0, 0.5])
    rm = ang_loc.rotation_matrix_zyz([0.4, 1.0, -0.7])
    c = (np.array(shape) - 1) / 2
    vr = rotate(blob(shape, p), rm=rm, loc_r=t)
    np.testing.assert_allclose(centroid(vr), c + rm.T @ p + t, atol=0.15)
    # about z by +90 degrees (phi): x -> y
    vz = rotate(blob(shape, [5, 0, 0]), angle=[np.pi / 2, 0, 0])
    np.testing.assert_allclose(centroid(vz), c + [0, 5, 0], atol=0.1)


def test_rotate_by_r_then_r_transpose_recovers_volume():
    shape = (24, 24, 24)
    v = blob(shape, [4, 0, 0], 2.0) + 0.5 * blob(shape, [-2, 3, 1], 1.5) + blob(shape, [0, -3, 4], 1.8)
    rm = ang_loc.random_rotation_matrix(np.random.default_rng(5))
    back = rotate(rotate(v, rm=rm), rm=rm.T)
    assert np.corrcoef(v.ravel(), back.ravel())[0, 1] > 0.99
    rm = ang_loc.rotation_matrix_zyz([0.1, 0.2, 0.3])
    np.testing.assert_allclose(rotate(v, angle=[0.1, 0.2, 0.3]), rotate(v, rm=rm))


def test_fill_value_and_mean_padding():
    v = np.ones((16, 16, 16))
    v[0, 0, 0] = 3.0
    rm = ang_loc.rotation_matrix_zyz([np.pi / 4, 0, 0])
    vr = rotate(v, rm=rm, default_val=-7.0)
    assert vr[0, 0, 8] == -7.0 and vr[8, 8, 8] == pytest.approx(1.0)
    assert rotate(v, rm=rm, default_val=None)[0, 0, 8] == pytest.approx(v.mean())


def test_translate_integer_shift():
    v = np.random.default_rng(0).random((12, 12, 12))
    vt = translate(v, [2, -1, 3])
    np.testing.assert_allclose(vt[2:, :-1, 3:], v[:-2, 1:, :-3])
    assert np.all(vt[:2] == 0.0)


def test_fourier_rotator_matches_spline_rotation():
    s = 24
    c = np.full(3, s // 2)
    vols = np.stack([blob((s,) * 3, [3, 1, 0], 1.5, c) + blob((s,) * 3, [-2, -3, 2], 1.2, c),
                     blob((s,) * 3, [0, 4, -2], 1.3, c)])
    k = np.stack(np.meshgrid(np.fft.fftfreq(s, 1 / s), np.fft.fftfreq(s, 1 / s), np.arange(s // 2 + 1),
                             indexing="ij"), -1).reshape(-1, 3)
    inside = np.flatnonzero(np.sum(k * k, 1) <= 8.0 ** 2)
    rng = np.random.default_rng(2)
    rms, shifts, index = ang_loc.random_rotation_matrix(rng, 4), rng.uniform(-1.5, 1.5, (4, 3)), np.array([0, 1, 1, 0])
    got = FourierRotator(vols, 8.0, center=c).spectra(index, rms, k[inside], loc_r=shifts)
    assert got.shape == (4, inside.size) and got.dtype == np.complex64
    for i in range(4):
        ref = np.fft.rfftn(rotate(vols[index[i]], rm=rms[i], loc_r=shifts[i], c1=c, c2=c, order=3)).ravel()[inside]
        assert np.linalg.norm(got[i] - ref) / np.linalg.norm(ref) < 0.02


def test_bad_input_raises_input_error():
    with pytest.raises(InputError):
        ang_loc.rotation_matrix_zyz([1.0, 2.0])
    with pytest.raises(InputError):
        ang_loc.random_rotation_matrix(42)
    with pytest.raises(InputError):
        rotate(np.zeros((4, 4)), angle=[0, 0, 0])
    with pytest.raises(InputError):
        rotate(np.zeros((4, 4, 4)), angle=[0, 0, 0], rm=np.eye(3))
    rotator = FourierRotator(np.zeros((1, 8, 8, 8)), 2.0)
    with pytest.raises(InputError):
        rotator.spectra([0], np.eye(3)[None], [[3.0, 0, 0]])
