#!/usr/bin/env python
"""Where a training step's time goes: TensorFlow profiler trace of stage 1, summed per op type.

Runs the library's ``stage1_source`` for two epochs of ``--steps`` steps (batch 32, 28^3, 10 classes,
synthetic data) and traces the second (the first compiles the step); the trace holds what an epoch
of ``train`` runs: the compiled distributed step, the ``tf.data`` batches and the validation accuracy
on 32 subtomograms. Reads the profiler's XSpace protobuf and prints milliseconds per step for each
TensorFlow op type and for the ten most expensive op instances. Op durations overlap when the
inter-op pool runs independent ops (e.g. a convolution's input and filter gradients) at once, so
they can add up to more than the step.

``--torch`` profiles the PyTorch reference network's step instead (``torch.profiler``, self CPU time
per aten op), with ``--torch-threads`` intra-op threads.

Usage::

    .venv/bin/python bench/profile_step.py            # the project's stage 1
    .venv/bin/python bench/profile_step.py --torch [--torch-threads 1]
"""
import argparse
import collections
import glob
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import aitom  # noqa: E402,F401  before TensorFlow: turns oneDNN on unless TF_ENABLE_ONEDNN_OPTS is set


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--top", type=int, default=14)
    p.add_argument("--torch", action="store_true")
    p.add_argument("--torch-threads", type=int, default=os.cpu_count())
    args = p.parse_args(argv)
    if args.torch:
        return profile_torch(args)
    import numpy as np
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    from aitom.classify.deep.fsft import FSFTConfig, stage1_source
    from aitom.classify.deep.fsft.data import FewShotSplit
    from aitom.classify.deep.fsft.models import FSFTNetworks
    from aitom.classify.deep.fsft.stages import RunContext, StageData
    from harness import synthetic_set

    n_train = 32 * args.steps
    source = synthetic_set(-(-(n_train + 32) // 10))
    none = np.zeros(0, np.int64)
    split = FewShotSplit(source_train=np.arange(n_train), source_val=np.arange(n_train, n_train + 32),
                         target_shots=none, target_unlabelled=none, target_test=none)
    config = FSFTConfig(epochs_stage1=2)
    with tempfile.TemporaryDirectory() as d:
        store = _ProfileSecondEpoch(tf, d)
        stage1_source(FSFTNetworks(28, 10, config), StageData(source, source, split), config, RunContext(store=store))
        wall = (store.t[1] - store.t[0]) / args.steps
        space = xplane_pb2.XSpace()
        with open(glob.glob(os.path.join(d, "**", "*.xplane.pb"), recursive=True)[0], "rb") as f:
            space.ParseFromString(f.read())
    by_type, by_name = collections.Counter(), collections.Counter()
    for plane in space.planes:
        md = plane.event_metadata
        for line in plane.lines:
            for ev in line.events:
                name = md[ev.metadata_id].name
                if ":" not in name or name.startswith(("$", "__inference", "EagerLocalExecute", "ExecutorState",
                                                         "KernelAndDeviceFunc")):
                    continue
                op_type = name.rsplit(":", 1)[1].strip()
                if op_type in ("Process", "Run") or op_type.startswith("__inference"):
                    continue  # containers of the ops, not ops
                by_type[op_type] += ev.duration_ps / 1e9 / args.steps
                by_name[name] += ev.duration_ps / 1e9 / args.steps
    import machine
    print(machine.header(tf))
    print(f"stage1_source, second epoch: {wall * 1e3:.1f} ms per step wall-clock while tracing (validation "
          f"included), {32 / wall:.0f} subtomograms/s")
    print(f"sum of op durations {sum(by_type.values()):.1f} ms per step")
    print("| op type | ms per step |\n|---|---:|")
    for t, v in by_type.most_common(args.top):
        print(f"| {t} | {v:.1f} |")
    print("\n| op instance | ms per step |\n|---|---:|")
    for t, v in by_name.most_common(10):
        print(f"| `{t}` | {v:.1f} |")


class _ProfileSecondEpoch:
    """Stand-in checkpoint store: ``_fit`` saves after every epoch; trace from the first save to the second."""

    def __init__(self, tf, folder):
        self.tf, self.folder, self.t = tf, folder, []

    def save(self, *args, **kwargs):
        self.t.append(time.perf_counter())
        if len(self.t) == 1:
            self.tf.profiler.experimental.start(self.folder)
        elif len(self.t) == 2:
            self.tf.profiler.experimental.stop()


def torch_train_step(torch, x_np, y_np, n_classes, channels_last, lr=1e-3):
    """One training step of the PyTorch reference network on a fixed batch, as a closure."""
    import numpy as np
    import torch_reference as tr
    torch.manual_seed(0)
    m = tr.classifier_network(n_classes)
    x = tr.to_tensor(x_np, channels_last)
    if channels_last:
        m = m.to(memory_format=torch.channels_last_3d)
    y = torch.from_numpy(np.asarray(y_np, np.int64))
    opt = torch.optim.Adam(m.parameters(), lr=lr)
    m.train()

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    return m, step


def profile_torch(args):
    import numpy as np
    sys.modules.setdefault("triton", None)  # PyPI's torch imports it for optimizers; it crashes beside TensorFlow
    import torch
    from torch.profiler import profile

    torch.set_num_threads(args.torch_threads)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 28, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 32)
    _, step = torch_train_step(torch, x, y, 10, False)
    for _ in range(2):
        step()
    t0 = time.perf_counter()
    with profile() as prof:
        for _ in range(args.steps):
            step()
    wall = (time.perf_counter() - t0) / args.steps
    print(f"PyTorch reference (NCDHW), {args.torch_threads} threads: {wall * 1e3:.1f} ms per step wall-clock "
          f"while profiling, {32 / wall:.0f} subtomograms/s")
    print("| aten op | self CPU ms per step |\n|---|---:|")
    for e in sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:args.top]:
        print(f"| {e.key} | {e.self_cpu_time_total / 1e3 / args.steps:.1f} |")


if __name__ == "__main__":
    main()
