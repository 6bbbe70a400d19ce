"""AITom simple-convolution subtomogram simulation: filters, noise, reproducibility and the SNR definition."""
import numpy as np
import pytest

from aitom.errors import InputError
from aitom.geometry.ang_loc import random_rotation_matrix
from aitom.geometry.rotate import rotate
from aitom.image.optics.ctf import create as create_ctf
from aitom.image.vol.wedge.util import wedge_mask
from aitom.simulation.reconstruction import reconstruction__simple_convolution as rsc

OP = {"model": {"missing_wedge_angle": 30, "SNR": 0.1},
      "ctf": {"pix_size": 1.0, "Dz": -5.0, "voltage": 300, "Cs": 2.0}}
SNRS = (0.05, 0.1, 0.5, 1.0)


def toy_density(s):
    """AITom-like toy model: elongated Gaussians along three axes plus one blob, centred on s // 2."""
    g = np.indices((s, s, s), dtype=float) - s // 2
    v = np.zeros((s, s, s))
    for c, w in (((s / 4, 0, 0), (1.2, 0.4, 0.4)), ((0, s / 4, 0), (0.4, 1.2, 0.4)),
                 ((0, 0, s / 4), (0.4, 0.4, 1.2)), ((-s / 5, -s / 5, 0), (0.5, 0.5, 0.5))):
        v += np.exp(-sum((g[i] - c[i]) ** 2 / (s * w[i]) for i in range(3)))
    return v


def op_with(snr, **ctf):
    return {"model": {"missing_wedge_angle": 30, "SNR": snr}, "ctf": {**OP["ctf"], **ctf}}


def test_tom_bandpass():
    x = np.arange(32)
    low = np.sin(2 * np.pi * 2 * x / 32)[:, None, None] * np.ones((32, 32, 32))
    high = np.sin(2 * np.pi * 12 * x / 32)[:, None, None] * np.ones((32, 32, 32))
    np.testing.assert_allclose(rsc.tom_bandpass(low + high, 0, 8, smooth=2.0), low, atol=1e-10)
    np.testing.assert_allclose(rsc.tom_bandpass(low + high, 4, 16), high, atol=1e-10)
    m = rsc.bandpass_mask((32, 32, 32), 0, 8, 2.0)
    assert m[16, 16, 24] == 1 and m[16, 16, 26] == pytest.approx(np.exp(-1)) and m[16, 16, 28] == 0


def test_noise_free_output_is_aitom_filter_chain():
    """Without noise the output is AITom's real(ifftn(ifftshift(fftshift(fftn(v)) * band * ctf * wedge)))."""
    v = toy_density(24)
    out = rsc.do_reconstruction(v, op_with(None))
    band = rsc.bandpass_mask(v.shape, 0, np.floor(24 * 1.0 / 4), 2.0)
    h = band * create_ctf(Dz=-5.0, size=v.shape, pix_size=1.0, voltage=300, Cs=2.0)["ctf"] * wedge_mask(v.shape, 30)
    ref = np.real(np.fft.ifftn(np.fft.ifftshift(np.fft.fftshift(np.fft.fftn(v)) * h)))
    np.testing.assert_allclose(out, ref, atol=1e-10 * np.abs(ref).max())
    assert out.dtype == np.float64
    assert rsc.do_reconstruction(v.astype(np.float32), op_with(None)).dtype == np.float32


def test_seeded_and_batch_split_reproducible():
    rng = np.random.default_rng(0)
    v = np.stack([rotate(toy_density(16), rm=r) for r in random_rotation_matrix(rng, 5)]).astype(np.float32)
    rec = rsc.SimpleConvolutionReconstructor.create(v.shape[1:], op_with(0.5))
    whole = rec.reconstruct(v, rng=np.random.default_rng(7))
    g = np.random.default_rng(7)
    split = np.concatenate([rec.reconstruct(v[:2], rng=g), rec.reconstruct(v[2:], rng=g)])
    np.testing.assert_allclose(whole, split, rtol=0, atol=1e-6)  # same noise; FFT rounding may differ
    np.testing.assert_array_equal(whole, rec.reconstruct(v, rng=np.random.default_rng(7)))
    single = rsc.do_reconstruction(v[0], op_with(0.5), rng=np.random.default_rng(7))
    np.testing.assert_allclose(single, whole[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(whole, rec.reconstruct(v, rng=np.random.default_rng(8)))


def aitom_reference(v, op, signal_variance, rng):
    """AITom's do_reconstruction transcribed step by step (full complex FFTs, real-space white noise)."""
    def apply(x, h):
        return np.real(np.fft.ifftn(np.fft.ifftshift(np.fft.fftshift(np.fft.fftn(x)) * h)))

    s, snr = v.shape[0], op["model"]["SNR"]
    mask = wedge_mask(v.shape, op["model"]["missing_wedge_angle"])
    ctf = create_ctf(Dz=op["ctf"]["Dz"], size=v.shape, pix_size=op["ctf"]["pix_size"], voltage=op["ctf"]["voltage"],
                     Cs=op["ctf"]["Cs"])["ctf"]
    e = rng.normal(size=v.shape)
    sv = signal_variance * e.var() / apply(e, ctf * mask).var()  # AITom's corrfac, from one draw
    hi = np.floor(s * op["ctf"]["pix_size"] / 4)
    noisy = apply(rsc.tom_bandpass(v, 0, hi, 2.0) + rng.normal(0, np.sqrt(0.5 / snr * sv), v.shape), ctf)
    noisy += rsc.tom_bandpass(rng.normal(0, np.sqrt(0.5 / snr * sv), v.shape), 0, 1, 0.2 * s)
    return apply(rsc.tom_bandpass(noisy, 0, hi, 2.0), mask)


def test_noise_level_calibrated_and_aitom():
    """Noise drawn in Fourier space has the intended variance: calibrated 2 S / SNR after all filters
    (checks the Hermitian-plane handling); 'aitom' the level of AITom's own algorithm."""
    zeros = np.zeros((200, 16, 16, 16))
    rec = rsc.SimpleConvolutionReconstructor.create((16, 16, 16), op_with(0.25))
    out = rec.reconstruct(zeros, rng=np.random.default_rng(1), signal_variance=2.0)
    assert out.var(axis=(1, 2, 3)).mean() == pytest.approx(2 * 2.0 / 0.25, rel=0.03)
    spectrum = np.abs(np.fft.rfftn(out[:4], axes=(1, 2, 3))).reshape(4, -1)
    outside = np.setdiff1d(np.arange(spectrum.shape[1]), rec.support)
    assert spectrum[:, outside].max() < 1e-8 * spectrum.max()
    rec = rsc.SimpleConvolutionReconstructor.create((16, 16, 16), op_with(0.25), noise_model="aitom")
    ours = rec.reconstruct(zeros, rng=np.random.default_rng(2), signal_variance=2.0).var(axis=(1, 2, 3)).mean()
    rng = np.random.default_rng(3)
    ref = np.mean([aitom_reference(zeros[0], op_with(0.25), 2.0, rng).var() for _ in range(100)])
    assert ours == pytest.approx(ref, rel=0.05)


def pair_correlations(snr, preset, noise_model, n_rot=8, copies=32):
    """Pearson r of pairs of simulations of the same rotated density (independent noise)."""
    rng = np.random.default_rng(11)
    s = 32
    c = np.full(3, s // 2)
    dens = np.stack([rotate(toy_density(s), rm=r, c1=c, c2=c) for r in random_rotation_matrix(rng, n_rot)])
    rec = rsc.SimpleConvolutionReconstructor.create((s,) * 3, op_with(snr, **preset), noise_model=noise_model)
    r = []
    for v in dens.astype(np.float32):
        out = rec.reconstruct(np.broadcast_to(v, (2 * copies, s, s, s)), rng=rng).reshape(2, copies, -1)
        a, b = (o - o.mean(axis=1, keepdims=True) for o in out)
        r.extend(np.sum(a * b, axis=1) / np.sqrt(np.sum(a * a, axis=1) * np.sum(b * b, axis=1)))
    return float(np.mean(r))


@pytest.mark.parametrize("preset", [{"Dz": -10.0, "Cs": 2.2}, {"Dz": -5.0, "Cs": 2.0}])
def test_snr_matches_aitom_estimator(preset):
    """Calibrated noise: AITom's 2r/(1-r) recovers the requested SNR; the per-copy r/(1-r) is SNR / 2."""
    for snr in SNRS:
        r = pair_correlations(snr, preset, "calibrated")
        assert 2 * r / (1 - r) == pytest.approx(snr, rel=0.25)
        assert r / (1 - r) == pytest.approx(snr / 2, rel=0.25)


def test_aitom_noise_level_is_far_below_nominal():
    """AITom's own noise level (documented in doc/simulation.md): its estimator reads ~11-14x the nominal SNR."""
    r = pair_correlations(0.1, {"Dz": -5.0, "Cs": 2.0}, "aitom", n_rot=4, copies=8)
    assert 8 < (2 * r / (1 - r)) / 0.1 < 16


def test_bad_op_raises_input_error():
    v = np.zeros((16, 16, 16))
    for op in ({}, {"model": {"SNR": 0.1}, "ctf": {"pix_size": 1.0}}, op_with(-1.0), op_with(0.1, pix_size=0.1),
               {"model": {"missing_wedge_angle": 95, "SNR": 0.1}, "ctf": {"pix_size": 1.0}}):
        with pytest.raises(InputError):
            rsc.do_reconstruction(v, op)
    with pytest.raises(InputError):
        rsc.do_reconstruction(v, OP, noise_model="other")
    with pytest.raises(InputError):
        rsc.do_reconstruction(v, OP, rng=3)
    with pytest.raises(InputError):
        rsc.do_reconstruction_batch(v, OP)
