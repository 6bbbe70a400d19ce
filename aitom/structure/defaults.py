"""The shipped default structures (``aitom/data/structures/``), used by the simulation and the demo.

Ten SHREC classes (:data:`SHREC_IDS`, the default set) plus two ribosomes (:data:`RIBOSOME_IDS`, extra).
At 1 nm/voxel the SHREC classes need a box of 9 to 23 voxels, the ribosomes 32. Two structure sets
(:data:`STRUCTURE_SETS`) of the ten SHREC entries ship:

- ``"shrec"`` (default): densities of the deposited coordinates (asymmetric units), from PolNet;
- ``"assemblies"``: densities of the first biological assembly of each entry (``REMARK 350 BIOMT``),
  computed with :func:`aitom.structure.pdb_to_density` at 1 nm per voxel and 1 nm resolution. Seven of the
  ten are oligomers whose shape differs from the asymmetric unit (RuBisCO L8S8, p97 and ClpB hexamers...);
  1s3x, 3d2f and 3gl1 are monomers. A second, independent benchmark set (see ``doc/results.md``).

See ``doc/structures.md``.
"""
import importlib.resources

from aitom.errors import InputError
from aitom.structure.maps import map_to_density

SHREC_IDS = ("1bxn", "1qvr", "1s3x", "1u6g", "2cg9", "3cf3", "3d2f", "3gl1", "3h84", "3qm1")
"""The ten SHREC classes, the default set."""

RIBOSOME_IDS = ("4v4r", "4v7r")
"""Extra structures shipped beside the default set: bacterial 70S and yeast 80S ribosomes."""

MODEL_IDS = ("1s3x", "3qm1")
"""Structures whose atomic model (wwPDB entry, gzipped) is shipped too."""

STRUCTURE_SETS = {"shrec": "", "assemblies": "assemblies"}
"""Shipped structure sets: name -> sub-folder of ``aitom/data/structures`` holding ``<id>.mrc.gz``."""


def _data_dir():
    """Folder of the shipped structures inside the installed package."""
    return importlib.resources.files("aitom").joinpath("data", "structures")


def default_structure_ids(include_ribosomes=False):
    """Identifiers (lower-case PDB ids) of the shipped structures.

    Parameters
    ----------
    include_ribosomes : bool, default False
        Also list the two ribosomes (:data:`RIBOSOME_IDS`).

    Returns
    -------
    list of str
        Sorted PDB ids: the ten SHREC classes by default.
    """
    return sorted(SHREC_IDS + (RIBOSOME_IDS if include_ribosomes else ()))


def default_structure_paths(ids=None, structure_set="shrec"):
    """Paths of the shipped density maps.

    Parameters
    ----------
    ids : iterable of str or None, default None
        PDB ids among the shipped ones; None: :func:`default_structure_ids`.
    structure_set : str, default "shrec"
        A key of :data:`STRUCTURE_SETS` (the ribosomes ship in "shrec" only).

    Returns
    -------
    dict of str to pathlib.Path
        PDB id -> ``<id>.mrc.gz`` (1 nm/voxel map), in the order of ``ids``.
    """
    if structure_set not in STRUCTURE_SETS:
        raise InputError("structure_set", f"unknown {structure_set!r}; shipped: {', '.join(STRUCTURE_SETS)}")
    folder = _data_dir().joinpath(STRUCTURE_SETS[structure_set]) if STRUCTURE_SETS[structure_set] else _data_dir()
    known = SHREC_IDS + (RIBOSOME_IDS if structure_set == "shrec" else ())
    return {i: folder.joinpath(f"{i}.mrc.gz") for i in _check_ids(ids, known)}


def default_model_paths():
    """Paths of the shipped atomic models.

    Returns
    -------
    dict of str to pathlib.Path
        PDB id -> ``<id>.pdb.gz`` (unmodified wwPDB entry with ``REMARK 350 BIOMT``) for :data:`MODEL_IDS`.
    """
    return {i: _data_dir().joinpath(f"{i}.pdb.gz") for i in MODEL_IDS}


def load_default_densities(voxel_spacing_nm=1.0, box_size=32, ids=None, resolution_nm=None, crop=False,
                           structure_set="shrec"):
    """Shipped densities, resampled, centred and normalised.

    Parameters
    ----------
    voxel_spacing_nm : float, default 1.0
        Output voxel edge in nm.
    box_size : int, default 32
        Output box edge in voxels.
    ids : iterable of str or None, default None
        PDB ids among the shipped ones; None: the ten SHREC classes.
    resolution_nm : float or None, default None
        Optional low-pass resolution in nm (see :func:`aitom.structure.maps.map_to_density`).
    crop : bool, default False
        A structure that does not fit in the box (voxels above 1 % of its maximum outside it) raises
        ``InputError`` naming its map and the box it needs; with ``crop=True`` it is cropped instead.
        At 1 nm the ten SHREC classes fit in 23^3 or larger, the ribosomes need 32^3 (or ``voxel_spacing_nm=1.2``
        for 28^3).
    structure_set : str, default "shrec"
        A key of :data:`STRUCTURE_SETS`.

    Returns
    -------
    dict of str to ndarray, shape (box_size, box_size, box_size), float32
        PDB id -> density indexed ``[x, y, z]``: zero background, maximum exactly 1, centre of mass at
        voxel ``box_size // 2``. The max-1 scale removes the maps' arbitrary intensity units (4v7r is
        stored on a scale about 30 times smaller than the others).

    Raises
    ------
    InputError
        Unknown id, bad parameters, or a structure too big for the box with ``crop=False``.
    """
    out = {}
    for pdb_id, path in default_structure_paths(ids, structure_set).items():
        with importlib.resources.as_file(path) as local:
            v = map_to_density(local, voxel_spacing_nm, box_size, resolution_nm=resolution_nm, crop=crop)
        out[pdb_id] = v / v.max()
    return out


def _check_ids(ids, known):
    """``ids`` as a list (None: the SHREC set), or ``InputError`` for unknown ids."""
    if ids is None:
        return list(SHREC_IDS)
    if isinstance(ids, str):
        raise InputError("ids", f"must be a list of PDB ids, got the string {ids!r}")
    ids = list(ids)
    unknown = [i for i in ids if i not in known]
    if unknown or not ids:
        raise InputError("ids", f"unknown or empty {unknown or ids!r}; shipped: {', '.join(sorted(known))}")
    return ids
