"""Atomic writes: a file (or folder) appears whole under its final name, or not at all."""
import contextlib
import os
import shutil
import tempfile

from aitom.errors import InputError


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success move it onto ``path`` in one step.

    Works for files and folders. On an exception the temporary path is removed and ``path`` is
    left as it was. The temporary name starts with ``.`` and ends with ``.partial``.
    """
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".partial", dir=parent)
    os.close(fd)
    os.remove(tmp)
    try:
        yield tmp
        if os.path.isdir(tmp):
            if os.path.isdir(path):
                old = tmp + ".old"
                os.replace(path, old)
                os.replace(tmp, path)
                shutil.rmtree(old)
            else:
                os.replace(tmp, path)
        else:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_open(path, mode="wb", **kwargs):
    """Open a temporary file for writing; it replaces ``path`` only if the block finishes."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as f:
            yield f
            f.flush()


def check_output(path, overwrite=False, inputs=()):
    """Refuse an output path that would replace one of the ``inputs``, or an existing file without ``overwrite``.

    Parameters
    ----------
    path : str or os.PathLike
        Output file a command is about to write.
    overwrite : bool
        Replace an existing file (``--overwrite``). An input is never replaced, whatever ``overwrite``.
    inputs : iterable of str or os.PathLike
        Files the command reads.

    Raises
    ------
    InputError
        Naming ``path``.

    Examples
    --------
    >>> check_output("picks.star", inputs=["picks.star"])  # doctest: +SKIP
    InputError: picks.star: is also an input of this command (picks.star); write the output to another file
    """
    path = os.fspath(path)
    for other in map(os.fspath, inputs):
        same = (os.path.samefile(path, other) if os.path.exists(path) and os.path.exists(other)
                else os.path.abspath(path) == os.path.abspath(other))
        if same:
            raise InputError(path, f"is also an input of this command ({other}); write the output to another file")
    if os.path.isdir(path):
        raise InputError(path, "is a folder; give a file name")
    if os.path.lexists(path) and not overwrite:
        raise InputError(path, "exists; pass --overwrite to replace it")
