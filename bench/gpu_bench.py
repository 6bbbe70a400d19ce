#!/usr/bin/env python
"""GPU figures for bench/gpu_check.sh: stage-1 training, mixed precision, one-GPU MirroredStrategy, inference.

On the first GPU (``--allow-cpu``: on the CPU, to check the script itself), on the synthetic 10-class
28^3 set of ``bench_cpu_ratio`` (900 training subtomograms, batch 32), prints one markdown table:

* stage 1 through the library's ``stage1_source`` (what ``train(..., stages=("1",))`` runs), float32
  and ``mixed_precision=True``, under the default strategy and under ``MirroredStrategy`` over one
  GPU: steady-state subtomograms/s (first epoch, tracing, left out) and the last epoch's loss;
* the cost of reading the loss back after every step, as ``stages._fit`` does (its NaN guard):
  the same compiled step run ``--fetch-steps`` times with ``float(loss)`` after each step, against
  the same steps with the losses read once at the end;
* inference: ``stages.predict_logits`` over 2048 subtomograms in batches of 256;
* the PyTorch reference network (``bench/torch_reference.py``) on the same device, if PyTorch sees it:
  training steps (batch 32) and inference (batches of 256).

Usage::

    .venv/bin/python bench/gpu_bench.py [--epochs 4] [--allow-cpu]
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import aitom  # noqa: E402,F401  before TensorFlow (oneDNN default)

BOX, N_CLASSES, BATCH = 28, 10, 32


def stage1_rate(tf, data, config, strategy):
    """(steady-state subtomograms/s, last epoch's loss) of ``stage1_source`` under ``strategy``."""
    import keras

    from aitom.classify.deep.fsft import stage1_source
    from aitom.classify.deep.fsft.models import FSFTNetworks
    from aitom.classify.deep.fsft.stages import RunContext
    from harness import EpochClock
    keras.utils.set_random_seed(0)
    with strategy.scope():
        net = FSFTNetworks(BOX, N_CLASSES, config)
    clock = EpochClock()
    _, history = stage1_source(net, data, config, RunContext(strategy=strategy, store=clock))
    epochs = sorted(clock.epochs(skip=1))
    n = len(data.split.source_train) // BATCH * BATCH
    return n / epochs[len(epochs) // 2], history["loss"][-1], net


def fetch_cost(tf, config, steps):
    """Seconds per step: (``float(loss)`` after every step, losses read once at the end)."""
    import keras
    import numpy as np

    from aitom.classify.deep.fsft.losses import cross_entropy
    from aitom.classify.deep.fsft.models import FSFTNetworks
    net = FSFTNetworks(BOX, N_CLASSES, config)
    variables = net.encoder_variables(("source",)) + net.classifier.trainable_variables
    optimizer = keras.optimizers.Adam(1e-4)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(BATCH, BOX, BOX, BOX, 1)).astype(np.float32))
    y = tf.constant(rng.integers(0, N_CLASSES, BATCH).astype(np.int32))

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = cross_entropy(y, net.logits(x, "source", training=True), BATCH)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    for _ in range(3):
        float(step(x, y))
    out = []
    for per_step in (True, False):
        t = time.perf_counter()
        losses = [step(x, y) for _ in range(steps)] if not per_step else [float(step(x, y)) for _ in range(steps)]
        _ = [float(v) for v in losses]
        out.append((time.perf_counter() - t) / steps)
    return out


def torch_rates(device, steps=20, n_infer=2048):
    """(training subtomograms/s, inference subtomograms/s) of the PyTorch reference on ``device``."""
    import numpy as np
    import torch

    import torch_reference as tr
    rng = np.random.default_rng(0)
    m = tr.classifier_network(N_CLASSES).to(device)
    x = torch.from_numpy(rng.normal(size=(BATCH, 1, BOX, BOX, BOX)).astype(np.float32)).to(device)
    y = torch.from_numpy(rng.integers(0, N_CLASSES, BATCH)).to(device)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def train_step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(m(x), y).backward()
        opt.step()

    for _ in range(3):
        train_step()
    sync()
    t = time.perf_counter()
    for _ in range(steps):
        train_step()
    sync()
    train = steps * BATCH / (time.perf_counter() - t)
    m.eval()
    xi = torch.from_numpy(rng.normal(size=(256, 1, BOX, BOX, BOX)).astype(np.float32)).to(device)
    with torch.no_grad():
        m(xi)
        sync()
        t = time.perf_counter()
        for _ in range(n_infer // 256):
            m(xi)
        sync()
    return train, n_infer / (time.perf_counter() - t)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=4, help="stage-1 epochs per run (the first is left out)")
    p.add_argument("--fetch-steps", type=int, default=50)
    p.add_argument("--allow-cpu", action="store_true", help="run on the CPU when no GPU is visible")
    args = p.parse_args(argv)
    import numpy as np
    import tensorflow as tf

    import machine
    from aitom.classify.deep.fsft import FSFTConfig
    from aitom.classify.deep.fsft.stages import predict_logits
    from bench_cpu_ratio import _data
    gpus = tf.config.list_logical_devices("GPU")
    if not gpus and not args.allow_cpu:
        raise SystemExit("no GPU visible to TensorFlow (run with --allow-cpu to check the script on a CPU)")
    device = gpus[0].name if gpus else "/cpu:0"
    data = _data()
    rows = []
    config = FSFTConfig(epochs_stage1=args.epochs)
    mirrored = tf.distribute.MirroredStrategy([device])
    for label, cfg, strategy in (("stage 1, float32, default strategy", config, tf.distribute.get_strategy()),
                                 ("stage 1, mixed precision, default strategy", config.replace(mixed_precision=True),
                                  tf.distribute.get_strategy()),
                                 ("stage 1, float32, MirroredStrategy over 1 device", config, mirrored)):
        with tf.device(device):
            rate, loss, net = stage1_rate(tf, data, cfg, strategy)
        rows.append((label, f"{rate:.0f}", "subtomograms/s", f"last epoch loss {loss:.3f}"))
    x = np.random.default_rng(1).normal(size=(2048, BOX, BOX, BOX)).astype(np.float32)
    with tf.device(device):
        predict_logits(net, "source", x, np.arange(256), 256, rotations=False)
        t = time.perf_counter()
        predict_logits(net, "source", x, np.arange(len(x)), 256, rotations=False)
        rows.append(("inference, predict_logits, batch 256", f"{len(x) / (time.perf_counter() - t):.0f}",
                     "subtomograms/s", "one pass per subtomogram; standardisation and tf.data included"))
        per_step, deferred = fetch_cost(tf, config, args.fetch_steps)
    rows.append(("float(loss) after every step (as stages._fit)", f"{1e3 * per_step:.2f}", "ms per step",
                 f"{100 * (per_step / deferred - 1):+.1f}% against reading the losses once at the end "
                 f"({1e3 * deferred:.2f} ms)"))
    try:
        sys.modules.setdefault("triton", None)  # see bench_cpu_ratio.worker: triton crashes beside TensorFlow
        import torch
        tdev = "cuda" if gpus and torch.cuda.is_available() else ("cpu" if not gpus else None)
        if tdev is None:
            rows.append(("PyTorch reference", "—", "", "PyTorch sees no GPU"))
        else:
            tr_rate, inf_rate = torch_rates(tdev)
            rows.append((f"PyTorch reference training step ({tdev})", f"{tr_rate:.0f}", "subtomograms/s", ""))
            rows.append((f"PyTorch reference inference, batch 256 ({tdev})", f"{inf_rate:.0f}", "subtomograms/s",
                         "no standardisation"))
    except ImportError:
        rows.append(("PyTorch reference", "—", "", "PyTorch not installed"))
    print(machine.header(tf) + f" Device used: {device}.\n")
    print("| measurement | value | unit | note |\n|---|---:|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
