"""Choice of the ``tf.distribute`` strategy every training loop runs under, and which process writes.

Several machines: every worker runs the same ``train(...)`` call with ``TF_CONFIG`` (or a SLURM
allocation, see doc/distributed.md) describing the cluster; :func:`get_strategy` then returns a
``MultiWorkerMirroredStrategy``. Every worker computes every step (the global batch is split across
the replicas) and reads every variable; only the chief (:func:`is_chief`) writes checkpoints, the
run folder's records and the classifier. To resume, every worker reads the chief's checkpoints, so
``run_dir`` must be on a file system all workers see.
"""
import json
import os

import tensorflow as tf


def get_strategy(kind="auto"):
    """Return the strategy for this process.

    Parameters
    ----------
    kind : {'auto', 'default', 'mirrored', 'multi_worker'}
        'auto': ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names more than one worker,
        ``MirroredStrategy`` over the visible GPUs when there are several, else the default
        (single-device) strategy. The other values force one.

    Returns
    -------
    tf.distribute.Strategy

    Examples
    --------
    >>> from aitom.classify.deep.fsft import get_strategy
    >>> strategy = get_strategy()
    >>> strategy.num_replicas_in_sync >= 1
    True
    """
    if kind == "auto":
        cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
        n_workers = sum(len(v) for k, v in cluster.items() if k in ("worker", "chief"))
        if n_workers > 1:
            kind = "multi_worker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            kind = "mirrored"
        else:
            kind = "default"
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "default":
        return tf.distribute.get_strategy()
    raise ValueError(f"unknown strategy kind {kind!r}: use auto, default, mirrored or multi_worker")


def is_chief(strategy=None):
    """Whether this process writes files for the run: True except on non-chief workers of a cluster.

    The chief is the ``chief`` task of ``TF_CONFIG``, or worker 0 when the cluster has none
    (TensorFlow's ``strategy.extended.should_checkpoint``). Single-process strategies are always chief.

    Examples
    --------
    >>> is_chief(tf.distribute.get_strategy())
    True
    """
    strategy = strategy or tf.distribute.get_strategy()
    return bool(strategy.extended.should_checkpoint)
