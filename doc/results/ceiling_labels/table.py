"""Print this folder's table: the target-only ceiling (``target_oracle``) against the number of labelled target
subtomograms it trains on, one row per cell and label count.

runs.csv holds this folder's runs, all on one simulated cell per row (``--n-per-class 100,1000``): 5 shots per
class, then ``--target-test-fraction`` splits the other 995 per class into the test set and the pool, whose true
labels the ceiling trains on (labels = 1000 × classes − test rows). The benchmark's ceiling (200 target per class, 1020
labels, five seeds) is read from ``../benchmark_ctf_transfer/runs.csv`` through ``../default_runs.py``.
Usage (the package installed): python table.py
"""
import csv
import json
import os
import statistics as st
import sys

from aitom.classify.deep.fsft.baselines import resolve_method
from aitom.classify.deep.fsft.config import FSFTConfig

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from default_runs import benchmark, fmt  # noqa: E402

PER_CLASS = 1000  # target subtomograms per class in this folder's cells (--n-per-class 100,1000)
BENCHMARK_PER_CLASS = 200  # and in the benchmark's (--n-per-class 100,200)
# The runs here and the benchmark's ceilings were made when the ceiling trained six times stage 1's epochs and
# stage 1 twenty (baselines.ORACLE_EPOCH_FACTOR and FSFTConfig.epochs_stage1 then; now 2 and 60, the same 120)
FACTOR_THEN, STAGE1_EPOCHS_THEN = 6, 20


def epochs(method):
    """The ceiling's epochs when the run was made: FACTOR_THEN times the stage-1 epochs the method name sets (or
    STAGE1_EPOCHS_THEN)."""
    overrides = getattr(resolve_method(method), "keywords", {})
    return FACTOR_THEN * overrides.get("epochs_stage1", STAGE1_EPOCHS_THEN)


def groups():
    """(structures, SNR, labels, target per class, test rows, epochs) -> {seed: accuracy}, this folder's runs and the
    benchmark's."""
    out = {}
    with open(os.path.join(HERE, "runs.csv"), newline="") as f:
        for r in csv.DictReader(f):
            n_test = int(r["n_test"])
            labels = PER_CLASS * len(json.loads(r["class_names"])) - n_test
            key = (r["structures"], r["target_snr"], labels, PER_CLASS, n_test, epochs(r["method"]))
            out.setdefault(key, {})[int(r["seed"])] = float(r["accuracy"])
    for (structures, snr, seed, method), r in benchmark().items():
        if method == "target_oracle":
            n_test = int(r["n_test"])
            labels = BENCHMARK_PER_CLASS * len(json.loads(r["class_names"])) - n_test
            key = (structures, snr, labels, BENCHMARK_PER_CLASS, n_test, epochs(method))
            out.setdefault(key, {})[seed] = float(r["accuracy"])
    return out


if __name__ == "__main__":
    print("| cell | labelled target | target per class | test rows | epochs | optimiser steps | seeds | accuracy per seed "
          "| mean |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (structures, snr, labels, per_class, n_test, ep), accs in sorted(groups().items()):
        seeds = sorted(accs)
        print(f"| {structures}, SNR {snr} | {labels} | {per_class} | {n_test} | {ep} | "
              f"{ep * (labels // FSFTConfig().batch_size)} | "
              f"{','.join(map(str, seeds))} | {', '.join(fmt(accs[s]) for s in seeds)} | "
              f"**{fmt(st.mean(accs.values()))}** |")
