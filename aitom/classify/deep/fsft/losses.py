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
    """Softmax cross-entropy from logits, summed and divided by the global batch size."""
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int32), logits=logits)
    return tf.reduce_sum(per_example) / tf.cast(global_batch_size, per_example.dtype)


def batch_covariance(z):
    """Unbiased covariance (d, d) of a batch of embeddings (n, d), over all replicas' rows."""
    z = tf.cast(z, tf.float32)
    n = _all_reduce_sum(tf.cast(tf.shape(z)[0], tf.float32))
    s1 = _all_reduce_sum(tf.reduce_sum(z, axis=0))
    s2 = _all_reduce_sum(tf.matmul(z, z, transpose_a=True))
    return (s2 - tf.tensordot(s1, s1, axes=0) / n) / (n - 1.0)


def coral(z_source, z_target):
    """Deep CORAL loss ||C_s - C_t||_F^2 / (4 d^2) (Sun & Saenko 2016), this replica's share."""
    d = tf.cast(tf.shape(z_source)[1], tf.float32)
    diff = batch_covariance(z_source) - batch_covariance(z_target)
    return tf.reduce_sum(tf.square(diff)) / (4.0 * d * d) / _num_replicas()


def confusion_targets(groups):
    """Stage 3's D labels: cross-domain pairs are labelled as their same-domain twins.

    G2 -> G1 and G4 -> G3, so minimising D's cross-entropy on them makes the encoders produce
    cross-domain pairs that D cannot tell from same-domain ones.
    """
    groups = tf.cast(groups, tf.int32)
    return tf.where(groups == G2_CROSS_DOMAIN_SAME_CLASS, G1_SAME_DOMAIN_SAME_CLASS,
                    tf.where(groups == G4_CROSS_DOMAIN_DIFFERENT_CLASS, G3_SAME_DOMAIN_DIFFERENT_CLASS, groups))
