"""Compare picks with a ground-truth particle list: one-to-one matching within a radius."""
import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from aitom.io.particles import COORDINATE_COLUMNS


def match_picks(picks, truth, radius):
    """Match picks to true particles one to one, minimising the total distance.

    Parameters
    ----------
    picks, truth : pandas.DataFrame or array_like, shape (n, 3) / (m, 3)
        Centres (canonical columns ``x_px, y_px, z_px`` or arrays), in the same voxels.
    radius : float
        A pick and a particle farther apart than this are never matched.

    Returns
    -------
    numpy.ndarray, shape (n,), int
        For each pick, the row of its true particle, or -1 (a false pick).
    """
    p = _xyz(picks)
    t = _xyz(truth)
    matched = np.full(len(p), -1, dtype=int)
    if len(p) == 0 or len(t) == 0:
        return matched
    distance = cdist(p, t)
    cost = np.where(distance <= radius, distance, 1e9)
    rows, cols = linear_sum_assignment(cost)
    ok = distance[rows, cols] <= radius
    matched[rows[ok]] = cols[ok]
    return matched


def picking_metrics(matched, n_truth):
    """Precision and recall of picks from :func:`match_picks`.

    Returns
    -------
    dict
        ``n_picks``, ``n_truth``, ``true_positives``, ``precision`` (matched / picks) and ``recall``
        (matched / true particles); NaN where a denominator is 0.
    """
    matched = np.asarray(matched)
    tp = int((matched >= 0).sum())
    return {"n_picks": int(len(matched)), "n_truth": int(n_truth), "true_positives": tp,
            "precision": tp / len(matched) if len(matched) else float("nan"),
            "recall": tp / n_truth if n_truth else float("nan")}



def matched_class_accuracy(predicted, truth_classes, matched):
    """Fraction of the matched picks whose predicted class is their particle's class (NaN if none matched).

    Parameters
    ----------
    predicted : array_like, shape (n,)
        Class of each pick.
    truth_classes : array_like, shape (m,)
        Class of each true particle.
    matched : array_like, shape (n,), int
        :func:`match_picks` of the same picks.
    """
    matched = np.asarray(matched)
    hits = matched >= 0
    if not hits.any():
        return float("nan")
    return float(np.mean(np.asarray(predicted)[hits] == np.asarray(truth_classes)[matched[hits]]))

def _xyz(points):
    if hasattr(points, "columns"):
        return points[list(COORDINATE_COLUMNS)].to_numpy(dtype=float)
    return np.asarray(points, dtype=float).reshape(-1, 3)
