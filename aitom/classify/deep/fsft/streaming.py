"""Stream subtomograms cut at picks into a network: a ``tf.data`` pipeline over a (memory-mapped) tomogram.

Cutting is done by :func:`aitom.picking.extract.extract_subtomogram` and normalisation by
:func:`aitom.image.normalize.standardize`, exactly as for training data; this module adds only the
TensorFlow side, so that the layers below :mod:`aitom.classify` stay free of TensorFlow.
"""
import numpy as np
import tensorflow as tf

from aitom.image.normalize import standardize
from aitom.io.tomogram import tomogram_array
from aitom.picking.extract import extract_subtomogram


def subtomogram_dataset(tomogram, centres, box_size, batch_size, scale=1.0, pad_value=0.0, finite=None):
    """Streaming ``tf.data.Dataset`` of standardised cubes, for inference.

    A Python generator cuts one cube at a time (so at most a few batches are in memory), each is
    standardised as in training (:func:`aitom.image.normalize.standardize`), and the dataset is batched
    and prefetched.

    Parameters
    ----------
    tomogram : aitom.io.tomogram.MappedTomogram or array_like
        ``[x, y, z]`` volume.
    centres : array_like, shape (n, 3)
        Centres in tomogram voxels, in the order the batches should follow (see
        :func:`aitom.picking.extract.read_order`); pass only picks that
        :func:`aitom.picking.extract.plan_extraction` accepts.
    box_size : int
        Cube edge.
    batch_size : int
        Cubes per batch.
    scale : float
        Model voxel size / tomogram voxel size.
    pad_value : float
        Value for voxels outside the tomogram (resolve ``'mean'`` with
        :func:`aitom.picking.extract.resolve_pad_value`).
    finite : numpy.ndarray of bool, shape (n,), optional
        Set, as each cube is cut, to whether it holds only finite values (a cube that does not is
        meaningless to classify; read it once the dataset has been consumed).

    Returns
    -------
    tf.data.Dataset
        Batches of shape ``(b, box_size, box_size, box_size, 1)``, float32.

    Examples
    --------
    >>> import numpy as np
    >>> from aitom.classify.deep.fsft.streaming import subtomogram_dataset
    >>> tomogram = np.random.default_rng(0).normal(size=(32, 32, 32)).astype(np.float32)
    >>> batches = subtomogram_dataset(tomogram, [[8, 8, 8], [16, 16, 16], [20, 12, 9]], box_size=16,
    ...                               batch_size=2)
    >>> [tuple(b.shape) for b in batches]
    [(2, 16, 16, 16, 1), (1, 16, 16, 16, 1)]
    """
    data = tomogram_array(tomogram)
    centres = np.asarray(centres, dtype=float).reshape(-1, 3)

    def cubes():
        for i, centre in enumerate(centres):
            cube = extract_subtomogram(data, centre, box_size, scale, pad_value)
            if finite is not None:
                finite[i] = np.isfinite(cube).all()
            yield standardize(cube)[..., None]

    spec = tf.TensorSpec((box_size,) * 3 + (1,), tf.float32)
    n_batches = -(-len(centres) // batch_size)
    return (tf.data.Dataset.from_generator(cubes, output_signature=spec)
            .batch(batch_size)
            .apply(tf.data.experimental.assert_cardinality(n_batches))
            .prefetch(tf.data.AUTOTUNE))
