"""Shared conventions for structure densities: box centre, resolution -> Gaussian width, box fitting.

Box centre
    A cubic box of ``n`` voxels has its centre at voxel index ``n // 2`` on every axis (AITom's
    ``fft_mid_co`` convention, the voxel that ``numpy.fft.fftshift`` moves the zero frequency to).
    Densities are placed so that their centre of mass lies exactly on that point.

Resolution
    A resolution ``R`` is a Gaussian of standard deviation ``sigma = R / (pi * sqrt(2))`` (about
    ``0.225 R``), whose Fourier transform falls to ``1/e`` of its maximum at spatial frequency ``1/R``.
    This is the default of EMAN's ``pdb2mrc`` and UCSF Chimera/ChimeraX ``molmap``.

Fitting
    A point at offset ``d`` voxels (of the output spacing) from the centre of mass lands in output voxel
    ``n // 2 + d``; it is inside the box when ``-0.5 <= n // 2 + d < n - 0.5`` on every axis.
"""
import numbers

import numpy as np

from aitom.errors import InputError

SIGMA_FACTOR = 1.0 / (np.pi * np.sqrt(2.0))
"""Gaussian standard deviation per unit resolution (EMAN ``pdb2mrc`` / Chimera ``molmap`` default)."""


def box_centre(box_size):
    """Index of the centre voxel of a cubic box.

    Parameters
    ----------
    box_size : int
        Edge of the box in voxels.

    Returns
    -------
    int
        ``box_size // 2`` (the same on the three axes).
    """
    return int(box_size) // 2


def resolution_to_sigma_nm(resolution_nm):
    """Standard deviation of the Gaussian that represents a resolution.

    Parameters
    ----------
    resolution_nm : float
        Resolution in nm (> 0).

    Returns
    -------
    float
        ``resolution_nm * SIGMA_FACTOR`` in nm, i.e. ``R / (pi * sqrt(2))``: the Gaussian's Fourier
        transform is ``1/e`` of its maximum at frequency ``1/R``.
    """
    return positive_float(resolution_nm, "resolution_nm") * SIGMA_FACTOR


def positive_float(value, name):
    """Return ``value`` as a finite float > 0, else raise ``InputError(name, ...)``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value <= 0:
        raise InputError(name, f"must be a finite number > 0, got {value!r}")
    return float(value)


def positive_int(value, name):
    """Return ``value`` as an int >= 1, else raise ``InputError(name, ...)``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InputError(name, f"must be an integer >= 1, got {value!r}")
    return int(value)


def smallest_box(offsets_vox):
    """Smallest cubic box that holds points given by their offsets from the centre of mass.

    Parameters
    ----------
    offsets_vox : ndarray, shape (n, 3)
        Offsets from the centre of mass in output voxels.

    Returns
    -------
    int
        The smallest ``n`` with ``-0.5 <= n // 2 + d < n - 0.5`` for every offset ``d``.
    """
    lo = float(np.min(offsets_vox))
    hi = float(np.max(offsets_vox))
    n = max(1, int(np.floor(2 * max(-lo, hi))) - 2)
    while not (n // 2 + lo >= -0.5 and n // 2 + hi < n - 0.5):
        n += 1
    return n


def check_fit(offsets_vox, box_size, crop, source):
    """Raise ``InputError`` if points fall outside the box and cropping was not asked for.

    Parameters
    ----------
    offsets_vox : ndarray, shape (n, 3)
        Offsets from the centre of mass in output voxels.
    box_size : int
        Edge of the cubic box in voxels.
    crop : bool
        If True, points outside the box are allowed (the caller crops them).
    source : str
        What the points come from (a file name), used in the error message.
    """
    if crop:
        return
    needed = smallest_box(offsets_vox)
    if needed > box_size:
        raise InputError(
            source,
            f"does not fit in a {box_size}^3 box centred on its centre of mass (needs {needed}^3); "
            "use a larger box_size or voxel spacing, or crop=True",
        )
