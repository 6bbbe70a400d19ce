"""Markdown table of results.jsonl, each row with its split's ceiling (``target_oracle``, same seed and cell).
Usage: python doc/results/tuning_deploy_encoder/table.py"""
import csv
import functools
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
CEILINGS = {"runs/bench-data": os.path.join(HERE, "..", "benchmark_ctf_transfer", "runs.csv"),
            "runs/other-ctf-data": os.path.join(HERE, "..", "ctf_estimation", "other_ctf", "runs.csv"),
            "runs/bench-data-b": os.path.join(HERE, "baselines_bench_data_b", "runs.csv")}


@functools.lru_cache(maxsize=None)
def ceilings(data):
    """(structures, target SNR, seed) -> the ceiling's accuracy, from the CSV that holds ``data``'s runs."""
    with open(CEILINGS[data], newline="") as f:
        return {(r["structures"], r["target_snr"], int(r["seed"])): float(r["accuracy"])
                for r in csv.DictReader(f) if r["method"] == "target_oracle"}


def ceiling(data, cell, seed):
    structures = "assemblies" if cell.startswith("assemblies") else "shrec"
    return ceilings(data).get((structures, cell.rsplit("tgt", 1)[1], seed), float("nan"))


print("| data | cell | seed | method | val: f_t | val: f_s | val: mean | test: f_t | test: f_s | test: mean | ceiling |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for line in open(os.path.join(HERE, "results.jsonl")):
    r = json.loads(line)
    extra = "".join(f" [{k}={v}]" for k, v in r.items()
                    if k not in ("data", "cell", "seed", "method") and not k.startswith(("val_", "test_")))
    print(f"| {r['data']} | {r['cell']} | {r['seed']} | {r['method']}{extra} | "
          + " | ".join(f"{r[f'{s}_{d}']:.3f}" for s in ("val", "test") for d in ("target", "source", "mean"))
          + f" | {ceiling(r['data'], r['cell'], r['seed']):.3f} |".replace("nan", "–"))
