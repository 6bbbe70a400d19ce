"""Tomogram simulation: seeding, placement, ground truth, missing wedge, SNR."""
import numpy as np
import pytest
import scipy.fft

from aitom.errors import InputError
from aitom.geometry.rotate import rotate
from aitom.image.vol.wedge.util import missing_wedge_rfft
from aitom.image.optics.ctf import rfft_from_op
from aitom.simulation.tomogram import particle_radius, place_particles, simulate_tomogram

SHAPE = (64, 56, 40)


def _densities():
    a = np.zeros((12, 12, 12), np.float32)
    a[4:9, 5:8, 5:7] = 1.0
    a[6, 6, 2:6] = 0.5
    b = np.zeros((12, 12, 12), np.float32)
    b[5:8, 5:8, 5:8] = 1.0
    return {"a": a, "b": b}


def test_seeded_and_ground_truth_consistent():
    sim = simulate_tomogram(_densities(), SHAPE, 8, np.random.default_rng(3), voxel_spacing_nm=1.2)
    again = simulate_tomogram(_densities(), SHAPE, 8, np.random.default_rng(3), voxel_spacing_nm=1.2)
    np.testing.assert_array_equal(sim.tomogram, again.tomogram)
    assert sim.tomogram.shape == SHAPE and sim.tomogram.dtype == np.float32
    p = sim.particles
    assert len(p) == 8 and set(p["class_name"]) <= {"a", "b"}
    assert (p["pixel_size_A"] == 12.0).all() and (p["tomogram"] == "tomogram").all()
    xyz = p[["x_px", "y_px", "z_px"]].to_numpy()
    assert (xyz >= 6).all() and (xyz <= np.array(SHAPE) - 7).all()
    radii = np.array([particle_radius(_densities()[c]) for c in p["class_name"]])
    d = np.linalg.norm(xyz[:, None] - xyz[None], axis=2)
    i, j = np.triu_indices(8, 1)
    assert (d[i, j] >= radii[i] + radii[j]).all()


def test_clean_tomogram_holds_rotated_densities_at_recorded_positions():
    dens = _densities()
    sim = simulate_tomogram(dens, SHAPE, 5, np.random.default_rng(0), snr=None, tilt_range_deg=90,
                            defocus_um=None)
    expected = np.zeros(SHAPE, np.float32)
    for _, row in sim.particles.iterrows():
        c = np.array([row.x_px, row.y_px, row.z_px], int)
        expected[tuple(slice(k - 6, k + 6) for k in c)] += rotate(
            dens[row.class_name], angle=(row.phi, row.theta, row.psi), c1=(6,) * 3, c2=(6,) * 3)
    np.testing.assert_allclose(sim.tomogram, expected, atol=1e-4)


def test_noise_level_and_missing_wedge():
    kwargs = dict(densities=_densities(), shape=SHAPE, n_particles=6, voxel_spacing_nm=1.0, tilt_range_deg=60)
    clean = simulate_tomogram(rng=np.random.default_rng(5), snr=None, **kwargs).tomogram
    noisy = simulate_tomogram(rng=np.random.default_rng(5), snr=0.25, **kwargs).tomogram
    noise = noisy - clean
    assert clean.var() / noise.var() == pytest.approx(0.25, rel=1e-3)
    wedge = missing_wedge_rfft(SHAPE, 60)
    power = np.abs(scipy.fft.rfftn(noisy)) ** 2
    assert power[wedge == 0].max() < 1e-6 * power.max()
    assert wedge[0, 0, 5] == 0 and wedge[5, 0, 0] == 1 and wedge[0, 0, 0] == 1


def test_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="placed only"):
        place_particles((20, 20, 20), np.full(50, 5.0), 50, rng, margin=3, max_tries=20)
    with pytest.raises(InputError, match="rng"):
        simulate_tomogram(_densities(), SHAPE, 1, rng=0)
    with pytest.raises(InputError, match="snr"):
        simulate_tomogram(_densities(), SHAPE, 1, rng, snr=0)
    with pytest.raises(InputError, match="tilt_range_deg"):
        missing_wedge_rfft(SHAPE, 0)


def test_amplitude_contrast_passes_the_zero_frequency():
    kwargs = dict(densities=_densities(), shape=SHAPE, n_particles=4, snr=None, tilt_range_deg=90,
                  voxel_spacing_nm=1.0)
    plain = simulate_tomogram(rng=np.random.default_rng(2), defocus_um=None, **kwargs).tomogram
    phase_only = simulate_tomogram(rng=np.random.default_rng(2), **kwargs).tomogram
    with_a = simulate_tomogram(rng=np.random.default_rng(2), amplitude_contrast=0.1, **kwargs).tomogram
    # sin(chi) is 0 at the zero frequency, the amplitude term A cos(chi) is A: the mean is scaled by A
    assert abs(phase_only.mean()) < 1e-6 * abs(plain.mean())
    assert with_a.mean() == pytest.approx(0.1 * plain.mean(), rel=1e-3)
    expected = scipy.fft.irfftn(scipy.fft.rfftn(plain) * rfft_from_op({"Dz": -5.0, "Cs": 2.0, "voltage": 300.0, "pix_size": 1.0, "amplitude_contrast": 0.1}, SHAPE), s=SHAPE)
    np.testing.assert_allclose(with_a, expected, atol=1e-4 * np.abs(expected).max())
