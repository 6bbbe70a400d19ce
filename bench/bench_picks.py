"""Benchmark classifying picks from a memory-mapped tomogram: throughput and memory.

Writes a synthetic tomogram (default 512 x 512 x 200 float32, 10 Å voxels, Gaussian noise, slab by slab so
the writer never holds it) to a temporary MRC file, draws random picks (default 10,000) and measures

* extraction only: the streaming ``tf.data`` pipeline of :func:`aitom.classify.deep.fsft.streaming.subtomogram_dataset`
  (memory-mapped reads, standardisation, batching), no model;
* end to end: :func:`aitom.classify.deep.fsft.picks.classify_picks` with the FSFT inference network at its
  reference widths (16, 16, 16, 128) and untrained weights, box 32, at each ``--batch-sizes`` value. The
  network's activations grow with the batch (the first block's output alone is batch x 32^3 x 16 float32,
  2 MB per subtomogram), not with the tomogram. The last row is the largest batch with the classifier
  averaging over the four 180° rotations (``rotation_averaging``, what ``train`` saves by default): four
  forward passes per subtomogram, one rotation after another.

Memory is sampled from ``/proc/self/status`` every 10 ms during each run
(:class:`aitom.classify.deep.fsft.memory.MemorySampler`): ``RssAnon`` (private memory the
process allocated) and ``RssFile`` (pages of mapped files, here the tomogram: page cache, shared and
reclaimable, not a copy); the table shows their peaks above the level just before the run. A separate
shorter pass runs extraction under ``tracemalloc`` for the peak of NumPy/Python allocations.

Run: ``.venv/bin/python bench/bench_picks.py [--shape 512 512 200] [--picks 10000] [--batch-sizes 16 64]``.
"""
import argparse
import os
import tempfile
import time
import tracemalloc

import mrcfile
import numpy as np
import pandas as pd

import aitom  # noqa: F401  before TensorFlow: turns oneDNN on unless TF_ENABLE_ONEDNN_OPTS is set
import machine
from aitom.classify.deep.fsft import FSFTConfig, SubtomogramClassifier
from aitom.classify.deep.fsft.models import FSFTNetworks
from aitom.classify.deep.fsft.memory import MemorySampler
from aitom.classify.deep.fsft.picks import classify_picks
from aitom.classify.deep.fsft.streaming import subtomogram_dataset
from aitom.io.tomogram import open_tomogram
from aitom.picking import read_order

MB = 1024.0 ** 2


def write_tomogram(path, shape, voxel_size_A, seed):
    """Noise tomogram ``shape = (nx, ny, nz)`` written z-slab by z-slab through ``mrcfile.new_mmap``."""
    rng = np.random.default_rng(seed)
    nx, ny, nz = shape
    with mrcfile.new_mmap(path, shape=(nz, ny, nx), mrc_mode=2, overwrite=True) as mrc:
        for z in range(0, nz, 16):
            mrc.data[z:z + 16] = rng.standard_normal((min(16, nz - z), ny, nx), dtype=np.float32)
        mrc.voxel_size = voxel_size_A
        mrc.update_header_stats()


def extraction_pass(path, centres, box, batch_size):
    """Stream every cube through the tf.data pipeline without a model."""
    with open_tomogram(path) as tomo:
        for _ in subtomogram_dataset(tomo, centres[read_order(centres)], box, batch_size):
            pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(512, 512, 200))
    parser.add_argument("--picks", type=int, default=10000)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=(16, 64))
    parser.add_argument("--box", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    shape = tuple(args.shape)
    tomogram_mb = np.prod(shape) * 4 / MB
    centres = rng.uniform(0, np.array(shape) - 1, size=(args.picks, 3)).round()
    picks = pd.DataFrame(centres, columns=["x_px", "y_px", "z_px"])
    networks = FSFTNetworks(args.box, 4, FSFTConfig())
    classifier = SubtomogramClassifier(networks.inference_model("target"), ("a", "b", "background", "c"), args.box,
                                       voxel_spacing_nm=1.0)
    averaged = SubtomogramClassifier(classifier.model, classifier.class_names, args.box, voxel_spacing_nm=1.0,
                                     rotation_averaging=True)  # the default of a trained classifier
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench_tomogram.mrc")
        t0 = time.perf_counter()
        write_tomogram(path, shape, 10.0, args.seed)
        t_write = time.perf_counter() - t0
        big = max(args.batch_sizes)
        for clf in (classifier, averaged):  # warm-up: builds the predict functions
            classify_picks(path, picks.iloc[:big], clf, big, progress=False)
        runs = [(f"extraction only, batch {big}", lambda: extraction_pass(path, centres, args.box, big))]
        runs += [(f"classify_picks, batch {b}", lambda b=b: classify_picks(path, picks, classifier, b, progress=False))
                 for b in args.batch_sizes]
        runs += [(f"  rotation-averaged, batch {big}", lambda: classify_picks(path, picks, averaged, big, progress=False))]
        for name, run in runs:
            with MemorySampler() as memory:
                t0 = time.perf_counter()
                run()
                seconds = time.perf_counter() - t0
            rows.append((name, seconds, args.picks / seconds, memory.growth("RssAnon"), memory.growth("RssFile")))

        n_traced = min(args.picks, 2000)
        tracemalloc.start()
        extraction_pass(path, centres[:n_traced], args.box, max(args.batch_sizes))
        traced_peak = tracemalloc.get_traced_memory()[1] / MB
        tracemalloc.stop()

    import tensorflow as tf
    print(machine.header(tf) + "\n")
    print(f"tomogram {shape[0]} x {shape[1]} x {shape[2]} float32 = {tomogram_mb:.0f} MB (written in "
          f"{t_write:.1f} s), {args.picks} picks, box {args.box}, {os.cpu_count()} CPUs\n")
    print(f"{'run':<30}{'seconds':>9}{'subtomograms/s':>16}{'peak RssAnon +MB':>18}{'peak RssFile +MB':>18}")
    for name, seconds, rate, anon, mapped in rows:
        print(f"{name:<30}{seconds:>9.1f}{rate:>16.0f}{anon:>18.0f}{mapped:>18.0f}")
    print(f"\ntracemalloc peak (NumPy/Python allocations) while streaming {n_traced} picks: {traced_peak:.1f} MB")
    for name, _, _, anon, _ in rows:
        print(f"{name}: private-memory growth {anon:.0f} MB = {100 * anon / tomogram_mb:.1f} % of the tomogram "
              f"({tomogram_mb:.0f} MB)")
    print("RssFile is the page cache of the memory-mapped tomogram (shared, reclaimable), not a copy")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
