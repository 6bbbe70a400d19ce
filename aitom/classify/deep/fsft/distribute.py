"""Choice of the ``tf.distribute`` strategy every training loop runs under."""
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
