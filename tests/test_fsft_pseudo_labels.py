import numpy as np
import pytest

from aitom.classify.deep.fsft.pseudo_labels import class_balanced_pseudo_labels


def test_every_class_gets_the_same_quota_of_its_most_confident_members():
    rng = np.random.default_rng(0)
    # 90 members predicted as class 0, 10 as class 1: a threshold would hand class 0 almost everything
    p0 = rng.uniform(0.55, 1.0, 90)
    p1 = rng.uniform(0.55, 1.0, 10)
    probs = np.concatenate([np.stack([p0, 1 - p0], 1), np.stack([1 - p1, p1], 1)])
    positions, labels = class_balanced_pseudo_labels(probs, 0.1)  # quota round(0.1 * 100 / 2) = 5
    assert np.all(np.diff(positions) > 0)
    assert np.bincount(labels, minlength=2).tolist() == [5, 5]
    for c, conf in ((0, p0), (1, p1)):
        chosen = probs[positions[labels == c], c]
        assert chosen.min() >= np.sort(conf)[-5]


def test_a_class_predicted_less_often_than_its_quota_gives_what_it_has():
    probs = np.array([[0.9, 0.1, 0.0], [0.8, 0.2, 0.0], [0.7, 0.3, 0.0], [0.2, 0.8, 0.0]])
    positions, labels = class_balanced_pseudo_labels(probs, 1.0)  # quota round(4 / 3) = 1
    assert positions.tolist() == [0, 3] and labels.tolist() == [0, 1]


def test_fraction_zero_selects_nothing_and_bad_input_is_refused():
    positions, labels = class_balanced_pseudo_labels(np.full((6, 2), 0.5), 0.0)
    assert len(positions) == 0 and len(labels) == 0
    with pytest.raises(ValueError, match="fraction"):
        class_balanced_pseudo_labels(np.full((6, 2), 0.5), 1.5)
    with pytest.raises(ValueError, match="shape"):
        class_balanced_pseudo_labels(np.full(6, 0.5), 0.5)
