"""Choice of the ``tf.distribute`` strategy every training loop runs under, and which process writes.

Several machines: every worker runs the same ``train(...)`` call with ``TF_CONFIG`` describing the
cluster, or as one task of an ``srun`` step (doc/distributed.md); :func:`get_strategy` then returns a
``MultiWorkerMirroredStrategy``. Every worker computes every step (the global batch is split across
the replicas) and reads every variable; only the chief (:func:`is_chief`) writes checkpoints, the
run folder's records and the classifier. To resume, every worker reads the chief's checkpoints, so
``run_dir`` must be on a file system all workers see.
"""
import json
import os
import shutil
import socket
import subprocess

import tensorflow as tf


def strategy_kind(kind="auto", environ=os.environ):
    """The strategy :func:`get_strategy` builds for ``kind``: 'default', 'mirrored', 'multi_worker' or 'slurm'.

    'auto' chooses, in this order: 'multi_worker' when ``TF_CONFIG`` names more than one worker;
    'slurm' inside an ``srun`` step of more than one task (``SLURM_STEP_NUM_TASKS`` > 1); 'mirrored'
    when several GPUs are visible; else 'default'.

    Examples
    --------
    >>> strategy_kind("auto", {"SLURM_STEP_NUM_TASKS": "4", "SLURM_PROCID": "0"})
    'slurm'
    """
    if kind != "auto":
        if kind not in ("default", "mirrored", "multi_worker", "slurm"):
            raise ValueError(f"unknown strategy kind {kind!r}: use auto, default, mirrored, multi_worker or slurm")
        return kind
    cluster = json.loads(environ.get("TF_CONFIG", "{}")).get("cluster", {})
    if sum(len(v) for k, v in cluster.items() if k in ("worker", "chief")) > 1:
        return "multi_worker"
    if int(environ.get("SLURM_STEP_NUM_TASKS", "1")) > 1:
        return "slurm"
    return "mirrored" if len(tf.config.list_logical_devices("GPU")) > 1 else "default"


def get_strategy(kind="auto"):
    """Return the strategy for this process.

    Parameters
    ----------
    kind : {'auto', 'default', 'mirrored', 'multi_worker', 'slurm'}
        'auto': see :func:`strategy_kind`. 'multi_worker': ``MultiWorkerMirroredStrategy`` over the
        cluster ``TF_CONFIG`` describes; 'slurm': the same over the tasks of this ``srun`` step
        (:func:`slurm_cluster_resolver`); 'mirrored': ``MirroredStrategy`` over the visible GPUs;
        'default': the single-device strategy.

    Examples
    --------
    >>> from aitom.classify.deep.fsft import get_strategy
    >>> get_strategy("default").num_replicas_in_sync
    1
    """
    kind = strategy_kind(kind)
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "slurm":
        return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=slurm_cluster_resolver())
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def _nvidia_gpus():
    """GPUs ``nvidia-smi`` lists on this node (0 without the tool)."""
    if not shutil.which("nvidia-smi"):
        return 0
    out = subprocess.run(["nvidia-smi", "--list-gpus"], capture_output=True, text=True).stdout
    return sum(line.startswith("GPU ") for line in out.splitlines())


def slurm_cluster_resolver(port_base=8888):
    """TensorFlow's ``SlurmClusterResolver`` for this ``srun`` step, also on nodes without GPUs.

    Every task of the step becomes a worker, at ``port_base`` + its index on its node. With GPUs the
    resolver shares each node's GPUs among its tasks (setting ``CUDA_VISIBLE_DEVICES``). Without
    any it would fail (it divides GPUs among tasks, and needs ``nvidia-smi``): each task then gets a
    nominal GPU that is never applied.

    Examples
    --------
    In a task of ``srun --nodes 2 --ntasks-per-node 1 ...`` on nodes node01 and node02:

    >>> slurm_cluster_resolver().cluster_spec().as_dict()  # doctest: +SKIP
    {'worker': ['node01:8888', 'node02:8888']}
    """
    resolver = tf.distribute.cluster_resolver.SlurmClusterResolver
    if os.environ.get("CUDA_VISIBLE_DEVICES") or _nvidia_gpus():
        return resolver(port_base=port_base)
    n_tasks = int(os.environ["SLURM_STEP_NUM_TASKS"])
    return resolver(port_base=port_base, gpus_per_node=n_tasks, gpus_per_task=1, auto_set_gpu=False)


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


def local_tf_configs(n):
    """One ``TF_CONFIG`` JSON string per worker of an ``n``-worker cluster on free localhost ports.

    Worker 0 is the chief. For trying multi-worker training on one machine (``bench/launch_local_workers.py``,
    the multi-worker test); the ports are free when the call returns, not reserved.

    Examples
    --------
    >>> import json
    >>> [json.loads(c)["task"] for c in local_tf_configs(2)]
    [{'type': 'worker', 'index': 0}, {'type': 'worker', 'index': 1}]
    """
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("localhost", 0))
            socks.append(s)
        cluster = {"worker": [f"localhost:{s.getsockname()[1]}" for s in socks]}
    finally:
        for s in socks:
            s.close()
    return [json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}) for i in range(n)]
