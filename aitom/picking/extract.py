"""Cut subtomograms out of a tomogram at picked positions, without loading the tomogram.

Geometry
--------
A tomogram is an array indexed ``v[x, y, z]`` (a memory-mapped MRC from
:func:`aitom.io.tomogram.open_tomogram`, or any array). A centre ``c`` (tomogram voxels, 0-based, voxel
centres at integers) gives the cube ``u`` with ``u[k] = v(c + (k - box_size // 2) * scale)`` for
``k = 0 .. box_size - 1`` per axis, so the particle sits at index ``box_size // 2`` of the cube, as in
AITom's ``cut_from_whole_map``. ``scale`` is the model's voxel size divided by the tomogram's:

* ``scale == 1``: the centre is rounded to the nearest voxel and the cube is a plain copy of the
  tomogram region (no interpolation), so it is centred within half a voxel.
* ``scale != 1``: the region ``box_size * scale`` voxels wide is read, low-pass filtered when it is
  shrunk (Gaussian, sigma ``(scale - 1) / 2`` voxels, against aliasing) and sampled trilinearly on the grid
  above.

Edges
-----
A pick whose cube reaches outside the tomogram is either padded (``edge='pad'``, with the tomogram mean or
a given value) or skipped (``edge='skip'``). Picks with non-finite coordinates, or whose centre lies
outside the tomogram, are always skipped. :func:`plan_extraction` returns the mask of picks that are cut
and a reason code for each skipped one (:data:`SKIP_REASONS`).

Memory
------
Only the region of each cube is read from the memory map; nothing holds the whole tomogram. Batches of
standardised cubes for a network are streamed by
:func:`aitom.classify.deep.fsft.streaming.subtomogram_dataset`.
"""
import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from aitom.errors import InputError
from aitom.io.particles import COORDINATE_COLUMNS
from aitom.io.tomogram import tomogram_array

EDGE_MODES = ("pad", "skip")
SKIP_REASONS = {
    "invalid_coordinate": "a coordinate is not a finite number",
    "outside_tomogram": "the centre lies outside the tomogram",
    "box_crosses_edge": "the box reaches outside the tomogram (edge='skip')",
}
_UNIT_SCALE_TOLERANCE = 1e-6


def tomogram_coordinates(particles, voxel_size_A, source="particles"):
    """Centres of picks in tomogram voxels.

    Parameters
    ----------
    particles : pandas.DataFrame
        Canonical columns ``x_px, y_px, z_px`` and optionally ``pixel_size_A`` (see
        :mod:`aitom.io.particles`).
    voxel_size_A : float or None
        Tomogram voxel size (Å).
    source : str
        Named in errors (e.g. the tomogram path).

    Returns
    -------
    numpy.ndarray, shape (n, 3), float64
        ``x_px * pixel_size_A / voxel_size_A`` per axis; coordinates without a pixel size are taken to be
        tomogram voxels already.

    Raises
    ------
    InputError
        If picks carry a pixel size but the tomogram has no voxel size to convert to.
    """
    xyz = particles[list(COORDINATE_COLUMNS)].to_numpy(dtype=float)
    if "pixel_size_A" not in particles:
        return xyz
    pixel = particles["pixel_size_A"].to_numpy(dtype=float)
    known = np.isfinite(pixel)
    if known.any() and voxel_size_A is None:
        raise InputError(source, "the header records no voxel size, so pick coordinates given in "
                                 f"{pixel[known][0]} Å pixels cannot be converted to its voxels")
    factor = np.where(known, pixel / (voxel_size_A or 1.0), 1.0)
    return xyz * factor[:, None]


def plan_extraction(shape, centres, box_size, scale=1.0, edge="pad"):
    """Decide which picks are cut.

    Parameters
    ----------
    shape : tuple of 3 int
        Tomogram shape ``(nx, ny, nz)``.
    centres : array_like, shape (n, 3)
        Centres in tomogram voxels.
    box_size : int
        Cube edge (model voxels).
    scale : float
        Model voxel size / tomogram voxel size.
    edge : {'pad', 'skip'}
        What to do with cubes that reach outside the tomogram.

    Returns
    -------
    mask : numpy.ndarray of bool, shape (n,)
        True for picks that are cut.
    reasons : numpy.ndarray of str, shape (n,)
        ``''`` for cut picks, else a key of :data:`SKIP_REASONS`.
    """
    if edge not in EDGE_MODES:
        raise InputError("edge", f"expected one of {EDGE_MODES}, got {edge!r}")
    centres = np.asarray(centres, dtype=float).reshape(-1, 3)
    scale = _checked_scale(scale)
    size = np.asarray(shape, dtype=float)
    reasons = np.full(len(centres), "", dtype=object)
    finite = np.isfinite(centres).all(axis=1)
    safe = np.where(finite[:, None], centres, 0.0)
    inside = finite & ((safe > -0.5) & (safe < size - 0.5)).all(axis=1)
    lo, hi = _support(safe, box_size, scale)
    within = ((lo >= 0) & (hi <= size - 1)).all(axis=1)
    if edge == "skip":
        reasons[inside & ~within] = "box_crosses_edge"
    reasons[finite & ~inside] = "outside_tomogram"
    reasons[~finite] = "invalid_coordinate"
    return reasons == "", reasons


def _checked_scale(scale):
    """``scale`` as a positive float, exactly 1 when within 1e-6 of it (voxel sizes from headers and
    metadata rarely divide to exactly 1)."""
    scale = float(scale)
    if not (np.isfinite(scale) and scale > 0):
        raise InputError("scale", f"must be a positive number, got {scale!r}")
    return 1.0 if abs(scale - 1.0) < _UNIT_SCALE_TOLERANCE else scale


def _support(centres, box_size, scale):
    """Lowest and highest tomogram voxel each cube reads, per axis (arrays (n, 3))."""
    if scale == 1:
        start = np.rint(centres) - box_size // 2
        return start, start + box_size - 1
    offsets = (np.array([0, box_size - 1]) - box_size // 2) * scale
    return np.floor(centres + offsets[0]), np.ceil(centres + offsets[1])


def extract_subtomogram(tomogram, centre, box_size, scale=1.0, pad_value=0.0):
    """Cut one cube (see the module docstring for the geometry).

    Parameters
    ----------
    tomogram : array_like, shape (nx, ny, nz)
        ``[x, y, z]`` volume, e.g. :attr:`aitom.io.tomogram.MappedTomogram.data`.
    centre : array_like, shape (3,)
        Centre in tomogram voxels.
    box_size : int
        Output cube edge.
    scale : float
        Model voxel size / tomogram voxel size.
    pad_value : float
        Value of voxels outside the tomogram.

    Returns
    -------
    numpy.ndarray, shape (box_size,) * 3, float32
    """
    centre = np.asarray(centre, dtype=float)
    scale = _checked_scale(scale)
    if scale == 1:
        start = np.rint(centre).astype(int) - box_size // 2
        return _read_region(tomogram, start, start + box_size, pad_value)
    sigma = max(0.0, (scale - 1.0) / 2.0)
    margin = int(np.ceil(4 * sigma)) + 1
    lo, hi = _support(centre[None], box_size, scale)
    start = lo[0].astype(int) - margin
    region = _read_region(tomogram, start, hi[0].astype(int) + 1 + margin, pad_value)
    if sigma > 0:
        region = ndimage.gaussian_filter(region, sigma, mode="nearest")
    axis = (np.arange(box_size) - box_size // 2) * scale
    grid = np.stack(np.meshgrid(*(centre[d] + axis - start[d] for d in range(3)), indexing="ij"))
    return ndimage.map_coordinates(region, grid, order=1, mode="nearest").astype(np.float32)


def _read_region(tomogram, start, stop, pad_value):
    """``tomogram[start:stop]`` as float32, with ``pad_value`` where the box leaves the tomogram."""
    size = np.asarray(stop) - np.asarray(start)
    out = np.full(tuple(size), pad_value, dtype=np.float32)
    src_lo = np.maximum(start, 0)
    src_hi = np.minimum(stop, tomogram.shape)
    if np.all(src_hi > src_lo):
        dst = tuple(slice(a - s, b - s) for a, b, s in zip(src_lo, src_hi, start))
        out[dst] = tomogram[tuple(slice(a, b) for a, b in zip(src_lo, src_hi))]
    return out


def resolve_pad_value(tomogram, pad_value):
    """``pad_value`` as a float; ``'mean'`` is the tomogram mean (:meth:`aitom.io.tomogram.MappedTomogram.mean`
    or array mean)."""
    if isinstance(pad_value, str):
        if pad_value != "mean":
            raise InputError("pad_value", f"expected a number or 'mean', got {pad_value!r}")
        return float(tomogram.mean())
    return float(pad_value)


def extract_subtomograms(tomogram, centres, box_size, scale=1.0, edge="pad", pad_value="mean"):
    """Cut the cubes of many picks.

    Parameters
    ----------
    tomogram : aitom.io.tomogram.MappedTomogram or array_like
        Memory-mapped tomogram (from :func:`aitom.io.tomogram.open_tomogram`) or an ``[x, y, z]`` array.
    centres : array_like, shape (n, 3)
        Centres in tomogram voxels.
    box_size : int
        Cube edge.
    scale : float
        Model voxel size / tomogram voxel size.
    edge : {'pad', 'skip'}
        Pad or skip cubes that reach outside the tomogram.
    pad_value : float or 'mean'
        Padding value; ``'mean'`` is the tomogram mean.

    Returns
    -------
    cubes : numpy.ndarray, shape (mask.sum(), box_size, box_size, box_size), float32
        Raw (not standardised) cubes of the cut picks, in pick order.
    mask : numpy.ndarray of bool, shape (n,)
    reasons : numpy.ndarray of str, shape (n,)
        See :func:`plan_extraction`.
    """
    data = tomogram_array(tomogram)
    centres = np.asarray(centres, dtype=float).reshape(-1, 3)
    mask, reasons = plan_extraction(data.shape, centres, box_size, scale, edge)
    fill = resolve_pad_value(tomogram, pad_value) if mask.any() else 0.0
    cubes = np.empty((int(mask.sum()),) + (box_size,) * 3, dtype=np.float32)
    for out, centre in zip(cubes, centres[mask]):
        out[...] = extract_subtomogram(data, centre, box_size, scale, fill)
    return cubes, mask, reasons


def read_order(centres, chunks=None):
    """Order in which to read picks for locality in the file (sorted by z, then y, then x).

    MRC files store z-sections one after the other, so reading picks section by section touches each
    page of the memory map about once. A chunked tomogram (zarr, ``chunks`` its ``(cx, cy, cz)`` chunk
    shape) is read chunk by chunk instead: picks are sorted by the chunk their centre lies in (z, y, x
    chunk index), then by z, y, x, so a small cache of decoded chunks serves neighbouring picks.

    Examples
    --------
    >>> read_order([[0, 0, 5], [9, 0, 0], [0, 0, 0]]).tolist()
    [2, 1, 0]
    >>> read_order([[0, 0, 5], [9, 0, 0], [0, 0, 0]], chunks=(8, 8, 8)).tolist()
    [2, 0, 1]
    """
    centres = np.asarray(centres, dtype=float).reshape(-1, 3)
    keys = [centres[:, 0], centres[:, 1], centres[:, 2]]
    if chunks is not None:
        block = np.floor(centres / np.asarray(chunks, dtype=float))
        keys += [block[:, 0], block[:, 1], block[:, 2]]
    return np.lexsort(keys)


def extract_background(tomogram, picks, n, box_size, rng, min_distance, scale=1.0, max_rounds=100):
    """Cut negatives ("background" class) from regions away from every pick.

    Centres are drawn uniformly over the positions whose cube lies inside the tomogram and kept when
    they are at least ``min_distance`` voxels from every pick.

    Parameters
    ----------
    tomogram : aitom.io.tomogram.MappedTomogram or array_like
        ``[x, y, z]`` volume.
    picks : array_like, shape (m, 3)
        Centres of all known particles (tomogram voxels), e.g. every pick or the ground truth.
    n : int
        Number of negatives.
    box_size : int
        Cube edge.
    rng : numpy.random.Generator
    min_distance : float
        Minimum distance (tomogram voxels) from a negative's centre to any pick, typically the particle
        diameter.
    scale : float
        Model voxel size / tomogram voxel size.
    max_rounds : int
        Rounds of ``4 n`` candidates to draw before giving up.

    Returns
    -------
    cubes : numpy.ndarray, shape (n, box_size, box_size, box_size), float32
        Raw cubes.
    centres : numpy.ndarray, shape (n, 3)
        Their centres (tomogram voxels, integers).

    Raises
    ------
    InputError
        If ``n`` centres cannot be found (tomogram too crowded or too small for the box).
    """
    if not isinstance(rng, np.random.Generator):
        raise InputError("rng", f"expected a numpy.random.Generator, got {type(rng).__name__}")
    data = tomogram_array(tomogram)
    shape = np.asarray(data.shape)
    half = int(np.ceil((box_size // 2) * scale)) + 1
    if np.any(shape - 1 - half < half):
        raise InputError("tomogram", f"shape {tuple(shape)} is too small for boxes of {box_size} voxels")
    picks = np.asarray(picks, dtype=float).reshape(-1, 3)
    tree = cKDTree(picks) if len(picks) else None
    found = np.empty((0, 3), dtype=float)
    for _ in range(max_rounds):
        if len(found) >= n:
            break
        candidates = rng.integers(half, shape - 1 - half, size=(4 * n, 3), endpoint=True).astype(float)
        if tree is not None:
            candidates = candidates[tree.query(candidates)[0] >= min_distance]
        found = np.concatenate([found, candidates])
    if len(found) < n:
        raise InputError("picks", f"found only {len(found)} of {n} background positions at least "
                                  f"{min_distance} voxels from every pick")
    centres = found[:n]
    cubes, _, _ = extract_subtomograms(data, centres, box_size, scale, edge="pad", pad_value=0.0)
    return cubes, centres
