"""Contrast transfer function, after TOM's ``tom_create_ctf.m`` (AITom ``image.optics.ctf``).

The phase-contrast CTF on an ``fftshift``-ed frequency grid::

    ctf(r) = sin(pi / 2 * (Cs * lambda**3 * r**4 - 2 * Dz * lambda * r**2)) * exp(-(r / (sigma * Ny))**2)

with ``r`` the spatial frequency (1/m), ``lambda`` the relativistic electron wavelength,
``Ny = 1 / (2 * pix_size)`` the Nyquist frequency, and the envelope only when ``sigma`` is given. As in TOM
there is no amplitude-contrast term by default, so ``ctf(0) = 0``: the mean of a filtered volume is removed;
``amplitude_contrast=A`` gives ``sqrt(1 - A²)·sin χ + A·cos χ``, the form of most other simulators.
"""
import numpy as np

from aitom.errors import InputError
from aitom.image.vol import util as vol_util

OP_KEYS = ("Dz", "Cs", "voltage")
"""Keys of AITom's ``op['ctf']`` that :func:`create` needs (besides ``pix_size``, the voxel size in nm)."""

OP_OPTIONAL = ("sigma", "amplitude_contrast")
"""Keys of ``op['ctf']`` that :func:`create` uses where present."""


def electron_wavelength_m(voltage_kv):
    """Relativistic electron wavelength (m) at an accelerating voltage in kV (TOM's formula).

    ``sqrt(150.4 / (V * (1 + V / 1022000))) * 1e-10`` with ``V`` in volts; 1.97e-12 m at 300 kV.
    """
    volts = float(voltage_kv) * 1000.0
    return np.sqrt(150.4 / (volts * (1.0 + volts / 1022000.0))) * 1e-10


def create(Dz, size, pix_size=0.72, voltage=300.0, Cs=2.0, sigma=None, amplitude_contrast=0.0):
    """CTF of a 2-D image or 3-D volume, ``fftshift``-ed (zero frequency at ``size // 2``).

    Parameters
    ----------
    Dz : float
        Defocus in micrometres; negative is underfocus (AITom/TOM convention), e.g. -5.0.
    size : sequence of int, length 2 or 3
        Image or volume shape, ``(x, y[, z])``.
    pix_size : float
        Pixel (voxel) size in nm.
    voltage : float
        Accelerating voltage in kV.
    Cs : float
        Spherical aberration in mm.
    sigma : float, optional
        Envelope width in units of the Nyquist frequency: the CTF is damped by ``exp(-(r / (sigma Ny))**2)``,
        i.e. by 1/e at ``r = sigma * Ny``. No envelope when ``None``.
    amplitude_contrast : float
        Share ``A`` of amplitude contrast in [0, 1): the CTF is ``sqrt(1 - A²)·sin χ + A·cos χ``. AITom's CTF
        (and the default) has none; microscopes and other simulators use about 0.07-0.1.

    Returns
    -------
    dict
        ``'ctf'``: the CTF, shape ``size``, float64, values in [-1, 1]; ``'amplitude'``: the matching cosine
        term (same envelope). Frequencies are ``(i - size // 2) / (size * pix_size)`` per axis; for even sizes
        this equals TOM's grid, for odd sizes it keeps the zero frequency where ``fftshift`` puts it.
    """
    size = tuple(np.asarray(size).tolist())
    if len(size) not in (2, 3):
        raise InputError("size", f"2-D or 3-D only, got size {size!r}")
    for name, value in (("Dz", Dz), ("pix_size", pix_size), ("voltage", voltage), ("Cs", Cs)):
        if not np.isfinite(value):
            raise InputError(name, f"must be finite, got {value!r}")
    if not pix_size > 0 or not voltage > 0 or Cs < 0:
        raise InputError("pix_size, voltage, Cs", f"need pix_size > 0, voltage > 0, Cs >= 0; got "
                                                  f"{pix_size}, {voltage}, {Cs}")
    if not 0 <= amplitude_contrast < 1:
        raise InputError("amplitude_contrast", f"must be in [0, 1), got {amplitude_contrast!r}")
    if sigma is not None and not sigma > 0:
        raise InputError("sigma", f"envelope width must be positive, got {sigma!r}")
    cs_m = Cs * 1e-3
    dz_m = Dz * 1e-6
    pix_m = pix_size * 1e-9
    lam = electron_wavelength_m(voltage)
    nyquist = 1.0 / (2.0 * pix_m)
    g = vol_util.grid_displacement_to_center(size, mid_co=vol_util.fft_mid_co(size))
    g /= (np.array(size, dtype=np.float64) * pix_m).reshape((-1,) + (1,) * len(size))
    r2 = np.sum(g * g, axis=0)
    chi = (np.pi / 2.0) * (cs_m * lam ** 3 * r2 * r2 - 2.0 * dz_m * lam * r2)
    ctf = np.sqrt(1.0 - amplitude_contrast ** 2) * np.sin(chi) + amplitude_contrast * np.cos(chi)
    amplitude = np.cos(chi)
    if sigma is not None:
        envelope = np.exp(-r2 / (sigma * nyquist) ** 2)
        ctf *= envelope
        amplitude *= envelope
    return {"ctf": ctf, "amplitude": amplitude}


def rfft_from_op(op_ctf, size):
    """The CTF an ``op['ctf']`` dict describes (:data:`OP_KEYS` and ``pix_size``; :data:`OP_OPTIONAL` keys where
    present), on the ``numpy.fft.rfftn`` grid of a volume of shape ``size``: unshifted, last axis halved, float64.

    The one place the simulator, the source transfer and the defocus estimate build a CTF to multiply a
    spectrum by.

    Examples
    --------
    >>> c = rfft_from_op({"Dz": -5.0, "Cs": 2.0, "voltage": 300.0, "pix_size": 1.0}, (8, 8, 8))
    >>> c.shape, float(c[0, 0, 0])
    ((8, 8, 5), 0.0)
    """
    missing = [k for k in OP_KEYS + ("pix_size",) if k not in op_ctf]
    if missing:
        raise InputError("op['ctf']", f"needs {', '.join(missing)}; has {', '.join(sorted(op_ctf)) or 'nothing'}")
    c = create(op_ctf["Dz"], size, pix_size=op_ctf["pix_size"], voltage=op_ctf["voltage"], Cs=op_ctf["Cs"],
               sigma=op_ctf.get("sigma"), amplitude_contrast=op_ctf.get("amplitude_contrast", 0.0))["ctf"]
    return vol_util.rfft_layout(c)


def apply_ctf(v, ctf):
    """Filter a volume by an ``fftshift``-ed CTF.

    Parameters
    ----------
    v : array_like, shape s
    ctf : array_like, shape s
        From :func:`create`.

    Returns
    -------
    numpy.ndarray, shape s, float64
        ``real(ifftn(ifftshift(ctf * fftshift(fftn(v)))))``.
    """
    v = np.asarray(v)
    ctf = np.asarray(ctf)
    if v.shape != ctf.shape:
        raise InputError("ctf", f"shape {ctf.shape} does not match the volume's {v.shape}")
    return np.real(np.fft.ifftn(np.fft.ifftshift(ctf * np.fft.fftshift(np.fft.fftn(v)))))
