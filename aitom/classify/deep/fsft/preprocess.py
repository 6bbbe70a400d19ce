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
    mean = x.mean(axis=axes, keepdims=True)
    std = x.std(axis=axes, keepdims=True)
    return (x - mean) / np.maximum(std, eps)
