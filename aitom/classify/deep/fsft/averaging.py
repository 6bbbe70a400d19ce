"""Predictions averaged over the four 180° rotations that keep the missing wedge (test-time augmentation).

A subtomogram and its copies rotated by 180° about the three box axes (:data:`data.ROTATIONS_180`, the
rotations of training-time augmentation) are views the microscope could have recorded of the same
particle. The class probabilities of the four views are averaged; the "logits" returned are the
logarithms of those averages, so that a softmax of them gives the averaged probabilities and every
caller that applies a softmax to logits keeps working. It costs four forward passes per subtomogram.
On the benchmark's tuning set it raised the target validation accuracy of FSFT and fine-tuning by
9-11 points (doc/results.md).
"""
import keras
import numpy as np
import tensorflow as tf

from .data import FLIP_AXES


def rotation_averaged_logits(logits_fn, x):
    """``log`` of the softmax of ``logits_fn`` averaged over the four rotations of the batch ``x``.

    Parameters
    ----------
    logits_fn : callable
        Batch ``(n, s, s, s, 1)`` -> logits ``(n, k)``.
    x : tf.Tensor, shape (n, s, s, s, 1)

    Returns
    -------
    tf.Tensor, shape (n, k), float32

    Examples
    --------
    >>> import numpy as np, tensorflow as tf
    >>> from aitom.classify.deep.fsft.averaging import rotation_averaged_logits
    >>> x = tf.constant(np.random.default_rng(0).normal(size=(2, 4, 4, 4, 1)), tf.float32)
    >>> first_voxel = lambda v: tf.concat([v[:, 0, 0, 0], -v[:, 0, 0, 0]], 1)  # depends on the orientation
    >>> p = tf.nn.softmax(rotation_averaged_logits(first_voxel, x)).numpy()
    >>> np.allclose(p.sum(1), 1), np.allclose(p, tf.nn.softmax(rotation_averaged_logits(
    ...     first_voxel, tf.reverse(x, [1, 2]))).numpy(), atol=1e-6)  # the same for a rotated copy
    (True, True)
    """
    total = 0.0
    for axes in FLIP_AXES:  # one view at a time: the activations of four views at once would not fit big batches
        view = tf.reverse(x, axes) if axes else x
        total += tf.nn.softmax(tf.cast(logits_fn(view), tf.float32))
    return tf.math.log(tf.maximum(total / len(FLIP_AXES), np.finfo(np.float32).tiny))


class RotationAveraged(keras.Model):
    """A classifier model (standardised ``(n, s, s, s, 1)`` -> logits) predicting through
    :func:`rotation_averaged_logits`; for ``model.predict`` at run time (it is not what a classifier saves)."""

    def __init__(self, model, **kwargs):
        super().__init__(**kwargs)
        self.inner = model

    def call(self, x, training=False):
        return rotation_averaged_logits(lambda v: self.inner(v, training=False), x)
