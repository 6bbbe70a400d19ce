"""Simulate a small tomogram with particles of known class, position and orientation (AITom style).

Model
-----
1. Each particle picks a class uniformly, a rotation uniformly from SO(3)
   (:func:`aitom.geometry.ang_loc.random_rotation_matrix`) and a centre uniformly among the voxels whose
   box lies inside the tomogram, rejecting centres closer to an earlier particle than the sum of the
   two radii (``min_distance`` overrides). The rotated density (:func:`aitom.geometry.rotate.rotate`
   about the box centre ``s // 2``) is added at that centre.
2. The whole volume is filtered by the CTF (:func:`aitom.image.optics.ctf.create`) and a missing wedge:
   tilt about y, beam along z, tilts up to ``+-tilt_range_deg``, so Fourier coefficients with
   ``|f_x| < tan(90 - tilt_range_deg) |f_z|`` (physical frequencies) are removed
   (:func:`aitom.image.vol.wedge.util.missing_wedge_rfft`: the rule of
   :func:`aitom.image.vol.wedge.util.wedge_mask` on physical frequencies, whose angles hold for
   non-cubic tomograms too).
3. White noise, passed through the same missing wedge (noise in the projections is back-projected too),
   is added so that ``var(signal) / var(noise) = snr`` over the tomogram.

The ground-truth particle list uses the canonical columns of :mod:`aitom.io.particles`.
"""
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.fft

from aitom.errors import InputError
from aitom.geometry.ang_loc import random_rotation_matrix, rotation_matrix_zyz_normalized_angle
from aitom.geometry.rotate import rotate
from aitom.image.optics import ctf as optics_ctf
from aitom.image.vol.wedge.util import missing_wedge_rfft
from aitom.io.particles import COORDINATE_COLUMNS


@dataclass
class SimulatedTomogram:
    """A simulated tomogram and its ground truth.

    Attributes
    ----------
    tomogram : numpy.ndarray
        ``[x, y, z]`` float32 volume.
    particles : pandas.DataFrame
        One row per particle: ``x_px, y_px, z_px`` (0-based voxels), ``tomogram`` (name),
        ``pixel_size_A``, ``class_name`` and the ZYZ angles ``phi, theta, psi`` (radians, AITom
        convention: ``rotate(density, angle=(phi, theta, psi), c1=c, c2=c)`` with ``c = (s // 2,) * 3``
        reproduces the placed copy).
    voxel_spacing_nm : float
    """

    tomogram: np.ndarray
    particles: pd.DataFrame
    voxel_spacing_nm: float


def particle_radius(density, fraction=0.01):
    """Radius (voxels) of a density about its box centre: farthest voxel above ``fraction`` of the max.

    Parameters
    ----------
    density : array_like, shape (s, s, s)
    fraction : float

    Returns
    -------
    float
    """
    density = np.asarray(density)
    s = density.shape[0]
    support = np.argwhere(density > fraction * density.max())
    if len(support) == 0:
        return 0.0
    return float(np.sqrt(((support - s // 2) ** 2).sum(axis=1)).max())


def place_particles(shape, radii, n_particles, rng, min_distance=None, margin=0, max_tries=1000):
    """Random non-overlapping centres.

    Parameters
    ----------
    shape : tuple of 3 int
    radii : array_like, shape (n_particles,)
        Radius of each particle (voxels).
    n_particles : int
    rng : numpy.random.Generator
    min_distance : float, optional
        Minimum centre distance for every pair; default ``radius_i + radius_j``.
    margin : int
        Keep centres at least this far from every face.
    max_tries : int
        Draws per particle before giving up.

    Returns
    -------
    numpy.ndarray, shape (n_particles, 3), int

    Raises
    ------
    InputError
        If the particles do not fit.
    """
    radii = np.asarray(radii, dtype=float)
    high = np.asarray(shape) - 1 - margin
    if np.any(high < margin):
        raise InputError("shape", f"tomogram {tuple(shape)} is smaller than a particle box ({2 * margin + 1})")
    centres = np.empty((0, 3), dtype=int)
    for i in range(n_particles):
        candidates = rng.integers(margin, high, size=(max_tries, 3), endpoint=True)
        needed = radii[:i] + radii[i] if min_distance is None else np.full(i, float(min_distance))
        if i:
            distance = np.sqrt(((candidates[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2))
            free = (distance >= needed[None, :]).all(axis=1)
        else:
            free = np.ones(max_tries, dtype=bool)
        if not free.any():
            raise InputError("n_particles", f"placed only {i} of {n_particles} particles without overlap in "
                                            f"{tuple(shape)}; use a larger tomogram or fewer particles")
        centres = np.vstack([centres, candidates[np.argmax(free)]])
    return centres


def simulate_tomogram(densities, shape, n_particles, rng, voxel_spacing_nm=1.0, snr=0.5, tilt_range_deg=60.0,
                      defocus_um=-5.0, voltage_kv=300.0, cs_mm=2.0, ctf_sigma=None, amplitude_contrast=0.0,
                      min_distance=None, name="tomogram"):
    """Simulate a tomogram with randomly placed, rotated particles (see the module docstring).

    Parameters
    ----------
    densities : dict of str to array_like
        Class name -> density cube ``(s, s, s)`` (all the same ``s``), centred on voxel ``s // 2``, e.g.
        :func:`aitom.structure.load_default_densities`.
    shape : tuple of 3 int
        Tomogram shape ``(nx, ny, nz)``.
    n_particles : int
    rng : numpy.random.Generator
    voxel_spacing_nm : float
    snr : float or None
        Signal-to-noise variance ratio; ``None`` adds no noise.
    tilt_range_deg : float
        Largest tilt (degrees); 90 means no missing wedge.
    defocus_um : float or None
        Defocus in micrometres (negative: underfocus, AITom convention); ``None`` applies no CTF.
    voltage_kv, cs_mm, ctf_sigma, amplitude_contrast : float
        Microscope parameters for :func:`aitom.image.optics.ctf.create` (``sigma``: the envelope;
        ``amplitude_contrast``: 0 is AITom's form, microscopes have about 0.07-0.1).
    min_distance : float, optional
        Minimum centre distance (voxels); default the sum of the two particle radii.
    name : str
        Tomogram name written to the ``tomogram`` column.

    Returns
    -------
    SimulatedTomogram
    """
    if not isinstance(rng, np.random.Generator):
        raise InputError("rng", f"expected a numpy.random.Generator, got {type(rng).__name__}")
    if not densities:
        raise InputError("densities", "need at least one class")
    class_names = list(densities)
    cubes = [np.asarray(densities[c], dtype=np.float32) for c in class_names]
    s = cubes[0].shape[0]
    if any(c.shape != (s, s, s) for c in cubes):
        raise InputError("densities", "all densities must be cubes of the same size")
    if snr is not None and not snr > 0:
        raise InputError("snr", f"must be positive or None, got {snr!r}")
    shape = tuple(int(n) for n in shape)
    labels = rng.integers(len(class_names), size=n_particles)
    radii = np.array([particle_radius(c) for c in cubes])[labels]
    centres = place_particles(shape, radii, n_particles, rng, min_distance=min_distance, margin=s // 2)
    rotations = random_rotation_matrix(rng, n_particles).reshape(-1, 3, 3)
    volume = np.zeros(shape, dtype=np.float32)
    box_centre = (s // 2,) * 3
    for label, centre, rm in zip(labels, centres, rotations):
        start = centre - s // 2
        region = tuple(slice(a, a + s) for a in start)
        volume[region] += rotate(cubes[label], rm=rm, c1=box_centre, c2=box_centre, default_val=0.0)

    wedge = missing_wedge_rfft(shape, tilt_range_deg)
    transfer = wedge
    if defocus_um is not None:
        op_ctf = {"Dz": defocus_um, "Cs": cs_mm, "voltage": voltage_kv, "pix_size": voxel_spacing_nm,
                  "sigma": ctf_sigma, "amplitude_contrast": amplitude_contrast}
        transfer = wedge * optics_ctf.rfft_from_op(op_ctf, shape).astype(np.float32)
    signal = scipy.fft.irfftn(scipy.fft.rfftn(volume) * transfer, s=shape).astype(np.float32)
    if snr is not None:
        noise = scipy.fft.irfftn(scipy.fft.rfftn(rng.standard_normal(shape, dtype=np.float32)) * wedge, s=shape)
        signal += (noise * np.sqrt(signal.var() / (snr * noise.var()))).astype(np.float32)

    particles = pd.DataFrame(centres.astype(float), columns=list(COORDINATE_COLUMNS))
    particles["tomogram"] = name
    particles["pixel_size_A"] = voxel_spacing_nm * 10.0
    particles["class_name"] = [class_names[i] for i in labels]
    particles[["phi", "theta", "psi"]] = np.array([rotation_matrix_zyz_normalized_angle(r)
                                                   for r in rotations]).reshape(-1, 3)
    return SimulatedTomogram(tomogram=signal, particles=particles, voxel_spacing_nm=float(voxel_spacing_nm))
