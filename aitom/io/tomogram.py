"""Memory-mapped MRC tomograms: an ``[x, y, z]`` view of the file, read region by region.

:func:`open_tomogram` checks the header with :func:`aitom.io.file.read_mrc_header` and orders the axes
with :func:`aitom.io.file.xyz_axes`, as :func:`aitom.io.file.read_mrc_data` does, but reads nothing: the
data stays on disk and only the regions that are indexed are paged in. Extraction at picks
(:mod:`aitom.picking.extract`) reads tomograms this way.
"""
import contextlib
import os
from dataclasses import dataclass

import mrcfile
import numpy as np

from aitom.errors import InputError
from aitom.io.file import read_mrc_header, xyz_axes

_SLAB_VOXELS = 1 << 22


@dataclass
class MappedTomogram:
    """A memory-mapped tomogram.

    Attributes
    ----------
    data : numpy.ndarray
        Read-only ``[x, y, z]`` view of the memory map (no copy).
    voxel_size_A : float or None
        Voxel size from the header (Å), None when the header records none.
    path : str
        The MRC file.
    header_mean : float or None
        Mean from the header when its statistics are consistent, else None.
    """

    data: np.ndarray
    voxel_size_A: float
    path: str
    header_mean: float = None

    @property
    def shape(self):
        """``(nx, ny, nz)``."""
        return self.data.shape

    def mean(self):
        """Tomogram mean: from the header when valid, else computed slab by slab (bounded memory)."""
        if self.header_mean is not None:
            return self.header_mean
        total = 0.0
        step = max(1, _SLAB_VOXELS // (self.shape[0] * self.shape[1]))
        for k in range(0, self.shape[2], step):
            total += float(np.sum(self.data[:, :, k:k + step], dtype=np.float64))
        self.header_mean = total / self.data.size
        return self.header_mean


@contextlib.contextmanager
def open_tomogram(path):
    """Memory-map an uncompressed MRC tomogram.

    Parameters
    ----------
    path : str or os.PathLike
        MRC file (plain, not compressed: compressed files cannot be memory-mapped).

    Yields
    ------
    MappedTomogram
        Valid inside the ``with`` block only.

    Raises
    ------
    InputError
        If the file is not a valid, uncompressed, real-valued MRC volume.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from aitom.io.file import put_mrc
    >>> from aitom.io.tomogram import open_tomogram
    >>> path = os.path.join(tempfile.mkdtemp(), "t.mrc")
    >>> put_mrc(np.arange(24, dtype=np.float32).reshape(2, 3, 4), path, voxel_spacing=10.0)
    >>> with open_tomogram(path) as tomo:
    ...     print(tomo.shape, tomo.voxel_size_A, float(tomo.data[1, 2, 3]))
    (2, 3, 4) 10.0 23.0
    """
    path = os.fspath(path)
    header = read_mrc_header(path)
    if header["compression"] is not None:
        raise InputError(path, f"{header['compression']}-compressed: decompress it to memory-map the tomogram")
    if np.dtype(header["dtype"]).kind == "c":
        raise InputError(path, f"MRC mode {header['mode']} holds complex values; a tomogram must be real")
    stats_valid = header["min"] <= header["mean"] <= header["max"] and header["min"] < header["max"]
    with mrcfile.mmap(path, mode="r", permissive=False) as mrc:
        data = mrc.data.transpose(xyz_axes(header["axis_map"]))
        yield MappedTomogram(data=data, voxel_size_A=header["voxel_spacing_A"], path=path,
                             header_mean=header["mean"] if stats_valid else None)


def tomogram_array(tomogram):
    """The ``[x, y, z]`` array of a :class:`MappedTomogram`, or ``tomogram`` itself when it is an array.

    Examples
    --------
    >>> import numpy as np
    >>> from aitom.io.tomogram import MappedTomogram, tomogram_array
    >>> v = np.zeros((4, 4, 4), np.float32)
    >>> tomogram_array(MappedTomogram(data=v, voxel_size_A=None, path="t.mrc")) is v
    True
    >>> tomogram_array(v) is v
    True
    """
    return tomogram.data if isinstance(tomogram, MappedTomogram) else tomogram
