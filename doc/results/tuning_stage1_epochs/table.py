"""Print this folder's tables: FSFT with stage 1 trained 60 epochs (runs.csv) beside the runs of 20 epochs on the
same splits.

The runs of 20 epochs: FSFT through f_s in ../tuning_deploy_encoder/results.jsonl; source only (stage 1), stage 2.1
and both ceilings in ../benchmark_ctf_transfer/runs.csv. Usage: python table.py
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from default_runs import benchmark, cell, fmt, folder_runs, print_cell_summaries, scored_both_ways  # noqa: E402

NEW = "fsft[epochs_stage1=60]"
COLUMNS = ["stage 1, 20", "stage 1, 60", "2.1, 20", "2.1, 60", "FSFT, 20", "FSFT, 60", "ceiling", "joint ceiling"]


def rows():
    """One dict per split of this folder's runs."""
    probe, bench = scored_both_ways(), benchmark()
    out = []
    for (s, snr, seed), ms in sorted(folder_runs(HERE).items()):
        c, r = cell(s, snr), ms[NEW]
        b = lambda m, k="accuracy": float(bench[(s, snr, seed, m)][k])
        stage = json.loads(r["stage_accuracy"])
        out.append({
            "cell": f"{s}, SNR {snr}", "key": (s, snr), "seed": seed, "stage 1, 20": b("source_only"),
            "stage 1, 60": stage["1"], "2.1, 20": b("coral"), "2.1, 60": stage["2.1"],
            "FSFT, 20": probe[(c, seed, "fsft")]["test_source"], "FSFT, 60": float(r["accuracy"]),
            "ceiling": b("target_oracle"), "joint ceiling": b("joint_oracle"),
            "val FSFT, 20": probe[(c, seed, "fsft")]["val_source"], "val FSFT, 60": float(r["target_val_acc"]),
            "wall s": float(r["wall_s"])})
    return out


def main():
    rs = rows()
    print("| cell | seed | " + " | ".join(COLUMNS) + " | validation: FSFT, 20 / 60 | wall s |")
    print("|---" * (len(COLUMNS) + 4) + "|")
    for r in rs:
        print(f"| {r['cell']} | {r['seed']} | " + " | ".join(fmt(r[k]) for k in COLUMNS)
              + f" | {r['val FSFT, 20']:.3f} / {r['val FSFT, 60']:.3f} | {r['wall s']:.0f} |")
    print_cell_summaries(rs, COLUMNS, [("FSFT, 60 − FSFT, 20: the rule", "FSFT, 60", "FSFT, 20"),
                                       ("stage 1, 60 − stage 1, 20", "stage 1, 60", "stage 1, 20")])


if __name__ == "__main__":
    main()
