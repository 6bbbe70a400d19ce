"""Particle lists: read and write picks in the formats of common pickers, as a pandas DataFrame.

Canonical columns
-----------------
Every reader returns a DataFrame that keeps every column of the input and adds:

``x_px, y_px, z_px``
    Particle centre in pixels of size ``pixel_size_A``, **0-based, pixel centres at integers**: a
    particle at ``x_px = 10`` is centred on voxel ``v[10, :, :]`` of the ``[x, y, z]`` array returned by
    :func:`aitom.io.file.read_mrc_data` (X indexes axis 0, the fastest axis of the MRC file).
``tomogram``
    Name of the tomogram the pick belongs to (string), or missing when the file does not say.
``pixel_size_A``
    Pixel size (Å) of the coordinates, or NaN when unknown; unknown means "the voxels of the tomogram
    the picks are used with".

Coordinate conventions of the supported formats
-----------------------------------------------
``pytom``
    STAR file written by pytom-match-pick: ``ptmCoordinateX/Y/Z`` are the NumPy indices of the peak in
    the ``[x, y, z]`` score map (pytom transposes mrcfile's ``(z, y, x)`` data on reading), so they are
    already 0-based voxel centres; ``ptmDetectorPixelSize`` is the tomogram voxel size (Å) and
    ``ptmMicrographName`` the tomogram name. Angles (``ptmAngleRot/Tilt/Psi``) and scores (``ptmLCCmax``)
    are kept as they are.
``relion4``
    ``rlnCoordinateX/Y/Z`` in pixels. RELION treats these as 0-based: its extraction
    (``preprocessing.cpp``) windows ``xpos + FIRST_XMIPP_INDEX(box)`` ... ``xpos + LAST_XMIPP_INDEX(box)``
    with ``xpos = (long) rlnCoordinateX`` out of a micrograph whose origin is 0, so the particle centre is
    array index ``rlnCoordinateX``; the tomography code (``ParticleSet::getPosition``) uses the same
    "decentred pixel" coordinates. The pixel size is read from ``rlnDetectorPixelSize`` or
    ``rlnTomoTiltSeriesPixelSize`` (particle table, or the ``optics`` table through
    ``rlnOpticsGroup``); RELION 4 tomography stores coordinates in unbinned tilt-series pixels, which
    the pixel size makes explicit. The tomogram name is ``rlnTomoName`` or ``rlnMicrographName``.
``relion5``
    ``rlnCenteredCoordinateX/Y/ZAngst``: Å from the tomogram centre. RELION 5
    (``ParticleSet::getParticleCoordDecenteredPixel``) converts them to decentred pixels as
    ``Å / pixel_size + size / 2`` (floating-point division, ``TomogramSet::loadTomogram``), so
    ``x_px = Å / pixel_size_A + nx / 2``. This needs the tomogram shape and the pixel size that belongs
    to that shape: pass ``tomogram_shape`` and the tomogram's voxel size as ``pixel_size_A`` (which then
    takes precedence over ``rlnTomoTiltSeriesPixelSize``, the *unbinned* tilt-series pixel size). The
    formula is invariant to binning when the unbinned size is a multiple of the binning.
``csv``
    Plain CSV with the canonical columns ``x_px, y_px, z_px`` (required), ``tomogram`` and
    ``pixel_size_A`` (optional) and any others.
``aitom``
    Pickle of a list of dicts, as written by AITom's difference-of-Gaussian picker
    (``aitom.pick.dog``): ``'x'`` is the ``[x, y, z]`` 0-based voxel location, other keys (``'val'``,
    ``'uuid'``, ``'tomogram'``, ``'pixel_size_A'`` ...) become columns. Pickles can run code when loaded, so
    one is read only with ``trusted=True``, and then only NumPy arrays and built-in containers are built
    (:func:`aitom.io.file.pickle_load`); prefer STAR or CSV for lists shared between labs.

Writers regenerate each format's coordinate, name and pixel-size columns from the canonical ones and
write every other column unchanged (the canonical columns themselves are written only to CSV).
"""
import os
import pickle

import numpy as np
import pandas as pd
import starfile

from aitom.errors import InputError
from aitom.io.atomic import atomic_open, atomic_path
from aitom.io.file import PICKLE_SUFFIXES, pickle_load

FORMATS = ("pytom", "relion4", "relion5", "csv", "aitom")
COORDINATE_COLUMNS = ("x_px", "y_px", "z_px")
CANONICAL_COLUMNS = COORDINATE_COLUMNS + ("tomogram", "pixel_size_A")

# Per STAR dialect: coordinate columns, tomogram-name columns and pixel-size columns in order of
# preference. The first name column / pixel column is the one a writer adds when none is present.
_STAR = {
    "pytom": {
        "coords": ("ptmCoordinateX", "ptmCoordinateY", "ptmCoordinateZ"),
        "names": ("ptmMicrographName",),
        "pixel": ("ptmDetectorPixelSize",),
    },
    "relion4": {
        "coords": ("rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ"),
        "names": ("rlnTomoName", "rlnMicrographName"),
        "pixel": ("rlnDetectorPixelSize", "rlnTomoTiltSeriesPixelSize"),
    },
    "relion5": {
        "coords": ("rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst", "rlnCenteredCoordinateZAngst"),
        "names": ("rlnTomoName", "rlnMicrographName"),
        "pixel": ("rlnTomoTiltSeriesPixelSize", "rlnDetectorPixelSize"),
    },
}
_NAME_COLUMNS = tuple(dict.fromkeys(c for spec in _STAR.values() for c in spec["names"]))


def detect_format(path):
    """Guess the format of a particle list from its extension and, for STAR files, its columns.

    Parameters
    ----------
    path : str or os.PathLike
        Particle list.

    Returns
    -------
    str
        One of :data:`FORMATS`.

    Raises
    ------
    InputError
        If the file cannot be read or has no known coordinate columns.
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".csv":
        return "csv"
    if suffix in PICKLE_SUFFIXES:
        return "aitom"
    blocks = _read_star_blocks(path)
    for fmt in ("pytom", "relion5", "relion4"):
        if _find_block(blocks, _STAR[fmt]["coords"][0]) is not None:
            return fmt
    raise InputError(path, "no coordinate column: expected ptmCoordinateX, rlnCoordinateX or "
                           "rlnCenteredCoordinateXAngst")


def read_particles(path, fmt=None, tomogram_shape=None, pixel_size_A=None, trusted=False):
    """Read a particle list into a DataFrame with the canonical columns added.

    Parameters
    ----------
    path : str or os.PathLike
        Particle list.
    fmt : str, optional
        One of :data:`FORMATS`; guessed by :func:`detect_format` when omitted.
    tomogram_shape : tuple of int or dict, optional
        ``(nx, ny, nz)`` of the tomogram, or a dict tomogram name -> shape. Needed for ``relion5``.
    pixel_size_A : float or dict, optional
        Pixel size (Å) of the coordinates, or a dict tomogram name -> pixel size, used where the file
        records none. For ``relion5`` it is the voxel size of the tomogram of ``tomogram_shape`` and
        takes precedence over the file (see the module docstring).
    trusted : bool
        Read an ``aitom`` pickle: pickles can run code when loaded, so only pass it for a file you trust.

    Returns
    -------
    pandas.DataFrame
        Input columns plus ``x_px, y_px, z_px, tomogram, pixel_size_A``, one row per particle.

    Raises
    ------
    InputError
        Naming the file and column when the file is unreadable, a coordinate column is missing or not
        numeric, or a shape / pixel size needed for the conversion is missing; an ``aitom`` pickle
        without ``trusted=True``.

    Examples
    --------
    >>> picks = read_particles("TS_01_particles.star")  # doctest: +SKIP
    >>> picks[["x_px", "y_px", "z_px", "tomogram"]].head()  # doctest: +SKIP
    """
    path = os.fspath(path)
    fmt = detect_format(path) if fmt is None else fmt
    if fmt not in FORMATS:
        raise InputError("fmt", f"unknown particle list format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "csv":
        df, coords, names, pixel, source = _read_csv(path)
    elif fmt == "aitom":
        df, coords, names, pixel, source = _read_aitom_pickle(path, trusted)
    else:
        df, coords, names, pixel, source = _read_star(path, fmt)
    given = _per_row(pixel_size_A, names, "pixel_size_A", required=False)
    if fmt == "relion5":
        if given is not None:
            pixel = given
        if np.isnan(pixel).any():
            raise InputError(source, "no pixel size for RELION 5 centred coordinates: pass pixel_size_A "
                                     "(the tomogram voxel size) or add column 'rlnTomoTiltSeriesPixelSize'")
        shape = _per_row(tomogram_shape, names, "tomogram_shape")
        if shape is None:
            raise InputError(source, "RELION 5 centred coordinates (rlnCenteredCoordinateXAngst) need the "
                                     "tomogram shape: pass tomogram_shape")
        coords = coords / pixel[:, None] + shape / 2.0
    elif given is not None:
        pixel = np.where(np.isnan(pixel), given, pixel)
    for i, column in enumerate(COORDINATE_COLUMNS):
        df[column] = coords[:, i]
    df["tomogram"] = names
    df["pixel_size_A"] = pixel
    return df


def write_particles(particles, path, fmt=None, tomogram_shape=None, like=None):
    """Write a particle list atomically.

    Parameters
    ----------
    particles : pandas.DataFrame
        Canonical columns ``x_px, y_px, z_px`` (and optionally ``tomogram``, ``pixel_size_A``) plus any
        other columns, which are written unchanged.
    path : str or os.PathLike
        Output file.
    fmt : str, optional
        One of :data:`FORMATS`. Default: from the extension (``.csv``, ``.pkl``/``.pickle``); for
        ``.star`` the format of ``like`` if given, else ``relion4``.
    tomogram_shape : tuple of int or dict, optional
        Tomogram shape (or dict name -> shape) at the pixel size ``pixel_size_A``; needed for ``relion5``.
    like : str or os.PathLike, optional
        STAR file whose other data blocks (e.g. ``data_optics``) are copied into the output, and whose
        particle block name is reused.

    Raises
    ------
    InputError
        If a column needed by the format is missing.
    """
    path = os.fspath(path)
    source = f"{path} (particles to write)"
    for column in COORDINATE_COLUMNS:
        if column not in particles:
            raise InputError(source, f"missing column {column!r}")
    like_fmt = None if like is None else detect_format(like)
    if like_fmt not in (None, *_STAR):
        raise InputError(os.fspath(like), "like= must be a STAR particle list")
    if fmt is None:
        suffix = os.path.splitext(path)[1].lower()
        if suffix == ".csv":
            fmt = "csv"
        elif suffix in PICKLE_SUFFIXES:
            fmt = "aitom"
        else:
            fmt = like_fmt or "relion4"
    if fmt not in FORMATS:
        raise InputError("fmt", f"unknown particle list format {fmt!r}; expected one of {', '.join(FORMATS)}")
    df = particles.reset_index(drop=True)
    if fmt == "csv":
        with atomic_open(path, "w", newline="") as f:
            df.to_csv(f, index=False)
        return
    native = df.drop(columns=[c for c in CANONICAL_COLUMNS if c in df])
    if fmt == "aitom":
        records = native.to_dict("records")
        for record, xyz, name, pixel in zip(records, df[list(COORDINATE_COLUMNS)].to_numpy(float),
                                            _column(df, "tomogram", None),
                                            _column(df, "pixel_size_A", np.nan)):
            record["x"] = [float(c) for c in xyz]
            if _present(name):
                record["tomogram"] = name
            if _present(pixel):
                record["pixel_size_A"] = float(pixel)
        with atomic_open(path, "wb") as f:
            pickle.dump(records, f)
        return
    native = _to_star_columns(df, native, fmt, tomogram_shape, source)
    _check_star_text(native, source)
    blocks = {}
    block_name = "particles"
    if like is not None:
        like_blocks = _read_star_blocks(os.fspath(like))
        particle_block = _find_block(like_blocks, _STAR[like_fmt]["coords"][0])
        for name, block in like_blocks.items():
            if name == particle_block:
                block_name = name
                blocks[name] = None
            else:
                blocks[name] = block
    blocks[block_name] = native
    with atomic_path(path) as tmp:
        starfile.write(blocks, tmp)


def _check_star_text(table, source):
    """Refuse text a STAR file cannot hold: starfile writes quotes, '#' and control characters (tabs,
    newlines) unescaped, so the file would be unreadable or read back altered (a'b comes back as a"b)."""
    for column in table.columns:
        if not (pd.api.types.is_object_dtype(table[column]) or pd.api.types.is_string_dtype(table[column])):
            continue
        for row, value in enumerate(table[column]):
            if isinstance(value, str) and any(c in "'\"#" or not c.isprintable() for c in value):
                raise InputError(source, f"column {column!r}, row {row}: {value!r} cannot be written to a STAR "
                                         "file (quotes, '#', tabs, newlines and other control characters are "
                                         "not allowed)")


def _to_star_columns(df, native, fmt, tomogram_shape, source):
    """Set ``fmt``'s coordinate, name and pixel-size columns of ``native`` from the canonical columns."""
    spec = _STAR[fmt]
    native = native.copy()
    xyz = df[list(COORDINATE_COLUMNS)].to_numpy(float)
    names = _column(df, "tomogram", None)
    pixel = _column(df, "pixel_size_A", np.nan).astype(float)
    if fmt == "relion5":
        if np.isnan(pixel).any():
            raise InputError(source, "column 'pixel_size_A' is needed for RELION 5 centred coordinates "
                                     "(Å from the tomogram centre)")
        shape = _per_row(tomogram_shape, names, "tomogram_shape")
        if shape is None:
            raise InputError(source, "RELION 5 centred coordinates need the tomogram shape: pass tomogram_shape")
        xyz = (xyz - shape / 2.0) * pixel[:, None]
    for i, column in enumerate(spec["coords"]):
        native[column] = xyz[:, i]
    if any(_present(n) for n in names):
        name_column = next((c for c in spec["names"] if c in native), spec["names"][0])
        native[name_column] = names
    if fmt != "relion5" and not np.isnan(pixel).all():
        pixel_column = next((c for c in spec["pixel"] if c in native), spec["pixel"][0])
        native[pixel_column] = pixel
    return native


def _read_star_blocks(path):
    """All data blocks of a STAR file as a dict name -> DataFrame or dict; InputError if unreadable."""
    if not os.path.isfile(path):
        raise InputError(path, "no such file")
    try:
        blocks = starfile.read(path, always_dict=True, parse_as_string=list(_NAME_COLUMNS))
    except Exception as err:  # starfile raises assorted types (ValueError, IndexError, ...) on bad text
        raise InputError(path, f"not a readable STAR file ({type(err).__name__}: {err})") from err
    if not isinstance(blocks, dict):
        raise InputError(path, "not a readable STAR file (no data block)")
    return blocks


def _find_block(blocks, column):
    """Name of the first table block that has ``column``, or None."""
    for name, block in blocks.items():
        if isinstance(block, pd.DataFrame) and column in block.columns:
            return name
    return None


def _read_star(path, fmt):
    """Read the particle table of STAR dialect ``fmt``: (table, coordinates, names, pixel sizes, source)."""
    spec = _STAR[fmt]
    blocks = _read_star_blocks(path)
    name = _find_block(blocks, spec["coords"][0])
    if name is None:
        raise InputError(path, f"missing column {spec['coords'][0]!r} (no data block has it)")
    df = blocks[name].reset_index(drop=True)
    source = f"{path} (data_{name})"
    duplicated = df.columns[df.columns.duplicated()]
    if len(duplicated):
        raise InputError(source, f"duplicate column {duplicated[0]!r}")
    coords = np.stack([_numeric(df, column, source) for column in spec["coords"]], axis=1)
    pixel = _pixel_sizes(df, name, blocks, spec["pixel"], path)
    return df, coords, _names(df, spec["names"]), pixel, source


def _pixel_sizes(df, particle_block, blocks, columns, path):
    """Pixel size per row from the particle table, else from another (optics) table, else NaN."""
    for column in columns:
        if column in df:
            return _numeric(df, column, f"{path} (data_{particle_block})", positive=True)
    for block_name, block in blocks.items():
        if block_name == particle_block or not isinstance(block, pd.DataFrame) or len(block) == 0:
            continue
        for column in (c for c in columns if c in block):
            values = _numeric(block, column, f"{path} (data_{block_name})", positive=True)
            if "rlnOpticsGroup" in block and "rlnOpticsGroup" in df:
                lookup = dict(zip(block["rlnOpticsGroup"].astype(str), values))
                return np.array([lookup.get(g, np.nan) for g in df["rlnOpticsGroup"].astype(str)], dtype=float)
            if len(block) == 1:
                return np.full(len(df), values[0])
    return np.full(len(df), np.nan)


def _read_csv(path):
    """Read a canonical CSV: (table, coordinates, names, pixel sizes, source)."""
    if not os.path.isfile(path):
        raise InputError(path, "no such file")
    try:
        df = pd.read_csv(path, dtype={"tomogram": str})
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise InputError(path, f"not a readable CSV file ({type(err).__name__}: {err})") from err
    coords = np.stack([_numeric(df, column, path) for column in COORDINATE_COLUMNS], axis=1)
    pixel = (_numeric(df, "pixel_size_A", path, positive=True, allow_missing=True) if "pixel_size_A" in df
             else np.full(len(df), np.nan))
    return df, coords, _names(df, ("tomogram",)), pixel, path


def _read_aitom_pickle(path, trusted):
    """Read an AITom pickle (list of dicts with 'x'): (table, coordinates, names, pixel sizes, source)."""
    records = pickle_load(path, trusted=trusted)
    if not isinstance(records, (list, tuple)) or not all(isinstance(r, dict) for r in records):
        raise InputError(path, "expected a list of dicts (AITom particle records)")
    for i, record in enumerate(records):
        if np.shape(record.get("x")) != (3,):
            raise InputError(path, f"record {i}: key 'x' must hold the [x, y, z] location")
    df = pd.DataFrame([{k: v for k, v in r.items() if k != "x"} for r in records], index=range(len(records)))
    xyz = pd.DataFrame([list(r["x"]) for r in records], columns=list(COORDINATE_COLUMNS), index=df.index)
    coords = np.stack([_numeric(xyz, column, f"{path} ('x')") for column in COORDINATE_COLUMNS], axis=1)
    pixel = (_numeric(df, "pixel_size_A", path, positive=True, allow_missing=True) if "pixel_size_A" in df
             else np.full(len(df), np.nan))
    return df, coords.reshape(len(df), 3), _names(df, ("tomogram",)), pixel, path


def _numeric(df, column, source, positive=False, allow_missing=False):
    """Column as a float array; InputError naming ``source`` and ``column`` if missing or not numeric."""
    if column not in df:
        raise InputError(source, f"missing column {column!r}")
    raw = df[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values)
    if allow_missing:
        bad &= raw.notna().to_numpy()
    if positive:
        bad |= values <= 0
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        kind = "a positive number" if positive else "a finite number"
        value = raw.iloc[row]
        value = value.item() if isinstance(value, np.generic) else value  # 0, not np.int64(0)
        raise InputError(source, f"column {column!r}, row {row}: {value!r} is not {kind}")
    return values


def _names(df, columns):
    """Tomogram names from the first of ``columns`` present, as an object array (None where missing)."""
    for column in columns:
        if column in df:
            return np.array([None if pd.isna(v) else str(v) for v in df[column]], dtype=object)
    return np.full(len(df), None, dtype=object)


def _column(df, column, missing):
    """``df[column]`` as an array, or ``missing`` for every row when the column is absent."""
    if column in df:
        return df[column].to_numpy()
    return np.full(len(df), missing, dtype=object)


def _present(value):
    """True unless ``value`` is None / NaN / NA."""
    return not pd.isna(value)


def _per_row(value, names, what, required=True):
    """Broadcast a scalar / tuple, or a dict tomogram name -> value, to one float row per pick.

    ``None`` stays ``None``. A dict without an entry for a pick's tomogram raises InputError when
    ``required``, else gives NaN for that pick.
    """
    if value is None:
        return None
    if isinstance(value, dict):
        missing = sorted({str(n) for n in names if n not in value})
        if missing and required:
            raise InputError(what, f"no entry for tomogram(s) {', '.join(missing)}")
        width = np.shape(next(iter(value.values()), 0.0))
        rows = [value.get(n, np.full(width, np.nan)) for n in names]
        return np.array(rows, dtype=float).reshape((len(names),) + width)
    return np.broadcast_to(np.asarray(value, dtype=float), (len(names),) + np.shape(value)).copy()
