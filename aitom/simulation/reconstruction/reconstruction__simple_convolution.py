"""Subtomogram simulation by convolution with CTF and missing wedge plus noise (AITom's simple convolution).

AITom's ``do_reconstruction`` turns a density map ``v`` (already rotated and shifted) into a noisy
subtomogram. This module keeps its signal path and noise structure and computes it with real FFTs, all
filters precomputed once per shape, and whole batches at a time:

1. ``v`` is band-limited by :func:`tom_bandpass` at ``BPThresh = floor(s * pix_size / 4)`` Fourier voxels
   (``s = v.shape[0]``), i.e. at 0.25 nm^-1 (4 nm), with a Gaussian edge of sigma 2 voxels;
2. *projection noise* (white, share ``WEI_PROJ = 0.5`` of the noise) is added;
3. the sum is filtered by the CTF (:func:`aitom.image.optics.ctf.create`; all ones when ``op['ctf']`` has no
   ``'Dz'``);
4. *MTF noise* (white noise low-passed by ``tom_bandpass(hi=1, smooth=0.2 s)``, the remaining 0.5 share) is
   added, and the sum band-limited again as in step 1;
5. the missing wedge and a ball of radius ``s / 2`` (:func:`aitom.image.vol.wedge.util.wedge_mask`) are
   applied. With no noise (``SNR`` None or inf) steps 2, 4 and the second band-limit are skipped, as in
   AITom.

Every step is linear, so the output is ``irfftn(V * H_signal + E)`` with ``V = rfftn(v)``, ``H_signal`` a
fixed filter and ``E`` the spectrum of the filtered noise: two independent white noises through two real
filters are, in distribution, one white noise through the root of their summed squared filters ``G``, and
``E`` is drawn directly as independent complex Gaussians of standard deviation ``G`` (scaled) instead of as the
FFT of a real noise volume. All filters vanish beyond the band limit (and the ``s / 2`` ball), so the work
per volume is done only on that *support* (13 % of the ``rfftn`` coefficients at 32^3 and 1 nm).
:meth:`SimpleConvolutionReconstructor.reconstruct_spectra` takes spectra on the support directly, which is
how :mod:`aitom.simulation.dataset` feeds it rotated densities from
:class:`aitom.geometry.rotate.FourierRotator`.

Noise level (``noise_model``)
-----------------------------
``'calibrated'`` (default)
    The output noise variance is set to ``2 * S / SNR``, where ``S`` is the variance of the noise-free output
    (``H_signal`` applied to ``v``, measured per volume by Parseval), split 50/50 between projection and
    MTF noise *after* their filters. Two simulations of the same ``v`` then have Pearson correlation
    ``r = S / (S + N) = SNR / (SNR + 2)``, so AITom's estimator ``2 r / (1 - r)`` recovers ``SNR``; the
    per-copy signal-to-noise variance ratio ``r / (1 - r)`` (Frank & Al-Ali) is ``SNR / 2``. See
    ``doc/simulation.md``.
``'aitom'``
    AITom's own noise level: both noises get variance ``0.5 / SNR * S_a * corrfac`` *before* their filters,
    with ``S_a`` the variance of ``v`` filtered by CTF and wedge only and ``corrfac = 1 / mean(|CTF * wedge|^2)``
    (AITom estimates this from one random draw; here it is the exact expectation). The band limit and the
    MTF filter then remove or add noise that this level does not account for, so the realised SNR differs
    from the nominal one by a factor that depends on CTF, voxel size and box (see ``doc/simulation.md``).

``signal_variance``, when given, replaces ``S`` (or ``S_a``), e.g. to give every volume the same noise level.
"""
from dataclasses import dataclass

import numpy as np
import scipy.fft

from aitom.errors import InputError
from aitom.image.optics import ctf as optics_ctf
from aitom.image.vol import util as vol_util
from aitom.image.vol.wedge import util as wedge_util

WEI_PROJ = 0.5
"""Share of the noise variance added before the CTF (projection noise); the rest is MTF noise."""

BAND_LIMIT_PER_NM = 0.25
"""AITom's band limit, in nm^-1: ``BPThresh = floor(BAND_LIMIT_PER_NM * s * pix_size)`` Fourier voxels."""

BAND_SMOOTH = 2.0
"""Gaussian edge (sigma, Fourier voxels) of the band limit."""

MTF_SMOOTH_FRACTION = 0.2
"""Gaussian width of the MTF-noise low-pass, as a fraction of the box edge ``s``."""

NOISE_MODELS = ("calibrated", "aitom")


def bandpass_mask(shape, low, hi, smooth=None):
    """Band-pass filter of TOM's ``tom_bandpass``, ``fftshift``-ed.

    Parameters
    ----------
    shape : sequence of int, length 2 or 3
    low, hi : float
        Pass band ``low <= |k| <= hi``, radii in Fourier voxels about the zero frequency
        (:func:`aitom.image.vol.util.fft_mid_co`).
    smooth : float, optional
        Gaussian edge width in Fourier voxels (see :func:`aitom.image.vol.util.sphere_mask`): the mask is
        ``ball(hi, smooth) - ball(low, smooth)`` (the second term only when ``low > 0``). Hard edges when
        ``None`` (AITom compares the *squared* distance with ``hi`` there; here the distance is used).

    Returns
    -------
    numpy.ndarray, shape shape, float64
    """
    if not 0 <= low <= hi:
        raise InputError("low, hi", f"need 0 <= low <= hi, got {low!r}, {hi!r}")
    mid_co = vol_util.fft_mid_co(shape)
    if smooth is None:
        d = vol_util.grid_distance_to_center(vol_util.grid_displacement_to_center(shape, mid_co=mid_co))
        return ((d >= low) & (d <= hi)).astype(np.float64)
    mask = vol_util.sphere_mask(shape, center=mid_co, radius=hi, smooth_sigma=smooth)
    if low > 0:
        mask -= vol_util.sphere_mask(shape, center=mid_co, radius=low, smooth_sigma=smooth)
    return mask


def tom_bandpass(v, low, hi, smooth=None):
    """Fourier band-pass filter with a Gaussian edge (TOM's ``tom_bandpass``).

    Parameters
    ----------
    v : array_like, shape s (2-D or 3-D)
    low, hi, smooth : float
        See :func:`bandpass_mask`.

    Returns
    -------
    numpy.ndarray, shape s, float64
        ``real(ifftn(ifftshift(fftshift(fftn(v)) * bandpass_mask(s, low, hi, smooth))))``.
    """
    v = np.asarray(v)
    m = bandpass_mask(v.shape, low, hi, smooth)
    return np.real(np.fft.ifftn(np.fft.ifftshift(np.fft.fftshift(np.fft.fftn(v)) * m)))


def _noise_output_variance(h):
    """Expected variance of unit white noise filtered by ``h`` (``fftshift``-ed, full spectrum)."""
    h2 = np.square(h)
    return (h2.sum() - h2[tuple(vol_util.fft_mid_co(h.shape).astype(int))]) / h.size


def _rfft_multiplicity(shape):
    """Multiplicity (1 or 2) of each ``rfftn`` coefficient in the full spectrum, flattened."""
    w = np.full(shape[:-1] + (shape[-1] // 2 + 1,), 2.0)
    w[..., 0] = 1.0
    if shape[-1] % 2 == 0:
        w[..., -1] = 1.0
    return w.ravel()


def _rfft_frequencies(shape):
    """Signed integer frequencies (cycles per box) of the ``rfftn`` coefficients, shape (N_rfft, 3)."""
    axes = [np.fft.fftfreq(n, 1.0 / n) for n in shape[:-1]] + [np.arange(shape[-1] // 2 + 1, dtype=float)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)


def _check_op(op):
    try:
        model, ctf_op = op["model"], op["ctf"]
        wedge = float(model["missing_wedge_angle"])
        snr = model["SNR"]
        pix_size = float(ctf_op["pix_size"])
    except (KeyError, TypeError, ValueError) as err:
        raise InputError("op", "expected {'model': {'missing_wedge_angle', 'SNR'}, 'ctf': {'pix_size', "
                               f"['Dz', 'voltage', 'Cs', 'sigma', 'amplitude_contrast']}}}} with numbers: {err!r}") from None
    snr = np.inf if snr is None else float(snr)
    if not snr > 0 or np.isnan(snr):
        raise InputError("op['model']['SNR']", f"must be positive (inf or None for no noise), got {snr!r}")
    if not 0 <= wedge < 90:
        raise InputError("op['model']['missing_wedge_angle']", f"must be in [0, 90) degrees, got {wedge!r}")
    if not pix_size > 0:
        raise InputError("op['ctf']['pix_size']", f"must be positive (nm), got {pix_size!r}")
    return wedge, snr, pix_size


@dataclass(frozen=True)
class SimpleConvolutionReconstructor:
    """Precomputed filters that simulate subtomograms of one box shape and one ``op``.

    Build with :meth:`create`; call :meth:`reconstruct` (volumes) or :meth:`reconstruct_spectra` (spectra on
    the support) on batches. With ``N = x * y * z``:

    Attributes
    ----------
    shape : tuple of 3 int
        Volume shape ``(x, y, z)``.
    snr : float
        ``op['model']['SNR']`` (inf: no noise).
    noise_model : str
        ``'calibrated'`` or ``'aitom'`` (see the module docstring).
    support : numpy.ndarray, shape (m,), int64
        Flat indices into the ``rfftn`` layout ``(x, y, z // 2 + 1)`` where any filter is non-zero.
    frequencies : numpy.ndarray, shape (m, 3), float64
        Their signed integer frequencies ``(kx, ky, kz)``, in cycles per box.
    signal_filter : numpy.ndarray, shape (m,)
        ``H_signal`` on the support: band limit, CTF, (band limit,) wedge and ball.
    variance_weights : numpy.ndarray, shape (m,)
        ``S = sum(variance_weights * |V|^2) / N^2`` is the signal variance that sets the noise level
        (Parseval, with each ``rfftn`` coefficient counted as often as it occurs in the full spectrum).
    noise_select : numpy.ndarray, shape (p,), int64
        Positions in ``support`` where the noise filter ``G`` is non-zero.
    noise_scale : numpy.ndarray, shape (p,)
        Standard deviation of the real and of the imaginary part of the noise spectrum there, for unit
        noise variance: ``G * sqrt(N / 2)``, times ``sqrt(2)`` on the ``kz = 0`` and ``kz = z / 2`` planes,
        of which ``irfftn`` keeps only the Hermitian part.
    noise_gain : float
        ``noise_variance = noise_gain * S / SNR``.
    """

    shape: tuple
    snr: float
    noise_model: str
    support: np.ndarray
    frequencies: np.ndarray
    signal_filter: np.ndarray
    variance_weights: np.ndarray
    noise_select: np.ndarray
    noise_scale: np.ndarray
    noise_gain: float

    @classmethod
    def create(cls, shape, op, noise_model="calibrated"):
        """Precompute the filters for volumes of ``shape`` simulated with ``op``.

        Parameters
        ----------
        shape : sequence of 3 int
            Volume shape ``(x, y, z)``.
        op : dict
            AITom's options: ``{'model': {'missing_wedge_angle': degrees, 'SNR': float or None},
            'ctf': {'pix_size': nm, 'Dz': um (negative: underfocus), 'voltage': kV, 'Cs': mm,
            'sigma': Nyquist units (optional), 'amplitude_contrast': share (optional, default 0)}}``. Without
            ``'Dz'`` no CTF is applied.
        noise_model : {'calibrated', 'aitom'}

        Returns
        -------
        SimpleConvolutionReconstructor
        """
        shape = tuple(int(s) for s in np.asarray(shape).tolist())
        if len(shape) != 3 or min(shape) < 2:
            raise InputError("shape", f"expected a 3-D box of at least 2 voxels per side, got {shape!r}")
        if noise_model not in NOISE_MODELS:
            raise InputError("noise_model", f"must be one of {NOISE_MODELS}, got {noise_model!r}")
        wedge, snr, pix_size = _check_op(op)
        band_limit = np.floor(BAND_LIMIT_PER_NM * shape[0] * pix_size)
        if band_limit < 1:
            raise InputError("op['ctf']['pix_size']", f"{pix_size} nm in a box of {shape[0]} puts AITom's "
                                                      f"0.25/nm band limit below one Fourier voxel")
        mask = wedge_util.wedge_mask(shape, wedge)
        ctf_op = op["ctf"]
        if "Dz" in ctf_op:
            ctf = optics_ctf.create(Dz=ctf_op["Dz"], size=shape, pix_size=pix_size, voltage=ctf_op["voltage"],
                                    Cs=ctf_op["Cs"], sigma=ctf_op.get("sigma"),
                                    amplitude_contrast=ctf_op.get("amplitude_contrast", 0.0))["ctf"]
        else:
            ctf = np.ones(shape)
        band = bandpass_mask(shape, 0.0, band_limit, BAND_SMOOTH)
        noisy = np.isfinite(snr)
        signal = band * ctf * (band if noisy else 1.0) * mask
        proj = ctf * band * mask
        mtf = bandpass_mask(shape, 0.0, 1.0, MTF_SMOOTH_FRACTION * shape[0]) * band * mask
        if noise_model == "calibrated":
            proj_gain, mtf_gain = _noise_output_variance(proj), _noise_output_variance(mtf)
            variance_filter, noise_gain = signal, 2.0
        else:
            proj_gain = mtf_gain = 1.0
            variance_filter = ctf * mask
            noise_gain = 1.0 / _noise_output_variance(variance_filter)
        noise = vol_util.rfft_layout(
            np.sqrt(WEI_PROJ * proj ** 2 / proj_gain + (1.0 - WEI_PROJ) * mtf ** 2 / mtf_gain)).ravel()
        noise *= np.where(_rfft_multiplicity(shape) == 1.0, np.sqrt(2.0), 1.0) * np.sqrt(np.prod(shape) / 2.0)
        if not noisy:
            noise[:] = 0.0
        signal = vol_util.rfft_layout(signal).ravel()
        variance = _rfft_multiplicity(shape) * vol_util.rfft_layout(variance_filter).ravel() ** 2
        variance[0] = 0.0  # the mean does not count towards the variance
        support = np.flatnonzero((signal != 0) | (variance != 0) | (noise != 0))
        noise_select = np.flatnonzero(noise[support])
        return cls(shape=shape, snr=snr, noise_model=noise_model, support=support,
                   frequencies=_rfft_frequencies(shape)[support], signal_filter=signal[support],
                   variance_weights=variance[support], noise_select=noise_select,
                   noise_scale=noise[support][noise_select], noise_gain=noise_gain)

    @property
    def max_frequency(self):
        """Largest ``|k|`` on the support, in cycles per box."""
        return float(np.sqrt(np.max(np.sum(self.frequencies ** 2, axis=1))))

    def signal_variance(self, v_sup):
        """Per-volume signal variance ``S`` from spectra on the support.

        Parameters
        ----------
        v_sup : numpy.ndarray, shape (n, m), complex

        Returns
        -------
        numpy.ndarray, shape (n,), float64
        """
        power = np.square(v_sup.real) + np.square(v_sup.imag)
        return (power @ self.variance_weights.astype(power.dtype)).astype(np.float64) / float(np.prod(self.shape)) ** 2

    def reconstruct(self, v, rng=None, signal_variance=None, workers=None):
        """Simulate subtomograms from density maps.

        Parameters
        ----------
        v : array_like, shape (n, x, y, z)
            Density maps (rotated and shifted as wanted). float32 input is computed and returned in float32,
            anything else in float64.
        rng, signal_variance, workers
            See :meth:`reconstruct_spectra`.

        Returns
        -------
        numpy.ndarray, shape (n, x, y, z)
        """
        v = np.asarray(v)
        if v.ndim != 4 or v.shape[1:] != self.shape:
            raise InputError("v", f"expected a batch of shape (n, {', '.join(map(str, self.shape))}), "
                                  f"got {v.shape}")
        dtype = np.float32 if v.dtype == np.float32 else np.float64
        v_hat = scipy.fft.rfftn(v.astype(dtype, copy=False), axes=(1, 2, 3), workers=workers)
        return self.reconstruct_spectra(v_hat.reshape(len(v), -1)[:, self.support], rng=rng,
                                        signal_variance=signal_variance, workers=workers)

    def reconstruct_spectra(self, v_sup, rng=None, signal_variance=None, workers=None):
        """Simulate subtomograms from the spectra of density maps on the support.

        Parameters
        ----------
        v_sup : array_like, shape (n, m), complex
            ``rfftn`` of the (rotated, shifted) density maps at :attr:`support` (i.e. at
            :attr:`frequencies`). complex64 input is computed in float32, anything else in float64.
        rng : numpy.random.Generator, optional
            Source of the noise; a fresh, unseeded generator when ``None`` (not reproducible). Noise is drawn
            as one ``rng.standard_normal((n, 2, p))`` call (``p = len(noise_select)``), so splitting a batch
            into consecutive calls with the same generator gives identical results.
        signal_variance : float or array_like, shape (n,), optional
            Replaces the per-volume signal variance ``S`` that sets the noise level.
        workers : int, optional
            Threads for ``scipy.fft`` (-1: one per CPU).

        Returns
        -------
        numpy.ndarray, shape (n, x, y, z), float32 for complex64 input, else float64
        """
        v_sup = np.asarray(v_sup)
        m = self.support.size
        if v_sup.ndim != 2 or v_sup.shape[1] != m:
            raise InputError("v_sup", f"expected spectra of shape (n, {m}), got {v_sup.shape}")
        n = v_sup.shape[0]
        dtype = np.float32 if v_sup.dtype == np.complex64 else np.float64
        v_sup = v_sup.astype(np.complex64 if dtype == np.float32 else np.complex128, copy=False)
        out_sup = v_sup * self.signal_filter.astype(dtype)
        if np.isfinite(self.snr):
            if signal_variance is None:
                signal_variance = self.signal_variance(v_sup)
            signal_variance = np.broadcast_to(np.asarray(signal_variance, dtype=np.float64), (n,))
            if not np.all(np.isfinite(signal_variance)) or np.any(signal_variance < 0):
                raise InputError("signal_variance", "must be finite and non-negative")
            rng = np.random.default_rng() if rng is None else rng
            if not isinstance(rng, np.random.Generator):
                raise InputError("rng", f"expected a numpy.random.Generator, got {type(rng).__name__}")
            scale = np.sqrt(self.noise_gain * signal_variance / self.snr).astype(dtype)
            z = rng.standard_normal((n, 2, self.noise_select.size), dtype=dtype)
            z *= self.noise_scale.astype(dtype) * scale[:, None, None]
            out_sup[:, self.noise_select] += z[:, 0] + 1j * z[:, 1]
        x, y, zz = self.shape
        out_hat = np.zeros((n, x * y * (zz // 2 + 1)), dtype=out_sup.dtype)
        out_hat[:, self.support] = out_sup
        return scipy.fft.irfftn(out_hat.reshape(n, x, y, zz // 2 + 1), s=self.shape, axes=(1, 2, 3),
                                workers=workers)


def do_reconstruction_batch(v, op, signal_variance=None, rng=None, noise_model="calibrated", workers=None):
    """Simulate a batch of subtomograms (see the module docstring).

    Parameters
    ----------
    v : array_like, shape (n, x, y, z)
        Density maps, rotated and shifted.
    op : dict
        See :meth:`SimpleConvolutionReconstructor.create`.
    signal_variance : float or array_like, shape (n,), optional
        Signal variance that sets the noise level; measured per volume when ``None``.
    rng : numpy.random.Generator, optional
        Noise source (see :meth:`SimpleConvolutionReconstructor.reconstruct_spectra`).
    noise_model : {'calibrated', 'aitom'}
    workers : int, optional
        Threads for ``scipy.fft``.

    Returns
    -------
    numpy.ndarray, shape (n, x, y, z), float32 for float32 input, else float64
    """
    v = np.asarray(v)
    if v.ndim != 4:
        raise InputError("v", f"expected a batch of volumes (n, x, y, z), got shape {v.shape}")
    reconstructor = SimpleConvolutionReconstructor.create(v.shape[1:], op, noise_model=noise_model)
    return reconstructor.reconstruct(v, rng=rng, signal_variance=signal_variance, workers=workers)


def do_reconstruction(v, op, signal_variance=None, rng=None, noise_model="calibrated"):
    """Simulate one subtomogram from a density map (AITom's ``do_reconstruction``).

    Parameters
    ----------
    v : array_like, shape (x, y, z)
        Density map, rotated and shifted.
    op : dict
        See :meth:`SimpleConvolutionReconstructor.create`.
    signal_variance : float, optional
        Signal variance that sets the noise level; measured from ``v`` when ``None``.
    rng : numpy.random.Generator, optional
        Noise source; a fresh, unseeded generator when ``None``.
    noise_model : {'calibrated', 'aitom'}

    Returns
    -------
    numpy.ndarray, shape (x, y, z), float32 for float32 input, else float64
    """
    v = np.asarray(v)
    if v.ndim != 3:
        raise InputError("v", f"expected a 3-D volume (x, y, z), got shape {v.shape}")
    return do_reconstruction_batch(v[None], op, signal_variance=signal_variance, rng=rng,
                                   noise_model=noise_model)[0]
