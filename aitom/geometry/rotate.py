"""Rotate and translate volumes, AITom convention (see :mod:`aitom.geometry.ang_loc`).

Volumes are indexed ``v[x, y, z]``; centres, shifts and matrices are in voxel-index coordinates.
``rotate(v, rm=rm, loc_r=t)`` returns ``vr`` with ``vr(x) = v(rm @ (x - c2 - t) + c1)``: the content at
offset ``p`` from ``c1`` in ``v`` lands at offset ``rm.T @ p + t`` from ``c2`` in ``vr``. Samples that fall
outside ``v`` take ``default_val``.

:class:`FourierRotator` gives the spectra of many rotated, shifted copies of a few volumes at once (the
batched rotation the simulator uses).
"""
import numpy as np
from scipy import ndimage

from aitom.errors import InputError
from aitom.geometry.ang_loc import rotation_matrix_zyz


def _vector3(value, name):
    value = np.asarray(value, dtype=np.float64).ravel()
    if value.shape != (3,) or not np.all(np.isfinite(value)):
        raise InputError(name, f"expected 3 finite numbers, got {value!r}")
    return value


def _check_volume(v, name="v"):
    v = np.asarray(v)
    if v.ndim != 3 or min(v.shape) < 1:
        raise InputError(name, f"expected a 3-D volume (x, y, z), got shape {v.shape}")
    if not np.issubdtype(v.dtype, np.floating):
        v = v.astype(np.float64)
    return v


def _check_order(order):
    if order not in (0, 1, 2, 3, 4, 5):
        raise InputError("order", f"spline order must be an integer 0..5, got {order!r}")


def rotate(v, angle=None, rm=None, c1=None, c2=None, loc_r=None, siz2=None, default_val=0.0, order=1):
    """Rotate and shift a volume.

    Parameters
    ----------
    v : array_like, shape (x, y, z)
        Input volume.
    angle : array_like, shape (3,), optional
        ZYZ Euler angles ``(phi, theta, psi)`` in radians; exclusive with ``rm``.
    rm : array_like, shape (3, 3), optional
        Rotation matrix mapping output to input coordinates (AITom convention); the object is rotated by
        ``rm.T``. Identity when neither ``angle`` nor ``rm`` is given.
    c1, c2 : array_like, shape (3,), optional
        Rotation centre in the input and the output, in voxels; default ``(shape - 1) / 2``.
    loc_r : array_like, shape (3,), optional
        Shift of the rotated object in the output, in voxels.
    siz2 : tuple of 3 int, optional
        Output shape; default ``v.shape``.
    default_val : float or None
        Value for samples outside ``v``; ``None`` fills them with ``v.mean()`` (AITom's ``rotate_pad_mean``).
    order : int
        Spline interpolation order (1 = trilinear).

    Returns
    -------
    numpy.ndarray, shape siz2, dtype of ``v`` (float64 for integer input)
    """
    v = _check_volume(v)
    _check_order(order)
    if angle is not None:
        if rm is not None:
            raise InputError("angle", "give either angle or rm, not both")
        rm = rotation_matrix_zyz(angle)
    rm = np.eye(3) if rm is None else np.asarray(rm, dtype=np.float64)
    if rm.shape != (3, 3):
        raise InputError("rm", f"expected a 3x3 matrix, got shape {rm.shape}")
    siz1 = np.array(v.shape, dtype=np.float64)
    siz2 = siz1 if siz2 is None else np.array(siz2, dtype=np.float64)
    if siz2.shape != (3,) or np.any(siz2 < 1) or np.any(siz2 % 1):
        raise InputError("siz2", f"expected 3 positive integers, got {siz2!r}")
    c1 = (siz1 - 1) / 2.0 if c1 is None else _vector3(c1, "c1")
    c2 = (siz2 - 1) / 2.0 if c2 is None else _vector3(c2, "c2")
    if loc_r is not None:
        c2 = c2 + _vector3(loc_r, "loc_r")
    fill = np.nan if default_val is None else float(default_val)
    vr = ndimage.affine_transform(v, rm, offset=c1 - rm @ c2, output_shape=tuple(siz2.astype(int)),
                                  order=order, mode="constant", cval=fill)
    if default_val is None:
        vr[np.isnan(vr)] = v.mean()
    return vr


def translate(v, loc_r, default_val=0.0, order=1):
    """Shift a volume by ``loc_r`` voxels: ``vt(x) = v(x - loc_r)``.

    Parameters
    ----------
    v : array_like, shape (x, y, z)
    loc_r : array_like, shape (3,)
        Shift in voxels (fractional shifts are interpolated).
    default_val : float or None
        Fill value for samples outside ``v``; ``None`` uses ``v.mean()``.
    order : int
        Spline interpolation order.

    Returns
    -------
    numpy.ndarray, same shape as ``v``
    """
    return rotate(v, loc_r=loc_r, default_val=default_val, order=order)


class FourierRotator:
    """Spectra of many rotated and shifted copies of a few volumes, at chosen frequencies.

    For band-limited work such as simulation, where only the ``rfftn`` coefficients inside a ball are needed,
    this replaces ``rfftn(rotate(v, ...))``: instead of resampling every voxel it evaluates the continuous
    Fourier transform of each volume at the rotated frequencies. With ``vr = rotate(v, rm=rm, loc_r=t,
    c1=c, c2=c)``::

        rfftn(vr)[k] = exp(-2 pi i k . (c + t) / s) * D(rm @ k),   D(f) = sum_y v(y) exp(-2 pi i f . (y - c) / s)

    ``D`` is precomputed once per volume on a grid ``oversampling`` times finer than the volume's own
    (zero padding) and interpolated trilinearly; the volume is divided beforehand by the real-space
    attenuation that trilinear interpolation causes (``prod_d sinc^2(x_d / (oversampling s))``). At 32^3
    with the default 2x oversampling, band-limited results match ``rotate(order=3)`` (cubic spline) to
    about 0.6 % relative error (1.2 % at worst), ten times closer than ``rotate(order=1)`` does. Unlike
    :func:`rotate`, content shifted past the box edge wraps around instead of being cut.

    Parameters
    ----------
    volumes : array_like, shape (n_vol, s, s, s)
        Cubic volumes indexed ``[i, x, y, z]``.
    max_frequency : float
        Largest ``|k|`` (cycles per box) that :meth:`spectra` will be asked for.
    center : array_like, shape (3,), optional
        Rotation centre ``c`` in voxels; default ``(s - 1) / 2``. Densities of :mod:`aitom.structure` are
        centred on :func:`aitom.image.vol.util.fft_mid_co`.
    oversampling : int
        Fine-grid factor (memory per volume: ``8 * (2 * ceil(oversampling * max_frequency) + 5)^3`` bytes).
    """

    def __init__(self, volumes, max_frequency, center=None, oversampling=2):
        volumes = np.asarray(volumes)
        if volumes.ndim != 4 or len(set(volumes.shape[1:])) != 1 or volumes.dtype.kind not in "fiu":
            raise InputError("volumes", f"expected real cubic volumes (n, s, s, s), got {volumes.dtype} "
                                        f"{volumes.shape}")
        s = volumes.shape[1]
        if not 0 < max_frequency <= np.sqrt(3) * s / 2:
            raise InputError("max_frequency", f"must be in (0, {np.sqrt(3) * s / 2:g}], got {max_frequency!r}")
        if isinstance(oversampling, bool) or not isinstance(oversampling, int) or oversampling < 1:
            raise InputError("oversampling", f"must be a positive integer, got {oversampling!r}")
        self.size = s
        self.center = np.full(3, (s - 1) / 2.0) if center is None else _vector3(center, "center")
        self.oversampling = oversampling
        self.max_frequency = float(max_frequency)
        fine = oversampling * s
        self._half = int(np.ceil(oversampling * max_frequency)) + 2
        width = 2 * self._half + 1
        offsets = np.arange(s) - self.center[:, None]  # (3, s): voxel offsets from the centre per axis
        apod = [np.sinc(o / fine) ** 2 for o in offsets]
        attenuation = apod[0][:, None, None] * apod[1][None, :, None] * apod[2][None, None, :]
        # D(f) at f = j / oversampling is the DFT of the padded volume with the centre moved to index 0;
        # the sub-pixel part of the centre becomes a phase ramp
        whole = np.floor(self.center).astype(int)
        frac = self.center - whole
        j = np.arange(-self._half, self._half + 1)
        wrapped = j % fine  # the DFT is periodic: frequencies past the fine grid's Nyquist wrap around
        ramp = [np.exp(2j * np.pi * j * f / fine) for f in frac]
        phase = ramp[0][:, None, None] * ramp[1][None, :, None] * ramp[2][None, None, :]
        self._spectra = np.empty((len(volumes), width, width, width), dtype=np.complex64)
        padded = np.zeros((fine,) * 3)
        for i, v in enumerate(volumes):
            padded[:s, :s, :s] = v / attenuation
            d = np.fft.fftn(np.roll(padded, tuple(-whole), axis=(0, 1, 2)))
            self._spectra[i] = d[np.ix_(wrapped, wrapped, wrapped)] * phase

    def spectra(self, index, rm, frequencies, loc_r=None):
        """Spectra of rotated, shifted volumes at given frequencies.

        Parameters
        ----------
        index : array_like, shape (n,), int
            Which volume each output is a copy of.
        rm : array_like, shape (n, 3, 3)
            Rotation matrices, AITom convention (as for :func:`rotate`).
        frequencies : array_like, shape (m, 3)
            Frequencies ``k`` (cycles per box; integers for ``rfftn`` coefficients) with
            ``|k| <= max_frequency``.
        loc_r : array_like, shape (n, 3), optional
            Shifts in voxels.

        Returns
        -------
        numpy.ndarray, shape (n, m), complex64
            ``rfftn(rotate(volumes[index[i]], rm=rm[i], loc_r=loc_r[i], c1=center, c2=center))`` at the
            frequencies (up to interpolation error).
        """
        index = np.asarray(index)
        n = index.shape[0] if index.ndim == 1 else -1
        if n < 0 or index.dtype.kind not in "iu" or np.any(index < 0) or np.any(index >= len(self._spectra)):
            raise InputError("index", f"expected (n,) indices into {len(self._spectra)} volumes, got {index!r}")
        rm = np.asarray(rm, dtype=np.float64)
        if rm.shape != (n, 3, 3):
            raise InputError("rm", f"expected shape ({n}, 3, 3), got {rm.shape}")
        loc_r = np.zeros((n, 3)) if loc_r is None else np.asarray(loc_r, dtype=np.float64)
        if loc_r.shape != (n, 3) or not np.all(np.isfinite(loc_r)):
            raise InputError("loc_r", f"expected finite shifts of shape ({n}, 3), got {loc_r.shape}")
        k = np.asarray(frequencies, dtype=np.float64)
        if k.ndim != 2 or k.shape[1] != 3 or np.max(np.sum(k * k, axis=1), initial=0) > self.max_frequency ** 2 + 1e-9:
            raise InputError("frequencies", f"expected (m, 3) frequencies with |k| <= {self.max_frequency:g}")
        width = 2 * self._half + 1
        # fine-grid coordinates of rm @ k, offset so that they are all positive
        f = (np.einsum("nij,mj->nim", rm, k) * self.oversampling + self._half).astype(np.float32)
        floor = np.floor(f)
        w = f - floor
        i0 = floor.astype(np.int32)
        base = (index.astype(np.int64)[:, None] * width + i0[:, 0]) * width
        base = (base + i0[:, 1]) * width + i0[:, 2]
        flat = self._spectra.reshape(-1)
        # trilinear interpolation as successive linear interpolations along z, y, x
        corner = {}
        for dx in (0, 1):
            for dy in (0, 1):
                lo = flat[base + (dx * width + dy) * width]
                hi = flat[base + ((dx * width + dy) * width + 1)]
                corner[dx, dy] = lo + w[:, 2] * (hi - lo)
        along_y = [corner[dx, 0] + w[:, 1] * (corner[dx, 1] - corner[dx, 0]) for dx in (0, 1)]
        d = along_y[0] + w[:, 0] * (along_y[1] - along_y[0])
        shift = ((self.center + loc_r) @ k.T).astype(np.float32)  # (n, m)
        return d * np.exp((-2j * np.pi / self.size) * shift)
