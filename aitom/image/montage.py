"""PNG montages of subtomogram central slices, one row per class."""
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from aitom.errors import InputError
from aitom.io.atomic import atomic_open


def save_class_montage(x, y, class_names, path, n_per_class=8, axis=2, dpi=100):
    """Save a grid of central slices: one row per class, its first ``n_per_class`` subtomograms.

    Each slice is shown with its own grey scale (2nd to 98th percentile). Rendered with matplotlib's Agg
    canvas (no pyplot, no global backend change) and written atomically.

    Parameters
    ----------
    x : array_like, shape (n, s, s, s)
        Subtomograms indexed ``[i, x, y, z]`` (a memmap is fine: only the slices shown are read).
    y : array_like, shape (n,), int
        Label ids into ``class_names``; other ids (e.g. -1) are skipped.
    class_names : sequence of str
    path : str or os.PathLike
        Output PNG file.
    n_per_class : int
        Columns (at most the largest class size); classes with fewer subtomograms leave empty frames.
    axis : {0, 1, 2}
        Slice normal: 2 shows ``v[:, :, s // 2]`` with x down and y across.
    dpi : int

    Returns
    -------
    str
        ``path``.
    """
    y = np.asarray(y)
    if np.ndim(x) != 4 or y.shape != (len(x),):
        raise InputError("x, y", f"expected (n, s, s, s) volumes and (n,) labels, got {np.shape(x)} and {y.shape}")
    if axis not in (0, 1, 2):
        raise InputError("axis", f"must be 0, 1 or 2, got {axis!r}")
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, (int, np.integer)) or n_per_class < 1:
        raise InputError("n_per_class", f"must be a positive integer, got {n_per_class!r}")
    class_names = list(class_names)
    if not class_names:
        raise InputError("class_names", "no classes")
    mid = x.shape[1 + axis] // 2
    counts = [np.count_nonzero(y == k) for k in range(len(class_names))]
    rows, cols = len(class_names), max(1, min(int(n_per_class), max(counts)))
    fig = Figure(figsize=(1.1 * cols + 1.4, 1.1 * rows + 0.2), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    for k, name in enumerate(class_names):
        members = np.flatnonzero(y == k)[:cols]
        for j, ax in enumerate(axes[k]):
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
            if j < len(members):
                im = np.take(np.asarray(x[members[j]]), mid, axis=axis)
                lo, hi = np.percentile(im, [2, 98])
                ax.imshow(im, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1, interpolation="nearest")
    fig.subplots_adjust(left=1.3 / (1.1 * cols + 1.4), right=0.99, top=0.99, bottom=0.01, wspace=0.05,
                        hspace=0.05)
    path = os.fspath(path)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png")
    return path
