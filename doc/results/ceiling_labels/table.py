"""Print this folder's table: the target-only ceiling (``target_oracle``) against the number of labelled target
subtomograms it trains on, one row per cell and label count.

runs.csv holds this folder's runs, all on one simulated cell per row (``--n-per-class 100,1000``): 5 shots per
class, then ``--target-test-fraction`` splits the other 995 per class into the test set and the pool, whose true
labels the ceiling trains on (labels = 10 000 − test rows). The benchmark's ceiling (200 target per class, 1020
labels, five seeds) is read from ``../benchmark_ctf_transfer/runs.csv`` through ``../default_runs.py``.
Usage: python table.py
"""
import csv
import os
import re
import statistics as st
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from default_runs import benchmark, fmt  # noqa: E402

BATCH, FACTOR, PER_CELL = 32, 6, 10_000  # stage 1's batch, ORACLE_EPOCH_FACTOR, target rows in a cell here


def epochs(method):
    """The ceiling's epochs: ORACLE_EPOCH_FACTOR times the run's stage-1 epochs (20 unless overridden)."""
    found = re.search(r"epochs_stage1=(\d+)", method)
    return FACTOR * (int(found.group(1)) if found else 20)


def groups():
    """(structures, SNR, labels, target per class, test rows, epochs) -> {seed: accuracy}, this folder's runs and the
    benchmark's."""
    out = {}
    with open(os.path.join(HERE, "runs.csv"), newline="") as f:
        for r in csv.DictReader(f):
            n_test = int(r["n_test"])
            key = (r["structures"], r["target_snr"], PER_CELL - n_test, 1000, n_test, epochs(r["method"]))
            out.setdefault(key, {})[int(r["seed"])] = float(r["accuracy"])
    for (structures, snr, seed, method), r in benchmark().items():
        if method == "target_oracle":
            out.setdefault((structures, snr, 1020, 200, int(r["n_test"]), epochs(method)), {})[seed] = float(r["accuracy"])
    return out


if __name__ == "__main__":
    print("| cell | labelled target | target per class | test rows | epochs | optimiser steps | seeds | accuracy per seed "
          "| mean |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (structures, snr, labels, per_class, n_test, ep), accs in sorted(groups().items()):
        seeds = sorted(accs)
        print(f"| {structures}, SNR {snr} | {labels} | {per_class} | {n_test} | {ep} | {ep * (labels // BATCH)} | "
              f"{','.join(map(str, seeds))} | {', '.join(fmt(accs[s]) for s in seeds)} | "
              f"**{fmt(st.mean(accs.values()))}** |")
