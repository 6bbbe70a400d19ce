"""Both domains' defocus estimated from their subtomograms, for data sets without acquisition parameters.

Particles sit at the box centre in random orientations, so the mean subtomogram of a domain is the
spherically averaged density passed through that domain's CTF (and its missing wedge, which scales every
Fourier shell alike). Its radial Fourier profile is therefore ``M(k) = c · CTF(k) · D(k)``, with ``D`` the
same for both domains when they hold the same structures, and the two profiles obey the *cross relation*

    M_t(k) · CTF_s(k) = g · M_s(k) · CTF_t(k)

whatever ``D`` is; the sign of ``g`` says whether the two domains record contrast the same way round.
:func:`estimate_ctf_pair` searches a grid of defocus pairs for the one that fits it best (least χ², each shell's
residual weighted by its variance, propagated from the rows' spread), Cs and voltage held at the given values (at
1 nm voxels the Cs term moves a CTF by under 0.01 rad: the profile fixes ``λ·Dz``). Noise averages out of the
mean, so this works at low SNR: on the benchmark's four simulated cells (shrec and assemblies, target SNR 0.1
and 0.05) it finds −9.9 to −10.1 µm for the source's −10 µm and −4.6 to −6.5 µm for the target's −5 µm over 20
splits (doc/results/ctf_estimation/).

The CTF is ``sqrt(1 - A²)·sin χ + A·cos χ``, one amplitude contrast ``A`` for both domains searched with the
defoci (:data:`AMPLITUDE_CONTRAST_GRID`; AITom's simulator has ``A = 0``, most others about 0.07-0.1).
Without it, a shrec cell simulated with 7 % amplitude contrast and a target envelope read −7.2 µm for the
target's −5 µm, too weakly to be used; with it −4.9 µm. Envelopes are not searched (a relative one traded
off against defocus on the assemblies cells): one shared by both domains cancels from the cross relation, one
on the target only moves the estimates by at most 0.5 µm down to 1/e at 0.7 Nyquist (a B-factor of 3300 Å² at
1 nm voxels, 4700 Å² at 1.2 nm; doc/results/ctf_estimation/ctf_form.md, synthetic particles). A much stronger
target envelope (1/e at half Nyquist, 9200 Å² at 1.2 nm) is read as a smaller target defocus (−2.5 µm for −5) and
used: the χ² test asks whether the two domains' CTFs differ, not whether the model fits.

Particles are assumed centred on one point of the box, found from each domain's mean
(:func:`particle_centre`: a 2-voxel offset of every target volume leaves the estimate unchanged).

A data set that records no voxel size is read at 1.0 nm (the source transfer's default). On the voxel grid a
CTF depends on ``λ·Dz/pix²`` (the Cs term is negligible at these sizes), so the estimates then come out scaled
by ``(1.0/pix)²`` and the source transferred with them is the same: on the assemblies cell at 1.2 nm, −6.9 and
−4.3 µm for −9.9 and −6.1 with the true size, χ² drops 23.6 and 23.9 (a test holds the transfer). The grid's
15 µm at an assumed 1.0 nm covers every CTF a 28-voxel box resolves to Nyquist (``λ·Dz < 28·pix²``, 14 µm).

The estimate is used only when it explains the difference between the two mean profiles clearly better than
any pair of equal defoci does: a χ² drop of at least :data:`MIN_DELTA_CHI2` (a likelihood-ratio test; with the
variances right, the drop one domain shows against itself does not grow with the number of subtomograms, a real
CTF difference's does). On seven simulated cells (the benchmark's four; shrec and assemblies with 7 % amplitude
contrast and a target envelope, the assemblies at target SNR 0.1 and 0.05), 5 splits each, the two domains gave
drops of 23-108 (every split used), and one domain against itself (two halves of its source or target, 70
checks) 0.5-11.6 (none used). The ratio of the two fits' misfits that this test replaced used a threshold of 2.2
and left 1 of the benchmark's 20 splits and 5 of the 10 assemblies splits with the other CTF form without a
transfer (doc/results/ctf_estimation/).
"""
import functools

import numpy as np

from aitom.image.normalize import standardize
from aitom.image.optics import ctf as optics_ctf

DEFOCUS_GRID_UM = -np.round(np.arange(0.5, 15.001, 0.1), 1)
"""Candidate defoci (µm, underfocus negative) of a domain whose acquisition parameters are not known: the
range of cryo-ET practice. Beyond it the fit can alias: on the assemblies cells, whose mean profiles carry
little above 0.15 nm⁻¹, a grid to 20 µm took (−20, −18) for (−10, −5) on 3 of 10 splits."""

AMPLITUDE_CONTRAST_GRID = (0.0, 0.05, 0.1, 0.15)
"""Candidate amplitude-contrast shares, one for both domains: AITom's CTF has none, other simulators and
microscopes about 0.07-0.1."""

MIN_DELTA_CHI2 = 16.0
"""Least drop in χ² from the best equal-defocus pair to the best pair for the estimate to be used."""

ROWS = 1000
"""Subtomograms (at most) per domain whose mean profile is fitted."""


def _shell_means(values, size):
    """Means of ``values`` (``(m, n)``: rows on the flattened ``rfftn`` grid of a ``size``³ box) over
    half-voxel radial shells up to Nyquist: ``(m, size + 1)``."""
    return values @ _shell_matrix(size)


@functools.lru_cache(maxsize=4)
def _shell_matrix(size):
    """``(n, size + 1)``: column ``j`` averages the ``rfftn`` coefficients of half-voxel shell ``j``."""
    f = [np.fft.fftfreq(size)] * 2 + [np.fft.rfftfreq(size)]
    shell = np.rint(2 * size * np.sqrt(sum(g * g for g in np.meshgrid(*f, indexing="ij")))).astype(np.int64).ravel()
    inside = shell < size + 1
    onehot = np.zeros((shell.size, size + 1))
    onehot[np.flatnonzero(inside), shell[inside]] = 1.0
    return onehot / np.maximum(onehot.sum(0), 1.0)


def particle_centre(mean_volume):
    """Centre (voxels, sub-voxel) of a volume symmetric about it under point reflection, such as a domain's
    mean subtomogram: the self-convolution of ``m`` peaks at twice the centre. Of the two centres that
    agree modulo half the box, the one nearer the box centre ``size // 2``."""
    size = mean_volume.shape[0]
    f = np.fft.rfftn(mean_volume)
    conv = np.fft.irfftn(f * f, s=mean_volume.shape, axes=(0, 1, 2))
    peak = np.array(np.unravel_index(np.argmax(conv), conv.shape))
    offset = np.zeros(3)
    for axis in range(3):  # parabola through the peak and its two neighbours, per axis
        idx = [tuple(np.where(np.arange(3) == axis, (peak + d) % size, peak)) for d in (-1, 0, 1)]
        lo, mid, hi = (conv[i] for i in idx)
        curvature = lo - 2 * mid + hi
        offset[axis] = 0.5 * (lo - hi) / curvature if curvature < 0 else 0.0
    centre = (peak + offset) / 2.0
    centre = np.where(np.abs(centre + size / 2 - size // 2) < np.abs(centre - size // 2), centre + size / 2, centre)
    return centre


def _phase_to_origin(size, centre):
    """``rfftn``-grid phase factors that move ``centre`` to the origin."""
    k = [np.fft.fftfreq(size)] * 2 + [np.fft.rfftfreq(size)]
    return np.exp(2j * np.pi * sum(g * c for g, c in zip(np.meshgrid(*k, indexing="ij"), centre)))


def mean_radial_profile(x, rows, batch=200):
    """Radial profile (half-voxel shells up to Nyquist) of the mean standardised volume ``x[rows]``'s
    Fourier transform about the particles' centre (:func:`particle_centre` of the mean), and the variance
    of that mean (from the rows' spread).

    Returns
    -------
    (profile, variance): float64 arrays of ``size + 1`` shells.
    """
    size = x.shape[1]
    rows = np.sort(np.asarray(rows, np.int64))
    batches = [slice(i, i + batch) for i in range(0, len(rows), batch)]
    mean_volume = sum(standardize(np.asarray(x[rows[b]], np.float32)).sum(0, dtype=np.float64) for b in batches)
    phase = _phase_to_origin(size, particle_centre(np.asarray(mean_volume) / max(len(rows), 1)))
    profiles = np.concatenate([np.zeros((0, size + 1))] + [
        _shell_means((np.fft.rfftn(standardize(np.asarray(x[rows[b]], np.float32)), axes=(1, 2, 3)) * phase)
                     .real.reshape(-1, phase.size), size) for b in batches])
    return profiles.mean(0) if len(profiles) else np.zeros(size + 1), profiles.var(0) / max(len(profiles), 1)


def _ctf_profiles(size, pix_size, ctfs, amplitude_contrast=0.0):
    """Shell means of the CTF (:func:`aitom.image.optics.ctf.rfft_from_op`) for each dict in ``ctfs``, at
    ``pix_size`` and ``amplitude_contrast``."""
    return _shell_means(np.array([optics_ctf.rfft_from_op(dict(c, pix_size=pix_size,
                                                                amplitude_contrast=amplitude_contrast),
                                                          (size,) * 3).ravel() for c in ctfs]), size)


def estimate_ctf_pair(source_x, target_x, pix_size, source_rows=None, target_rows=None, source_ctf=None,
                      target_ctf=None, voltage=300.0, Cs=2.0):
    """Defocus of the source and the target from their mean subtomograms (module docstring).

    Parameters
    ----------
    source_x, target_x : array-like ``(n, s, s, s)``
        The two domains' volumes (same box).
    pix_size : float
        Voxel size in nm (both domains).
    source_rows, target_rows : int arrays, optional
        Rows to use, the first :data:`ROWS` of them (pass them shuffled); default: :data:`ROWS` rows spread
        evenly over the set. The target's should exclude any test rows.
    source_ctf, target_ctf : dict, optional
        A domain's known parameters (``Dz``, ``Cs``, ``voltage``; ``amplitude_contrast`` if recorded): held
        fixed, only the other is searched.
    voltage, Cs : float
        Held for a searched domain (kV, mm).

    Returns
    -------
    dict with ``source`` and ``target`` (CTF dicts: ``Dz``, ``Cs``, ``voltage``, ``amplitude_contrast``,
    ``pix_size``), ``contrast`` (+1, or -1 when the target records contrast inverted with respect to the
    source), ``chi2`` (the best pair's), ``delta_chi2`` (at the best pair's amplitude contrast, the best
    equal-defocus pair's χ² less the best pair's) and ``use`` (``delta_chi2 >= MIN_DELTA_CHI2``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(4, 12, 12, 12)).astype(np.float32)
    >>> fit = estimate_ctf_pair(x, x, 1.0)  # one domain against itself: no CTF difference to find
    >>> fit["use"], fit["contrast"]
    (False, 1)
    """
    size = source_x.shape[1]
    rows = [np.unique(np.linspace(0, len(a) - 1, min(len(a), ROWS)).astype(np.int64)) if r is None
            else np.asarray(r, np.int64) for a, r in ((source_x, source_rows), (target_x, target_rows))]
    ms, vs = mean_radial_profile(source_x, rows[0][:ROWS])
    mt, vt = mean_radial_profile(target_x, rows[1][:ROWS])
    grid = [{"Dz": float(dz), "Cs": Cs, "voltage": voltage} for dz in DEFOCUS_GRID_UM]
    known = [None if c is None else {k: float(c[k]) for k in optics_ctf.OP_KEYS} for c in (source_ctf, target_ctf)]
    cands = [grid if c is None else [c] for c in known]
    recorded = [c["amplitude_contrast"] for c in (source_ctf, target_ctf) if c and "amplitude_contrast" in c]
    fits = []
    for a in recorded[:1] or AMPLITUDE_CONTRAST_GRID:
        same = _ctf_profiles(size, pix_size, grid + [c for c in known if c is not None], a)
        cs, ct = (same[:len(grid)] if c is None else _ctf_profiles(size, pix_size, [c], a) for c in known)
        chi2, g = _chi2(mt, vt, ms, vs, cs, ct)
        i, j = np.unravel_index(np.argmin(chi2), chi2.shape)
        null = np.diagonal(_chi2(mt, vt, ms, vs, same, same)[0]).min()  # one CTF for both domains
        fits.append((chi2[i, j], null, a, cands[0][i], cands[1][j], g[i, j]))
    chi2, null, a, cs, ct, g = min(fits, key=lambda f: f[0])
    delta = float(null - chi2)
    return {"source": dict(cs, amplitude_contrast=float(a), pix_size=float(pix_size)),
            "target": dict(ct, amplitude_contrast=float(a), pix_size=float(pix_size)),
            "contrast": 1 if g >= 0 else -1, "chi2": float(chi2), "delta_chi2": delta,
            "use": bool(delta >= MIN_DELTA_CHI2)}


def _chi2(mt, vt, ms, vs, cs, ct, iterations=6):
    """χ² of the cross relation ``M_t·CTF_s = g·M_s·CTF_t`` for every pair of rows of ``cs`` ``(I, n)`` and
    ``ct`` ``(J, n)``, at its best ``g``; and that ``g``: two ``(I, J)`` arrays.

    A shell's residual has the variance ``CTF_s²·var(M_t) + g²·CTF_t²·var(M_s)`` (the profiles' variances from
    the rows' spread); ``g`` comes from iteratively reweighted least squares. Shells without variance (the
    zero frequency of standardised volumes) are left out."""
    ok = vs + vt > 1e-12 * (vs + vt).max()
    mt, vt, ms, vs, cs, ct = mt[ok], vt[ok], ms[ok], vs[ok], cs[:, ok], ct[:, ok]
    a, va = (mt * cs)[:, None, :], (cs * cs * vt)[:, None, :]
    b, vb = (ms * ct)[None, :, :], (ct * ct * vs)[None, :, :]
    floor = 1e-6 * (vt.max() + vs.max())  # where both CTFs vanish, so do both sides
    weights = lambda g: 1.0 / (va + g * g * vb + floor)
    g = np.ones(a.shape[:2] + (1,))
    for _ in range(iterations):
        w = weights(g)
        g = ((a * b * w).sum(-1) / np.maximum((b * b * w).sum(-1), 1e-300))[..., None]
    return (((a - g * b) ** 2) * weights(g)).sum(-1), g[..., 0]
