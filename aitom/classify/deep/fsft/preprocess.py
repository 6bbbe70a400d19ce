"""Normalisation applied to every subtomogram before it enters a network."""
import numpy as np


def standardize(x, eps=1e-8):
    """Scale each subtomogram to zero mean and unit standard deviation.

    Parameters
    ----------
    x : ndarray, shape (n, s, s, s) or (s, s, s)
        Raw subtomograms.

    Returns
    -------
    ndarray of float32, same shape.
    """
    x = np.asarray(x, dtype=np.float32)
    axes = tuple(range(x.ndim - 3, x.ndim))
    # statistics accumulate in float64: float32 sums of squares overflow for values beyond ~1e17
    mean = x.mean(axis=axes, keepdims=True, dtype=np.float64)
    std = x.std(axis=axes, keepdims=True, dtype=np.float64)
    return ((x - mean) / np.maximum(std, eps)).astype(np.float32)
