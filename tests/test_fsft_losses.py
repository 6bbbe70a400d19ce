import numpy as np
import tensorflow as tf

from aitom.classify.deep.fsft import coral, cross_entropy
from aitom.classify.deep.fsft.losses import confusion_targets


def numpy_coral(zs, zt):
    d = zs.shape[1]
    return np.sum((np.cov(zs, rowvar=False) - np.cov(zt, rowvar=False)) ** 2) / (4 * d * d)


def test_coral_equals_numpy_reference():
    rng = np.random.default_rng(0)
    zs = rng.normal(size=(32, 12))
    zt = 2.0 * rng.normal(size=(40, 12)) + 1.0
    got = float(coral(tf.constant(zs, tf.float32), tf.constant(zt, tf.float32)))
    np.testing.assert_allclose(got, numpy_coral(zs, zt), rtol=1e-4)


def test_coral_is_zero_for_identical_batches_and_squared():
    z = np.random.default_rng(1).normal(size=(16, 4)).astype(np.float32)
    assert float(coral(z, z)) == 0.0
    # doubling the covariance gap quadruples the loss: the Frobenius norm is squared
    # C(2z) - C(z) = 3 C(z) and C(sqrt(3) z) - C(z) = 2 C(z): the ratio of losses is (3/2)^2
    a, b = float(coral(z, 2 * z)), float(coral(z, np.sqrt(3) * z))
    np.testing.assert_allclose(a / b, (3 / 2) ** 2, rtol=1e-4)


def test_cross_entropy_from_logits_divides_by_global_batch():
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]], np.float32)
    labels = np.array([0, 2])
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected = -(np.log(p[0, 0]) + np.log(p[1, 2])) / 4
    np.testing.assert_allclose(float(cross_entropy(labels, logits, 4)), expected, rtol=1e-5)


def test_confusion_targets_map_cross_domain_groups_onto_same_domain():
    np.testing.assert_array_equal(confusion_targets(tf.constant([0, 1, 2, 3])).numpy(), [0, 0, 2, 2])
