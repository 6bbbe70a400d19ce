"""aitom.image: CTF, missing-wedge mask, volume helpers, class montage."""
import os

import numpy as np
import pytest

from aitom.errors import InputError
from aitom.image import montage
from aitom.image.optics import ctf
from aitom.image.vol import util as vol_util
from aitom.image.vol.wedge.util import wedge_mask


def test_fft_mid_co_and_grid():
    np.testing.assert_array_equal(vol_util.fft_mid_co((32, 31, 4)), [16, 15, 2])
    g = vol_util.grid_displacement_to_center((4, 5, 6))
    assert g.shape == (3, 4, 5, 6) and g[0, 0, 0, 0] == -1.5 and g[2, 0, 0, 5] == 2.5


def test_ctf_matches_formula():
    size, pix, dz, cs, kv = (32, 32, 32), 1.0, -5.0, 2.0, 300.0
    out = ctf.create(Dz=dz, size=size, pix_size=pix, voltage=kv, Cs=cs)
    c = out["ctf"]
    assert c.shape == size and c[16, 16, 16] == 0.0 and np.all(np.abs(c) <= 1)
    lam = ctf.electron_wavelength_m(kv)
    assert lam == pytest.approx(1.9687e-12, rel=1e-3)
    r = np.sqrt(3 ** 2 + 4 ** 2) / (32 * pix * 1e-9)  # voxel (16+3, 16+4, 16)
    chi = np.pi / 2 * (cs * 1e-3 * lam ** 3 * r ** 4 - 2 * dz * 1e-6 * lam * r ** 2)
    assert c[19, 20, 16] == pytest.approx(np.sin(chi))
    assert out["amplitude"][19, 20, 16] == pytest.approx(np.cos(chi))
    np.testing.assert_allclose(c, np.flip(c, axis=0)[list(range(-1, 31))], atol=0)  # symmetric about 16


def test_ctf_amplitude_contrast_mixes_in_the_cosine_term():
    plain = ctf.create(Dz=-5.0, size=(32, 32), pix_size=1.0)
    mixed = ctf.create(Dz=-5.0, size=(32, 32), pix_size=1.0, amplitude_contrast=0.1)["ctf"]
    np.testing.assert_allclose(mixed, np.sqrt(0.99) * plain["ctf"] + 0.1 * plain["amplitude"])
    assert mixed[16, 16] == pytest.approx(0.1)  # zero frequency now passes the amplitude share
    with pytest.raises(InputError, match="amplitude_contrast"):
        ctf.create(Dz=-5.0, size=(32, 32), amplitude_contrast=1.0)


def test_ctf_envelope_is_one_over_e_at_sigma_nyquist():
    plain = ctf.create(Dz=-5.0, size=(32, 32), pix_size=1.0)["ctf"]
    damped = ctf.create(Dz=-5.0, size=(32, 32), pix_size=1.0, sigma=0.5)["ctf"]
    # r = 0.5 Nyquist = 8 voxels from the centre
    assert damped[24, 16] == pytest.approx(plain[24, 16] / np.e)


def test_ctf_bad_input():
    with pytest.raises(InputError):
        ctf.create(Dz=-5.0, size=(4,), pix_size=1.0)
    with pytest.raises(InputError):
        ctf.create(Dz=-5.0, size=(8, 8, 8), pix_size=0.0)


def test_ctf_rfft_from_op_is_create_on_the_rfft_grid():
    op = {"Dz": -4.0, "Cs": 2.2, "voltage": 200.0, "pix_size": 0.8, "sigma": 0.7, "amplitude_contrast": 0.07}
    full = ctf.create(-4.0, (10, 12, 9), pix_size=0.8, voltage=200.0, Cs=2.2, sigma=0.7, amplitude_contrast=0.07)
    c = ctf.rfft_from_op(op, (10, 12, 9))
    assert c.shape == (10, 12, 5)
    np.testing.assert_array_equal(c, np.fft.ifftshift(full["ctf"])[..., :5])
    assert c[0, 0, 0] == pytest.approx(0.07)  # the amplitude term at the zero frequency
    with pytest.raises(InputError, match=r"op\['ctf'\].*needs pix_size"):
        ctf.rfft_from_op({"Dz": -4.0, "Cs": 2.2, "voltage": 200.0}, (8, 8, 8))


def test_wedge_mask_semantics():
    m = wedge_mask((32, 32, 32), 30)
    c = 16
    assert m.shape == (32, 32, 32) and set(np.unique(m)) <= {0.0, 1.0}
    assert m[c + 1, c, c + 10] == 0  # near the kz axis: missing
    assert m[c + 10, c, c + 1] == 1  # near the kx axis: kept
    assert m[c, c + 10, c] == 1  # ky axis (tilt axis) kept
    assert m[c + 10, c + 10, c + 10] == 0  # outside the s/2 ball
    # k -> -k symmetric inside the ball
    inner = m[1:, 1:, 1:]
    np.testing.assert_array_equal(inner, inner[::-1, ::-1, ::-1])
    # missing fraction of the (kx, kz) disk is 60 / 180 degrees
    disk = vol_util.sphere_mask((32, 32), center=(16, 16))
    plane = m[:, c, :]
    assert 1 - plane[disk > 0].mean() == pytest.approx(1 / 3, abs=0.03)
    np.testing.assert_array_equal(wedge_mask((16, 16, 16), 0, sphere_mask=False), 1.0)
    np.testing.assert_array_equal(wedge_mask((16, 16, 16), -20, 20), wedge_mask((16, 16, 16), 20))
    m0 = wedge_mask((16, 16, 16), 30, tilt_axis=0, sphere_mask=False)
    assert m0[8, 9, 15] == 0 and m0[8, 15, 9] == 1 and m0[15, 8, 8] == 1


def test_wedge_mask_bad_input():
    with pytest.raises(InputError):
        wedge_mask((16, 16, 16), 10, 20)
    with pytest.raises(InputError):
        wedge_mask((16, 16, 16), 95)
    with pytest.raises(InputError):
        wedge_mask((16, 16), 30)


def test_sphere_mask():
    m = vol_util.sphere_mask((32, 32, 32), radius=10)
    assert m.sum() == pytest.approx(4 / 3 * np.pi * 10 ** 3, rel=0.03)
    s = vol_util.sphere_mask((32, 32, 32), center=(16, 16, 16), radius=5, smooth_sigma=2.0)
    assert s[16, 16, 21] == 1.0 and s[16, 16, 23] == pytest.approx(np.exp(-1)) and s[16, 16, 30] == 0.0


def test_cub_img():
    v = np.arange(4 * 5 * 6, dtype=float).reshape(4, 5, 6)
    im = vol_util.cub_img(v)["im"]
    assert im.shape == (5 * 3, 6 * 3) and np.nanmin(im) == 0 and np.nanmax(im) == 1
    np.testing.assert_allclose(vol_util.cub_img(v, view_dir=0)["vt"][:, :, 2], v[2])


def test_save_class_montage(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 8, 8, 8)).astype(np.float32)
    y = np.array([0, 0, 1, 1, 1, 1, -1])
    path = montage.save_class_montage(x, y, ["a", "b"], tmp_path / "m.png", n_per_class=3)
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(tmp_path)) == ["m.png"]
    with pytest.raises(InputError):
        montage.save_class_montage(x[0], y, ["a", "b"], tmp_path / "n.png")


def test_rfft_layout_filters_as_the_full_shifted_spectrum_does():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(8, 8, 8))
    h = ctf.create(Dz=-5.0, size=v.shape, pix_size=1.0)["ctf"]  # fftshift-ed, symmetric under k -> -k
    full = np.real(np.fft.ifftn(np.fft.ifftshift(np.fft.fftshift(np.fft.fftn(v)) * h)))
    half = np.fft.irfftn(np.fft.rfftn(v) * vol_util.rfft_layout(h), s=v.shape, axes=range(v.ndim))
    assert vol_util.rfft_layout(h).shape == (8, 8, 5)
    np.testing.assert_allclose(half, full, atol=1e-12)
