"""Losses of FSFT as plain functions on tensors.

Under ``tf.distribute`` every loss returns this replica's share of the global loss, so that the
gradients the optimizer sums over replicas equal the single-device gradients: cross-entropies are
summed and divided by the global batch size; CORAL's covariances are computed from sums that are
all-reduced across replicas.
"""
import tensorflow as tf

# Pair groups (FADA numbering, Motiian et al. 2017):
G1_SAME_DOMAIN_SAME_CLASS = 0
G2_CROSS_DOMAIN_SAME_CLASS = 1
G3_SAME_DOMAIN_DIFFERENT_CLASS = 2
G4_CROSS_DOMAIN_DIFFERENT_CLASS = 3


def _num_replicas():
    return tf.distribute.get_strategy().num_replicas_in_sync


def _all_reduce_sum(x):
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return x
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, x)


def cross_entropy(labels, logits, global_batch_size):
    """Softmax cross-entropy from logits (taken as float32, also under mixed precision), summed and divided by
    the global batch size."""
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int32),
                                                                 logits=tf.cast(logits, tf.float32))
    return tf.reduce_sum(per_example) / tf.cast(global_batch_size, per_example.dtype)


def batch_covariance(z):
    """Unbiased covariance (d, d) of a batch of embeddings (n, d), over all replicas' rows."""
    z = tf.cast(z, tf.float32)
    n = _all_reduce_sum(tf.cast(tf.shape(z)[0], tf.float32))
    s1 = _all_reduce_sum(tf.reduce_sum(z, axis=0))
    s2 = _all_reduce_sum(tf.matmul(z, z, transpose_a=True))
    return (s2 - tf.tensordot(s1, s1, axes=0) / n) / (n - 1.0)


def coral(z_source, z_target, normalized=False):
    """Deep CORAL loss, this replica's share.

    ``normalized=False``: the paper's ||C_s - C_t||_F^2 / (4 d^2) (Sun & Saenko 2016), which scales with
    the fourth power of the embeddings' scale. ``normalized=True``: the relative mismatch
    ||C_s - C_t||_F^2 / (||C_s||_F^2 + ||C_t||_F^2), the denominator held constant in the gradient
    (``stop_gradient``). It lies in [0, 2], is the same for embeddings scaled by any factor, and so gives a
    weight α the same meaning on any data and network width.
    """
    cs, ct = batch_covariance(z_source), batch_covariance(z_target)
    mismatch = tf.reduce_sum(tf.square(cs - ct))
    if normalized:
        scale = tf.stop_gradient(tf.reduce_sum(tf.square(cs)) + tf.reduce_sum(tf.square(ct)))
        return mismatch / tf.maximum(scale, 1e-12) / _num_replicas()
    d = tf.cast(tf.shape(z_source)[1], tf.float32)
    return mismatch / (4.0 * d * d) / _num_replicas()


def confusion_targets(groups):
    """Stage 3's D labels: cross-domain pairs are labelled as their same-domain twins.

    G2 -> G1 and G4 -> G3, so minimising D's cross-entropy on them makes the encoders produce
    cross-domain pairs that D cannot tell from same-domain ones.
    """
    groups = tf.cast(groups, tf.int32)
    return tf.where(groups == G2_CROSS_DOMAIN_SAME_CLASS, G1_SAME_DOMAIN_SAME_CLASS,
                    tf.where(groups == G4_CROSS_DOMAIN_DIFFERENT_CLASS, G3_SAME_DOMAIN_DIFFERENT_CLASS, groups))


def _all_gather(x):
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return x
    return ctx.all_gather(x, axis=0)  # its gradient all-reduces and slices back: replica-correct


def _projection_seed(seed):
    """A stateless-RNG seed of shape (2,) from an int, a pair, a tensor or a NumPy Generator."""
    if hasattr(seed, "integers"):  # numpy.random.Generator
        seed = seed.integers(0, 2**31 - 1, size=2)
    seed = tf.cast(tf.reshape(tf.convert_to_tensor(seed), [-1]), tf.int64)
    return tf.concat([tf.zeros([2], tf.int64), seed], axis=0)[-2:]


def sliced_wasserstein(z_source, z_target, n_projections=128, seed=0):
    """Sliced Wasserstein distance SW_2^2 between two batches of embeddings, this replica's share.

    The mean over ``n_projections`` directions drawn uniformly on the unit sphere of the squared
    2-Wasserstein distance between the two batches' projections on that direction (Rabin et al. 2011;
    Bonneel et al. 2015). One-dimensional W_2^2 between the empirical distributions is computed
    exactly for any batch sizes n and m: the integral over q in (0, 1) of the squared difference of
    the two quantile functions, piecewise constant between the breakpoints {i/n} and {j/m}.

    Parameters
    ----------
    z_source, z_target : (n, d) and (m, d) tensors.
    n_projections : int, number of random directions.
    seed : int, pair of ints, int tensor of shape () or (2,), or a ``numpy.random.Generator``:
        the directions are ``tf.random.stateless_normal`` draws from it, so the same seed gives the
        same directions on every replica and in every re-run; training passes a new seed per step.

    Under ``tf.distribute`` the embeddings of all replicas are gathered (the global batch), every
    replica computes the same global distance and returns 1/replicas of it; ``all_gather``'s
    gradient sums the replicas' upstream gradients, so the summed gradient is the single-device one.
    """
    zs = _all_gather(tf.cast(z_source, tf.float32))
    zt = _all_gather(tf.cast(z_target, tf.float32))
    d = tf.shape(zs)[1]
    theta = tf.random.stateless_normal(tf.stack([d, n_projections]), seed=_projection_seed(seed))
    theta = theta / tf.norm(theta, axis=0, keepdims=True)
    ps = tf.sort(tf.matmul(zs, theta), axis=0)  # (n, K) sorted projections
    pt = tf.sort(tf.matmul(zt, theta), axis=0)
    n, m = tf.shape(ps)[0], tf.shape(pt)[0]
    nf, mf = tf.cast(n, tf.float32), tf.cast(m, tf.float32)
    breaks = tf.sort(tf.concat([tf.range(1, n + 1, dtype=tf.float32) / nf,
                                tf.range(1, m + 1, dtype=tf.float32) / mf], axis=0))
    widths = breaks - tf.concat([[0.0], breaks[:-1]], axis=0)
    mid = breaks - 0.5 * widths
    i = tf.minimum(tf.cast(tf.floor(mid * nf), tf.int32), n - 1)
    j = tf.minimum(tf.cast(tf.floor(mid * mf), tf.int32), m - 1)
    sq = tf.square(tf.gather(ps, i) - tf.gather(pt, j))  # (n + m, K)
    w2 = tf.reduce_sum(widths[:, None] * sq, axis=0)
    return tf.reduce_mean(w2) / _num_replicas()
