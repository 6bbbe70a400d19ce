import numpy as np
import tensorflow as tf

from aitom.classify.deep.fsft.losses import batch_covariance, confusion_targets, coral, cross_entropy


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


def test_normalized_coral_is_scale_free_bounded_and_matches_numpy():
    rng = np.random.default_rng(3)
    zs = rng.normal(size=(32, 6)).astype(np.float32)
    zt = (1.7 * rng.normal(size=(32, 6)) + 0.5).astype(np.float32)
    cs, ct = np.cov(zs, rowvar=False), np.cov(zt, rowvar=False)
    expected = np.sum((cs - ct) ** 2) / (np.sum(cs ** 2) + np.sum(ct ** 2))
    got = float(coral(zs, zt, normalized=True))
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    np.testing.assert_allclose(float(coral(100 * zs, 100 * zt, normalized=True)), got, rtol=1e-4)
    assert float(coral(zs, 0 * zt, normalized=True)) <= 1.0 + 1e-6  # bounded: at most 2 in general
    # the paper's form grows with the fourth power of the scale
    np.testing.assert_allclose(float(coral(10 * zs, 10 * zt)) / float(coral(zs, zt)), 1e4, rtol=1e-3)


def test_normalized_coral_gradient_holds_the_denominator_constant():
    rng = np.random.default_rng(4)
    zs = tf.constant(rng.normal(size=(16, 4)), tf.float32)
    zt = tf.Variable(rng.normal(size=(16, 4)) * 2.0, dtype=tf.float32)
    with tf.GradientTape() as tape:
        loss = coral(zs, zt, normalized=True)
    g = tape.gradient(loss, zt).numpy()
    cs = np.cov(zs.numpy(), rowvar=False)
    scale = np.sum(cs ** 2) + np.sum(np.cov(zt.numpy(), rowvar=False) ** 2)
    with tf.GradientTape() as tape:
        raw = tf.reduce_sum(tf.square(batch_covariance(zs) - batch_covariance(zt)))
    np.testing.assert_allclose(g, tape.gradient(raw, zt).numpy() / scale, rtol=1e-3, atol=1e-7)
