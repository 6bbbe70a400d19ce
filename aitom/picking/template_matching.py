"""Template matching: FFT-based locally normalised cross-correlation and peak picking.

Score
-----
For each rotation ``R`` the template is rotated about its centre voxel ``s // 2``
(:func:`aitom.geometry.rotate.rotate`), normalised to zero mean and unit standard deviation inside the
mask ``M`` (``N = sum(M)``) and multiplied by ``M``, giving ``T'``. The score at voxel ``x`` is the fast
local correlation of Roseman (2003)::

    score(x) = sum_k T'(k) v(x + k - c) / (N * sigma_M(x)),
    sigma_M(x)^2 = mean_M(v^2)(x) - mean_M(v)(x)^2,

the Pearson correlation between the template and the tomogram under the mask placed at ``x``, in
[-1, 1]. Every sum over ``k`` is one FFT product over the whole tomogram: the local mean and variance
once, then one inverse FFT per rotation; the best score and the index of its rotation are kept per voxel.
The mask is used for every rotation unrotated, so it should be spherically symmetric (the default).

Borders
-------
FFT correlation wraps around, so scores closer than ``s // 2`` voxels to a face mix opposite sides;
:func:`find_peaks` ignores a border of that width by default.

Memory
------
Matching holds the tomogram in memory with a few FFT-sized float32/complex64 arrays (about 6 times the
tomogram); it is meant for tomograms of modest size or binned ones. Extraction for classification
(:mod:`aitom.picking.extract`) memory-maps instead.
"""
import numpy as np
import pandas as pd
import scipy.fft
from scipy import ndimage
from scipy.spatial import cKDTree
from tqdm import tqdm

from aitom.errors import InputError
from aitom.geometry.ang_loc import rotation_matrix_zyz_normalized_angle
from aitom.geometry.rotate import rotate
from aitom.image.vol.util import sphere_mask
from aitom.io.particles import COORDINATE_COLUMNS


def spherical_mask(box_size, radius=None):
    """Ball mask centred on voxel ``box_size // 2``.

    Parameters
    ----------
    box_size : int
        Cube edge.
    radius : float, optional
        Radius in voxels; default ``box_size / 2 - 1``.

    Returns
    -------
    numpy.ndarray, shape (box_size,) * 3, float32
    """
    radius = box_size / 2.0 - 1.0 if radius is None else float(radius)
    return sphere_mask((box_size,) * 3, center=(box_size // 2,) * 3, radius=radius).astype(np.float32)


def _centred_pad(t, shape):
    """Embed cube ``t`` in a zero array of ``shape`` with its centre voxel at index 0 (wrapping)."""
    out = np.zeros(shape, dtype=np.float32)
    s = t.shape[0]
    out[:s, :s, :s] = t
    return np.roll(out, (-(s // 2),) * 3, axis=(0, 1, 2))


def match_template(tomogram, template, rotations, mask=None, progress=False, workers=None):
    """Best locally normalised correlation over rotations, at every voxel.

    Parameters
    ----------
    tomogram : array_like, shape (nx, ny, nz)
        ``[x, y, z]`` volume (read into memory as float32).
    template : array_like, shape (s, s, s)
        Template density, centre at voxel ``s // 2``, same voxel size as the tomogram.
    rotations : array_like, shape (r, 3, 3)
        Rotation matrices (AITom convention, as ``rotate(..., rm=...)``), e.g.
        :func:`aitom.geometry.ang_loc.random_rotation_matrix` ``(rng, n)``.
    mask : array_like, shape (s, s, s), optional
        Spherically symmetric mask; default :func:`spherical_mask`.
    progress : bool
        Show a progress bar over rotations.
    workers : int, optional
        Threads for ``scipy.fft``.

    Returns
    -------
    dict
        ``'score'``: float32 array of the tomogram's shape, best score per voxel; ``'rotation_index'``:
        int32 array, index into ``rotations`` of that score.

    Raises
    ------
    InputError
        If the template is not a cube smaller than the tomogram, or the mask does not match it.
    """
    v = np.asarray(tomogram, dtype=np.float32)
    template = np.asarray(template, dtype=np.float32)
    rotations = np.asarray(rotations, dtype=np.float64).reshape(-1, 3, 3)
    s = template.shape[0]
    if v.ndim != 3 or template.shape != (s, s, s) or any(n < s for n in v.shape):
        raise InputError("template", f"expected a cube no larger than the tomogram {v.shape}, got {template.shape}")
    mask = spherical_mask(s) if mask is None else np.asarray(mask, dtype=np.float32)
    if mask.shape != template.shape or not mask.sum() > 0:
        raise InputError("mask", f"expected a non-empty mask of shape {template.shape}, got {mask.shape}")
    n_mask = float(mask.sum())
    centre = (s // 2,) * 3

    def correlate(t_hat, volume_hat):
        return scipy.fft.irfftn(np.conj(t_hat) * volume_hat, s=v.shape, workers=workers)

    v_hat = scipy.fft.rfftn(v, workers=workers)
    m_hat = scipy.fft.rfftn(_centred_pad(mask, v.shape), workers=workers)
    local_mean = correlate(m_hat, v_hat) / n_mask
    local_var = correlate(m_hat, scipy.fft.rfftn(v * v, workers=workers)) / n_mask - local_mean ** 2
    del local_mean, m_hat
    sigma = np.sqrt(np.maximum(local_var, 0.0))
    del local_var
    flat = sigma <= 1e-6 * max(float(sigma.max()), np.finfo(np.float32).tiny)
    denominator = np.where(flat, np.inf, n_mask * sigma).astype(np.float32)
    del sigma

    best = np.full(v.shape, -np.inf, dtype=np.float32)
    best_index = np.zeros(v.shape, dtype=np.int32)
    for i in tqdm(range(len(rotations)), disable=not progress, desc="rotations"):
        t = rotate(template, rm=rotations[i], c1=centre, c2=centre, default_val=0.0)
        t_mean = float(np.sum(mask * t)) / n_mask
        t_std = np.sqrt(max(float(np.sum(mask * t * t)) / n_mask - t_mean ** 2, 0.0))
        if not t_std > 0:
            raise InputError("template", "is constant inside the mask")
        t = mask * (t - t_mean) / t_std
        score = correlate(scipy.fft.rfftn(_centred_pad(t, v.shape), workers=workers), v_hat) / denominator
        better = score > best
        best[better] = score[better]
        best_index[better] = i
    best[flat] = 0.0
    return {"score": best, "rotation_index": best_index}


def find_peaks(score, n, min_distance, threshold=None, exclude_border=0):
    """Highest local maxima of a score map with non-maximum suppression.

    Candidates are the voxels equal to the maximum of their 3x3x3 neighbourhood; in order of decreasing
    score each is accepted unless an accepted peak lies closer than ``min_distance`` voxels, until
    ``n`` peaks are accepted or the candidates (above ``threshold``) run out.

    Parameters
    ----------
    score : array_like, shape (nx, ny, nz)
    n : int
        Maximum number of peaks.
    min_distance : float
        Minimum distance between accepted peaks (voxels), typically the particle diameter.
    threshold : float, optional
        Only scores above it.
    exclude_border : int
        Ignore voxels closer than this to a face.

    Returns
    -------
    coordinates : numpy.ndarray, shape (k, 3), int
        Peak voxels ``[x, y, z]``, by decreasing score.
    values : numpy.ndarray, shape (k,)
    """
    score = np.asarray(score, dtype=np.float32)
    valid = np.isfinite(score)
    if exclude_border > 0:
        interior = np.zeros(score.shape, dtype=bool)
        interior[tuple(slice(exclude_border, -exclude_border) for _ in range(3))] = True
        valid &= interior
    if threshold is not None:
        valid &= score > threshold
    valid &= score == ndimage.maximum_filter(score, size=3, mode="nearest")
    coordinates = np.argwhere(valid)
    values = score[valid]
    order = np.argsort(-values, kind="stable")
    coordinates, values = coordinates[order], values[order]
    if len(coordinates) == 0 or n <= 0:
        return coordinates[:0], values[:0]
    tree = cKDTree(coordinates)
    radius = np.nextafter(float(min_distance), 0.0)
    suppressed = np.zeros(len(coordinates), dtype=bool)
    keep = []
    for i in range(len(coordinates)):
        if suppressed[i]:
            continue
        keep.append(i)
        if len(keep) == n:
            break
        if radius > 0:
            suppressed[tree.query_ball_point(coordinates[i], radius)] = True
    return coordinates[keep], values[keep]


def pick_particles(tomogram, template, rotations, n, min_distance, mask=None, threshold=None, progress=False,
                   workers=None):
    """Template-match a tomogram and return the top picks as a particle list.

    Parameters
    ----------
    tomogram, template, rotations, mask, progress, workers
        As :func:`match_template`.
    n, min_distance, threshold
        As :func:`find_peaks`; the border of width ``s // 2`` is excluded.

    Returns
    -------
    pandas.DataFrame
        ``x_px, y_px, z_px`` (0-based voxels of the tomogram), ``score``, ``rotation_index`` and the
        best rotation's ZYZ angles ``phi, theta, psi`` (radians, AITom convention), by decreasing score.
    """
    result = match_template(tomogram, template, rotations, mask=mask, progress=progress, workers=workers)
    coordinates, values = find_peaks(result["score"], n, min_distance, threshold=threshold,
                                     exclude_border=np.shape(template)[0] // 2)
    index = result["rotation_index"][tuple(coordinates.T)]
    angles = np.array([rotation_matrix_zyz_normalized_angle(r) for r in np.asarray(rotations).reshape(-1, 3, 3)])
    df = pd.DataFrame(coordinates.astype(float), columns=list(COORDINATE_COLUMNS))
    df["score"] = values.astype(float)
    df["rotation_index"] = index
    df[["phi", "theta", "psi"]] = angles[index].reshape(-1, 3)
    return df
