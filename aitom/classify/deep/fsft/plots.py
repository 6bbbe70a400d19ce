"""PNG figures: confusion matrices and training curves.

Figures are drawn on a :class:`matplotlib.figure.Figure` with its own Agg canvas, as
:mod:`aitom.image.montage` does: no pyplot, no change of the user's matplotlib backend, nothing kept open
after a figure is written. Files are written atomically.
"""
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from aitom.io.atomic import atomic_path


def subplots(nrows=1, ncols=1, figsize=None, constrained_layout=False, **kwargs):
    """A figure with an Agg canvas and a grid of axes, like ``pyplot.subplots`` without pyplot.

    Parameters
    ----------
    nrows, ncols : int
        Grid of axes.
    figsize : tuple of 2 float, optional
        Width and height in inches.
    constrained_layout : bool
        Use matplotlib's constrained layout.
    **kwargs
        Passed to :meth:`matplotlib.figure.Figure.subplots` (e.g. ``squeeze=False``).

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : matplotlib.axes.Axes or numpy.ndarray of Axes

    Examples
    --------
    >>> from aitom.classify.deep.fsft.plots import subplots
    >>> fig, axes = subplots(1, 2, figsize=(6, 3))
    >>> axes.shape
    (2,)
    """
    fig = Figure(figsize=figsize, layout="constrained" if constrained_layout else None)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def save_figure(fig, path):
    """Write ``fig`` as a PNG (120 dpi, tight bounding box), atomically.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or os.PathLike

    Returns
    -------
    str or os.PathLike
        ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> from aitom.classify.deep.fsft.plots import save_figure, subplots
    >>> fig, ax = subplots()
    >>> _ = ax.plot([0, 1], [1, 0])
    >>> path = save_figure(fig, os.path.join(tempfile.mkdtemp(), "line.png"))
    >>> open(path, "rb").read(4)
    b'\\x89PNG'
    """
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return path


def save_confusion_matrix(cm, class_names, path, title="Confusion matrix"):
    """Row-normalised confusion matrix (rows: true class) with counts in the cells.

    Parameters
    ----------
    cm : array_like, shape (k, k), int
        Counts, ``cm[true, predicted]``.
    class_names : sequence of str, length k
    path : str or os.PathLike
        Output PNG file.
    title : str

    Returns
    -------
    str or os.PathLike
        ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> from aitom.classify.deep.fsft.plots import save_confusion_matrix
    >>> path = save_confusion_matrix([[3, 1], [0, 4]], ["a", "b"], os.path.join(tempfile.mkdtemp(), "cm.png"))
    >>> os.path.getsize(path) > 0
    True
    """
    cm = np.asarray(cm)
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    k = len(class_names)
    fig, ax = subplots(figsize=(1.0 + 0.55 * k, 0.8 + 0.5 * k))
    im = ax.imshow(rates, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if rates[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return save_figure(fig, path)


def save_training_curves(histories, path):
    """One panel per stage, every recorded per-epoch quantity against the epoch.

    Parameters
    ----------
    histories : dict of str to dict of str to list of float
        Stage -> quantity -> one value per epoch (``FSFTResult.history``); empty stages are left out.
    path : str or os.PathLike
        Output PNG file; its folder is created.

    Returns
    -------
    str or os.PathLike
        ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> from aitom.classify.deep.fsft.plots import save_training_curves
    >>> history = {"1": {"loss": [2.3, 1.1, 0.7]}, "3": {}}
    >>> path = save_training_curves(history, os.path.join(tempfile.mkdtemp(), "curves", "c.png"))
    >>> os.path.isfile(path)
    True
    """
    stages = [s for s in histories if histories[s]]
    fig, axes = subplots(1, max(len(stages), 1), figsize=(4.2 * max(len(stages), 1), 3.2), squeeze=False)
    for ax, stage in zip(axes[0], stages):
        for key, values in histories[stage].items():
            ax.plot(np.arange(1, len(values) + 1), values, label=key, marker="." if len(values) < 30 else None)
        ax.set_title(f"stage {stage}")
        ax.set_xlabel("epoch")
        ax.set_yscale("symlog", linthresh=1e-2)
        ax.legend(fontsize=7)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return save_figure(fig, path)
