"""Structures: atomic models and density maps to centred densities, and the shipped default set.

Public API
----------
Atomic models (:mod:`aitom.structure.atoms`)
    :func:`read_atoms`, :func:`atoms_to_density`, :func:`pdb_to_density`
Density maps (:mod:`aitom.structure.maps`)
    :func:`read_map`, :func:`map_to_density`, :func:`center_of_mass`, :func:`density_extent`
Shipped set (:mod:`aitom.structure.defaults`)
    :func:`default_structure_ids`, :func:`default_structure_paths`, :func:`default_model_paths`,
    :func:`load_default_densities`
Conventions (:mod:`aitom.structure.grid`)
    :func:`box_centre`, :func:`resolution_to_sigma_nm`, :data:`SIGMA_FACTOR`

See ``doc/structures.md``.
"""
from aitom.structure.atoms import atoms_to_density, pdb_to_density, read_atoms
from aitom.structure.defaults import (
    default_model_paths,
    default_structure_ids,
    default_structure_paths,
    load_default_densities,
)
from aitom.structure.grid import SIGMA_FACTOR, box_centre, resolution_to_sigma_nm
from aitom.structure.maps import center_of_mass, density_extent, map_to_density, read_map

__all__ = [
    "SIGMA_FACTOR",
    "atoms_to_density",
    "box_centre",
    "center_of_mass",
    "default_model_paths",
    "default_structure_ids",
    "default_structure_paths",
    "density_extent",
    "load_default_densities",
    "map_to_density",
    "pdb_to_density",
    "read_atoms",
    "read_map",
    "resolution_to_sigma_nm",
]
