"""One worker of a local ``MultiWorkerMirroredStrategy`` cluster, for tests/test_multiworker.py.

    TF_CONFIG='{"cluster": {"worker": [...]}, "task": {...}}' python multiworker_worker.py '<json spec>'

Runs ``train(..., stages=("1",))`` on the tiny blob sets of ``fsft_helpers`` with ``config`` (a dict of
``FSFTConfig`` fields), ``run_dir`` and ``resume``; the strategy is ``get_strategy()``'s automatic choice
(``TF_CONFIG`` names two workers, so ``MultiWorkerMirroredStrategy``). Prints one ``RESULT`` line: the
strategy, ``is_chief``, the number of replicas, the stage-1 history, every network weight, and the
paths under ``run_dir`` this process opened for writing, renamed, created or removed (a Python audit
hook sees every such call, including the temporary files of atomic writes). With ``kill_after`` (a
checkpoint tag), the process SIGKILLs itself right after ``CheckpointStore.save`` returns for that tag.
"""
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def watch_writes(root):
    """Start recording the paths under ``root`` that this process writes, renames, creates or removes."""
    root = os.path.abspath(root)
    written = set()

    def under(p):
        try:
            p = os.path.abspath(os.fsdecode(p))
        except TypeError:  # a file descriptor
            return None
        return p if p == root or p.startswith(root + os.sep) else None

    def hook(event, args):
        paths = []
        if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            mode, flags = (args[1] or "") if len(args) > 1 else "", args[2] if len(args) > 2 else 0
            if any(c in str(mode) for c in "wax+") or (flags or 0) & WRITE_FLAGS:
                paths = [args[0]]
        elif event in ("os.rename", "os.mkdir", "os.remove", "os.rmdir", "shutil.rmtree"):
            paths = [a for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))]
        for p in paths:
            p = under(p)
            if p is not None:
                written.add(os.path.relpath(p, root))

    sys.addaudithook(hook)
    return written


def main(spec):
    written = watch_writes(spec["run_dir"])
    import aitom  # noqa: F401  (oneDNN default before TensorFlow)
    from fsft_helpers import blob_set

    import tensorflow as tf

    from aitom.classify.deep.fsft import FSFTConfig, train
    from aitom.classify.deep.fsft.checkpoint import CheckpointStore
    from aitom.classify.deep.fsft.distribute import get_strategy, is_chief

    if spec.get("kill_after"):
        real_save = CheckpointStore.save

        def save(self, tag, *args, **kwargs):
            real_save(self, tag, *args, **kwargs)
            if tag == spec["kill_after"]:
                os.kill(os.getpid(), signal.SIGKILL)

        CheckpointStore.save = save
    strategy = get_strategy()
    source = blob_set(spec["n_per_class"], seed=0)
    target = blob_set(spec["n_per_class"], shift=1.0, seed=1)
    result = train(source, target, config=FSFTConfig.from_dict(spec["config"]), run_dir=spec["run_dir"],
                   resume=spec.get("resume", False), strategy=strategy, progress=False, stages=("1",))
    weights = [w.tolist() for m in result.networks.components().values() for w in m.get_weights()]
    multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    print("RESULT" + json.dumps({"multi_worker": multi_worker, "is_chief": is_chief(strategy),
                                 "replicas": strategy.num_replicas_in_sync, "history": result.history["1"],
                                 "weights": weights, "written": sorted(written),
                                 "tf_config": json.loads(os.environ.get("TF_CONFIG", "{}"))}), flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
