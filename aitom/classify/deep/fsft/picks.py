"""Classify template-matching picks with a trained FSFT classifier (``aitom-fsft classify-picks``).

Every pick is cut out of its memory-mapped tomogram (:mod:`aitom.picking.extract`), rescaled to the
classifier's voxel size, standardised as in training and classified in streamed batches
(``tf.data`` -> ``model.predict``), tomogram by tomogram.

Output columns (added to every input column)
--------------------------------------------
``fsft_class``
    The most probable class; :data:`UNASSIGNED` (or ``"background"`` when the classifier has that class)
    when its probability is below ``threshold``; :data:`SKIPPED` for picks that were not cut.
``fsft_probability``
    Probability of the most probable class (NaN when skipped).
``fsft_p_<class>``
    One probability column per class of the classifier.
``fsft_skip_reason``
    ``""``, a key of :data:`aitom.picking.extract.SKIP_REASONS`, or :data:`NON_FINITE` (``"non_finite_voxels"``)
    when the cube holds NaN or infinite values (a damaged region of the tomogram, or padding with a
    tomogram mean that is not finite): such a cube has no meaningful class.

A classifier trained with a ``"background"`` class (negatives from
:func:`aitom.picking.extract.extract_background`) labels false picks ``"background"``; keep the rows whose
``fsft_class`` is a particle class to drop them.
"""
import os

import keras
import numpy as np
import pandas as pd
from tqdm import tqdm

from aitom.classify.deep.fsft.averaging import RotationAveraged
from aitom.classify.deep.fsft.classifier import softmax
from aitom.errors import InputError
from aitom.io.file import mrc_suffix, read_mrc_header
from aitom.classify.deep.fsft.streaming import subtomogram_dataset
from aitom.io.tomogram import open_tomogram
from aitom.picking.extract import plan_extraction, read_order, resolve_pad_value, tomogram_coordinates

BACKGROUND = "background"
UNASSIGNED = "unassigned"
SKIPPED = "skipped"
NON_FINITE = "non_finite_voxels"


def tomogram_aliases(path):
    """Names a particle list may use for the tomogram at ``path``.

    The file name, the name without its extension and, for RELION 5 reconstructions (``rec_<name>``),
    ``<name>``; e.g. ``/d/rec_TS_01.mrc`` -> ``{'rec_TS_01.mrc', 'rec_TS_01', 'TS_01'}``.
    """
    base = os.path.basename(os.fspath(path))
    stem = base[:len(base) - len(mrc_suffix(base))]
    return {base, stem, stem[len("rec_"):] if stem.startswith("rec_") else stem}


def tomogram_geometry(tomograms):
    """Shapes and voxel sizes (Å) of MRC tomograms from their headers, as ``read_particles`` takes them.

    Parameters
    ----------
    tomograms : list of str
        MRC paths.

    Returns
    -------
    shapes : tuple or dict
        With one tomogram its shape (for picks that name no tomogram); else a dict keyed by every name
        :func:`tomogram_aliases` gives each path.
    voxel_sizes : float, dict or None
        Likewise; tomograms whose header records no voxel size are left out.

    Examples
    --------
    >>> shapes, voxels = tomogram_geometry(["rec_TS_01.mrc", "rec_TS_02.mrc"])  # doctest: +SKIP
    >>> shapes["TS_01"], voxels["TS_01"]  # doctest: +SKIP
    ((928, 928, 464), 7.84)
    """
    headers = {path: read_mrc_header(path) for path in tomograms}
    if len(headers) == 1:
        (header,) = headers.values()
        return header["shape"], header["voxel_spacing_A"]
    shapes = {alias: h["shape"] for path, h in headers.items() for alias in tomogram_aliases(path)}
    voxels = {alias: h["voxel_spacing_A"] for path, h in headers.items() for alias in tomogram_aliases(path)
              if h["voxel_spacing_A"] is not None}
    return shapes, voxels or None


def group_by_tomogram(picks, tomograms):
    """Row indices of ``picks`` per tomogram path.

    Parameters
    ----------
    picks : pandas.DataFrame
        With a ``tomogram`` column (names may be missing when there is one tomogram).
    tomograms : list of str
        Tomogram paths.

    Returns
    -------
    dict of str to numpy.ndarray
        Path -> positional row indices, for the tomograms that have picks.

    Raises
    ------
    InputError
        If a pick names no given tomogram, or names are missing with several tomograms.
    """
    names = picks["tomogram"].to_numpy(dtype=object) if "tomogram" in picks else np.full(len(picks), None)
    missing = pd.isna(names)
    if len(tomograms) == 1 and missing.all():
        return {tomograms[0]: np.arange(len(picks))}
    if missing.any():
        raise InputError("picks", f"column 'tomogram' is empty in row {int(np.flatnonzero(missing)[0])}; with "
                                  "several tomograms every pick must name its tomogram")
    lookup = {}
    for path in tomograms:
        for alias in tomogram_aliases(path):
            lookup.setdefault(alias, path)
    unknown = sorted({n for n in names if n not in lookup})
    if unknown:
        raise InputError("picks", f"tomogram name(s) {', '.join(map(repr, unknown))} match no given tomogram "
                                  f"({', '.join(os.path.basename(t) for t in tomograms)})")
    paths = np.array([lookup[n] for n in names], dtype=object)
    return {path: np.flatnonzero(paths == path) for path in tomograms if (paths == path).any()}


def _inference_model(classifier, strategy):
    """The classifier's Keras model, cloned under ``strategy.scope()`` when a strategy is given, and
    rotation-averaged if the classifier is (:mod:`.averaging`)."""
    if strategy is None:
        model = classifier.model
    else:
        with strategy.scope():
            model = keras.models.clone_model(classifier.model)
            model.set_weights(classifier.model.get_weights())
    return RotationAveraged(model) if classifier.rotation_averaging else model


class _ProgressCallback(keras.callbacks.Callback):
    """Advance a tqdm bar by one batch after every prediction batch."""

    def __init__(self, bar, batch_size, total):
        super().__init__()
        self.bar, self.batch_size, self.total, self.done = bar, batch_size, total, 0

    def on_predict_batch_end(self, batch, logs=None):
        step = min(self.batch_size, self.total - self.done)
        self.done += step
        self.bar.update(step)


def classify_picks(tomograms, picks, classifier, batch_size=64, threshold=None, strategy=None, progress=True,
                   edge="pad", pad_value="mean"):
    """Classify every pick of one or more tomograms.

    Parameters
    ----------
    tomograms : str or list of str
        MRC tomogram paths (uncompressed, memory-mapped).
    picks : pandas.DataFrame
        Particle list with the canonical columns of :mod:`aitom.io.particles`; its ``tomogram`` names
        are matched to the paths by :func:`tomogram_aliases`.
    classifier : SubtomogramClassifier
    batch_size : int
        Subtomograms per inference batch.
    threshold : float, optional
        Picks whose top probability is below it get ``"background"`` (if a class) or ``"unassigned"``.
    strategy : tf.distribute.Strategy, optional
        Run inference under this strategy (the model is cloned in ``strategy.scope()``).
    progress : bool
        Show a progress bar over picks.
    edge : {'pad', 'skip'}
        Pad cubes that reach outside the tomogram, or skip those picks.
    pad_value : float or 'mean'
        Padding value (``'mean'``: the tomogram mean).

    Returns
    -------
    pandas.DataFrame
        ``picks`` with the ``fsft_*`` columns of the module docstring, same row order.

    Examples
    --------
    >>> from aitom.classify.deep.fsft import SubtomogramClassifier, classify_picks
    >>> from aitom.io.particles import read_particles
    >>> picks = read_particles("TS_01_picks.star")  # doctest: +SKIP
    >>> classifier = SubtomogramClassifier.load("runs/r1/classifier")  # doctest: +SKIP
    >>> out = classify_picks("TS_01.mrc", picks, classifier, threshold=0.5)  # doctest: +SKIP
    >>> out[out.fsft_class != "background"]  # doctest: +SKIP
    """
    if isinstance(tomograms, (str, os.PathLike)):
        tomograms = [tomograms]
    tomograms = [os.fspath(t) for t in tomograms]
    if batch_size < 1:
        raise InputError("batch_size", f"must be at least 1, got {batch_size!r}")
    if threshold is not None and not 0 <= threshold <= 1:
        raise InputError("threshold", f"must be a probability in [0, 1], got {threshold!r}")
    picks = picks.reset_index(drop=True)
    groups = group_by_tomogram(picks, tomograms)
    k = len(classifier.class_names)
    probabilities = np.full((len(picks), k), np.nan)
    reasons = np.full(len(picks), "", dtype=object)
    model = _inference_model(classifier, strategy)
    with tqdm(total=len(picks), disable=not progress, desc="classify picks", unit="pick") as bar:
        for path, rows in groups.items():
            with open_tomogram(path) as tomogram:
                probabilities[rows], reasons[rows] = classify_tomogram(
                    tomogram, picks.iloc[rows], classifier, model, batch_size, edge, pad_value, bar)
    return label_picks(picks, probabilities, reasons, classifier.class_names, threshold)


def classify_tomogram(tomogram, picks, classifier, model=None, batch_size=64, edge="pad", pad_value="mean", bar=None):
    """Class probabilities of the picks of one opened tomogram (the per-tomogram step of :func:`classify_picks`).

    Parameters
    ----------
    tomogram : aitom.io.tomogram.MappedTomogram or array-like tomogram
        Anything with ``shape`` ``(nx, ny, nz)``, ``voxel_size_A``, ``path``, ``mean()`` and ``[x, y, z]``
        slicing, e.g. :class:`aitom.io.copick_project.ZarrTomogram`; an optional ``chunks`` attribute sets
        the read order (:func:`aitom.picking.extract.read_order`).
    picks : pandas.DataFrame
        Picks of this tomogram, canonical columns.
    classifier : SubtomogramClassifier
    model : keras.Model, optional
        Model to run (default ``classifier.model``; :func:`classify_picks` passes a strategy clone).
    batch_size : int
    edge : {'pad', 'skip'}
    pad_value : float or 'mean'
    bar : tqdm, optional
        Advanced by one per pick.

    Returns
    -------
    probabilities : numpy.ndarray, shape (len(picks), n_classes)
        NaN rows for picks that were not cut.
    reasons : numpy.ndarray of str, shape (len(picks),)
        ``""`` or a key of :data:`aitom.picking.extract.SKIP_REASONS`.

    Examples
    --------
    >>> with open_tomogram("rec_TS_01.mrc") as tomogram:  # doctest: +SKIP
    ...     p, reasons = classify_tomogram(tomogram, picks, classifier)
    """
    model = classifier.model if model is None else model
    model_voxel_A = None if classifier.voxel_spacing_nm is None else classifier.voxel_spacing_nm * 10.0
    centres = tomogram_coordinates(picks, tomogram.voxel_size_A, source=tomogram.path)
    scale = (model_voxel_A / tomogram.voxel_size_A
             if model_voxel_A is not None and tomogram.voxel_size_A is not None else 1.0)
    probabilities = np.full((len(picks), len(classifier.class_names)), np.nan)
    mask, reasons = plan_extraction(tomogram.shape, centres, classifier.box_size, scale, edge)
    if bar is not None:
        bar.update(int((~mask).sum()))
    cut = np.flatnonzero(mask)
    if len(cut) == 0:
        return probabilities, reasons
    cut = cut[read_order(centres[cut], getattr(tomogram, "chunks", None))]
    finite = np.ones(len(cut), bool)
    dataset = subtomogram_dataset(tomogram, centres[cut], classifier.box_size, batch_size, scale,
                                  resolve_pad_value(tomogram, pad_value), finite=finite)
    callbacks = [] if bar is None else [_ProgressCallback(bar, batch_size, len(cut))]
    logits = model.predict(dataset, verbose=0, callbacks=callbacks)
    probabilities[cut] = softmax(np.asarray(logits, dtype=np.float64))
    probabilities[cut[~finite]] = np.nan  # the class of a cube with NaN or infinite voxels means nothing
    reasons[cut[~finite]] = NON_FINITE
    return probabilities, reasons


def label_picks(picks, probabilities, reasons, class_names, threshold=None):
    """``picks`` with the ``fsft_*`` columns of the module docstring added (a copy).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> out = label_picks(pd.DataFrame({"x_px": [1.0, 2.0]}), np.array([[0.9, 0.1], [0.4, 0.6]]),
    ...                   np.array(["", ""], dtype=object), ("a", "background"), threshold=0.7)
    >>> list(out["fsft_class"])
    ['a', 'background']
    """
    out = picks.copy()
    skipped = reasons != ""
    best = np.argmax(np.nan_to_num(probabilities, nan=-1.0), axis=1)
    top = probabilities[np.arange(len(picks)), best]
    labels = np.array(class_names, dtype=object)[best]
    if threshold is not None:
        labels[top < threshold] = BACKGROUND if BACKGROUND in class_names else UNASSIGNED
    labels[skipped] = SKIPPED
    out["fsft_class"] = labels
    out["fsft_probability"] = top
    for i, name in enumerate(class_names):
        out[f"fsft_p_{name}"] = probabilities[:, i]
    out["fsft_skip_reason"] = reasons
    return out

