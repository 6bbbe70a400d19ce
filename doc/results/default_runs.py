"""The runs that the tables of ``tuning_coral_encoder/`` and ``ablation_four_stages/`` set their own runs beside,
each keyed by its split (the same splits, `runs/bench-data`)."""
import csv
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE_FIELDS = {"data", "cell", "seed", "method", "val_target", "val_source", "val_mean", "test_target",
                "test_source", "test_mean"}


def cell(structures, snr):
    """The ``cell`` name ``tuning_deploy_encoder/results.jsonl`` gives a structure set and target SNR."""
    return ("" if structures == "shrec" else structures + "_") + f"src1000_tgt{snr}"


def scored_both_ways():
    """(cell, seed, method) -> the default's run in ``tuning_deploy_encoder/results.jsonl``, scored through f_t and
    f_s (runs with a changed field left out)."""
    with open(os.path.join(HERE, "tuning_deploy_encoder", "results.jsonl")) as f:
        return {(r["cell"], r["seed"], r["method"]): r for r in map(json.loads, f)
                if r["data"] == "runs/bench-data" and not set(r) - PROBE_FIELDS}


def benchmark():
    """(structures, target SNR, seed, method) -> the row of ``benchmark_ctf_transfer/runs.csv``."""
    with open(os.path.join(HERE, "benchmark_ctf_transfer", "runs.csv")) as f:
        return {(r["structures"], r["target_snr"], int(r["seed"]), r["method"]): r for r in csv.DictReader(f)}


def folder_runs(folder):
    """(structures, target SNR, seed) -> {method: row} of ``folder``'s runs.csv."""
    runs = {}
    with open(os.path.join(folder, "runs.csv")) as f:
        for r in csv.DictReader(f):
            runs.setdefault((r["structures"], r["target_snr"], int(r["seed"])), {})[r["method"]] = r
    return runs
