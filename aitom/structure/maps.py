"""Density maps: reading, background removal, resampling and centring in a cubic box.

Pipeline of :func:`map_to_density`
    1. Read the map (MRC/CCP4, optionally gzipped; voxel size from the header, Å -> nm) or take an
       array indexed ``[x, y, z]``.
    2. Background: subtract the median of the outermost voxel layer and set negative values to 0, so the
       background is exactly zero and the map can serve as a mass distribution.
    3. Low-pass with a Gaussian (convention of :mod:`aitom.structure.grid`) to ``resolution_nm`` if given
       and, when the output spacing is coarser than the input on an axis, at least to ``2 *
       voxel_spacing_nm`` (the output Nyquist limit) against aliasing.
    4. Resample with cubic splines onto the output grid so that the centre of mass lands on voxel
       ``box_size // 2``; spline ringing below zero is set to 0.

Values keep the input's units (density per volume, not per voxel), so changing the spacing does not
change the scale.

Fitting
    A map fits a box when every input voxel holding at least :data:`FIT_THRESHOLD` of the maximum lands
    inside it (see :func:`aitom.structure.grid.check_fit`).
"""
import collections
import os

import mrcfile
import numpy as np
from scipy import ndimage

from aitom.errors import InputError
from aitom.structure.grid import (
    SIGMA_FACTOR,
    box_centre,
    check_fit,
    positive_float,
    positive_int,
    resolution_to_sigma_nm,
    smallest_box,
)

FIT_THRESHOLD = 0.01
"""Fraction of a map's maximum above which a voxel counts as part of the structure."""

DensityExtent = collections.namedtuple(
    "DensityExtent", ["radius_of_gyration_nm", "bounding_radius_nm", "min_box_size"]
)
DensityExtent.__doc__ = """Size of a density, measured from its centre of mass.

radius_of_gyration_nm : float
    Density-weighted root-mean-square distance of the voxels from the centre of mass, in nm.
bounding_radius_nm : float
    Largest distance from the centre of mass of a voxel holding at least ``threshold`` of the maximum, nm.
min_box_size : int
    Edge, in voxels of the same spacing, of the smallest cubic box centred on the centre of mass (at
    voxel ``n // 2``) that holds all those voxels.
"""


def read_map(path):
    """Read an MRC/CCP4 map with its voxel size.

    Parameters
    ----------
    path : str or os.PathLike
        Map file, optionally gzipped or bzip2-compressed.

    Returns
    -------
    data : ndarray, shape (nx, ny, nz), float32
        Map indexed ``[x, y, z]`` (the header's axis order is honoured).
    voxel_size_nm : ndarray, shape (3,), float64
        Voxel size along x, y, z in nm (0 where the header does not set it).

    Raises
    ------
    InputError
        Missing or unreadable file, not a 3D map.
    """
    if not os.path.isfile(path):
        raise InputError(path, "no such file")
    try:
        with mrcfile.open(path, mode="r") as mrc:
            data = np.asarray(mrc.data, dtype=np.float32)
            axes = (int(mrc.header.mapc), int(mrc.header.mapr), int(mrc.header.maps))
            vs = mrc.voxel_size
            voxel_size_nm = np.array([vs.x, vs.y, vs.z], dtype=np.float64) / 10.0
    except (ValueError, OSError, EOFError) as err:
        raise InputError(path, f"cannot read as an MRC map ({err})") from err
    if data.ndim != 3:
        raise InputError(path, f"is not a 3D map (shape {data.shape})")
    if sorted(axes) != [1, 2, 3]:
        raise InputError(path, f"invalid axis order MAPC/MAPR/MAPS = {axes}")
    # data[section, row, column]; column is axis MAPC, row MAPR, section MAPS (1 = x, 2 = y, 3 = z).
    data_axis = {axes[0] - 1: 2, axes[1] - 1: 1, axes[2] - 1: 0}
    return np.ascontiguousarray(data.transpose(data_axis[0], data_axis[1], data_axis[2])), voxel_size_nm


def center_of_mass(density):
    """Centre of mass of a non-negative density.

    Parameters
    ----------
    density : ndarray, shape (nx, ny, nz)
        Non-negative density indexed ``[x, y, z]`` with a positive sum.

    Returns
    -------
    ndarray, shape (3,), float64
        Centre of mass in voxel indices.
    """
    v = np.asarray(density, dtype=np.float64)
    total = v.sum()
    return np.array([(v.sum(axis=tuple(j for j in range(3) if j != i)) * np.arange(v.shape[i])).sum() / total
                     for i in range(3)])


def density_extent(density, voxel_spacing_nm, threshold=FIT_THRESHOLD):
    """Radius of gyration, bounding radius and smallest centred box of a density.

    Parameters
    ----------
    density : ndarray, shape (nx, ny, nz)
        Non-negative density indexed ``[x, y, z]`` (e.g. from :func:`map_to_density`).
    voxel_spacing_nm : float
        Voxel edge in nm.
    threshold : float, default FIT_THRESHOLD
        Fraction of the maximum above which a voxel counts for the bounding radius and box.

    Returns
    -------
    DensityExtent
    """
    v = np.asarray(density, dtype=np.float64)
    spacing = positive_float(voxel_spacing_nm, "voxel_spacing_nm")
    if v.ndim != 3 or not np.all(np.isfinite(v)) or np.any(v < 0) or v.sum() <= 0:
        raise InputError("density", "must be a finite, non-negative 3D array with a positive sum")
    if not 0 < threshold <= 1:
        raise InputError("threshold", f"must be in (0, 1], got {threshold!r}")
    com = center_of_mass(v)
    grid = np.indices(v.shape, dtype=np.float64).reshape(3, -1).T - com
    r2 = (grid**2).sum(axis=1)
    rg = np.sqrt((r2 * v.ravel()).sum() / v.sum()) * spacing
    significant = grid[v.ravel() >= threshold * v.max()]
    bounding = np.sqrt((significant**2).sum(axis=1).max()) * spacing
    return DensityExtent(float(rg), float(bounding), smallest_box(significant))


def map_to_density(path_or_array, voxel_spacing_nm, box_size=None, source_spacing_nm=None, resolution_nm=None,
                   crop=False):
    """Resample a density map onto a cubic grid centred on its centre of mass.

    Parameters
    ----------
    path_or_array : str, os.PathLike or ndarray, shape (nx, ny, nz)
        MRC map file (optionally gzipped), or a map indexed ``[x, y, z]``.
    voxel_spacing_nm : float
        Output voxel edge in nm.
    box_size : int or None, default None
        Output box edge in voxels; None: the smallest box that holds the structure.
    source_spacing_nm : float, sequence of 3 floats or None, default None
        Input voxel size in nm (x, y, z). Required for an array; for a file it overrides the header.
    resolution_nm : float or None, default None
        If given, low-pass to this resolution (Gaussian ``sigma = resolution_nm / (pi * sqrt(2))``).
    crop : bool, default False
        If False, a structure that does not fit in the box raises ``InputError`` naming the source; if
        True it is cropped.

    Returns
    -------
    ndarray, shape (box_size, box_size, box_size), float32
        Non-negative density indexed ``[x, y, z]``, zero background, in the input's units, centre of
        mass at voxel ``(box_size // 2,) * 3``.

    Raises
    ------
    InputError
        Missing or unreadable file, unknown voxel size, empty or non-finite map, bad parameters, or a
        structure too big for the box.
    """
    spacing = positive_float(voxel_spacing_nm, "voxel_spacing_nm")
    data, src, source = _load(path_or_array, source_spacing_nm)
    v = _remove_background(data)
    if v.max() <= 0:
        raise InputError(source, "holds no density above the background (median of the border voxels)")
    sigma_nm = np.zeros(3)
    if resolution_nm is not None:
        sigma_nm[:] = resolution_to_sigma_nm(resolution_nm)
    coarser = spacing > src
    sigma_nm[coarser] = np.maximum(sigma_nm[coarser], SIGMA_FACTOR * 2 * spacing)
    if np.any(sigma_nm > 0):
        v = np.clip(ndimage.gaussian_filter(v, sigma_nm / src, mode="constant"), 0, None)

    com_vox = center_of_mass(v)
    significant = np.argwhere(v >= FIT_THRESHOLD * v.max())
    offsets = (significant - com_vox) * src / spacing
    if box_size is None:
        n = smallest_box(offsets)
    else:
        n = positive_int(box_size, "box_size")
        check_fit(offsets, n, crop, source)
    scale = spacing / src
    out = ndimage.affine_transform(v, scale, offset=com_vox - box_centre(n) * scale, output_shape=(n, n, n),
                                   order=3, mode="constant", cval=0.0)
    return np.clip(out, 0, None).astype(np.float32)


def _remove_background(v):
    """Subtract the median of the outermost voxel layer and set negative values to 0."""
    border = np.concatenate([v[[0, -1]].ravel(), v[:, [0, -1]].ravel(), v[:, :, [0, -1]].ravel()])
    return np.clip(v - np.median(border), 0, None)


def _load(path_or_array, source_spacing_nm):
    """Map as float64 ``[x, y, z]``, its voxel size in nm (3,), and its name for error messages."""
    if isinstance(path_or_array, np.ndarray):
        source, data, header_spacing = "array", path_or_array, None
    else:
        source = os.fspath(path_or_array)
        data, header_spacing = read_map(source)
    if source_spacing_nm is None:
        if header_spacing is None:
            raise InputError("source_spacing_nm", "is required when the map is given as an array")
        if np.any(header_spacing <= 0):
            raise InputError(source, "the header has no voxel size; pass source_spacing_nm")
        src = header_spacing
    else:
        values = np.atleast_1d(np.asarray(source_spacing_nm, dtype=object))
        if values.shape not in ((1,), (3,)):
            raise InputError("source_spacing_nm", f"must be one number or three (x, y, z), got {source_spacing_nm!r}")
        src = np.array([positive_float(s, "source_spacing_nm") for s in np.broadcast_to(values, (3,))])
    if data.ndim != 3 or min(data.shape) < 1:
        raise InputError(source, f"must be a 3D map, got shape {data.shape}")
    data = np.asarray(data, dtype=np.float64)
    if not np.all(np.isfinite(data)):
        raise InputError(source, "contains NaN or infinity")
    return data, src, source
