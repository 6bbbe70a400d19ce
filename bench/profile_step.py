#!/usr/bin/env python
"""Where a training step's time goes: TensorFlow profiler trace of the stage-1 step, summed per op type.

Traces ``--steps`` compiled steps (batch 32, 28^3, 10 classes) of the project's step with the fused
BatchNormalization and, for comparison, with Keras' own BatchNormalization (``--keras-bn``), reads the
profiler's XSpace protobuf and prints milliseconds per step for each TensorFlow op type and for the
ten most expensive op instances. Op durations overlap when the inter-op pool runs independent ops
(e.g. a convolution's input and filter gradients) at once, so they can add up to more than the step.

``--torch`` profiles the PyTorch reference network's step instead (``torch.profiler``, self CPU time
per aten op), with ``--torch-threads`` intra-op threads.

Usage::

    .venv/bin/python bench/profile_step.py            # project step
    .venv/bin/python bench/profile_step.py --keras-bn # the same network with keras.layers.BatchNormalization
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
    p.add_argument("--keras-bn", action="store_true")
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

    from aitom.classify.deep.fsft import FSFTConfig
    from bench_training import project_train_step

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(32, 28, 28, 28, 1)).astype(np.float32))
    y = tf.constant(rng.integers(0, 10, 32).astype(np.int32))
    _, step = project_train_step(tf, FSFTConfig(), 32, 28, 10, keras_bn=args.keras_bn)
    for _ in range(3):
        step(x, y)
    with tempfile.TemporaryDirectory() as d:
        tf.profiler.experimental.start(d)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step(x, y)
        wall = (time.perf_counter() - t0) / args.steps
        tf.profiler.experimental.stop()
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
    print(f"{'keras BatchNormalization' if args.keras_bn else 'project (fused BatchNormalization)'}: "
          f"{wall * 1e3:.1f} ms per step wall-clock while tracing, {32 / wall:.0f} subtomograms/s")
    print(f"sum of op durations {sum(by_type.values()):.1f} ms per step")
    print("| op type | ms per step |\n|---|---:|")
    for t, v in by_type.most_common(args.top):
        print(f"| {t} | {v:.1f} |")
    print("\n| op instance | ms per step |\n|---|---:|")
    for t, v in by_name.most_common(10):
        print(f"| `{t}` | {v:.1f} |")


def profile_torch(args):
    import numpy as np
    import torch
    from torch.profiler import profile

    from bench_training import torch_train_step
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
