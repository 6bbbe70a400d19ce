"""Read and write MRC volumes and pickles (AITom ``aitom.io.file`` names, on ``mrcfile``).

Volumes are returned and taken as float32 arrays indexed ``v[x, y, z]``; MRC files store ``(z, y, x)``.
Voxel sizes in MRC headers are in Ångström, and so are ``voxel_spacing`` arguments and
:func:`get_mrc_voxel_spacing` here, as in AITom; :func:`read_mrc_header` also gives nanometres.

Reading is strict: anything that is not a complete, valid MRC volume raises
:class:`aitom.errors.InputError` naming the file. Plain, gzip and bzip2 files are read (``.mrc``,
``.map``, ``.rec``, ``.mrc.gz``, ...; the compression is detected from the content).

Pickles can run code when loaded: :func:`pickle_load` reads one only with ``trusted=True``, and then
builds nothing but NumPy arrays and built-in containers.
"""
import bz2
import gzip
import os
import pickle
import warnings
import zlib

import mrcfile
import mrcfile.utils
import numpy as np
from mrcfile.constants import MAP_ID, MAP_ID_OFFSET_BYTES
from mrcfile.dtypes import HEADER_DTYPE
from tqdm import tqdm

from aitom.errors import InputError
from aitom.io.atomic import atomic_open, atomic_path

_FLOAT_MODES = (2, 12)
_INT_MODES = (0, 1, 6)
_CHUNK_VOXELS = 1 << 22
_READ_ERRORS = (OSError, EOFError, ValueError, zlib.error)
MRC_SUFFIXES = (".mrc", ".map", ".rec", ".st")
"""File-name endings of MRC files (``.st``: IMOD's tilt-series stack), each also gzip- or bzip2-compressed."""
COMPRESSED_SUFFIXES = (".gz", ".bz2")


def mrc_suffix(name):
    """The MRC ending of a file name, compression included, in lower case; ``""`` when it has none.

    Parameters
    ----------
    name : str or os.PathLike

    Returns
    -------
    str
        One of :data:`MRC_SUFFIXES`, possibly followed by one of :data:`COMPRESSED_SUFFIXES`.

    Examples
    --------
    >>> from aitom.io.file import mrc_suffix
    >>> mrc_suffix("TS_01.MRC"), mrc_suffix("emd_1234.map.gz"), mrc_suffix("volume.npy")
    ('.mrc', '.map.gz', '')
    """
    lower = os.fspath(name).lower()
    for end in [m + c for m in MRC_SUFFIXES for c in COMPRESSED_SUFFIXES] + list(MRC_SUFFIXES):
        if lower.endswith(end):
            return end
    return ""


def _opener(path):
    """Return the function that opens ``path`` for reading, the way ``mrcfile.open`` detects it."""
    with open(path, "rb") as f:
        start = f.read(MAP_ID_OFFSET_BYTES + len(MAP_ID))
    if start[-len(MAP_ID):] != MAP_ID:
        if start[:2] == b"\x1f\x8b":
            return gzip.open, "gzip"
        if start[:2] == b"BZ":
            return bz2.open, "bzip2"
    return open, None


def _raw_header(path):
    """Read and check the 1024-byte header without trusting its sizes.

    Returns ``(header, byte_order, compression)``; ``header`` is a NumPy record in the file's byte order.
    """
    if not os.path.exists(path):
        raise InputError(path, "no such file")
    if not os.path.isfile(path):
        raise InputError(path, "not a file")
    try:
        opener, compression = _opener(path)
        with opener(path, "rb") as f:
            raw = f.read(HEADER_DTYPE.itemsize)
            if compression is None:  # the size on disk is the data size: no need to read it
                size = os.path.getsize(path)
            else:
                size = len(raw)
                while chunk := f.read(1 << 24):
                    size += len(chunk)
    except _READ_ERRORS as err:
        raise InputError(path, f"cannot read file: {err}") from err
    if len(raw) < HEADER_DTYPE.itemsize:
        raise InputError(path, f"not an MRC file: {len(raw)} bytes, shorter than the 1024-byte header")
    if raw[MAP_ID_OFFSET_BYTES:MAP_ID_OFFSET_BYTES + 3] != MAP_ID[:3]:
        raise InputError(path, "not an MRC file: no 'MAP' stamp at byte 208")
    machst = raw[212:216]
    try:
        byte_order = mrcfile.utils.byte_order_from_machine_stamp(machst)
    except ValueError as err:
        raise InputError(path, f"corrupt MRC header: {err}") from err
    header = np.frombuffer(raw, dtype=HEADER_DTYPE.newbyteorder(byte_order), count=1)[0]
    mode = int(header["mode"])
    try:
        itemsize = mrcfile.utils.dtype_from_mode(mode).itemsize
    except ValueError:
        raise InputError(path, f"unsupported MRC mode {mode}") from None
    nx, ny, nz, nsymbt = (int(header[k]) for k in ("nx", "ny", "nz", "nsymbt"))
    if min(nx, ny, nz) < 1:
        raise InputError(path, f"corrupt MRC header: dimensions nx={nx} ny={ny} nz={nz}")
    if nsymbt < 0:
        raise InputError(path, f"corrupt MRC header: extended header size {nsymbt}")
    if mrcfile.utils.spacegroup_is_volume_stack(int(header["ispg"])):
        raise InputError(path, f"volume stacks (space group {int(header['ispg'])}) are not supported")
    if sorted(_axis_map(header)) != [1, 2, 3]:
        raise InputError(path, f"corrupt MRC header: axis map (mapc, mapr, maps) = {_axis_map(header)}")
    expected = HEADER_DTYPE.itemsize + nsymbt + nx * ny * nz * itemsize
    if size < expected:
        raise InputError(path, f"truncated: the header describes {expected} bytes, the file has {size}")
    if size > expected:
        raise InputError(path, f"{size - expected} bytes beyond the data block the header describes")
    return header, byte_order, compression


def _axis_map(header):
    return tuple(int(header[k]) for k in ("mapc", "mapr", "maps"))


def _xyz_axes(header):
    """``transpose`` axes that turn mrcfile's (section, row, column) array into [x, y, z]."""
    return xyz_axes(_axis_map(header))


def xyz_axes(axis_map):
    """``transpose`` axes that turn mrcfile's (section, row, column) array into ``[x, y, z]``.

    Parameters
    ----------
    axis_map : tuple of 3 int
        The header's (mapc, mapr, maps): which spatial axis (1 = x, 2 = y, 3 = z) columns, rows and
        sections run along (``read_mrc_header(path)['axis_map']``).

    Returns
    -------
    list of 3 int

    Examples
    --------
    >>> from aitom.io.file import xyz_axes
    >>> xyz_axes((1, 2, 3))   # the usual layout: data[z, y, x]
    [2, 1, 0]
    >>> xyz_axes((3, 2, 1))   # columns along z: data[x, y, z] already
    [0, 1, 2]
    """
    spatial = [a - 1 for a in reversed(axis_map)]
    return [spatial.index(i) for i in range(3)]


def _triple(record):
    """(x, y, z) of a float32 header record, as the shortest decimal (12.6, not 12.600000381)."""
    return tuple(float(str(record[k])) for k in ("x", "y", "z"))


def _round6(x):
    return float(f"{x:.6g}")


def read_mrc_header(path):
    """Read an MRC header without reading the data.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    dict
        ``shape`` (x, y, z sizes of the array :func:`read_mrc_data` returns), ``mode``, ``dtype``
        (of the stored values), ``voxel_size_A`` (x, y, z) and ``voxel_spacing_A`` / ``voxel_spacing_nm``
        (along x, as AITom), all ``None`` when the header records no voxel size, ``origin_A``,
        ``start`` (nxstart, nystart, nzstart), ``axis_map`` (mapc, mapr, maps), ``cell_A``,
        ``cell_angles``, ``min``, ``max``, ``mean``, ``rms``, ``space_group``, ``labels``,
        ``extended_header_bytes``, ``byte_order`` and ``compression`` (None, 'gzip' or 'bzip2').
    """
    path = os.fspath(path)
    h, byte_order, compression = _raw_header(path)
    sizes = (int(h["nz"]), int(h["ny"]), int(h["nx"]))
    cell = _triple(h["cella"])
    grid = (int(h["mx"]), int(h["my"]), int(h["mz"]))
    # the header stores float32: round to 6 significant digits so 12.6 / 3 gives 4.2, not 4.2000003
    voxel = tuple(_round6(c / m) if m > 0 else 0.0 for c, m in zip(cell, grid))
    if not all(np.isfinite(voxel)) or min(voxel) <= 0:
        voxel = None
    nlabl = min(max(int(h["nlabl"]), 0), len(h["label"]))
    return {
        "path": path,
        "shape": tuple(sizes[a] for a in _xyz_axes(h)),
        "mode": int(h["mode"]),
        "dtype": str(mrcfile.utils.dtype_from_mode(int(h["mode"]))),
        "voxel_size_A": voxel,
        "voxel_spacing_A": None if voxel is None else voxel[0],
        "voxel_spacing_nm": None if voxel is None else _round6(voxel[0] / 10.0),
        "origin_A": _triple(h["origin"]),
        "start": (int(h["nxstart"]), int(h["nystart"]), int(h["nzstart"])),
        "axis_map": _axis_map(h),
        "cell_A": cell,
        "cell_angles": tuple(float(h["cellb"][k]) for k in ("alpha", "beta", "gamma")),
        "min": float(h["dmin"]),
        "max": float(h["dmax"]),
        "mean": float(h["dmean"]),
        "rms": float(h["rms"]),
        "space_group": int(h["ispg"]),
        "labels": [bytes(b).decode("ascii", "replace").strip(" \x00") for b in h["label"][:nlabl]],
        "extended_header_bytes": int(h["nsymbt"]),
        "byte_order": byte_order,
        "compression": compression,
    }


def get_mrc_voxel_spacing(path):
    """Voxel spacing along x in Ångström (AITom's ``xlen / nx``), or ``None`` if not recorded.

    Divide by 10 for nanometres (the package's unit), or use ``read_mrc_header(path)['voxel_spacing_nm']``.
    """
    return read_mrc_header(path)["voxel_spacing_A"]


def read_mrc_data(path, progress=False, allow_int=False, check_finite=True, *, show_progress=None):
    """Read an MRC volume as a float32 array indexed ``[x, y, z]``.

    Parameters
    ----------
    path : str or os.PathLike
        Plain, gzip- or bzip2-compressed MRC file.
    progress : bool
        Show a progress bar while converting the data.
    allow_int : bool
        Accept integer modes 0, 1 and 6 (int8, int16, uint16) and convert them to float32; by default
        only float modes 2 and 12 are read.
    check_finite : bool
        Refuse volumes holding NaN or infinite values.
    show_progress : bool, optional
        Deprecated name of ``progress`` (AITom's); warns and takes precedence when given.

    Returns
    -------
    numpy.ndarray
        C-contiguous float32 array of shape ``(nx, ny, nz)`` (axes permuted when the header's
        mapc/mapr/maps is not 1/2/3).

    Raises
    ------
    InputError
        Missing, truncated, corrupt or non-MRC file; complex or (without ``allow_int``) integer
        mode; non-finite values.
    """
    if show_progress is not None:
        warnings.warn("read_mrc_data(show_progress=) is deprecated; use progress=", DeprecationWarning, stacklevel=2)
        progress = show_progress
    path = os.fspath(path)
    header = _raw_header(path)[0]
    mode = int(header["mode"])
    dtype = mrcfile.utils.dtype_from_mode(mode)
    if mode not in _FLOAT_MODES + _INT_MODES:
        raise InputError(path, f"MRC mode {mode} ({dtype}) holds complex values; only real volumes are read")
    if mode in _INT_MODES and not allow_int:
        raise InputError(path, f"MRC mode {mode} holds integers ({dtype}); pass allow_int=True to convert "
                               "them to float32")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with mrcfile.open(path, mode="r", permissive=False) as mrc:
                data = mrc.data
    except _READ_ERRORS as err:
        raise InputError(path, f"invalid MRC file: {err}") from err
    for w in caught:
        if issubclass(w.category, RuntimeWarning):
            raise InputError(path, f"invalid MRC file: {w.message}")
        warnings.warn(w.message, stacklevel=2)
    nx, ny, nz = (int(header[k]) for k in ("nx", "ny", "nz"))
    src = data.reshape(nz, ny, nx).transpose(_xyz_axes(header))
    out = np.empty(src.shape, dtype=np.float32)
    step = max(1, _CHUNK_VOXELS // (out.shape[0] * out.shape[1]))
    bad = 0
    for k in tqdm(range(0, out.shape[2], step), disable=not progress, desc=os.path.basename(path)):
        block = out[:, :, k:k + step]
        block[...] = src[:, :, k:k + step]
        if check_finite:
            bad += block.size - int(np.count_nonzero(np.isfinite(block)))
    if bad:
        raise InputError(path, f"{bad} of {out.size} voxels are NaN or infinite; pass check_finite=False "
                               "to read them anyway")
    return out


def put_mrc(v, path, overwrite=False, voxel_spacing=None):
    """Write a 3D volume ``v[x, y, z]`` as a float32 (mode 2) MRC file, atomically.

    Parameters
    ----------
    v : array_like
        Real, finite 3D volume; stored as float32.
    path : str or os.PathLike
        Destination; a name ending in ``.gz`` is written gzip-compressed.
    overwrite : bool
        Replace an existing file; otherwise an existing ``path`` raises :class:`InputError`.
    voxel_spacing : float, optional
        Voxel size in Ångström (AITom semantics), recorded in the header. ``None`` records none.
    """
    path = os.fspath(path)
    v = np.asarray(v)
    if v.ndim != 3 or v.dtype.kind not in "fiu":
        raise InputError(path, f"expected a real 3D volume, got {v.dtype} array of shape {v.shape}")
    v = v.astype(np.float32)
    bad = v.size - int(np.count_nonzero(np.isfinite(v)))
    if bad:
        raise InputError(path, f"volume to write has {bad} NaN or infinite voxels")
    if voxel_spacing is not None and not _positive(voxel_spacing):
        raise InputError(path, f"voxel_spacing must be a positive number (Ångström), got {voxel_spacing!r}")
    if os.path.exists(path) and not overwrite:
        raise InputError(path, "file exists; pass overwrite=True to replace it")
    compression = "gzip" if path.endswith(".gz") else None
    with atomic_path(path) as tmp:
        zyx = np.ascontiguousarray(v.transpose(2, 1, 0))
        with mrcfile.new(tmp, data=zyx, compression=compression) as mrc:
            if voxel_spacing is not None:
                mrc.voxel_size = float(voxel_spacing)


def _positive(value):
    """True for a finite number > 0."""
    try:
        return bool(np.isfinite(float(value)) and float(value) > 0)
    except (TypeError, ValueError):
        return False


# What a pickle may build when loaded: NumPy arrays, NumPy scalars and dtypes (under the names NumPy 1 and 2
# pickle them with) and built-in containers; every other global is refused, so loading runs no other code.
_PICKLE_GLOBALS = frozenset(
    [(m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("_reconstruct", "scalar")]
    + [(m, "_frombuffer") for m in ("numpy.core.numeric", "numpy._core.numeric")]
    + [("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")]
    + [(m, n) for m in ("builtins", "__builtin__")
       for n in ("dict", "list", "tuple", "set", "frozenset", "bytearray", "complex")])
SAFE_FORMATS = "a set folder (.npy + meta.json, aitom.io.dataset.save_subtomogram_set), STAR or CSV"
PICKLE_SUFFIXES = (".pkl", ".pickle")


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that builds only NumPy arrays and built-in containers (see ``_PICKLE_GLOBALS``)."""

    def find_class(self, module, name):
        if (module, name) not in _PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"refused to load global '{module}.{name}': only NumPy arrays and "
                                         "built-in containers are loaded from pickles")
        return super().find_class(module, name)


def pickle_load(path, trusted=False):
    """Load a pickle of NumPy arrays and built-in containers (Python 2 pickles too, as AITom).

    Loading a pickle can run arbitrary code, so a file is read only with ``trusted=True``, and even then
    by a restricted unpickler that builds nothing but NumPy arrays, NumPy scalars and built-in
    containers (``dict``, ``list``, ``tuple``, ``set``, ...) and refuses every other class or function.
    Prefer the safe formats: a set folder (``.npy`` + JSON), STAR or CSV.

    Parameters
    ----------
    path : str or os.PathLike
    trusted : bool
        You trust the file (it came from you or someone you trust). Without it nothing is read.

    Returns
    -------
    object

    Raises
    ------
    InputError
        Without ``trusted=True``; for a missing or unreadable file; for a pickle that refers to any other
        class or function.

    Examples
    --------
    >>> pickle_dump({"a": np.zeros((2, 8, 8, 8), np.float32)}, "demo.pkl")  # doctest: +SKIP
    >>> pickle_load("demo.pkl", trusted=True)["a"].shape  # doctest: +SKIP
    (2, 8, 8, 8)
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(path, "not a file" if os.path.exists(path) else "no such file")
    if not trusted:
        raise InputError(path, "pickle files can run code when loaded; load one only if you trust it (trusted=True, "
                               f"or --allow-pickle for aitom-fsft), or use a safe format: {SAFE_FORMATS}")
    with open(path, "rb") as f:
        try:
            return _RestrictedUnpickler(f, encoding="iso-8859-1").load()
        except Exception as err:  # unpickling bad bytes can raise almost any exception type
            raise InputError(path, f"cannot unpickle: {type(err).__name__}: {err}") from err


def pickle_dump(obj, path, protocol=pickle.HIGHEST_PROTOCOL):
    """Pickle ``obj`` to ``path`` atomically (readable back by :func:`pickle_load` when it holds only NumPy
    arrays and built-in containers)."""
    with atomic_open(os.fspath(path), "wb") as f:
        pickle.dump(obj, f, protocol=protocol)
