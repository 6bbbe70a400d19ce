"""Volume helpers: grids, centres, sphere masks and slice mosaics (AITom ``image.vol.util``).

Volumes are indexed ``v[x, y, z]``. Two centres are in use:

* the real-space symmetry centre ``(shape - 1) / 2`` (default of :func:`sphere_mask` and of
  :func:`grid_displacement_to_center`), and
* the zero-frequency index of an ``fftshift``-ed spectrum, :func:`fft_mid_co` ``= shape // 2``; masks that
  act on spectra must be centred there to be symmetric under ``k -> -k``.
"""
import numpy as np

from aitom.errors import InputError


def _shape(size, name="size"):
    size = np.asarray(size)
    if size.ndim != 1 or size.size not in (2, 3) or np.any(size % 1) or np.any(size < 1):
        raise InputError(name, f"expected 2 or 3 positive integers, got {size!r}")
    return tuple(int(s) for s in size)


def fft_mid_co(siz):
    """Index of the zero frequency after ``numpy.fft.fftshift``: ``floor(siz / 2)``.

    Parameters
    ----------
    siz : sequence of int, length 2 or 3

    Returns
    -------
    numpy.ndarray, shape (len(siz),), float64
    """
    return np.floor(np.array(_shape(siz, "siz"), dtype=np.float64) / 2.0)


def rfft_layout(h):
    """An ``fftshift``-ed filter (zero frequency at :func:`fft_mid_co`, symmetric under ``k -> -k``, as
    :func:`aitom.image.optics.ctf.create` makes) in ``numpy.fft.rfftn`` layout: unshifted, last axis halved."""
    return np.fft.ifftshift(h)[..., : h.shape[-1] // 2 + 1]


def grid_displacement_to_center(size, mid_co=None):
    """Displacement of every voxel from a centre.

    Parameters
    ----------
    size : sequence of int, length 2 or 3
    mid_co : array_like, optional
        Centre in voxels; default ``(size - 1) / 2``.

    Returns
    -------
    numpy.ndarray, shape (len(size), *size), float64
        ``g[d][i] = i_d - mid_co[d]``.
    """
    size = _shape(size)
    mid_co = (np.array(size, dtype=np.float64) - 1) / 2.0 if mid_co is None else np.asarray(mid_co, float)
    if mid_co.shape != (len(size),):
        raise InputError("mid_co", f"expected {len(size)} coordinates, got {mid_co!r}")
    grid = np.indices(size, dtype=np.float64)
    grid -= mid_co.reshape((-1,) + (1,) * len(size))
    return grid


def grid_distance_to_center(grid):
    """Euclidean length of each displacement of :func:`grid_displacement_to_center`.

    Parameters
    ----------
    grid : numpy.ndarray, shape (d, *size)

    Returns
    -------
    numpy.ndarray, shape size
    """
    return np.sqrt(np.sum(np.square(grid), axis=0))


def sphere_mask(shape, center=None, radius=None, smooth_sigma=None):
    """Ball mask, optionally with a Gaussian edge (AITom ``model.util.sphere_mask``).

    Parameters
    ----------
    shape : sequence of int, length 2 or 3
    center : array_like, optional
        Centre in voxels; default ``(shape - 1) / 2``. Use :func:`fft_mid_co` for spectra.
    radius : float, optional
        Radius in voxels; default ``min(shape) / 2``.
    smooth_sigma : float, optional
        If given, voxels at distance ``d > radius`` get ``exp(-((d - radius) / smooth_sigma) ** 2)``, set to 0
        where that is below ``exp(-3)``; otherwise the edge is hard.

    Returns
    -------
    numpy.ndarray, shape shape, float64
        1 inside the ball (``d <= radius``), 0 (or the Gaussian edge) outside.
    """
    shape = _shape(shape, "shape")
    radius = min(shape) / 2.0 if radius is None else float(radius)
    dist = grid_distance_to_center(grid_displacement_to_center(shape, mid_co=center))
    mask = (dist <= radius).astype(np.float64)
    if smooth_sigma is not None:
        if not smooth_sigma > 0:
            raise InputError("smooth_sigma", f"must be positive, got {smooth_sigma!r}")
        edge = np.exp(-(((dist - radius) / smooth_sigma) ** 2))
        edge[edge < np.exp(-3.0)] = 0.0
        outside = dist > radius
        mask[outside] = edge[outside]
    return mask


def cub_img(v, view_dir=2):
    """Mosaic of all slices of a volume, for display.

    Parameters
    ----------
    v : array_like, shape (x, y, z)
    view_dir : {0, 1, 2}
        Axis along which slices are taken; the slice axes are cyclic as in AITom: 0 gives ``v[k, :, :]``
        (y, z), 1 gives ``v[:, k, :].T`` (z, x), 2 gives ``v[:, :, k]`` (x, y).

    Returns
    -------
    dict
        ``'im'``: 2-D float64 image, slices in row-major order on a square grid separated by one row/column
        of NaN, scaled to [0, 1] (unless constant); ``'vt'``: the volume transposed so slices run along its
        last axis.
    """
    v = np.asarray(v, dtype=np.float64)
    if v.ndim != 3:
        raise InputError("v", f"expected a 3-D volume, got shape {v.shape}")
    if view_dir not in (0, 1, 2):
        raise InputError("view_dir", f"must be 0, 1 or 2, got {view_dir!r}")
    vt = np.transpose(v, ([1, 2, 0], [2, 0, 1], [0, 1, 2])[view_dir])
    rows, cols, n = vt.shape
    side = int(np.ceil(np.sqrt(n)))
    im = np.full(((rows + 1) * side, (cols + 1) * side), np.nan)
    for k in range(n):
        i, j = divmod(k, side)
        im[i * (rows + 1):i * (rows + 1) + rows, j * (cols + 1):j * (cols + 1) + cols] = vt[:, :, k]
    lo, hi = np.nanmin(im), np.nanmax(im)
    if hi > lo:
        im = (im - lo) / (hi - lo)
    return {"im": im, "vt": vt}
