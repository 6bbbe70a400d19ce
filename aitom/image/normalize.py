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
    rows = x.reshape(-1, int(np.prod(x.shape[-3:])))
    # statistics accumulate in float64 (float32 sums of squares overflow for values beyond ~1e17);
    # the volumes themselves stay float32, so no float64 copy of the batch is made
    mean = rows.mean(axis=1, dtype=np.float64)
    out = rows - mean.astype(np.float32)[:, None]
    var = np.einsum("ij,ij->i", out, out, dtype=np.float64) / rows.shape[1]
    out *= (1.0 / np.maximum(np.sqrt(var), eps)).astype(np.float32)[:, None]
    return out.reshape(x.shape)
