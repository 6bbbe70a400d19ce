"""Child process for tests/test_reliability_faults.py: does one write or one training run, to be SIGKILLed.

    python reliability_worker.py '<json spec>'

Spec ``task``:

``train``
    ``train(source, target, ...)`` on the tiny blob sets of ``fsft_helpers`` with ``config`` (a dict),
    ``run_dir`` and ``resume``. ``slow_npz``: a checkpoint file name (``stage2.1-epoch0002.npz``) whose
    temporary file is held open ``slow_s`` seconds after it is written and before it is renamed, so
    that a kill lands inside the atomic write. ``slow_model_save``: hold ``SubtomogramClassifier.save``
    ``slow_s`` seconds after ``model.keras`` is written into its temporary folder.
``writer``
    ``SubtomogramSetWriter(path, ...)`` filling ``n`` rows one at a time, ``slow_s`` seconds apart.
``two_domain``
    ``save_two_domain(path, ...)`` with ``slow_s`` seconds before and after each of its two set writes.
``cli``
    ``aitom-fsft <args>`` (``cli.main``), exiting with its status. ``slow_replace``: a file or folder name
    whose atomic rename into place waits ``slow_s`` seconds first, so that a kill lands inside that
    write (its hidden ``.<name>.*.partial`` temporary is complete by then).

Data written by ``writer`` and ``two_domain`` are :func:`new_volumes` (seed ``seed``), so the parent can
tell which version a folder holds.
"""
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def new_volumes(n, box=8, seed=0):
    return np.random.default_rng(seed).normal(size=(n, box, box, box)).astype(np.float32)


def run_train(spec):
    import keras

    from fsft_helpers import blob_set

    from aitom.classify.deep.fsft import FSFTConfig, train
    from aitom.classify.deep.fsft import checkpoint

    slow_npz, slow_s = spec.get("slow_npz"), spec.get("slow_s", 0.0)
    if slow_npz:
        real_savez = np.savez

        class SlowNumpy:  # the checkpoint module's ``np``: savez pauses on one file
            def __getattr__(self, name):
                return getattr(np, name)

            @staticmethod
            def savez(f, **arrays):
                real_savez(f, **arrays)
                if os.path.basename(getattr(f, "name", "")).startswith("." + slow_npz + "."):
                    f.flush()
                    time.sleep(slow_s)

        checkpoint.np = SlowNumpy()
    if spec.get("slow_model_save"):
        real_save = keras.Model.save

        def slow_save(self, path, *args, **kwargs):
            real_save(self, path, *args, **kwargs)
            time.sleep(slow_s)

        keras.Model.save = slow_save
    source = blob_set(spec["n_per_class"], seed=0)
    target = blob_set(spec["n_per_class"], shift=1.5, noise=1.5, seed=1)
    config = FSFTConfig.from_dict(spec["config"])
    train(source, target, shots=config.shots, config=config, run_dir=spec["run_dir"], resume=spec["resume"],
          progress=False)


def run_writer(spec):
    from aitom.io.dataset import SubtomogramSetWriter

    x = new_volumes(spec["n"], seed=spec["seed"])
    with SubtomogramSetWriter(spec["path"], spec["n"], x.shape[1], ("a", "b")) as w:
        for i in range(spec["n"]):
            w.write(i, x[i:i + 1], [i % 2])
            time.sleep(spec["slow_s"])


def run_two_domain(spec):
    import aitom.io.dataset as D

    real = D.save_subtomogram_set

    def slow(s, path):
        time.sleep(spec["slow_s"])
        out = real(s, path)
        time.sleep(spec["slow_s"])
        return out

    D.save_subtomogram_set = slow
    n = spec["n"]
    source = D.SubtomogramSet(new_volumes(n, seed=spec["seed"]), np.arange(n) % 2, ("a", "b"))
    target = D.SubtomogramSet(new_volumes(n, seed=spec["seed"] + 1), np.arange(n) % 2, ("a", "b"))
    D.save_two_domain(spec["path"], source, target, meta={"seed": spec["seed"]})


def run_cli(spec):
    slow = spec.get("slow_replace")
    if slow:
        real_replace = os.replace

        def slow_replace(src, dst, *args, **kwargs):
            if os.path.basename(os.fspath(dst)) == slow:
                time.sleep(spec["slow_s"])
            return real_replace(src, dst, *args, **kwargs)

        os.replace = slow_replace
    from aitom.classify.deep.fsft import cli

    sys.exit(cli.main(spec["args"]))


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    {"train": run_train, "writer": run_writer, "two_domain": run_two_domain, "cli": run_cli}[spec["task"]](spec)
