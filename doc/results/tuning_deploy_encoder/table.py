"""Markdown tables of results.jsonl: every run with its split's ceiling (``target_oracle``, same seed and cell),
then each cell and method over its seeds.
Usage: python doc/results/tuning_deploy_encoder/table.py"""
import csv
import functools
import json
import os

import numpy as np

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


def rows():
    """results.jsonl's records, each with its ``extra`` fields (those beyond the split and the scores) named."""
    for line in open(os.path.join(HERE, "results.jsonl")):
        r = json.loads(line)
        r["extra"] = "".join(f" [{k}={v}]" for k, v in r.items()
                             if k not in ("data", "cell", "seed", "method") and not k.startswith(("val_", "test_")))
        yield r


def per_split():
    """Every run, scored through f_t, f_s and their mean, with its split's ceiling."""
    print("| data | cell | seed | method | val: f_t | val: f_s | val: mean | test: f_t | test: f_s | test: mean | ceiling |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows():
        print(f"| {r['data']} | {r['cell']} | {r['seed']} | {r['method']}{r['extra']} | "
              + " | ".join(f"{r[f'{s}_{d}']:.3f}" for s in ("val", "test") for d in ("target", "source", "mean"))
              + f" | {ceiling(r['data'], r['cell'], r['seed']):.3f} |".replace("nan", "–"))


def per_cell():
    """Test accuracy over a cell's seeds, with the ceiling's mean over the same seeds and FSFT's lead (through f_s)
    over each method through either encoder, on the seeds both ran (records with extra fields left out)."""
    runs = {}
    for r in rows():
        if not r["extra"]:
            runs.setdefault((r["data"], r["cell"], r["method"]), {})[r["seed"]] = r
    print("| data | cell | method | seeds | test: f_t | test: f_s | ceiling | f_s / ceiling "
          "| FSFT's lead over f_s | FSFT's lead over f_t |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (data, cell, method), by_seed in sorted(runs.items()):
        seeds = sorted(by_seed)
        f_t, f_s = (np.array([by_seed[s][f"test_{d}"] for s in seeds]) for d in ("target", "source"))
        top = float(np.mean([ceiling(data, cell, s) for s in seeds]))
        spread = f" ± {f_s.std(ddof=1):.3f}" if len(seeds) > 1 else ""
        fsft = runs.get((data, cell, "fsft"), {})
        leads = [lead([fsft[s]["test_source"] - by_seed[s][f"test_{d}"] for s in seeds if s in fsft])
                 if method != "fsft" else "–" for d in ("source", "target")]
        print(f"| {data} | {cell} | {method} | {','.join(map(str, seeds))} | {f_t.mean():.3f} | "
              f"{f_s.mean():.3f}{spread} | {top:.3f} | {f_s.mean() / top:.2f}x | {leads[0]} | {leads[1]} |")


def lead(points):
    """Mean (min to max) of paired differences, in accuracy points."""
    if not points:
        return "–"
    if len(points) == 1:
        return f"{100 * points[0]:+.1f}"
    return f"{100 * np.mean(points):+.1f} ({100 * min(points):+.1f} to {100 * max(points):+.1f})"


per_split()
print()
per_cell()
