"""Missing-wedge masks in Fourier space (AITom ``image.vol.wedge.util``, after TOM's ``tom_wedge``)."""
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
    t1, t2 = np.tan(np.deg2rad(ang1)), np.tan(np.deg2rad(ang2))
    keep = ((x0 >= t2 * x1) & (x0 >= t1 * x1)) | ((x0 <= t1 * x1) & (x0 <= t2 * x1))
    mask = keep.astype(np.float64)
    if sphere_mask:
        mask *= vol_util.sphere_mask(size, center=mid_co)
    return mask
