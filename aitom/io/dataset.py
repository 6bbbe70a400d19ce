"""Labelled subtomogram sets: in-memory type, on-disk format and loaders for the other inputs.

A set is saved as a folder (see ``doc/data_formats.md``)::

    <path>/subtomograms.npy   (n, s, s, s) float32, volumes indexed [x, y, z], memory-mapped on load
    <path>/labels.npy         (n,) int64 ids into class_names; -1 = unlabelled
    <path>/meta.json          {"format": "aitom-subtomogram-set", "version": 1, "n", "box_size",
                               "class_names", "voxel_spacing_nm", "meta"}

A two-domain data set is ``<path>/source/``, ``<path>/target/`` (two sets with the same class names) and
``<path>/dataset.json``. Every folder is written atomically: it appears whole or not at all.
"""
import copy
import json
import math
import os
import tokenize
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from aitom.errors import InputError
from aitom.io.atomic import atomic_path
from aitom.io.file import PICKLE_SUFFIXES, mrc_suffix, pickle_load, read_mrc_data, read_mrc_header

SET_FORMAT = "aitom-subtomogram-set"
TWO_DOMAIN_FORMAT = "aitom-two-domain-dataset"
VERSION = 1
X_FILE, Y_FILE, META_FILE, DATASET_FILE = "subtomograms.npy", "labels.npy", "meta.json", "dataset.json"
_CHUNK_VOXELS = 1 << 22


@dataclass(eq=False, repr=False)
class SubtomogramSet:
    """Labelled subtomograms.

    Attributes
    ----------
    x : numpy.ndarray
        ``(n, s, s, s)`` float32 volumes indexed ``[i, x, y, z]``; may be a read-only ``np.memmap``.
    y : numpy.ndarray
        ``(n,)`` int64 label ids into ``class_names``; -1 means unlabelled.
    class_names : tuple of str
        Sorted, unique class names.
    voxel_spacing_nm : float or None
    meta : dict
        Free-form, JSON-serialisable (acquisition 'op', domain name, ...).

    Real-valued ``x`` is converted to float32 and integer ``y`` to int64 on construction; nothing
    else is checked until :meth:`validate`.
    """

    x: np.ndarray
    y: np.ndarray
    class_names: tuple
    voxel_spacing_nm: float | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        x = np.asanyarray(self.x)
        self.x = x.astype(np.float32) if x.dtype.kind in "fiu" and x.dtype != np.float32 else x
        y = np.asarray(self.y)
        self.y = y.astype(np.int64) if y.dtype.kind in "iu" or y.size == 0 else y
        self.class_names = tuple(self.class_names)
        self.voxel_spacing_nm = _as_float(self.voxel_spacing_nm)

    def __len__(self):
        return len(self.x)

    def __repr__(self):
        return (f"SubtomogramSet(n={len(self)}, box_size={self.box_size}, class_names={self.class_names}, "
                f"voxel_spacing_nm={self.voxel_spacing_nm})")

    @property
    def box_size(self):
        """Edge length ``s`` of the cubic volumes, in voxels."""
        return int(self.x.shape[1])

    def subset(self, indices):
        """Rows ``indices`` (integers or a boolean mask) as a new set held in memory."""
        indices = np.asarray(indices)
        if indices.dtype == bool:
            indices = np.flatnonzero(indices)
        return SubtomogramSet(np.array(self.x[indices]), self.y[indices].copy(), self.class_names,
                              self.voxel_spacing_nm, copy.deepcopy(self.meta))

    def counts(self):
        """Number of subtomograms per class name (unlabelled rows are not counted)."""
        n = np.bincount(self.y[self.y >= 0], minlength=len(self.class_names))
        return {name: int(k) for name, k in zip(self.class_names, n)}

    def validate(self, source="SubtomogramSet", check_values=True):
        """Check shapes, dtypes, labels, class names and meta; with ``check_values`` also that every
        volume is finite and not constant (read in chunks, so a memmap is never loaded whole).

        Returns ``self``; raises :class:`InputError` naming ``source`` and the field.
        """
        _validate(self, f"{source}.x", f"{source}.y", f"{source}.class_names", f"{source}.meta",
                  check_values)
        return self


def _validate(s, x_src, y_src, names_src, meta_src, check_values):
    x, y = s.x, s.y
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise InputError(x_src, f"expected an (n, s, s, s) array, got shape {np.shape(x)}")
    if not x.shape[1] == x.shape[2] == x.shape[3]:
        raise InputError(x_src, f"volumes are not cubic: shape {x.shape}")
    if x.dtype != np.float32:
        raise InputError(x_src, f"dtype {x.dtype}, expected float32")
    if not isinstance(y, np.ndarray) or y.ndim != 1 or y.dtype != np.int64:
        raise InputError(y_src, f"expected an (n,) int64 array, got {getattr(y, 'dtype', type(y))} "
                                f"of shape {np.shape(y)}")
    if len(y) != len(x):
        raise InputError(y_src, f"{len(y)} labels for {len(x)} subtomograms")
    _check_class_names(s.class_names, names_src)
    bad = np.flatnonzero((y < -1) | (y >= len(s.class_names)))
    if bad.size:
        raise InputError(y_src, f"label id {y[bad[0]]} at row {bad[0]} is not -1 or an index into "
                                f"{len(s.class_names)} class names ({bad.size} bad rows)")
    _check_spacing(s.voxel_spacing_nm, meta_src)
    _check_json(s.meta, meta_src)
    if check_values:
        _check_volumes(x, lambda i: f"{x_src} (subtomogram {i})")


def _check_class_names(names, source):
    if not all(isinstance(n, str) for n in names):
        raise InputError(source, f"class names must be str, got {[type(n).__name__ for n in names]}")
    if list(names) != sorted(set(names)):
        raise InputError(source, f"class names must be sorted and unique, got {list(names)}")


def _as_float(value):
    """A real NumPy or Python number as a Python float (so it is JSON-serialisable); others unchanged."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        return float(value)
    return value


def _check_spacing(spacing, source):
    if spacing is not None and not (isinstance(spacing, (int, float)) and not isinstance(spacing, bool)
                                    and math.isfinite(spacing) and spacing > 0):
        raise InputError(source, f"voxel_spacing_nm must be None or a positive number, got {spacing!r}")


def _check_json(meta, source):
    if not isinstance(meta, dict):
        raise InputError(source, f"meta must be a dict, got {type(meta).__name__}")
    try:
        json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise InputError(source, f"meta is not JSON-serialisable: {err}") from err


def _check_volumes(x, where, first=0):
    """Raise if a volume of ``x`` (n, s, s, s) holds NaN/inf or is constant; ``where(i)`` names row i.

    Rows are read ``_CHUNK_VOXELS`` at a time, so a memmap stays on disk.
    """
    step = max(1, _CHUNK_VOXELS // max(1, int(np.prod(x.shape[1:]))))
    for start in range(0, len(x), step):
        block = np.asarray(x[start:start + step]).reshape(min(step, len(x) - start), -1)
        finite = np.isfinite(block)
        bad = np.flatnonzero(~finite.all(axis=1))
        if bad.size:
            i = bad[0]
            raise InputError(where(first + start + i), f"{block.shape[1] - np.count_nonzero(finite[i])} "
                                                       f"of {block.shape[1]} voxels are NaN or infinite")
        flat = np.flatnonzero(block.min(axis=1) == block.max(axis=1))
        if flat.size:
            raise InputError(where(first + start + flat[0]), "volume is constant (zero variance)")


def _meta_json(n, box_size, class_names, voxel_spacing_nm, meta):
    return {"format": SET_FORMAT, "version": VERSION, "n": n, "box_size": box_size,
            "class_names": list(class_names), "voxel_spacing_nm": voxel_spacing_nm, "meta": meta}


def _write_json(obj, path):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def _read_json(path, fmt):
    """Read a format JSON file and check its ``format`` and ``version``."""
    if not os.path.isfile(path):
        raise InputError(path, "missing")
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InputError(path, f"not valid JSON: {err}") from err
    if not isinstance(obj, dict) or obj.get("format") != fmt:
        raise InputError(path, f"not an {fmt} file (format field is "
                               f"{obj.get('format') if isinstance(obj, dict) else None!r})")
    if obj.get("version") != VERSION:
        raise InputError(path, f"unsupported version {obj.get('version')!r} (this reader knows {VERSION})")
    return obj


def _replaceable(path, marker, fmt):
    """Refuse to replace an existing ``path`` unless it is a folder of format ``fmt``."""
    path = os.fspath(path)
    if not os.path.lexists(path):
        return path
    try:
        _read_json(os.path.join(path, marker), fmt)
    except InputError:
        raise InputError(path, f"exists and is not an {fmt} folder; refusing to replace it") from None
    return path


def save_subtomogram_set(s, path):
    """Validate ``s`` and save it as a set folder at ``path``, atomically.

    An existing set folder at ``path`` is replaced; any other existing path raises :class:`InputError`.
    """
    path = _replaceable(path, META_FILE, SET_FORMAT)
    s.validate(source=path)
    with atomic_path(path) as tmp:
        os.makedirs(tmp)
        np.save(os.path.join(tmp, X_FILE), s.x)
        np.save(os.path.join(tmp, Y_FILE), s.y)
        _write_json(_meta_json(len(s), s.box_size, s.class_names, s.voxel_spacing_nm, s.meta),
                    os.path.join(tmp, META_FILE))
    return path


def _load_npy(path):
    """Memory-map a .npy file read-only (mapping checks the header against the file size)."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise InputError(path, "missing") from None
    except (OSError, EOFError, ValueError, SyntaxError, tokenize.TokenError) as err:
        raise InputError(path, f"corrupt .npy file: {err}") from err


def load_subtomogram_set(path, mmap=True, check_values=True):
    """Load a set folder written by :func:`save_subtomogram_set` or :class:`SubtomogramSetWriter`.

    Parameters
    ----------
    path : str or os.PathLike
    mmap : bool
        Memory-map ``subtomograms.npy`` read-only instead of reading it into memory.
    check_values : bool
        Scan the volumes (in chunks) for NaN/inf and constant volumes.

    Raises
    ------
    InputError
        Naming the file: missing or corrupt files, meta.json inconsistent with the arrays, invalid
        labels or volumes.
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise InputError(path, "no such folder" if not os.path.exists(path) else "not a folder")
    meta_path, x_path, y_path = (os.path.join(path, f) for f in (META_FILE, X_FILE, Y_FILE))
    info = _read_json(meta_path, SET_FORMAT)
    n, box = info.get("n"), info.get("box_size")
    for key, value, low in (("n", n, 0), ("box_size", box, 1)):
        if type(value) is not int or value < low:
            raise InputError(meta_path, f"{key} must be an integer >= {low}, got {value!r}")
    names = info.get("class_names")
    if not isinstance(names, list):
        raise InputError(meta_path, f"class_names must be a list, got {names!r}")
    x, y = _load_npy(x_path), _load_npy(y_path)
    if x.shape != (n, box, box, box) or x.dtype != np.float32:
        raise InputError(x_path, f"{x.dtype} array of shape {x.shape} does not match meta.json "
                                 f"(float32, n={n}, box_size={box})")
    if y.shape != (n,) or y.dtype != np.int64:
        raise InputError(y_path, f"{y.dtype} array of shape {y.shape} does not match meta.json "
                                 f"(int64, n={n})")
    _check_class_names(names, meta_path)
    x, y = (x if mmap else np.array(x)), np.array(y)
    s = SubtomogramSet(x, y, tuple(names), info.get("voxel_spacing_nm"), info.get("meta", {}))
    _validate(s, x_path, y_path, meta_path, meta_path, check_values)
    return s


class SubtomogramSetWriter:
    """Write a set folder row block by row block, without holding the volumes in memory.

    Rows go straight into a memory-mapped ``subtomograms.npy`` inside a hidden temporary folder beside
    ``path``; :meth:`close` checks that every row was written and moves the folder onto ``path`` in
    one step. Used as a context manager, an exception (or :meth:`abort`) removes the temporary folder
    and leaves ``path`` as it was.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; an existing set folder there is replaced on close, any other existing path is refused.
    n, box_size : int
        Number of subtomograms and their edge length.
    class_names : sequence of str
        Sorted, unique.
    voxel_spacing_nm : float, optional
    meta : dict, optional
        JSON-serialisable.
    """

    def __init__(self, path, n, box_size, class_names, voxel_spacing_nm=None, meta=None):
        self.path = _replaceable(path, META_FILE, SET_FORMAT)
        for key, value, low in (("n", n, 0), ("box_size", box_size, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise InputError(key, f"must be an integer >= {low}, got {value!r}")
        self.n, self.box_size = int(n), int(box_size)
        self.class_names = tuple(class_names)
        _check_class_names(self.class_names, "class_names")
        self.voxel_spacing_nm = _as_float(voxel_spacing_nm)
        _check_spacing(self.voxel_spacing_nm, "voxel_spacing_nm")
        self.meta = {} if meta is None else meta
        _check_json(self.meta, "meta")
        self._y = np.full(self.n, -1, np.int64)
        self._written = np.zeros(self.n, bool)
        self._x = None
        self._ctx = atomic_path(self.path)
        self._tmp = self._ctx.__enter__()
        try:
            os.makedirs(self._tmp)
            shape = (self.n,) + (self.box_size,) * 3
            self._x = np.lib.format.open_memmap(os.path.join(self._tmp, X_FILE), "w+", np.float32, shape)
        except BaseException:
            self.abort()
            raise

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, start, x_batch, y_batch):
        """Fill rows ``[start, start + len(x_batch))`` with volumes ``x_batch`` and label ids ``y_batch``."""
        if self._ctx is None:
            raise InputError(self.path, "writer is closed")
        x_batch, y_batch = np.asarray(x_batch), np.asarray(y_batch)
        s = self.box_size
        if x_batch.ndim != 4 or x_batch.shape[1:] != (s, s, s) or x_batch.dtype.kind not in "fiu":
            raise InputError("x_batch", f"expected a real (b, {s}, {s}, {s}) array, got {x_batch.dtype} "
                                        f"of shape {x_batch.shape}")
        if y_batch.shape != (len(x_batch),) or (y_batch.size and y_batch.dtype.kind not in "iu"):
            raise InputError("y_batch", f"expected {len(x_batch)} integer label ids, got {y_batch.dtype} "
                                        f"of shape {y_batch.shape}")
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or not (
                0 <= start and start + len(x_batch) <= self.n):
            raise InputError("start", f"rows [{start}, {start}+{len(x_batch)}) are outside [0, {self.n})")
        bad = np.flatnonzero((y_batch < -1) | (y_batch >= len(self.class_names)))
        if bad.size:
            raise InputError("y_batch", f"label id {y_batch[bad[0]]} for row {start + bad[0]} is not -1 or "
                                        f"an index into {len(self.class_names)} class names")
        x_batch = x_batch.astype(np.float32, copy=False)
        _check_volumes(x_batch, lambda i: f"x_batch (row {i})", first=start)
        self._x[start:start + len(x_batch)] = x_batch
        self._y[start:start + len(x_batch)] = y_batch
        self._written[start:start + len(x_batch)] = True

    def close(self):
        """Flush, check that all rows were written, and move the folder onto ``path``; returns ``path``."""
        if self._ctx is None:
            raise InputError(self.path, "writer is closed")
        missing = np.flatnonzero(~self._written)
        if missing.size:
            self.abort()
            raise InputError(self.path, f"{missing.size} of {self.n} rows were never written "
                                        f"(first: row {missing[0]}); nothing was saved")
        self._x.flush()
        self._x = None
        np.save(os.path.join(self._tmp, Y_FILE), self._y)
        _write_json(_meta_json(self.n, self.box_size, self.class_names, self.voxel_spacing_nm, self.meta),
                    os.path.join(self._tmp, META_FILE))
        ctx, self._ctx = self._ctx, None
        ctx.__exit__(None, None, None)
        return self.path

    def abort(self):
        """Discard everything written; ``path`` is left as it was. Does nothing once closed."""
        if self._ctx is None:
            return
        self._x = None
        ctx, self._ctx = self._ctx, None
        # atomic_path removes the temporary folder and re-raises err; contextlib's __exit__ then
        # returns False instead of raising, since err is the exception it was given
        err = InputError(self.path, "writing aborted")
        ctx.__exit__(InputError, err, None)


def _stack(items, source_of, voxel_spacing_nm, class_names, labels, source):
    """Build a validated set from volumes ``items`` (sequence of 3D arrays); ``source_of(i)`` names item i."""
    if not items:
        raise InputError(source, "no subtomograms")
    first = _shape(items[0], source_of(0))
    for i, v in enumerate(items):
        shape = _shape(v, source_of(i))
        if len(shape) != 3 or len(set(shape)) != 1:
            raise InputError(source_of(i), f"expected a cubic 3D volume, got shape {shape}")
        if shape != first:
            raise InputError(source_of(i), f"volume shape {shape} differs from {first} of {source_of(0)}")
        if np.asarray(v).dtype.kind not in "fiu":
            raise InputError(source_of(i), f"expected real values, got {np.asarray(v).dtype}")
    x = np.empty((len(items),) + first, np.float32)
    for i, v in enumerate(items):
        x[i] = v
    _check_volumes(x, source_of)
    s = SubtomogramSet(x, np.asarray(labels, np.int64), tuple(class_names), voxel_spacing_nm)
    return s.validate(source, check_values=False)


def _shape(v, source):
    """``np.shape(v)``; InputError naming ``source`` for ragged nested lists (which NumPy refuses)."""
    try:
        return np.shape(v)
    except ValueError as err:
        raise InputError(source, f"expected a cubic 3D volume, got a ragged sequence ({err})") from None


def from_dj(dj, class_names=None, voxel_spacing_nm=None):
    """Build a set from an AITom data list ``[{'pdb_id': str, 'v': ndarray}, ...]``.

    An item may give ``'subtomogram'`` (an MRC path, read with :func:`read_mrc_data`) instead of
    ``'v'``; an item without ``'pdb_id'`` (or with ``None``) is unlabelled (-1). Label ids index the
    sorted ``class_names``, by default the sorted distinct ``pdb_id`` values.
    """
    if not isinstance(dj, (list, tuple)):
        raise InputError("dj", f"expected a list of dicts, got {type(dj).__name__}")
    ids, items = [], []
    for i, d in enumerate(dj):
        if not isinstance(d, dict):
            raise InputError(f"dj[{i}]", f"expected a dict, got {type(d).__name__}")
        pdb_id = d.get("pdb_id")
        if pdb_id is not None and not isinstance(pdb_id, str):
            raise InputError(f"dj[{i}]['pdb_id']", f"class names must be str, got {pdb_id!r}")
        if "v" in d:
            items.append(d["v"])
        elif "subtomogram" in d:
            items.append(read_mrc_data(d["subtomogram"]))
        else:
            raise InputError(f"dj[{i}]", "has neither 'v' nor 'subtomogram'")
        ids.append(pdb_id)
    if class_names is None:
        names = sorted({p for p in ids if p is not None})
    else:
        names = list(class_names)
        if not all(isinstance(n, str) for n in names):
            raise InputError("class_names", f"class names must be str, got {names!r}")
        names = sorted(set(names))
    index = {name: k for k, name in enumerate(names)}
    for i, p in enumerate(ids):
        if p is not None and p not in index:
            raise InputError(f"dj[{i}]['pdb_id']", f"class {p!r} is not in class_names {names}")
    labels = [-1 if p is None else index[p] for p in ids]
    return _stack(items, lambda i: f"dj[{i}]", voxel_spacing_nm, names, labels, "dj")


def to_dj(s):
    """AITom data list ``[{'pdb_id': name, 'v': volume}, ...]`` (no ``'pdb_id'`` for unlabelled rows)."""
    out = []
    for i in range(len(s)):
        d = {"v": np.array(s.x[i])}
        if s.y[i] >= 0:
            d["pdb_id"] = s.class_names[s.y[i]]
        out.append(d)
    return out


def _from_demo_dict(d, source, voxel_spacing_nm=None):
    """Set from ``{class_name: array (n, s, s, s) or list of volumes}``."""
    for key in d:
        if not isinstance(key, str):
            raise InputError(source, f"class names must be str, got key {key!r}")
    names = sorted(d)
    items, labels, where = [], [], []
    for k, name in enumerate(names):
        group = d[name]
        if not isinstance(group, (np.ndarray, list, tuple)):
            raise InputError(f"{source}[{name!r}]", f"expected (n, s, s, s) volumes or a list of volumes, got "
                                                    f"{type(group).__name__}")
        if isinstance(group, np.ndarray) and group.ndim != 4:
            raise InputError(f"{source}[{name!r}]", f"expected (n, s, s, s) volumes, got shape {group.shape}")
        for i, v in enumerate(group):
            items.append(v)
            labels.append(k)
            where.append(f"{source}[{name!r}][{i}]")
    return _stack(items, where.__getitem__, voxel_spacing_nm, names, labels, source)


def load_demo_pickle(path, voxel_spacing_nm=None, trusted=False):
    """Load an AITom demo pickle ``{class_name: array (n, s, s, s)}`` (class names are the keys as-is).

    Pickles can run code when loaded: pass ``trusted=True`` only for a file you trust (see
    :func:`aitom.io.file.pickle_load`, which reads it); prefer a set folder (:func:`save_subtomogram_set`).

    Examples
    --------
    >>> s = load_demo_pickle("aitom_demo.pickle", voxel_spacing_nm=1.0, trusted=True)  # doctest: +SKIP
    >>> save_subtomogram_set(s, "demo_set")  # doctest: +SKIP
    """
    path = os.fspath(path)
    obj = pickle_load(path, trusted=trusted)
    if not isinstance(obj, dict):
        raise InputError(path, f"expected a dict of class name -> volumes, got {type(obj).__name__}")
    return _from_demo_dict(obj, path, voxel_spacing_nm)


def _class_files(path):
    """Sorted ``[(class_name, [file, ...]), ...]`` of the volume files in each subfolder."""
    out = []
    for name in sorted(os.listdir(path)):
        folder = os.path.join(path, name)
        if name.startswith(".") or not os.path.isdir(folder):
            continue
        files = sorted(os.path.join(folder, f) for f in os.listdir(folder)
                       if not f.startswith(".") and (f.lower().endswith(".npy") or mrc_suffix(f)))
        if not files:
            raise InputError(folder, "class folder holds no .npy or MRC files")
        out.append((name, files))
    if not out:
        raise InputError(path, "no class subfolders")
    return out


def load_class_folders(path, voxel_spacing_nm=None, progress=False):
    """Load a folder of class subfolders: ``<path>/<class_name>/*.npy|*.mrc|*.map|*.rec|*.mrc.gz``.

    Each ``.npy`` holds one volume (s, s, s) or several (k, s, s, s); MRC files are read with
    :func:`aitom.io.file.read_mrc_data` and must be float. Hidden entries and other files are ignored.
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise InputError(path, "no such folder")
    classes = _class_files(path)
    files, labels, where, shapes = [], [], [], []  # files: (file, rows in it or None for one volume)
    for k, (_, names) in enumerate(classes):
        for f in names:
            is_npy = f.lower().endswith(".npy")
            shape = _load_npy(f).shape if is_npy else read_mrc_header(f)["shape"]
            stacked = len(shape) == 4
            rows = shape[0] if stacked else 1
            files.append((f, rows if stacked else None))
            labels += [k] * rows
            where += [f"{f}[{j}]" for j in range(rows)] if stacked else [f]
            shapes += [shape[1:] if stacked else shape] * rows
    if not where:
        raise InputError(path, "no subtomograms")
    for i, shape in enumerate(shapes):
        if len(shape) != 3 or len(set(shape)) != 1:
            raise InputError(where[i], f"expected a cubic 3D volume, got shape {shape}")
        if shape != shapes[0]:
            raise InputError(where[i], f"volume shape {shape} differs from {shapes[0]} of {where[0]}")
    x = np.empty((len(where),) + tuple(shapes[0]), np.float32)
    row = 0
    for f, rows in tqdm(files, disable=not progress, desc=os.path.basename(path)):
        if f.lower().endswith(".npy"):
            a = _load_npy(f)
            if a.dtype.kind not in "fiu":
                raise InputError(f, f"expected real values, got {a.dtype}")
        else:
            a = read_mrc_data(f)
        x[row:row + (rows or 1)] = a if rows is not None else a[None]
        row += rows or 1
    _check_volumes(x, where.__getitem__)
    s = SubtomogramSet(x, np.array(labels, np.int64), [n for n, _ in classes], voxel_spacing_nm)
    return s.validate(path, check_values=False)


def load_dataset(obj, trusted=False, **kw):
    """Turn any accepted input into a :class:`SubtomogramSet`.

    ``obj`` may be a SubtomogramSet (returned as is), an AITom dj list (:func:`from_dj`), a dict of
    class name -> volumes (AITom demo dict), or a path: a set folder (with meta.json,
    :func:`load_subtomogram_set`), a ``.pkl``/``.pickle`` holding a demo dict or a dj list, or a folder
    of class subfolders (:func:`load_class_folders`). ``kw`` goes to the loader chosen.

    A pickle is read only with ``trusted=True`` (pickles can run code when loaded; see
    :func:`aitom.io.file.pickle_load`); without it, :class:`InputError` names the file and the safe formats.

    Examples
    --------
    >>> s = load_dataset("runs/demo/data/target")  # doctest: +SKIP
    >>> s = load_dataset("aitom_demo.pickle", trusted=True)  # doctest: +SKIP
    """
    if isinstance(obj, SubtomogramSet):
        return obj
    if isinstance(obj, (list, tuple)):
        return from_dj(obj, **kw)
    if isinstance(obj, dict):
        return _from_demo_dict(obj, "dict", **kw)
    if not isinstance(obj, (str, os.PathLike)):
        raise InputError("dataset", f"cannot load a {type(obj).__name__}")
    path = os.fspath(obj)
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, META_FILE)):
            return load_subtomogram_set(path, **kw)
        return load_class_folders(path, **kw)
    if path.lower().endswith(PICKLE_SUFFIXES):
        content = pickle_load(path, trusted=trusted)
        if isinstance(content, dict):
            return _from_demo_dict(content, path, **kw)
        if isinstance(content, list):
            return from_dj(content, **kw)
        raise InputError(path, f"expected a demo dict or a dj list, got {type(content).__name__}")
    raise InputError(path, "not a set folder, a folder of class subfolders or a .pkl/.pickle file"
                     if os.path.exists(path) else "no such file or folder")


def harmonize_classes(source, target):
    """Relabel ``target`` onto ``source``'s class names, so label ids mean the same in both.

    Returns ``(source, target)``; ``target`` shares its volumes (no copy) and gets new label ids. A
    class used by a target label but absent from the source raises :class:`InputError` naming it;
    target class names with no subtomograms are dropped.
    """
    _check_class_names(source.class_names, "source.class_names")
    index = {name: k for k, name in enumerate(source.class_names)}
    used = np.unique(target.y[target.y >= 0])
    missing = [target.class_names[k] for k in used if target.class_names[k] not in index]
    if missing:
        raise InputError("target", f"class {missing[0]!r} is absent from the source classes "
                                   f"{list(source.class_names)}")
    lookup = np.array([index.get(name, -1) for name in target.class_names] + [-1], np.int64)
    relabelled = SubtomogramSet(target.x, lookup[target.y], source.class_names, target.voxel_spacing_nm,
                                copy.deepcopy(target.meta))
    return source, relabelled


def save_two_domain(path, source, target, meta=None):
    """Save a source and a target set, relabelled onto the source classes, as one folder, atomically.

    Writes ``<path>/source/``, ``<path>/target/`` and ``<path>/dataset.json``. An existing two-domain
    folder at ``path`` is replaced; any other existing path raises :class:`InputError`.
    """
    path = _replaceable(path, DATASET_FILE, TWO_DOMAIN_FORMAT)
    meta = {} if meta is None else meta
    _check_json(meta, "meta")
    source, target = harmonize_classes(source, target)
    with atomic_path(path) as tmp:
        os.makedirs(tmp)
        save_subtomogram_set(source, os.path.join(tmp, "source"))
        save_subtomogram_set(target, os.path.join(tmp, "target"))
        _write_json({"format": TWO_DOMAIN_FORMAT, "version": VERSION, "domains": ["source", "target"],
                     "class_names": list(source.class_names), "meta": meta}, os.path.join(tmp, DATASET_FILE))
    return path


def load_two_domain(path, mmap=True, check_values=True):
    """Load ``(source, target)`` saved by :func:`save_two_domain`; both share the same class names."""
    path = os.fspath(path)
    info_path = os.path.join(path, DATASET_FILE)
    info = _read_json(info_path, TWO_DOMAIN_FORMAT)
    sets = [load_subtomogram_set(os.path.join(path, d), mmap, check_values) for d in ("source", "target")]
    for name, s in zip(("source", "target"), sets):
        if list(s.class_names) != info.get("class_names"):
            raise InputError(os.path.join(path, name, META_FILE),
                             f"class names {list(s.class_names)} differ from {info_path}")
    return tuple(sets)
