"""Source subtomograms made to look like the target's: the target's CTF and target-shaped noise.

The two acquisition settings differ first by their contrast transfer functions: within AITom's 0.25 nm⁻¹
band, Cs 2.2 mm / −10 µm passes mostly 0.1-0.2 nm⁻¹ and Cs 2.0 mm / −5 µm mostly 0.15-0.25 nm⁻¹, so a
network trained on the one learns frequencies the other hardly carries. When both domains' acquisition
parameters are known (AITom's ``op['ctf']``: ``Dz`` µm, negative underfocus; ``Cs`` mm; ``voltage`` kV;
``pix_size`` nm), every source volume's spectrum is multiplied by the regularised ratio

    H = CTF_t · CTF_s / (CTF_s² + ε²)        (ε = ``config.ctf_epsilon``)

which replaces the source CTF by the target's where the source CTF is not near a zero
(:func:`ctf_transfer_filter`). A domain without recorded parameters gets its defocus estimated from the
subtomograms themselves (:mod:`.ctf_estimation`; ``config.ctf_estimation``).

The target is also noisier: with the filter, each read of a source volume is mixed with white noise
filtered by the root of the unlabelled target subtomograms' mean power spectrum (their noise and CTF shape;
no label read), the source volume keeping a share ``r`` of the variance, ``r`` drawn log-uniformly in
``[min_share, 1]`` per read (:class:`TransferredVolumes`). Neither step alone helps (doc/results/tuning_ctf/:
on the benchmark's tuning cell stage 1 scores 0.13 with the filter alone, 0.24 with the noise alone, 0.73 with
both, on the validation split of shrec seed 0, whose ceiling scores 0.898 on its test set).

Only the source is changed: the target, and so the deployed classifier, reads its data as recorded.
"""
import copy

import numpy as np

from aitom.classify.deep.fsft.config import FSFTConfig
from aitom.classify.deep.fsft.ctf_estimation import estimate_ctf_pair
from aitom.errors import InputError
from aitom.image.normalize import standardize
from aitom.image.optics import ctf as optics_ctf
from aitom.io.dataset import load_dataset

CTF_EPSILON = FSFTConfig.ctf_epsilon
"""Regularisation of the source CTF's inverse (the default of ``FSFTConfig.ctf_epsilon``): frequencies where
``|CTF_s| << ε`` are suppressed."""

SPECTRUM_ROWS = 300
"""Target subtomograms (at most) whose mean power spectrum shapes the noise."""

CTF_KEYS = optics_ctf.OP_KEYS + ("pix_size",)


def acquisition_ctf(dataset):
    """The CTF parameters of a data set: its ``meta['op']['ctf']`` (AITom's op dict; :data:`CTF_KEYS`, and
    the envelope and amplitude contrast where recorded, :data:`aitom.image.optics.ctf.OP_OPTIONAL`) with
    ``pix_size`` defaulting to its voxel spacing, or None when ``Dz``, ``Cs`` or ``voltage`` is missing."""
    op = (getattr(dataset, "meta", None) or {}).get("op") or {}
    ctf = dict(op.get("ctf") or {})
    if ctf.get("pix_size") is None:
        ctf["pix_size"] = getattr(dataset, "voxel_spacing_nm", None)
    if any(ctf.get(k) is None for k in CTF_KEYS):
        return None
    try:
        return {k: float(ctf[k]) for k in CTF_KEYS + optics_ctf.OP_OPTIONAL if ctf.get(k) is not None}
    except (TypeError, ValueError):
        raise InputError("meta['op']['ctf']", f"CTF parameters must be numbers, got {ctf!r}") from None


def with_ctf(dataset, Dz, Cs, voltage, pix_size=None):
    """``dataset`` (anything :func:`aitom.io.dataset.load_dataset` reads: a set, a ``dj`` list, a folder)
    as a :class:`~aitom.io.dataset.SubtomogramSet` (a shallow copy) whose ``meta['op']['ctf']`` holds these
    acquisition parameters, in AITom's names and units: ``Dz`` defocus in µm, negative = underfocus; ``Cs``
    mm; ``voltage`` kV; ``pix_size`` nm, default the set's voxel spacing. For data sets that do not carry
    them (real tomograms, other simulators).

    Examples
    --------
    >>> target = with_ctf(target, Dz=-5.0, Cs=2.0, voltage=300.0)  # doctest: +SKIP
    """
    out = copy.copy(load_dataset(dataset))
    ctf = {"Dz": Dz, "Cs": Cs, "voltage": voltage, "pix_size": pix_size}
    out.meta = dict(out.meta or {})
    out.meta["op"] = dict(out.meta.get("op") or {}, ctf={k: v for k, v in ctf.items() if v is not None})
    if acquisition_ctf(out) is None:
        raise InputError("pix_size", "unknown: give pix_size (nm), the data set has no voxel spacing")
    return out


def ctf_transfer_filter(size, source_ctf, target_ctf, epsilon=CTF_EPSILON):
    """``CTF_t · CTF_s / (CTF_s² + ε²)`` on the ``rfftn`` grid of a ``size``³ box, float32.

    Examples
    --------
    >>> ctf = {"Dz": -5.0, "Cs": 2.0, "voltage": 300.0, "pix_size": 1.0}
    >>> h = ctf_transfer_filter(8, ctf, ctf)  # same CTF: a Wiener-damped identity, 0 at zero frequency
    >>> h.shape, float(h[0, 0, 0]), bool(0 <= h.min() and h.max() < 1)
    ((8, 8, 5), 0.0, True)
    """
    if source_ctf["pix_size"] != target_ctf["pix_size"]:
        raise InputError("op['ctf']['pix_size']", f"source {source_ctf['pix_size']} nm and target "
                                                  f"{target_ctf['pix_size']} nm voxels differ")
    cs, ct = (optics_ctf.rfft_from_op(c, (size,) * 3) for c in (source_ctf, target_ctf))
    return (ct * cs / (cs * cs + epsilon ** 2)).astype(np.float32)


def mean_amplitude_spectrum(x, rows):
    """Root of the mean power spectrum (``rfftn`` grid) of the standardised volumes ``x[rows]``, float32."""
    total = 0.0
    for i in range(0, len(rows), 100):
        v = standardize(np.asarray(x[np.sort(rows[i:i + 100])], np.float32))
        total = total + np.sum(np.abs(np.fft.rfftn(v, axes=(1, 2, 3))) ** 2, axis=0)
    return np.sqrt(total / max(len(rows), 1)).astype(np.float32)


class TransferredVolumes:
    """Read-only view of source volumes ``x`` as the target would record them.

    ``view[idx]`` or :meth:`read` returns float32 rows ``(n, s, s, s)``: each volume filtered by
    ``transfer_filter`` (None: unfiltered), standardised and, with ``noise_amplitude``, mixed with noise of
    that amplitude spectrum, keeping a log-uniform share in ``[min_share, 1]`` of the variance. The noise and
    share of row ``i`` come from ``(seed, i, read_seed)``: the same read gives the same volume, whatever the
    thread or batch that makes it, and a fresh ``read_seed`` (:func:`data.augmentation_codes`) a fresh draw.
    """

    def __init__(self, x, transfer_filter=None, noise_amplitude=None, min_share=0.05, seed=0):
        self.x, self.transfer_filter, self.noise_amplitude = x, transfer_filter, noise_amplitude
        self.min_share, self.seed = float(min_share), int(seed)
        self.shape, self.dtype = tuple(x.shape), np.dtype(np.float32)
        self.ndim = len(self.shape)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, idx):
        rows = np.arange(self.shape[0])[idx]
        out = self.read(np.atleast_1d(rows), np.zeros(np.size(rows), np.int64))
        return out[0] if np.ndim(rows) == 0 else out

    def __array__(self, dtype=None, copy=None):  # np.asarray(view): the transferred volumes, not an object array
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def read(self, idx, read_seeds):
        """Rows ``idx`` (int array), the noise of row ``idx[j]`` drawn from ``read_seeds[j]``."""
        idx = np.asarray(idx, np.int64)
        shape = self.shape[1:]
        v = np.asarray(self.x[idx], np.float32)
        if self.transfer_filter is not None:
            v = np.fft.irfftn(np.fft.rfftn(v, axes=(1, 2, 3)) * self.transfer_filter, s=shape, axes=(1, 2, 3))
        v = standardize(np.asarray(v, np.float32))
        if self.noise_amplitude is None:
            return v
        share, white = np.empty(len(idx), np.float32), np.empty(v.shape, np.float32)
        for j, (i, r) in enumerate(zip(idx, np.asarray(read_seeds, np.int64))):
            rng = np.random.default_rng([self.seed, int(i), int(r)])
            share[j] = np.exp(rng.uniform(np.log(self.min_share), 0.0))
            white[j] = rng.standard_normal(shape, np.float32)
        noise = standardize(np.fft.irfftn(np.fft.rfftn(white, axes=(1, 2, 3)) * self.noise_amplitude, s=shape,
                                          axes=(1, 2, 3)).astype(np.float32))
        share = share[:, None, None, None]
        return standardize(np.sqrt(share) * v + np.sqrt(1.0 - share) * noise)


def source_as_target(source, target, target_rows, config):
    """The source's volumes as :class:`TransferredVolumes`, or ``source.x`` unchanged.

    The transfer needs ``config.ctf_transfer`` and both domains' CTFs: their acquisition parameters
    (:func:`acquisition_ctf`) or, per ``config.ctf_estimation``, the defoci estimated from the data
    (:func:`~aitom.classify.deep.fsft.ctf_estimation.estimate_ctf_pair` on the source and on ``target_rows``)
    when the fit holds; otherwise the source is read as stored, and FSFT runs as it did before this module
    (neither step helps alone: the module's docstring). ``config.source_noise_share`` (None: no noise)
    shapes the noise on up to :data:`SPECTRUM_ROWS` of ``target_rows`` (the shots and the unlabelled pool),
    drawn with ``config.seed``.

    Returns
    -------
    (volumes, info): ``info`` says what was applied, for the run's report.
    """
    info = {"ctf_transfer": False, "source_noise_share": None}
    if not config.ctf_transfer:
        return source.x, info
    target_rows = np.asarray(target_rows, np.int64)
    cs, ct, contrast = _domain_ctfs(source, target, target_rows, config, info)
    if cs is None or ct is None:
        return source.x, info
    h = contrast * ctf_transfer_filter(source.x.shape[1], cs, ct, config.ctf_epsilon)
    info["ctf_transfer"] = True
    amplitude = None
    if config.source_noise_share is not None and len(target_rows):
        rng = np.random.default_rng(config.seed)
        rows = rng.choice(target_rows, size=min(SPECTRUM_ROWS, len(target_rows)), replace=False)
        amplitude = mean_amplitude_spectrum(target.x, rows)
        info["source_noise_share"] = config.source_noise_share
    return TransferredVolumes(source.x, h, amplitude, config.source_noise_share or 1.0, config.seed), info


def _domain_ctfs(source, target, target_rows, config, info):
    """Source CTF, target CTF (None where unknown) and contrast sign, recorded or estimated per
    ``config.ctf_estimation``; the estimate, when one is made, goes into ``info['ctf_estimate']``."""
    cs, ct = acquisition_ctf(source), acquisition_ctf(target)
    if config.ctf_estimation == "always":
        cs = ct = None
    if (cs is not None and ct is not None) or config.ctf_estimation == "never" or not len(target_rows):
        return cs, ct, 1
    spacing = {v for v in (source.voxel_spacing_nm, target.voxel_spacing_nm) if v is not None}
    if len(spacing) > 1:
        info["ctf_estimate"] = {"use": False, "why": f"voxel sizes differ: {sorted(spacing)} nm"}
        return cs, ct, 1
    held = {k: v for k, v in (cs or ct or {}).items() if k in ("voltage", "Cs")}  # the known domain's microscope
    rng = np.random.default_rng([config.seed, 1])
    fit = estimate_ctf_pair(source.x, target.x, spacing.pop() if spacing else 1.0,
                            rng.permutation(len(source.x)), rng.permutation(target_rows), cs, ct, **held)
    info["ctf_estimate"] = {"source_Dz": fit["source"]["Dz"], "target_Dz": fit["target"]["Dz"],
                            "amplitude_contrast": fit["target"]["amplitude_contrast"], "contrast": fit["contrast"],
                            "delta_chi2": round(fit["delta_chi2"], 1), "use": fit["use"]}
    if not fit["use"]:
        return cs, ct, 1
    return fit["source"], fit["target"], fit["contrast"]
