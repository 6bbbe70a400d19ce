"""Missing-wedge masks in Fourier space (AITom ``image.vol.wedge.util``, after TOM's ``tom_wedge``).

One rule, :func:`_kept`, decides which Fourier coefficients a tilt series records; it is evaluated on two
grids: :func:`wedge_mask` on Fourier indices in the ``fftshift`` layout (AITom's), and
:func:`missing_wedge_rfft` on physical frequencies in the ``rfftn`` layout (right for non-cubic volumes,
used to filter whole tomograms).
"""
import numpy as np

from aitom.errors import InputError
from aitom.image.vol import util as vol_util

# (first, second) spectrum axes of the plane the wedge lies in, per tilt axis
_WEDGE_PLANE = {0: (1, 2), 1: (0, 2), 2: (0, 1)}


def wedge_mask(size, ang1, ang2=None, tilt_axis=1, sphere_mask=True):
    """Binary missing-wedge mask of an ``fftshift``-ed 3-D spectrum.

    AITom semantics: the angles give the extent of the *missing* wedge, in degrees; the larger, the more is
    missing. With the default tilt about y (``tilt_axis=1``) and the beam along z, Fourier coefficients
    ``(kx, ky, kz)`` are kept where ``kx >= tan(ang2) * kz and kx >= tan(ang1) * kz`` or
    ``kx <= tan(ang1) * kz and kx <= tan(ang2) * kz``; with ``ang1 = -ang2 = -a`` that is
    ``|kx| >= tan(a) |kz|``, so a tilt range of +-(90 - a) degrees leaves a wedge of half-angle ``a`` about the
    kz axis empty. ``a = 30`` corresponds to a +-60 degree tilt series. The ``kx = kz = 0`` line is kept.

    Parameters
    ----------
    size : sequence of 3 int
        Volume shape ``(x, y, z)``.
    ang1 : float
        Missing-wedge angle in degrees. Alone, the wedge is symmetric: ``(-|ang1|, |ang1|)``.
    ang2 : float, optional
        With ``ang1 < 0 < ang2``: an asymmetric wedge.
    tilt_axis : {0, 1, 2}
        Tilt axis; the wedge lies in the plane of the other two axes, and the second of them (z for tilt
        axes 0 and 1, y for tilt axis 2) plays the role of ``kz`` above.
    sphere_mask : bool
        Also zero everything outside the ball of radius ``min(size) / 2`` about the zero frequency.

    Returns
    -------
    numpy.ndarray, shape size, float64
        0/1 mask, zero frequency at :func:`aitom.image.vol.util.fft_mid_co` (``fftshift`` layout). Unlike
        AITom, the ball is centred on the zero frequency (AITom centres it on ``(size - 1) / 2``, half a voxel
        off for even sizes, which breaks the ``k -> -k`` symmetry a real-valued filter needs).
    """
    size = tuple(np.asarray(size).tolist())
    if len(size) != 3:
        raise InputError("size", f"wedge masks are 3-D, got size {size!r}")
    if ang2 is None:
        ang2 = abs(float(ang1))
        ang1 = -ang2
    elif not ang1 <= 0 <= ang2:
        raise InputError("ang1, ang2", f"need ang1 <= 0 <= ang2, got {ang1!r}, {ang2!r}")
    if not (-90 < ang1 and ang2 < 90):
        raise InputError("ang1, ang2", f"missing-wedge angles must lie in (-90, 90) degrees, got {ang1}, {ang2}")
    if tilt_axis not in _WEDGE_PLANE:
        raise InputError("tilt_axis", f"must be 0, 1 or 2, got {tilt_axis!r}")
    mid_co = vol_util.fft_mid_co(size)
    g = vol_util.grid_displacement_to_center(size, mid_co=mid_co)
    x0, x1 = (g[d] for d in _WEDGE_PLANE[tilt_axis])
    mask = _kept(x0, x1, ang1, ang2).astype(np.float64)
    if sphere_mask:
        mask *= vol_util.sphere_mask(size, center=mid_co)
    return mask


def missing_wedge_rfft(shape, tilt_range_deg):
    """Missing-wedge filter in ``rfftn`` layout, from physical frequencies.

    The rule of :func:`wedge_mask` (tilt about y, beam along z, missing half-angle
    ``90 - tilt_range_deg``) on the frequencies ``numpy.fft.fftfreq`` / ``rfftfreq`` of each axis, so that
    the wedge has its nominal angle for any volume shape, not only cubes.

    Parameters
    ----------
    shape : tuple of 3 int
        Volume shape ``(nx, ny, nz)``.
    tilt_range_deg : float
        Largest tilt angle (degrees) of a symmetric tilt series about y; 90 keeps everything.

    Returns
    -------
    numpy.ndarray, shape (nx, ny, nz // 2 + 1), float32
        1 where ``|f_x| >= tan(90 - tilt_range_deg) |f_z|`` (and on the ``f_x = f_z = 0`` line), else 0.

    Examples
    --------
    >>> from aitom.image.vol.wedge.util import missing_wedge_rfft
    >>> w = missing_wedge_rfft((16, 8, 12), 60)
    >>> w.shape, float(w[0, 0, 0]), float(w[0, 0, 3]), float(w[4, 0, 1])
    ((16, 8, 7), 1.0, 0.0, 1.0)
    """
    if not 0 < tilt_range_deg <= 90:
        raise InputError("tilt_range_deg", f"must be in (0, 90], got {tilt_range_deg!r}")
    missing = 90.0 - tilt_range_deg
    fx = np.fft.fftfreq(shape[0])[:, None, None]
    fz = np.fft.rfftfreq(shape[2])[None, None, :]
    keep = _kept(fx, fz, -missing, missing)
    return np.broadcast_to(keep, (shape[0], shape[1], shape[2] // 2 + 1)).astype(np.float32)


def _kept(x0, x1, ang1, ang2):
    """True where a coefficient at ``(x0, x1)`` (in-plane coordinates, ``x1`` along the beam) is recorded:
    outside the missing wedge between the lines at ``ang1`` and ``ang2`` degrees from the beam axis."""
    t1, t2 = np.tan(np.deg2rad(ang1)), np.tan(np.deg2rad(ang2))
    return ((x0 >= t2 * x1) & (x0 >= t1 * x1)) | ((x0 <= t1 * x1) & (x0 <= t2 * x1))
