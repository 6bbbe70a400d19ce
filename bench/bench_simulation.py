"""Benchmark the batched subtomogram simulator against a per-volume loop, in one run.

Simulates a two-domain data set (10 shipped classes x ``--per-class`` subtomograms x 2 domains, 32^3 at
1 nm) with

* a per-volume loop in AITom style: for every subtomogram one random angle, one
  ``aitom.geometry.rotate.rotate`` and one ``do_reconstruction`` (which rebuilds its filters each call, as
  AITom does), in float64 like AITom and in float32;
* the batched generator ``aitom.simulation.dataset.iter_subtomogram_batches`` (filters built once, batches
  of rotations, real FFTs over axes 1..3, noise drawn in Fourier space), on one thread and on all CPUs;
* the full ``simulate_two_domain_dataset`` (batched, all CPUs), writing to a temporary folder.

Run: ``.venv/bin/python bench/bench_simulation.py [--quick]``; ``--quick`` uses 10 per class.
"""
import argparse
import os
import tempfile
import time

import numpy as np

import machine  # bench/machine.py: the CPU line above the table
from aitom.geometry.ang_loc import random_rotation_angle_zyz
from aitom.geometry.rotate import rotate
from aitom.image.vol.util import fft_mid_co
from aitom.simulation.dataset import (DEFAULT_SHIFT_FRACTION, acquisition_op, iter_subtomogram_batches,
                                      simulate_two_domain_dataset)
from aitom.simulation.reconstruction.reconstruction__simple_convolution import do_reconstruction
from aitom.structure import load_default_densities

DOMAINS = (("cs2.2mm_dz-10um", 1.0), ("cs2.0mm_dz-5um", 0.5))  # (preset, SNR) of source and target


def per_volume(densities, n_per_class, ops, seed, dtype):
    """AITom-style loop: one rotate and one do_reconstruction per subtomogram."""
    rng = np.random.default_rng(seed)
    box = next(iter(densities.values())).shape[0]
    c = fft_mid_co((box,) * 3)
    max_shift = DEFAULT_SHIFT_FRACTION * box
    for op in ops:
        for name in sorted(densities):
            v = densities[name].astype(dtype)
            for _ in range(n_per_class):
                vr = rotate(v, angle=random_rotation_angle_zyz(rng), loc_r=rng.uniform(-max_shift, max_shift, 3),
                            c1=c, c2=c)
                do_reconstruction(vr, op, rng=rng)


def batched(densities, n_per_class, ops, seed, workers):
    """The generator, both domains, in memory."""
    for op, rng in zip(ops, np.random.default_rng(seed).spawn(2)):
        for _ in iter_subtomogram_batches(densities, n_per_class, op, rng, workers=workers):
            pass


def to_disk(densities, n_per_class, box, seed, workers):
    """simulate_two_domain_dataset into a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        simulate_two_domain_dataset(os.path.join(tmp, "ds"), densities, n_per_class, box, 1.0, DOMAINS[0][1],
                                    DOMAINS[1][1], DOMAINS[0][0], DOMAINS[1][0], seed=seed, workers=workers)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="10 subtomograms per class instead of --per-class")
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--box", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    n_per_class = 10 if args.quick else args.per_class
    densities = load_default_densities(voxel_spacing_nm=1.0, box_size=args.box)
    ops = [acquisition_op(preset, snr, 1.0) for preset, snr in DOMAINS]
    n = 2 * len(densities) * n_per_class
    cpus = os.cpu_count()
    runs = [
        ("per-volume loop, float64 (AITom style)",
         lambda: per_volume(densities, n_per_class, ops, args.seed, np.float64)),
        ("per-volume loop, float32", lambda: per_volume(densities, n_per_class, ops, args.seed, np.float32)),
        ("batched, 1 thread", lambda: batched(densities, n_per_class, ops, args.seed, None)),
        (f"batched, {cpus} threads", lambda: batched(densities, n_per_class, ops, args.seed, -1)),
        (f"batched to disk, {cpus} threads", lambda: to_disk(densities, n_per_class, args.box, args.seed, -1)),
    ]
    print(machine.header() + "\n")
    print(f"{len(densities)} classes x {n_per_class} per class x 2 domains = {n} subtomograms of {args.box}^3, "
          f"{cpus} CPUs")
    print(f"| {'method':<40} | {'seconds':>8} | {'subtomograms/s':>14} | {'speed-up':>8} |")
    print(f"|{'-' * 42}|{'-' * 10}:|{'-' * 16}:|{'-' * 10}:|")
    base = None
    for name, run in runs:
        t = time.perf_counter()
        run()
        seconds = time.perf_counter() - t
        base = base or seconds
        print(f"| {name:<40} | {seconds:8.2f} | {n / seconds:14.0f} | {base / seconds:7.1f}x |")


if __name__ == "__main__":
    main()
