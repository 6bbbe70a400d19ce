"""Class-balanced pseudo-labels for the unlabelled target pool (self-training in stage 3).

Plain confidence thresholds let the classes the network already favours take over the pseudo-labels;
class-balanced selection (Zou et al., ECCV 2018, "class-balanced self-training") instead gives every
class the same quota: for each class, the pool members predicted as that class with the highest
probability, up to ``fraction`` of an equal share of the pool.
"""
import numpy as np


def class_balanced_pseudo_labels(probabilities, fraction):
    """Positions and labels of the pool members to pseudo-label.

    Parameters
    ----------
    probabilities : array (n, k)
        Predicted class probabilities of the n pool members.
    fraction : float in [0, 1]
        Each class gets at most ``round(fraction * n / k)`` members, the most confident among those
        predicted as that class (fewer if fewer are predicted as it).

    Returns
    -------
    positions : int array
        Sorted row positions into ``probabilities``.
    labels : int array
        The predicted class of each selected row.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.9, 0.1], [0.6, 0.4], [0.8, 0.2], [0.3, 0.7]])
    >>> class_balanced_pseudo_labels(p, 0.5)
    (array([0, 3]), array([0, 1]))
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probabilities must be (n, k), got shape {p.shape}")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    n, k = p.shape
    quota = int(round(fraction * n / k)) if k else 0
    predicted, confidence = p.argmax(1), p.max(1)
    chosen = []
    for c in range(k):
        members = np.flatnonzero(predicted == c)
        chosen.append(members[np.argsort(-confidence[members], kind="stable")[:quota]])
    positions = np.sort(np.concatenate(chosen)).astype(np.int64) if chosen else np.zeros(0, np.int64)
    return positions, predicted[positions].astype(np.int64)
