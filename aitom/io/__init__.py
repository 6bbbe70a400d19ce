"""Input and output: MRC volumes, pickles, labelled subtomogram sets, particle lists, atomic writes.

Public API
----------
MRC and pickle files (:mod:`aitom.io.file`, AITom names)
    :func:`read_mrc_data`, :func:`read_mrc_header`, :func:`get_mrc_voxel_spacing`, :func:`put_mrc`,
    :func:`pickle_load`, :func:`pickle_dump`
Subtomogram sets (:mod:`aitom.io.dataset`)
    :class:`SubtomogramSet`, :func:`save_subtomogram_set`, :func:`load_subtomogram_set`,
    :class:`SubtomogramSetWriter`, :func:`from_dj`, :func:`to_dj`, :func:`load_demo_pickle`,
    :func:`load_class_folders`, :func:`load_dataset`, :func:`harmonize_classes`,
    :func:`save_two_domain`, :func:`load_two_domain`
Tomograms (:mod:`aitom.io.tomogram`)
    :func:`open_tomogram` (memory-mapped), :class:`MappedTomogram`
Particle lists
    :mod:`aitom.io.particles`
Atomic writes (:mod:`aitom.io.atomic`)
    :func:`atomic_path`, :func:`atomic_open`

Volumes are indexed ``v[x, y, z]``; MRC voxel sizes are in Ångström, set voxel sizes in nanometres.
See ``doc/data_formats.md``.
"""
from aitom.io.atomic import atomic_open, atomic_path
from aitom.io.dataset import (
    SubtomogramSet,
    SubtomogramSetWriter,
    from_dj,
    harmonize_classes,
    load_class_folders,
    load_dataset,
    load_demo_pickle,
    load_subtomogram_set,
    load_two_domain,
    save_subtomogram_set,
    save_two_domain,
    to_dj,
)
from aitom.io.tomogram import MappedTomogram, open_tomogram
from aitom.io.file import (
    get_mrc_voxel_spacing,
    pickle_dump,
    pickle_load,
    put_mrc,
    read_mrc_data,
    read_mrc_header,
)

__all__ = [
    "MappedTomogram",
    "SubtomogramSet",
    "SubtomogramSetWriter",
    "atomic_open",
    "atomic_path",
    "from_dj",
    "get_mrc_voxel_spacing",
    "harmonize_classes",
    "load_class_folders",
    "load_dataset",
    "load_demo_pickle",
    "load_subtomogram_set",
    "load_two_domain",
    "open_tomogram",
    "pickle_dump",
    "pickle_load",
    "put_mrc",
    "read_mrc_data",
    "read_mrc_header",
    "save_subtomogram_set",
    "save_two_domain",
    "to_dj",
]
