#!/usr/bin/env python
"""Where a training step's time goes: TensorFlow profiler trace of the stage-1 step, summed per op type.

Traces ``--steps`` compiled steps (batch 32, 28^3, 10 classes) of the project's step with the fused
BatchNormalization and, for comparison, with Keras' own BatchNormalization (``--keras-bn``), reads the
profiler's XSpace protobuf and prints milliseconds per step for each TensorFlow op type and for the
ten most expensive op instances. Op durations overlap when the inter-op pool runs independent ops
(e.g. a convolution's input and filter gradients) at once, so they can add up to more than the step.

Usage::

    .venv/bin/python bench/profile_step.py            # project step
    .venv/bin/python bench/profile_step.py --keras-bn # the same network with keras.layers.BatchNormalization
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--keras-bn", action="store_true")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--top", type=int, default=14)
    args = p.parse_args(argv)
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
                if ":" not in name or name.startswith("$") or name.startswith("__inference"):
                    continue
                op_type = name.rsplit(":", 1)[1]
                by_type[op_type] += ev.duration_ps / 1e9 / args.steps
                by_name[name] += ev.duration_ps / 1e9 / args.steps
    print(f"{'keras BatchNormalization' if args.keras_bn else 'project (fused BatchNormalization)'}: "
          f"{wall * 1e3:.1f} ms per step wall-clock while tracing, {32 / wall:.0f} subtomograms/s")
    print("| op type | ms per step |\n|---|---:|")
    for t, v in by_type.most_common(args.top):
        print(f"| {t} | {v:.1f} |")
    print("\n| op instance | ms per step |\n|---|---:|")
    for t, v in by_name.most_common(10):
        print(f"| `{t}` | {v:.1f} |")


if __name__ == "__main__":
    main()
