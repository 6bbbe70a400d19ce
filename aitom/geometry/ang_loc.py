"""ZYZ Euler angles and rotation matrices, AITom convention.

Convention (the one AITom and TOM use, written in voxel-index coordinates ``[x, y, z]``):

* ``ang = (phi, theta, psi)`` in radians.
* ``rotation_matrix_zyz(ang)`` returns ``rm = (Rz(phi) @ Ry(theta) @ Rz(psi)).T`` where ``Rz``, ``Ry`` are
  the usual right-handed axis rotations of :func:`rotation_matrix_axis`.
* ``rm`` maps *output* coordinates to *input* coordinates, as ``scipy.ndimage.affine_transform`` (and
  MATLAB's ``tformarray``) expect, so :func:`aitom.geometry.rotate.rotate` with ``rm`` moves the content
  at offset ``p`` from the centre to offset ``rm.T @ p``: the object is rotated actively by
  ``rm.T = Rz(phi) Ry(theta) Rz(psi)``, i.e. first by ``psi`` about z, then ``theta`` about y, then
  ``phi`` about z (fixed axes).
* :func:`rotation_matrix_zyz_normalized_angle` is the inverse: it returns ``phi, psi`` in
  ``(-pi, pi]`` and ``theta`` in ``[0, pi]``; at ``theta`` = 0 or pi (gimbal lock) it sets ``phi = 0``.

Random rotations here are uniform (Haar measure) on SO(3), unlike AITom's, which orthogonalises a matrix of
uniform entries by SVD and is biased.
"""
import numpy as np
from scipy.spatial.transform import Rotation

from aitom.errors import InputError

_GIMBAL_EPS = 1e-10


def rotation_matrix_axis(dim, theta):
    """Right-handed rotation by ``theta`` about one coordinate axis.

    Parameters
    ----------
    dim : {0, 1, 2}
        Axis index: 0 = x, 1 = y, 2 = z.
    theta : float
        Angle in radians.

    Returns
    -------
    numpy.ndarray, shape (3, 3), float64
    """
    c, s = np.cos(theta), np.sin(theta)
    if dim == 0:
        return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    if dim == 1:
        return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    if dim == 2:
        return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    raise InputError("dim", f"axis must be 0, 1 or 2, got {dim!r}")


def rotation_matrix_zyz(ang):
    """Rotation matrix of ZYZ Euler angles, AITom convention (see the module docstring).

    Parameters
    ----------
    ang : array_like, shape (3,)
        ``(phi, theta, psi)`` in radians.

    Returns
    -------
    numpy.ndarray, shape (3, 3), float64
        ``(Rz(phi) @ Ry(theta) @ Rz(psi)).T``.
    """
    ang = np.asarray(ang, dtype=np.float64).ravel()
    if ang.shape != (3,) or not np.all(np.isfinite(ang)):
        raise InputError("ang", f"expected 3 finite angles (phi, theta, psi), got {ang!r}")
    phi, theta, psi = ang
    rm = rotation_matrix_axis(2, phi) @ rotation_matrix_axis(1, theta) @ rotation_matrix_axis(2, psi)
    return rm.T


def rotation_matrix_zyz_normalized_angle(rm):
    """ZYZ Euler angles of a rotation matrix: the inverse of :func:`rotation_matrix_zyz`.

    Parameters
    ----------
    rm : array_like, shape (3, 3)
        A rotation matrix (orthogonal, det 1).

    Returns
    -------
    numpy.ndarray, shape (3,), float64
        ``(phi, theta, psi)`` in radians with ``phi, psi`` in ``(-pi, pi]`` and ``theta`` in ``[0, pi]``, so
        that ``rotation_matrix_zyz(ang)`` equals ``rm``. At ``theta`` 0 or pi only ``phi -/+ psi`` is
        defined; ``phi`` is set to 0. (AITom returns ``theta = 0`` also when ``theta`` is pi, which is wrong;
        that is fixed here.)
    """
    rm = np.asarray(rm, dtype=np.float64)
    if rm.shape != (3, 3) or not np.all(np.isfinite(rm)):
        raise InputError("rm", f"expected a finite 3x3 matrix, got shape {rm.shape}")
    cos_theta = float(np.clip(rm[2, 2], -1.0, 1.0))
    if abs(cos_theta) < 1.0 - _GIMBAL_EPS:
        theta = np.arctan2(np.sqrt(1.0 - cos_theta * cos_theta), cos_theta)
        phi = np.arctan2(rm[2, 1], rm[2, 0])
        psi = np.arctan2(rm[1, 2], -rm[0, 2])
    else:
        theta = 0.0 if cos_theta > 0 else np.pi
        phi = 0.0
        psi = np.arctan2(rm[0, 1], rm[1, 1])
    return np.array([phi, theta, psi], dtype=np.float64)


def random_rotation_matrix(rng, n=None):
    """Rotation matrices drawn uniformly (Haar measure) from SO(3).

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int, optional
        Number of matrices; ``None`` for a single one.

    Returns
    -------
    numpy.ndarray, shape (3, 3) or (n, 3, 3), float64
    """
    if not isinstance(rng, np.random.Generator):
        raise InputError("rng", f"expected a numpy.random.Generator, got {type(rng).__name__}")
    return Rotation.random(num=n, rng=rng).as_matrix()


def random_rotation_angle_zyz(rng):
    """ZYZ Euler angles of a rotation drawn uniformly (Haar measure) from SO(3).

    Parameters
    ----------
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray, shape (3,), float64
        ``(phi, theta, psi)`` in radians, as :func:`rotation_matrix_zyz_normalized_angle` returns them.
    """
    return rotation_matrix_zyz_normalized_angle(random_rotation_matrix(rng))
