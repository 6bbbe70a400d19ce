"""Simulated labelled subtomograms and two-domain (source/target) data sets for FSFT.

Each subtomogram is one class density, rotated uniformly at random (Haar measure on SO(3)) about the box
centre ``box // 2``, shifted by a uniform random offset, and passed through AITom's simple-convolution
reconstruction (:mod:`aitom.simulation.reconstruction.reconstruction__simple_convolution`: CTF, missing
wedge, noise at the requested SNR). Batches are computed in Fourier space: the spectra of the rotated, shifted
densities are evaluated on the reconstruction's band-limited support by
:class:`aitom.geometry.rotate.FourierRotator` and handed to ``SimpleConvolutionReconstructor.reconstruct_spectra``,
so each subtomogram costs one inverse FFT.

Volumes are returned as float32 in the reconstruction's own scale, *not* standardised (the FSFT loader
standardises each volume; keeping the raw scale keeps the intensity differences between acquisition settings
that domain adaptation is about).

Order and labels: class names are the sorted density keys, label ``k`` is ``class_names[k]``, and the
subtomograms come class by class, ``n_per_class`` each.

Randomness: the generator passed in is split (``rng.spawn(2)``) into a pose stream, from which all rotations
and shifts are drawn up front, and a noise stream, read batch after batch. The random draws therefore do
not depend on ``batch_size``: results are identical bit for bit for the same generator state,
``batch_size`` and ``workers``, and agree to float32 rounding otherwise. :func:`simulate_two_domain_dataset`
derives the two domains' generators from ``numpy.random.SeedSequence(seed).spawn(2)`` (source, target).
"""
import json
import os

import numpy as np
from tqdm import tqdm

from aitom.errors import InputError
from aitom.geometry.ang_loc import random_rotation_matrix
from aitom.geometry.rotate import FourierRotator
from aitom.image.optics import ctf as optics_ctf
from aitom.image.vol.util import fft_mid_co
from aitom.io.atomic import atomic_path
from aitom.io.dataset import DATASET_FILE, TWO_DOMAIN_FORMAT, VERSION, SubtomogramSet, SubtomogramSetWriter
from aitom.simulation.reconstruction.reconstruction__simple_convolution import SimpleConvolutionReconstructor

ACQUISITION_PRESETS = {
    "cs2.2mm_dz-10um": {"Cs": 2.2, "Dz": -10.0, "voltage": 300.0},
    "cs2.0mm_dz-5um": {"Cs": 2.0, "Dz": -5.0, "voltage": 300.0},
}
"""Microscope settings of the FSFT paper's two simulated domains: ``Cs`` spherical aberration (mm), ``Dz``
defocus (um, negative = underfocus), ``voltage`` (kV). No CTF envelope, no amplitude contrast (AITom's CTF).
A preset may also be given as such a dict, with the optional ``sigma`` (envelope, Nyquist units) and
``amplitude_contrast`` of :func:`aitom.image.optics.ctf.create`."""

DEFAULT_MISSING_WEDGE_ANGLE = 30.0
"""Missing-wedge half-angle in degrees (a +-60 degree tilt series)."""

DEFAULT_SHIFT_FRACTION = 0.05
"""Default largest shift per axis, as a fraction of the box edge (AITom's ``loc_proportion = 0.1``)."""

DEFAULT_BATCH_SIZE = 64


def acquisition_op(preset, snr, voxel_spacing_nm, missing_wedge_angle=DEFAULT_MISSING_WEDGE_ANGLE):
    """AITom ``op`` dict for a preset of :data:`ACQUISITION_PRESETS`.

    Parameters
    ----------
    preset : str or dict
        Key of :data:`ACQUISITION_PRESETS`, or a dict of the same keys (``Cs``, ``Dz``, ``voltage``; optional
        ``sigma``, ``amplitude_contrast``).
    snr : float or None
        SNR as defined in :mod:`aitom.simulation.reconstruction.reconstruction__simple_convolution`; None or
        inf for no noise.
    voxel_spacing_nm : float
        Voxel edge in nm (the CTF's ``pix_size``).
    missing_wedge_angle : float
        Degrees.

    Returns
    -------
    dict
        ``{'model': {'missing_wedge_angle', 'SNR'}, 'ctf': {'pix_size', 'Cs', 'Dz', 'voltage'}}``.
    """
    if snr is not None and not (isinstance(snr, (int, float, np.floating)) and snr > 0):
        raise InputError("snr", f"must be a positive number (inf or None: no noise), got {snr!r}")
    snr = None if snr is None or np.isinf(snr) else float(snr)
    return {"model": {"missing_wedge_angle": float(missing_wedge_angle), "SNR": snr},
            "ctf": {"pix_size": float(voxel_spacing_nm), **preset_ctf(preset)}}


def preset_ctf(preset):
    """The CTF parameters of ``preset`` (a key of :data:`ACQUISITION_PRESETS` or a dict of its form)."""
    if isinstance(preset, dict):
        if set(preset) - set(optics_ctf.OP_OPTIONAL) != set(optics_ctf.OP_KEYS):
            raise InputError("preset", f"a preset dict needs {', '.join(optics_ctf.OP_KEYS)} (optional "
                                       f"{', '.join(optics_ctf.OP_OPTIONAL)}), got {sorted(preset)}")
        try:
            return {k: float(v) for k, v in preset.items() if v is not None}
        except (TypeError, ValueError):
            raise InputError("preset", f"CTF parameters must be numbers, got {preset!r}") from None
    if preset not in ACQUISITION_PRESETS:
        raise InputError("preset", f"unknown acquisition preset {preset!r}; known: {', '.join(ACQUISITION_PRESETS)}")
    return dict(ACQUISITION_PRESETS[preset])


def _stack_densities(densities):
    """Sorted class names and an (n_classes, s, s, s) float32 stack of the densities."""
    if not isinstance(densities, dict) or not densities:
        raise InputError("densities", "expected a non-empty dict of class name -> density (s, s, s)")
    class_names = sorted(densities)
    if not all(isinstance(name, str) for name in class_names):
        raise InputError("densities", f"class names must be str, got {class_names!r}")
    stack = []
    for name in class_names:
        v = np.asarray(densities[name])
        if v.ndim != 3 or len(set(v.shape)) != 1 or v.dtype.kind not in "fiu":
            raise InputError(f"densities[{name!r}]", f"expected a real cubic volume, got {v.dtype} {v.shape}")
        if stack and v.shape != stack[0].shape:
            raise InputError(f"densities[{name!r}]", f"shape {v.shape} differs from {stack[0].shape} of "
                                                     f"{class_names[0]!r}")
        if not np.all(np.isfinite(v)):
            raise InputError(f"densities[{name!r}]", "holds NaN or infinite values")
        stack.append(v.astype(np.float32))
    return class_names, np.stack(stack)


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(name, f"must be a positive integer, got {value!r}")
    return int(value)


def iter_subtomogram_batches(densities, n_per_class, op, rng, batch_size=DEFAULT_BATCH_SIZE, max_shift_nm=None,
                             noise_model="calibrated", progress=False, workers=None):
    """Simulate subtomograms batch by batch (see the module docstring for order and randomness).

    Parameters
    ----------
    densities : dict of str to array_like, each shape (s, s, s)
        Class name -> density indexed ``[x, y, z]`` centred on voxel ``s // 2``.
    n_per_class : int
        Subtomograms per class.
    op : dict
        AITom ``op`` (see :func:`acquisition_op`); ``op['ctf']['pix_size']`` is the voxel size in nm.
    rng : numpy.random.Generator
    batch_size : int
        Subtomograms per batch (memory: about 20 bytes per voxel of a batch).
    max_shift_nm : float, optional
        Largest shift per axis in nm; shifts are uniform in ``[-max_shift_nm, max_shift_nm]^3``. Default
        :data:`DEFAULT_SHIFT_FRACTION` of the box edge.
    noise_model : {'calibrated', 'aitom'}
        See :mod:`aitom.simulation.reconstruction.reconstruction__simple_convolution`.
    progress : bool
        Show a tqdm bar.
    workers : int, optional
        Threads for ``scipy.fft`` (-1: one per CPU).

    Yields
    ------
    start : int
        Index of the batch's first subtomogram.
    x : numpy.ndarray, shape (b, s, s, s), float32
    y : numpy.ndarray, shape (b,), int64
    """
    class_names, stack = _stack_densities(densities)
    n_per_class = _positive_int(n_per_class, "n_per_class")
    batch_size = _positive_int(batch_size, "batch_size")
    if not isinstance(rng, np.random.Generator):
        raise InputError("rng", f"expected a numpy.random.Generator, got {type(rng).__name__}")
    box = stack.shape[1]
    reconstructor = SimpleConvolutionReconstructor.create(stack.shape[1:], op, noise_model=noise_model)
    voxel_nm = float(op["ctf"]["pix_size"])
    max_shift_vox = DEFAULT_SHIFT_FRACTION * box if max_shift_nm is None else float(max_shift_nm) / voxel_nm
    if not 0 <= max_shift_vox < box / 2:
        raise InputError("max_shift_nm", f"must be in [0, {box / 2 * voxel_nm:g}) nm for this box, "
                                         f"got {max_shift_nm!r}")
    n = len(class_names) * n_per_class
    labels = np.repeat(np.arange(len(class_names), dtype=np.int64), n_per_class)
    pose_rng, noise_rng = rng.spawn(2)
    rotations = random_rotation_matrix(pose_rng, n)
    shifts = pose_rng.uniform(-max_shift_vox, max_shift_vox, size=(n, 3))
    rotator = FourierRotator(stack, reconstructor.max_frequency, center=fft_mid_co(stack.shape[1:]))
    with tqdm(total=n, disable=not progress, unit="subtomogram") as bar:
        for start in range(0, n, batch_size):
            sl = slice(start, min(start + batch_size, n))
            v_sup = rotator.spectra(labels[sl], rotations[sl], reconstructor.frequencies, loc_r=shifts[sl])
            x = reconstructor.reconstruct_spectra(v_sup, rng=noise_rng, workers=workers)
            bar.update(len(x))
            yield start, x, labels[sl]


def simulate_subtomograms(densities, n_per_class, op, rng, batch_size=DEFAULT_BATCH_SIZE, max_shift_nm=None,
                          noise_model="calibrated", progress=False, workers=None):
    """Simulate a labelled set of subtomograms in memory.

    Parameters are those of :func:`iter_subtomogram_batches`.

    Returns
    -------
    aitom.io.dataset.SubtomogramSet
        ``x`` (n_classes * n_per_class, s, s, s) float32, ``y`` int64, ``class_names`` sorted,
        ``voxel_spacing_nm = op['ctf']['pix_size']``, ``meta = {'op': op, 'noise_model': ...,
        'max_shift_nm': ...}``.
    """
    class_names, _ = _stack_densities(densities)
    batches = list(iter_subtomogram_batches(densities, n_per_class, op, rng, batch_size=batch_size,
                                            max_shift_nm=max_shift_nm, noise_model=noise_model,
                                            progress=progress, workers=workers))
    x = np.concatenate([b[1] for b in batches])
    y = np.concatenate([b[2] for b in batches])
    meta = {"op": op, "noise_model": noise_model, "max_shift_nm": max_shift_nm}
    return SubtomogramSet(x, y, class_names, voxel_spacing_nm=float(op["ctf"]["pix_size"]), meta=meta)


def simulate_two_domain_dataset(out_dir, densities, n_per_class, box_size, voxel_spacing_nm, source_snr, target_snr,
                                source_preset, target_preset, missing_wedge_angle=DEFAULT_MISSING_WEDGE_ANGLE,
                                seed=0, max_shift_nm=None, noise_model="calibrated",
                                batch_size=DEFAULT_BATCH_SIZE, progress=False, workers=None):
    """Simulate a source and a target domain from the same densities and stream them to disk.

    Writes ``out_dir/source/`` and ``out_dir/target/`` with :class:`aitom.io.dataset.SubtomogramSetWriter`
    and ``out_dir/dataset.json`` (readable by :func:`aitom.io.dataset.load_two_domain`); the whole folder
    appears atomically. The same arguments (seed included) give identical arrays.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Destination folder; an existing two-domain folder there is replaced, any other path is refused.
    densities : dict of str to array_like, each shape (box_size,) * 3
        Class name -> density (for instance :func:`aitom.structure.load_default_densities`).
    n_per_class : int or (int, int)
        Subtomograms per class and domain, or per class for (source, target): a benchmark wants more
        target subtomograms (a test set, an unlabelled pool and the labelled reference) than source ones.
    box_size : int
        Box edge in voxels; every density must have this size.
    voxel_spacing_nm : float
        Voxel edge in nm.
    source_snr, target_snr : float
        SNR of each domain (see ``doc/simulation.md``).
    source_preset, target_preset : str or dict
        Keys of :data:`ACQUISITION_PRESETS`, or dicts of their form (:func:`acquisition_op`).
    missing_wedge_angle : float
        Degrees, both domains.
    seed : int
        Seed of ``numpy.random.SeedSequence``; its two spawned children drive source and target.
    max_shift_nm, noise_model, batch_size, progress, workers
        See :func:`iter_subtomogram_batches`.

    Returns
    -------
    dict
        The ``meta`` recorded in ``dataset.json``: every parameter, the class names and each domain's ``op``.
    """
    box_size = _positive_int(box_size, "box_size")
    class_names, stack = _stack_densities(densities)
    if stack.shape[1:] != (box_size,) * 3:
        raise InputError("densities", f"volumes of shape {stack.shape[1:]} do not match box_size {box_size}")
    out_dir = os.fspath(out_dir)
    if os.path.lexists(out_dir) and not os.path.isfile(os.path.join(out_dir, DATASET_FILE)):
        raise InputError(out_dir, "exists and is not a two-domain data set folder; refusing to replace it")
    counts = tuple(n_per_class) if isinstance(n_per_class, (tuple, list)) else (n_per_class, n_per_class)
    if len(counts) != 2:
        raise InputError("n_per_class", f"must be an int or a (source, target) pair, got {n_per_class!r}")
    counts = {d: _positive_int(c, "n_per_class") for d, c in zip(("source", "target"), counts)}
    n_per_class = counts["source"] if counts["source"] == counts["target"] else [counts["source"], counts["target"]]
    ops = {"source": acquisition_op(source_preset, source_snr, voxel_spacing_nm, missing_wedge_angle),
           "target": acquisition_op(target_preset, target_snr, voxel_spacing_nm, missing_wedge_angle)}
    meta = {
        "generator": "aitom.simulation.dataset.simulate_two_domain_dataset",
        "parameters": {"n_per_class": n_per_class, "box_size": box_size, "voxel_spacing_nm": float(voxel_spacing_nm),
                       "source_snr": ops["source"]["model"]["SNR"], "target_snr": ops["target"]["model"]["SNR"],
                       "source_preset": source_preset,
                       "target_preset": target_preset, "missing_wedge_angle": float(missing_wedge_angle),
                       "seed": seed, "max_shift_nm": max_shift_nm, "noise_model": noise_model,
                       "batch_size": batch_size},
        "seeding": "numpy.random.SeedSequence(seed).spawn(2) -> (source, target) default_rng; each split by "
                   "rng.spawn(2) into (poses, noise)",
        "standardized": False,
        "presets": {"source": preset_ctf(source_preset), "target": preset_ctf(target_preset)},
        "ops": ops,
    }
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2)]
    with atomic_path(out_dir) as tmp:
        os.makedirs(tmp)
        for (domain, op), rng in zip(ops.items(), rngs):
            domain_meta = {"domain": domain, "op": op, "noise_model": noise_model, "max_shift_nm": max_shift_nm}
            n = len(class_names) * counts[domain]
            with SubtomogramSetWriter(os.path.join(tmp, domain), n, box_size, class_names,
                                      voxel_spacing_nm=float(voxel_spacing_nm), meta=domain_meta) as writer:
                for start, x, y in iter_subtomogram_batches(densities, counts[domain], op, rng, batch_size=batch_size,
                                                            max_shift_nm=max_shift_nm, noise_model=noise_model,
                                                            progress=progress, workers=workers):
                    writer.write(start, x, y)
        with open(os.path.join(tmp, DATASET_FILE), "w", encoding="utf-8") as f:
            json.dump({"format": TWO_DOMAIN_FORMAT, "version": VERSION, "domains": ["source", "target"],
                       "class_names": class_names, "meta": meta}, f, indent=2)
            f.write("\n")
    return meta
