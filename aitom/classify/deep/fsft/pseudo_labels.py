"""Class-balanced pseudo-labels for the unlabelled target pool (stage 3's self-training rounds).

After stage 3 the target network is far better than chance on the unlabelled pool, and its most
confident predictions are mostly right. A self-training round adds those predictions to the labelled
shots and fine-tunes again (``stages.stage3_finetune``, ``config.self_training_rounds``). The
selection is *class-balanced*: each class contributes the same number of rows (its most confident
predictions), so a class the network over-predicts cannot crowd the others out, and a class it rarely
predicts still gets its few most confident rows.
"""
import numpy as np


def select_pseudo_labels(probabilities, fraction):
    """Rows of the pool to label, and their labels: the most confident predictions of every class.

    Parameters
    ----------
    probabilities : (n, k) array, class probabilities of the pool's n rows.
    fraction : float in [0, 1], share of the pool to label; each of the k classes gets
        ``round(fraction * n / k)`` of the rows predicted as that class (fewer if fewer are predicted so).

    Returns
    -------
    positions : int array, sorted positions in the pool.
    labels : int array, the predicted class of each position.

    Examples
    --------
    >>> p = np.array([[0.9, 0.1], [0.6, 0.4], [0.8, 0.2], [0.3, 0.7]])
    >>> select_pseudo_labels(p, 0.5)
    (array([0, 3]), array([0, 1]))
    """
    probabilities = np.asarray(probabilities)
    n, k = probabilities.shape
    per_class = int(round(fraction * n / k))
    predicted, confidence = probabilities.argmax(1), probabilities.max(1)
    chosen = []
    for c in range(k):
        members = np.flatnonzero(predicted == c)
        chosen.append(members[np.argsort(-confidence[members], kind="stable")[:per_class]])
    positions = np.sort(np.concatenate(chosen)).astype(np.int64)
    return positions, predicted[positions]
