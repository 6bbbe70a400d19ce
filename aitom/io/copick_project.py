"""copick projects: open a project, read picks as particle lists, read tomogram regions, write pick sets.

`copick <https://github.com/copick/copick>`_ is the project format of the CryoET Data Portal ecosystem
(napari-copick, ChimeraX-copick, DeepFindET, copick-torch). It is an optional dependency
(``pip install -e .[copick]``); this module imports it only inside its functions, and every function
raises :class:`~aitom.errors.InputError` with the install command when it is missing.

Layout and conventions (copick 1.x, filesystem projects)
--------------------------------------------------------
A project is a configuration JSON (``config_type: filesystem``, ``overlay_root``, optional
``static_root``, ``pickable_objects``). Each *run* (one tilt series) has *voxel spacings*; each voxel
spacing has *tomograms* named by type (``wbp``, ``denoised``, ...), stored as OME-NGFF zarr groups whose
array ``"0"`` is the full-resolution ``(z, y, x)`` volume. *Pick sets* are JSON files, one per
``(object, user_id, session_id)`` and run; session ``"0"`` marks tool-generated picks.

A point's ``location`` is in Å and its ``transformation`` (4 x 4) may add a shift; the particle centre
is ``location + transformation[:3, 3]`` (``CopickPicks.full_positions``). Dividing by the voxel size
gives the 0-based voxel index with voxel centres at integers, copick's own convention
(``copick.util.formats``: ``positions_px = points_angstrom / voxel_size``), which is the canonical
convention of :mod:`aitom.io.particles`.

:func:`read_picks` returns the canonical particle-list DataFrame (``x_px, y_px, z_px`` in voxels of the
chosen voxel spacing, ``pixel_size_A``, ``tomogram`` = run name) with the copick fields as columns.
:func:`open_zarr_tomogram` returns a :class:`ZarrTomogram`, an ``[x, y, z]`` view that reads only the
zarr chunks a region touches and keeps a bounded cache of decoded chunks, so extraction
(:mod:`aitom.picking.extract`) works on it unchanged. :func:`write_pick_set` adds a new pick set and
refuses to touch an existing one.
"""
import collections
import dataclasses
import json
import os

import numpy as np
import pandas as pd

from aitom.errors import InputError
from aitom.io.particles import COORDINATE_COLUMNS

INSTALL_HINT = "pip install -e .[copick]  (or: pip install copick)"
ROTATION_COLUMNS = tuple(f"copick_r{i}{j}" for i in range(3) for j in range(3))
_DEFAULT_CACHE_MB = 512


def import_copick():
    """The ``copick`` module; InputError with the install command when it is not installed.

    Examples
    --------
    >>> copick = import_copick()  # doctest: +SKIP
    """
    try:
        import copick
    except ImportError:
        raise InputError("copick", f"the copick package is not installed; install it with: {INSTALL_HINT}") from None
    return copick


def open_project(config_path):
    """Open a copick project from its configuration file.

    Parameters
    ----------
    config_path : str or os.PathLike
        copick configuration JSON (any ``config_type`` copick reads; the tests and the tutorial use
        ``filesystem`` projects on the local disk).

    Returns
    -------
    copick.models.CopickRoot

    Raises
    ------
    InputError
        If copick is missing, or the file is missing or not a valid copick configuration.

    Examples
    --------
    >>> root = open_project("project/copick.json")  # doctest: +SKIP
    >>> [run.name for run in root.runs]  # doctest: +SKIP
    ['TS_01', 'TS_02']
    """
    copick = import_copick()
    path = os.fspath(config_path)
    if not os.path.isfile(path):
        raise InputError(path, "no such copick configuration file")
    try:
        return copick.from_file(path)
    except (ValueError, TypeError, KeyError, OSError) as err:  # JSON and pydantic errors are ValueErrors
        problem = " ".join(str(err).split())
        raise InputError(path, f"not a valid copick configuration ({type(err).__name__}: {problem[:300]})") from err


def select_runs(root, names=None):
    """Runs of a project, all of them or those named (in the order given).

    Raises
    ------
    InputError
        If a named run does not exist, or the project has no run.

    Examples
    --------
    >>> runs = select_runs(root, ["TS_01"])  # doctest: +SKIP
    """
    runs = {run.name: run for run in root.runs}
    if names is None:
        if not runs:
            raise InputError("runs", "the copick project has no run")
        return [runs[name] for name in sorted(runs)]
    unknown = [name for name in names if name not in runs]
    if unknown:
        raise InputError("runs", f"run(s) {', '.join(map(repr, unknown))} not in the project "
                                 f"(it has {', '.join(sorted(runs)) or 'none'})")
    return [runs[name] for name in names]


def object_names(root):
    """Names of the project's pickable particle objects, sorted."""
    return sorted(o.name for o in root.pickable_objects if o.is_particle)


def check_objects(root, names, what="object"):
    """Raise InputError unless every name is a pickable particle object of the project."""
    known = object_names(root)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InputError(what, f"{', '.join(map(repr, unknown))} not among the project's pickable particle "
                               f"objects ({', '.join(known)})")


def read_picks(run, voxel_size_A, objects=None, user_id=None, session_id=None):
    """Picks of one run as a particle list in the voxels of a voxel spacing.

    Parameters
    ----------
    run : copick.models.CopickRun
    voxel_size_A : float
        Voxel size (Å) the coordinates are expressed in (the tomogram's).
    objects, user_id, session_id : str or list of str, optional
        Select pick sets by object name, user and session (None: any).

    Returns
    -------
    pandas.DataFrame
        One row per point, pick set by pick set: ``x_px, y_px, z_px`` (particle centre
        ``(location + shift) / voxel_size_A``), ``tomogram`` (run name), ``pixel_size_A``
        (``voxel_size_A``), ``object_name``, ``user_id``, ``session_id``, ``copick_score``,
        ``instance_id`` and the rotation ``copick_r00 .. copick_r22`` of each point's transformation.

    Examples
    --------
    >>> picks = read_picks(run, 10.0, objects=["ribosome"], user_id="alice")  # doctest: +SKIP
    >>> picks[["x_px", "y_px", "z_px", "object_name"]].head()  # doctest: +SKIP
    """
    voxel_size_A = _positive(voxel_size_A, "voxel_size_A")
    frames = []
    for picks in run.get_picks(object_name=objects, user_id=user_id, session_id=session_id):
        source = f"run {run.name}, picks {picks.user_id}_{picks.session_id}_{picks.pickable_object_name}"
        try:
            centres = picks.full_positions().reshape(-1, 3)
            _, transforms = picks.numpy()
            scores, instances = picks.scores(), picks.instance_ids()
        except (ValueError, OSError) as err:  # unreadable JSON, or points that fail copick's validation
            raise InputError(source, f"unreadable pick set ({type(err).__name__}: {err})") from err
        frame = pd.DataFrame(centres / voxel_size_A, columns=list(COORDINATE_COLUMNS))
        frame["tomogram"] = run.name
        frame["pixel_size_A"] = voxel_size_A
        frame["object_name"] = picks.pickable_object_name
        frame["user_id"] = picks.user_id
        frame["session_id"] = picks.session_id
        frame["copick_score"] = scores
        frame["instance_id"] = instances
        rotations = transforms[:, :3, :3].reshape(-1, 9) if len(frame) else np.zeros((0, 9))
        for k, column in enumerate(ROTATION_COLUMNS):
            frame[column] = rotations[:, k]
        frames.append(frame)
    columns = list(COORDINATE_COLUMNS) + ["tomogram", "pixel_size_A", "object_name", "user_id", "session_id",
                                          "copick_score", "instance_id", *ROTATION_COLUMNS]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("tomogram", "object_name", "user_id",
                                                                 "session_id") else float) for c in columns})
    return pd.concat(frames, ignore_index=True)[columns]


@dataclasses.dataclass(frozen=True)
class PickSelection:
    """Which pick sets to read: object names, user id and session id (None: any).

    Examples
    --------
    >>> PickSelection(objects=("ribosome",), user_id="pytom", session_id="0").label()
    'ribosome by pytom, session 0'
    """

    objects: tuple = None
    user_id: str = None
    session_id: str = None

    def __post_init__(self):
        if isinstance(self.objects, str):
            object.__setattr__(self, "objects", (self.objects,))
        elif self.objects is not None:
            object.__setattr__(self, "objects", tuple(self.objects))

    def read(self, run, voxel_size_A):
        """:func:`read_picks` of this selection in ``run``."""
        return read_picks(run, voxel_size_A, self.objects, self.user_id, self.session_id)

    def label(self):
        """Short description for messages."""
        return (f"{', '.join(self.objects) if self.objects else 'any object'} by {self.user_id or 'any user'}, "
                f"session {self.session_id or 'any'}")

    def to_dict(self):
        return {"objects": None if self.objects is None else list(self.objects), "user_id": self.user_id,
                "session_id": self.session_id}


def _positive(value, name):
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise InputError(name, f"must be a positive number, got {value!r}")
    return value


class ZarrTomogram:
    """``[x, y, z]`` view of a zarr ``(z, y, x)`` array that reads chunk by chunk, with a bounded cache.

    Indexing with three slices (``tomogram[x0:x1, y0:y1, z0:z1]``, inside the volume) reads only the
    chunks the region touches, decodes each once and keeps the most recently used ones up to
    ``cache_mb``, so picks read in :func:`aitom.picking.extract.read_order` with ``chunks`` decode each
    chunk about once. It has the attributes extraction and :func:`aitom.classify.deep.fsft.picks.classify_tomogram`
    use, so it can stand where a :class:`aitom.io.tomogram.MappedTomogram` does.

    Attributes
    ----------
    shape : tuple of 3 int
        ``(nx, ny, nz)``.
    chunks : tuple of 3 int
        Chunk shape ``(cx, cy, cz)``.
    voxel_size_A : float
    path : str
        Names the tomogram in errors (``<run>/<voxel size>/<type>``).
    """

    def __init__(self, array, voxel_size_A, path, cache_mb=_DEFAULT_CACHE_MB):
        if len(array.shape) != 3:
            raise InputError(path, f"expected a 3D tomogram, got an array of shape {tuple(array.shape)}")
        if np.dtype(array.dtype).kind not in "fiu":
            raise InputError(path, f"expected real voxel values, got {array.dtype}")
        self.array = array
        self.shape = tuple(int(n) for n in reversed(array.shape))
        self.chunks = tuple(int(n) for n in reversed(array.chunks))
        self.voxel_size_A = _positive(voxel_size_A, "voxel_size_A")
        self.path = path
        self.ndim = 3
        chunk_bytes = int(np.prod(self.chunks)) * 4
        self._max_chunks = max(1, int(cache_mb * 2 ** 20) // chunk_bytes)
        self._cache = collections.OrderedDict()
        self._mean = None
        self.chunk_reads = 0

    def _chunk(self, index):
        """Decoded chunk ``index`` (cx, cy, cz) as an ``[x, y, z]`` float32 array."""
        block = self._cache.get(index)
        if block is not None:
            self._cache.move_to_end(index)
            return block
        lo = [i * c for i, c in zip(index, self.chunks)]
        hi = [min(a + c, n) for a, c, n in zip(lo, self.chunks, self.shape)]
        block = np.asarray(self.array[lo[2]:hi[2], lo[1]:hi[1], lo[0]:hi[0]], dtype=np.float32).transpose(2, 1, 0)
        self.chunk_reads += 1
        self._cache[index] = block
        if len(self._cache) > self._max_chunks:
            self._cache.popitem(last=False)
        return block

    def __getitem__(self, key):
        if not (isinstance(key, tuple) and len(key) == 3 and all(isinstance(k, slice) for k in key)):
            raise TypeError("ZarrTomogram takes three slices: tomogram[x0:x1, y0:y1, z0:z1]")
        bounds = [k.indices(n) for k, n in zip(key, self.shape)]
        if any(step != 1 for _, _, step in bounds):
            raise TypeError("ZarrTomogram slices must have step 1")
        lo = np.array([b[0] for b in bounds])
        hi = np.maximum(lo, [b[1] for b in bounds])
        out = np.empty(tuple(hi - lo), dtype=np.float32)
        if out.size == 0:
            return out
        first, last = lo // self.chunks, (hi - 1) // self.chunks
        for index in np.ndindex(*(last - first + 1)):
            index = tuple(int(v) for v in first + index)
            c_lo = np.array(index) * self.chunks
            a, b = np.maximum(lo, c_lo), np.minimum(hi, c_lo + self.chunks)
            block = self._chunk(index)
            out[tuple(slice(s, e) for s, e in zip(a - lo, b - lo))] = \
                block[tuple(slice(s, e) for s, e in zip(a - c_lo, b - c_lo))]
        return out

    def mean(self):
        """Mean voxel value, read one chunk at a time (bypassing the cache, so memory stays at one chunk).

        OME-NGFF has no header statistics, so this reads the whole tomogram once; it is computed only
        when asked (``pad_value='mean'``) and then kept.
        """
        if self._mean is None:
            total = 0.0
            cz, cy, cx = self.array.chunks
            for z in range(0, self.shape[2], cz):
                for y in range(0, self.shape[1], cy):
                    for x in range(0, self.shape[0], cx):
                        total += float(np.sum(self.array[z:z + cz, y:y + cy, x:x + cx], dtype=np.float64))
            self._mean = total / float(np.prod(self.shape))
        return self._mean


def open_zarr_tomogram(run, voxel_size_A, tomo_type, cache_mb=_DEFAULT_CACHE_MB):
    """The full-resolution tomogram of a run at a voxel spacing, as a :class:`ZarrTomogram`.

    Parameters
    ----------
    run : copick.models.CopickRun
    voxel_size_A : float
        Voxel spacing (Å), as listed by copick (``VoxelSpacing10.000``).
    tomo_type : str
        Tomogram type, e.g. ``"wbp"``.
    cache_mb : float
        Decoded chunks kept in memory (at least one chunk).

    Raises
    ------
    InputError
        Naming the run and what it has instead, if it has no such voxel spacing or tomogram.

    Examples
    --------
    >>> tomogram = open_zarr_tomogram(run, 10.0, "wbp")  # doctest: +SKIP
    >>> tomogram.shape, tomogram.voxel_size_A  # doctest: +SKIP
    ((630, 630, 184), 10.0)
    """
    import zarr  # installed with copick

    voxel_size_A = _positive(voxel_size_A, "voxel_size_A")
    spacing = next((vs for vs in run.voxel_spacings if abs(vs.voxel_size - voxel_size_A) < 1e-3), None)
    if spacing is None:
        have = ", ".join(f"{vs.voxel_size:g}" for vs in run.voxel_spacings) or "none"
        raise InputError(f"run {run.name}", f"no voxel spacing {voxel_size_A:g} Å (it has: {have})")
    tomograms = spacing.get_tomograms(tomo_type)
    if not tomograms:
        have = ", ".join(sorted(t.tomo_type for t in spacing.tomograms)) or "none"
        raise InputError(f"run {run.name}", f"no tomogram of type {tomo_type!r} at {voxel_size_A:g} Å "
                                            f"(it has: {have})")
    name = f"run {run.name}, {tomo_type} tomogram at {voxel_size_A:g} Å"
    try:
        array = zarr.open(tomograms[0].zarr(), mode="r")["0"]
    except (KeyError, ValueError, OSError) as err:
        raise InputError(name, f"no readable OME-NGFF level '0' ({type(err).__name__}: {err})") from err
    return ZarrTomogram(array, spacing.voxel_size, name, cache_mb=cache_mb)


def write_tomogram(run, voxel_size_A, tomo_type, volume, chunks=(64, 64, 64)):
    """Add a tomogram to a run as OME-NGFF zarr (one full-resolution level), e.g. a simulated one.

    Parameters
    ----------
    run : copick.models.CopickRun
    voxel_size_A : float
        Voxel spacing (created if the run lacks it).
    tomo_type : str
        Tomogram type; an existing tomogram of that type is refused.
    volume : array_like, shape (nx, ny, nz)
        ``[x, y, z]`` volume (stored ``(z, y, x)``, as copick does).
    chunks : tuple of 3 int
        Zarr chunk shape ``(cx, cy, cz)``.

    Examples
    --------
    >>> write_tomogram(run, 10.0, "wbp", simulated.tomogram)  # doctest: +SKIP
    """
    import_copick()
    from copick.util.ome import write_ome_zarr_3d

    voxel_size_A = _positive(voxel_size_A, "voxel_size_A")
    spacing = run.get_voxel_spacing(voxel_size_A) or run.new_voxel_spacing(voxel_size=voxel_size_A)
    if spacing.get_tomograms(tomo_type):
        raise InputError(f"run {run.name}", f"already has a {tomo_type!r} tomogram at {voxel_size_A:g} Å")
    tomogram = spacing.new_tomogram(tomo_type)
    zyx = np.ascontiguousarray(np.asarray(volume, dtype=np.float32).transpose(2, 1, 0))
    write_ome_zarr_3d(tomogram.zarr(), {voxel_size_A: zyx}, chunk_size=tuple(int(c) for c in reversed(chunks)))
    return tomogram


def existing_pick_sets(run, objects, user_id, session_id):
    """Names of the objects in ``objects`` that already have a pick set of ``user_id``/``session_id`` in ``run``."""
    return sorted({p.pickable_object_name for p in run.get_picks(object_name=list(objects), user_id=user_id,
                                                                  session_id=session_id)})


def write_pick_set(run, object_name, user_id, session_id, positions_A, scores, rotations=None, voxel_size_A=None):
    """Add a new pick set to a run; an existing one is never modified.

    Parameters
    ----------
    run : copick.models.CopickRun
    object_name : str
        A pickable object of the project.
    user_id, session_id : str
        Owner of the new set (copick's naming rules: no ``_``, ``/`` or spaces).
    positions_A : array_like, shape (n, 3)
        Particle centres in Å (written as ``location``, with no shift in ``transformation``).
    scores : array_like, shape (n,)
        Finite scores (e.g. class probabilities).
    rotations : array_like, shape (n, 3, 3), optional
        Rotation part of each point's transformation (default identity).
    voxel_size_A : float, optional
        Recorded as the set's ``voxel_spacing``.

    Returns
    -------
    copick.models.CopickPicks

    Raises
    ------
    InputError
        If the set already exists, the object is not pickable, or the ids break copick's naming rules.

    Examples
    --------
    >>> write_pick_set(run, "ribosome", "fsft", "1", [[100.0, 200.0, 300.0]], [0.93])  # doctest: +SKIP
    """
    where = f"run {run.name}"
    if existing_pick_sets(run, [object_name], user_id, session_id):
        raise InputError(where, f"already has a pick set {user_id}_{session_id}_{object_name}; existing pick sets "
                                "are never overwritten: choose another user id or session id")
    positions = np.asarray(positions_A, dtype=float).reshape(-1, 3)
    transforms = np.tile(np.eye(4), (len(positions), 1, 1))
    if rotations is not None:
        transforms[:, :3, :3] = np.asarray(rotations, dtype=float).reshape(-1, 3, 3)
    try:
        picks = run.new_picks(object_name, session_id=session_id, user_id=user_id)
        picks.meta.voxel_spacing = voxel_size_A
        picks.from_numpy(positions, transforms, scores=np.asarray(scores, dtype=float))
    except ValueError as err:  # unknown object, invalid ids, non-finite scores
        raise InputError(where, f"cannot write pick set {user_id}_{session_id}_{object_name}: {err}") from err
    return picks


def delete_pick_set(run, object_name, user_id, session_id):
    """Remove the pick set ``user_id``/``session_id``/``object_name`` of a run if it exists (used only to
    discard a set that an interrupted job of this package was writing)."""
    for picks in run.get_picks(object_name=object_name, user_id=user_id, session_id=session_id):
        picks.delete()


def write_config(path, pickable_objects, overlay_root, name="aitom", description=""):
    """Write a minimal filesystem copick configuration (used by the tests and the tutorial).

    Parameters
    ----------
    path : str
        Configuration JSON to write (atomically).
    pickable_objects : list of dict
        copick ``PickableObject`` fields, e.g. ``{"name": "ribosome", "is_particle": True, "label": 1}``.
    overlay_root : str
        Project folder (local).

    Examples
    --------
    >>> write_config("p/copick.json", [{"name": "ribosome", "is_particle": True, "label": 1}], "p")  # doctest: +SKIP
    """
    from aitom.io.atomic import atomic_open

    config = {"config_type": "filesystem", "name": name, "description": description,
              "pickable_objects": pickable_objects,
              "overlay_root": "local://" + os.path.abspath(overlay_root), "overlay_fs_args": {"auto_mkdir": True}}
    with atomic_open(path, "w") as f:
        json.dump(config, f, indent=2)
    return path
