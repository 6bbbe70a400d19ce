"""Volume normalisation: every subtomogram is standardised this way before it enters a network."""
import numpy as np


def standardize(x, eps=1e-8):
    """Scale each subtomogram to zero mean and unit standard deviation.

    Parameters
    ----------
    x : array_like, shape (n, s, s, s) or (s, s, s)
        Raw subtomograms; the statistics run over the last three axes.
    eps : float
        Lower bound on the standard deviation, so a constant volume maps to zeros instead of NaN.

    Returns
    -------
    numpy.ndarray of float32, same shape

    Examples
    --------
    >>> import numpy as np
    >>> from aitom.image.normalize import standardize
    >>> v = np.arange(8.0).reshape(1, 2, 2, 2)
    >>> z = standardize(v)
    >>> round(float(z.mean()), 6), round(float(z.std()), 6)
    (0.0, 1.0)
    >>> standardize(np.ones((2, 2, 2))).max()
    np.float32(0.0)
    """
    x = np.asarray(x, dtype=np.float32)
    axes = tuple(range(x.ndim - 3, x.ndim))
    # statistics accumulate in float64: float32 sums of squares overflow for values beyond ~1e17
    mean = x.mean(axis=axes, keepdims=True, dtype=np.float64)
    std = x.std(axis=axes, keepdims=True, dtype=np.float64)
    return ((x - mean) / np.maximum(std, eps)).astype(np.float32)
