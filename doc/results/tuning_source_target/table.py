"""Print this folder's tables: FSFT with the labelled target also through f_s in stage 3 and its rounds (with the
rounds labelling the pool through f_s, or through f_t as by default; runs.csv), beside the default's runs on the
same splits.

The default's FSFT (through f_s, the deployed encoder) is in ../tuning_deploy_encoder/results.jsonl; source only,
stage 2.1 and both ceilings in ../benchmark_ctf_transfer/runs.csv. Usage: python table.py
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from default_runs import benchmark, cell, fmt, folder_runs, print_cell_summaries, scored_both_ways  # noqa: E402

VARIANTS = {"via f_s, f_s labels": "fsft[stage3_source_target_weight=1.0,pseudo_label_encoder=source]",
            "via f_s": "fsft[stage3_source_target_weight=1.0]"}
COLUMNS = ["source only", "2.1", "FSFT", *VARIANTS, "ceiling", "joint ceiling"]


def rows():
    """One dict per split of this folder's runs; a variant that did not run on a split is None."""
    probe, bench = scored_both_ways(), benchmark()
    out = []
    for (s, snr, seed), ms in sorted(folder_runs(HERE).items()):
        c = cell(s, snr)
        b = lambda m, k="accuracy": float(bench[(s, snr, seed, m)][k])
        r = {"cell": f"{s}, SNR {snr}", "key": (s, snr), "seed": seed, "source only": b("source_only"),
             "2.1": b("coral"), "FSFT": probe[(c, seed, "fsft")]["test_source"], "ceiling": b("target_oracle"),
             "joint ceiling": b("joint_oracle"), "val FSFT": probe[(c, seed, "fsft")]["val_source"],
             "stage 1": [json.loads(run["stage_accuracy"])["1"] for run in ms.values()]}
        for name, method in VARIANTS.items():
            run = ms.get(method)
            r[name] = None if run is None else float(run["accuracy"])
            r["val " + name] = None if run is None else float(run["target_val_acc"])
        out.append(r)
    return out


def main():
    rs = rows()
    assert all(abs(s1 - r["source only"]) < 5e-7 for r in rs for s1 in r["stage 1"]), "a split is not the benchmark's"
    print("| cell | seed | " + " | ".join(COLUMNS) + " | validation: " + " / ".join(["FSFT", *VARIANTS]) + " |")
    print("|---" * (len(COLUMNS) + 3) + "|")
    for r in rs:
        print(f"| {r['cell']} | {r['seed']} | " + " | ".join(fmt(r[k]) for k in COLUMNS) + " | "
              + " / ".join(fmt(r["val " + k]) for k in ["FSFT", *VARIANTS]) + " |")
    print_cell_summaries(rs, COLUMNS, [(f"{name} − FSFT", name, "FSFT") for name in VARIANTS])


if __name__ == "__main__":
    main()
