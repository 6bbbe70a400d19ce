"""Picks and labelled subtomograms from simulated tomograms (:mod:`aitom.simulation.tomogram`).

What the picking tutorials (``doc/tutorials/picks_tutorial.py``, ``doc/tutorials/copick_tutorial.py``)
build their data from: candidate picks from class-agnostic template matching, as a user's picker
would give them, and labelled training subtomograms whose ``background`` class holds the matcher's
false picks (hard negatives, mostly rims of particles) and random negatives away from every particle.
"""
import numpy as np
from scipy.spatial.transform import Rotation

from aitom.image.optics import ctf as optics_ctf
from aitom.io.particles import COORDINATE_COLUMNS
from aitom.picking.evaluate import match_picks
from aitom.picking.extract import extract_background, extract_subtomograms
from aitom.picking.template_matching import pick_particles
from aitom.simulation.tomogram import particle_radius


def class_agnostic_picks(tomogram, densities, defocus_um, voxel_spacing_nm, n):
    """The ``n`` best peaks of template matching with one template for every class.

    The template is the mean of the class densities filtered by the acquisition's CTF, matched over the
    24 rotations of the octahedral group; peaks are at least 1.5 median particle radii apart.

    Parameters
    ----------
    tomogram : numpy.ndarray
        ``[x, y, z]`` volume.
    densities : dict of str to numpy.ndarray
        Class densities on cubes of one size, at the tomogram's voxel spacing.
    defocus_um : float
        The acquisition's defocus (negative for underfocus), for the template's CTF.
    voxel_spacing_nm : float
    n : int
        Number of picks.

    Returns
    -------
    pandas.DataFrame
        :func:`aitom.picking.template_matching.pick_particles`' picks (``x_px, y_px, z_px``, ``score``, ...).

    Examples
    --------
    >>> import numpy as np
    >>> from aitom.picking.simulated import class_agnostic_picks
    >>> ball = (np.indices((9, 9, 9)) - 4.0)
    >>> ball = (np.sqrt((ball ** 2).sum(0)) <= 2).astype(np.float32)
    >>> tomogram = np.zeros((40, 40, 40), np.float32)
    >>> tomogram[10:19, 10:19, 10:19] += ball; tomogram[25:34, 22:31, 20:29] += ball
    >>> picks = class_agnostic_picks(tomogram, {"ball": ball}, -1.0, 1.0, 2)
    >>> sorted(map(tuple, picks[["x_px", "y_px", "z_px"]].to_numpy().astype(int).tolist()))
    [(14, 14, 14), (29, 26, 24)]
    """
    mean = np.mean(list(densities.values()), axis=0)
    ctf = optics_ctf.create(defocus_um, mean.shape, pix_size=voxel_spacing_nm)["ctf"]
    template = optics_ctf.apply_ctf(mean, ctf).astype(np.float32)
    radius = float(np.median([particle_radius(d) for d in densities.values()]))
    return pick_particles(tomogram, template, Rotation.create_group("O").as_matrix(), n=int(n),
                          min_distance=1.5 * radius)


def labelled_subtomograms(simulation, class_names, candidates, box_size, n_background, match_radius, rng,
                          background="background"):
    """Training cubes of one simulated tomogram: its particles, and ``background`` negatives.

    Parameters
    ----------
    simulation : aitom.simulation.tomogram.SimulatedTomogram
    class_names : list of str
        Label order; holds every particle class and ``background``.
    candidates : pandas.DataFrame
        Picks on this tomogram (e.g. :func:`class_agnostic_picks`); those matching no particle within
        ``match_radius`` voxels become background cubes.
    box_size : int
    n_background : int
        Random negatives, at least ``box_size / 2`` voxels from every particle.
    match_radius : float
        Voxels.
    rng : numpy.random.Generator

    Returns
    -------
    x : numpy.ndarray, shape (n, box_size, box_size, box_size), float32
    y : numpy.ndarray, shape (n,), int
        Indices into ``class_names``: the particles first, then the false picks, then random negatives.
    """
    centres = simulation.particles[list(COORDINATE_COLUMNS)].to_numpy()
    particles, _, _ = extract_subtomograms(simulation.tomogram, centres, box_size)
    false = candidates[match_picks(candidates, simulation.particles, match_radius) < 0]
    hard, _, _ = extract_subtomograms(simulation.tomogram, false[list(COORDINATE_COLUMNS)].to_numpy(), box_size)
    negatives, _ = extract_background(simulation.tomogram, centres, n_background, box_size, rng,
                                      min_distance=box_size / 2)
    y = [class_names.index(c) for c in simulation.particles["class_name"]]
    y += [class_names.index(background)] * (len(hard) + len(negatives))
    return np.concatenate([particles, hard, negatives]).astype(np.float32, copy=False), np.asarray(y)
