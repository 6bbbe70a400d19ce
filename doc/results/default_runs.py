"""The runs that the tables of ``tuning_coral_encoder/``, ``ablation_four_stages/`` and ``tuning_stage3_coral/`` set
their own runs beside, each keyed by its split (the same splits, `runs/bench-data`), and the per-cell summary those
tables print."""
import csv
import json
import os
import statistics as st

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


def fmt(value):
    """An accuracy to three places, '–' where a run is missing."""
    return "–" if value is None else f"{value:.3f}"


def print_cell_summaries(rows, columns, differences):
    """For each cell (``row['key']``) of ``rows``: the means of ``columns`` over its seeds, then the paired
    differences ``(label, a, b)``, test per seed and validation mean (where ``'val ' + a`` and ``'val ' + b`` exist)."""
    for key in sorted({r["key"] for r in rows}):
        rs = [r for r in rows if r["key"] == key]
        print(f"\n{rs[0]['cell']}, seeds {','.join(str(r['seed']) for r in rs)}: means")
        print("| " + " | ".join(columns) + " |\n" + "|---" * len(columns) + "|")
        print("| " + " | ".join(fmt(None if any(r[k] is None for r in rs) else st.mean(r[k] for r in rs))
                                for k in columns) + " |")
        print("\n| paired difference (points) | test, mean (per seed) | seeds up | validation, mean |\n|---|---|---|---|")
        for label, a, b in differences:
            if any(r[a] is None or r[b] is None for r in rs):
                continue
            d = [100 * (r[a] - r[b]) for r in rs]
            v = (f"{100 * st.mean(r['val ' + a] - r['val ' + b] for r in rs):+.1f}"
                 if "val " + a in rs[0] and "val " + b in rs[0] else "–")
            print(f"| {label} | {st.mean(d):+.1f} ({', '.join(f'{x:+.1f}' for x in d)}) | "
                  f"{sum(x > 0 for x in d)}/{len(d)} | {v} |")
