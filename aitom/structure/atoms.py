"""Atomic models (PDB, mmCIF) to density maps.

Model
    Each atom is a 3D Gaussian of weight equal to its atomic number ``Z`` (the number of electrons;
    occupancy is ignored) and standard deviation ``sigma = resolution / (pi * sqrt(2))`` (see
    :mod:`aitom.structure.grid`; the convention of EMAN ``pdb2mrc`` and Chimera ``molmap``).
    Hydrogens (and deuteriums) and waters are dropped: most crystal structures have no hydrogens, so
    dropping them makes maps of models with and without hydrogens comparable. Ligands and ions are kept.
    Only the first model (NMR ensembles) and the first alternative conformation are used.

Sampling
    Each voxel holds the integral of the Gaussians over its cube (computed exactly with ``erf``, each
    Gaussian cut at 5 sigma), divided by the voxel volume: values are a density in weight (electrons)
    per nm^3, the map times the voxel volume sums to the total weight, and there is no aliasing when
    ``sigma`` is smaller than the voxel spacing.

Placement
    The weighted centre of the atoms (for ``Z`` weights the centre of the electrons, close to the centre
    of mass) sits on the box centre voxel ``box_size // 2``.
"""
import os

import gemmi
import numpy as np
from scipy.special import erf

from aitom.errors import InputError
from aitom.structure.grid import (
    box_centre,
    check_fit,
    positive_float,
    positive_int,
    resolution_to_sigma_nm,
    smallest_box,
)

CUTOFF_SIGMA = 5.0
"""Each atom's Gaussian is cut at this many standard deviations (as Chimera ``molmap``)."""

_PADDING_SIGMA = 3.0
_CHUNK_ELEMENTS = 2**22


def read_atoms(path, assembly="first"):
    """Read the heavy atoms of an atomic model, optionally expanded to a biological assembly.

    Parameters
    ----------
    path : str or os.PathLike
        PDB or mmCIF file, optionally gzipped (``.pdb``, ``.ent``, ``.cif``, ``.mmcif``, ``+ .gz``).
    assembly : str or None, default "first"
        ``"first"``: the first biological assembly listed in the file (``REMARK 350 BIOMT`` in PDB,
        ``_pdbx_struct_assembly_gen`` in mmCIF), or the deposited coordinates if the file lists none.
        A name such as ``"1"``: that assembly (``InputError`` if the file does not define it).
        ``None``: the deposited coordinates (asymmetric unit) as they are.

    Returns
    -------
    coords_nm : ndarray, shape (n, 3), float64
        Atom positions (x, y, z) in nm.
    atomic_numbers : ndarray, shape (n,), int64
        Atomic number of each atom.

    Raises
    ------
    InputError
        Missing, unreadable or empty file, unknown assembly name.
    """
    model, assemblies = _read_model(path)
    if assembly is not None:
        names = [a.name for a in assemblies]
        if assembly == "first":
            chosen = assemblies[0] if assemblies else None
        elif assembly in names:
            chosen = assemblies[names.index(assembly)]
        else:
            listed = ", ".join(repr(n) for n in names) or "none"
            raise InputError(path, f"no biological assembly {assembly!r} (the file defines: {listed})")
        if chosen is not None:
            try:
                model = gemmi.make_assembly(chosen, model, gemmi.HowToNameCopiedChain.AddNumber)
            except RuntimeError as err:
                raise InputError(path, f"cannot build biological assembly {chosen.name!r} ({err})") from err
    # Filter after the assembly: its generators may name water-only chains.
    model.remove_hydrogens()
    model.remove_waters()
    rows = [(a.pos.x, a.pos.y, a.pos.z, a.element.atomic_number) for ch in model for res in ch for a in res]
    if not rows:
        raise InputError(path, "no atoms other than hydrogens and waters")
    table = np.array(rows, dtype=np.float64)
    return table[:, :3] / 10.0, table[:, 3].astype(np.int64)


def _read_model(path):
    """First model of ``path`` (first alternative conformation only) and the file's assemblies."""
    if not os.path.isfile(path):
        raise InputError(path, "no such file")
    try:
        st = gemmi.read_structure(os.fspath(path))
    except (RuntimeError, ValueError, OSError) as err:
        raise InputError(path, f"cannot read as PDB or mmCIF ({err})") from err
    if len(st) == 0 or st[0].count_atom_sites() == 0:
        raise InputError(path, "no atoms (not a PDB or mmCIF atomic model?)")
    st.remove_alternative_conformations()
    return st[0], list(st.assemblies)


def atoms_to_density(coords_nm, weights, voxel_spacing_nm, resolution_nm, box_size=None, crop=False):
    """Density of weighted atoms on a cubic grid centred on their weighted centre.

    Parameters
    ----------
    coords_nm : array_like, shape (n, 3)
        Atom positions (x, y, z) in nm.
    weights : array_like, shape (n,)
        Non-negative atom weights (e.g. atomic numbers); their sum must be > 0.
    voxel_spacing_nm : float
        Voxel edge in nm.
    resolution_nm : float
        Resolution in nm; each atom is a Gaussian of standard deviation
        :func:`~aitom.structure.grid.resolution_to_sigma_nm` ``(resolution_nm)``.
    box_size : int or None, default None
        Edge of the cubic box in voxels. None: the smallest box that holds every atom centre with a
        margin of 3 sigma.
    crop : bool, default False
        If False, an atom centre outside the box raises ``InputError``; if True the density is cropped.

    Returns
    -------
    ndarray, shape (box_size, box_size, box_size), float32
        Density indexed ``[x, y, z]`` in weight per nm^3, averaged over each voxel. The
        weighted centre of the atoms is at voxel ``(box_size // 2,) * 3``.

    Raises
    ------
    InputError
        Bad shapes or values, or atoms outside the box with ``crop=False``.
    """
    coords = np.asarray(coords_nm, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] != 3 or coords.shape[0] == 0:
        raise InputError("coords_nm", f"must have shape (n, 3) with n >= 1, got {coords.shape}")
    if w.shape != (coords.shape[0],):
        raise InputError("weights", f"must have shape ({coords.shape[0]},), got {w.shape}")
    if not np.all(np.isfinite(coords)):
        raise InputError("coords_nm", "contains NaN or infinity")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise InputError("weights", "must be finite, >= 0 and not all zero")
    return _density(coords, w, voxel_spacing_nm, resolution_nm, box_size, crop, "coords_nm")


def pdb_to_density(path, voxel_spacing_nm, resolution_nm, box_size=None, assembly="first", crop=False):
    """Density map of a PDB or mmCIF atomic model.

    Parameters
    ----------
    path : str or os.PathLike
        PDB or mmCIF file, optionally gzipped.
    voxel_spacing_nm : float
        Voxel edge in nm.
    resolution_nm : float
        Resolution in nm (Gaussian ``sigma = resolution_nm / (pi * sqrt(2))``).
    box_size : int or None, default None
        Edge of the cubic box in voxels; None: the smallest box holding every atom with a 3 sigma margin.
    assembly : str or None, default "first"
        Biological assembly, as in :func:`read_atoms`.
    crop : bool, default False
        If False, atoms outside the box raise ``InputError`` naming the file; if True they are cropped.

    Returns
    -------
    ndarray, shape (box_size, box_size, box_size), float32
        Density indexed ``[x, y, z]`` in electrons (atomic numbers) per nm^3, averaged over each voxel,
        heavy atoms only, centre of the electrons at voxel ``box_size // 2``.

    Raises
    ------
    InputError
        Missing or unreadable file, unknown assembly, bad parameters, or a model too big for the box.
    """
    coords, z = read_atoms(path, assembly=assembly)
    return _density(coords, z.astype(np.float64), voxel_spacing_nm, resolution_nm, box_size, crop, os.fspath(path))


def _density(coords, w, voxel_spacing_nm, resolution_nm, box_size, crop, source):
    """Validated core of :func:`atoms_to_density`; ``source`` names the input in errors."""
    spacing = positive_float(voxel_spacing_nm, "voxel_spacing_nm")
    sigma_vox = resolution_to_sigma_nm(resolution_nm) / spacing
    com = (w[:, None] * coords).sum(axis=0) / w.sum()
    offsets = (coords - com) / spacing
    if box_size is None:
        margin = _PADDING_SIGMA * sigma_vox
        n = smallest_box(np.concatenate([offsets - margin, offsets + margin]))
    else:
        n = positive_int(box_size, "box_size")
        check_fit(offsets, n, crop, source)
    u = offsets + box_centre(n)
    reach = CUTOFF_SIGMA * sigma_vox + 0.5
    inside = np.all((u + reach >= 0) & (u - reach < n), axis=1)
    flat = _splat(u[inside], w[inside], n, sigma_vox)
    return (flat.reshape(n, n, n) / spacing**3).astype(np.float32)


def _splat(u, w, n, sigma_vox):
    """Integrate weighted Gaussians over the voxels of an ``n^3`` grid.

    Parameters
    ----------
    u : ndarray, shape (k, 3)
        Gaussian centres in voxel index units (voxel ``i`` covers ``[i - 0.5, i + 0.5]``).
    w : ndarray, shape (k,)
        Weights.
    n : int
        Grid edge in voxels.
    sigma_vox : float
        Gaussian standard deviation in voxels.

    Returns
    -------
    ndarray, shape (n**3,), float64
        Flattened C-order grid.
    """
    half = CUTOFF_SIGMA * sigma_vox
    width = int(np.floor(2 * half)) + 2
    steps = np.arange(width)
    scale = 1.0 / (np.sqrt(2.0) * sigma_vox)
    chunk = max(1, _CHUNK_ELEMENTS // width**3)
    total = np.zeros(n**3, dtype=np.float64)
    for s in range(0, len(u), chunk):
        uc = u[s : s + chunk]
        idx = np.floor(uc - half + 0.5).astype(np.int64)[:, :, None] + steps
        frac = 0.5 * (erf((idx + 0.5 - uc[:, :, None]) * scale) - erf((idx - 0.5 - uc[:, :, None]) * scale))
        valid = (idx >= 0) & (idx < n)
        frac = np.where(valid, frac, 0.0)
        idx = np.clip(idx, 0, n - 1)
        ix, iy, iz = idx[:, 0], idx[:, 1], idx[:, 2]
        fx, fy, fz = frac[:, 0], frac[:, 1], frac[:, 2]
        flat = (ix[:, :, None, None] * n + iy[:, None, :, None]) * n + iz[:, None, None, :]
        vals = w[s : s + chunk, None, None, None] * fx[:, :, None, None] * fy[:, None, :, None] * fz[:, None, None, :]
        total += np.bincount(flat.ravel(), weights=vals.ravel(), minlength=n**3)
    return total
