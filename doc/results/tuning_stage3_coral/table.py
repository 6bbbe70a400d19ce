"""Print this folder's tables: FSFT with CORAL through f_s in stage 2.1 and kept in stage 3 (runs.csv), beside
the runs on the same splits that it is judged against.

FSFT and FSFT without CORAL (the default's, through f_s) are in ../tuning_deploy_encoder/results.jsonl; FSFT
with CORAL through f_s in stage 2.1 only in ../tuning_coral_encoder/runs.csv; source only and both ceilings in
../benchmark_ctf_transfer/runs.csv. Usage: python table.py
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from default_runs import benchmark, cell, fmt as _f, folder_runs, print_cell_summaries, scored_both_ways  # noqa: E402,E501

NEW = "fsft[coral_encoder=source,stage3_coral_alpha=1.0]"
VIA_FS = "fsft[coral_encoder=source]"


def rows():
    """One dict per split of this folder's runs."""
    probe, bench = scored_both_ways(), benchmark()
    new, via_fs = folder_runs(HERE), folder_runs(os.path.join(os.path.dirname(HERE), "tuning_coral_encoder"))
    out = []
    for (s, snr, seed), ms in sorted(new.items()):
        c, r = cell(s, snr), ms[NEW]
        b = lambda m, k="accuracy": float(bench[(s, snr, seed, m)][k])
        f = via_fs.get((s, snr, seed), {}).get(VIA_FS)
        stage = json.loads(r["stage_accuracy"])
        out.append({
            "cell": f"{s}, SNR {snr}", "key": (s, snr), "seed": seed,
            "source only": b("source_only"), "stage 1": stage["1"], "2.1": stage["2.1"],
            "FSFT": probe[(c, seed, "fsft")]["test_source"],
            "via f_s, 2.1 only": None if f is None else float(f["accuracy"]),
            "via f_s, 2.1 and 3": float(r["accuracy"]), "FSFT, no CORAL": probe[(c, seed, "fsft_no_coral")]["test_source"],
            "ceiling": b("target_oracle"), "joint ceiling": b("joint_oracle"),
            "val FSFT": probe[(c, seed, "fsft")]["val_source"],
            "val via f_s, 2.1 only": None if f is None else float(f["target_val_acc"]),
            "val via f_s, 2.1 and 3": float(r["target_val_acc"]), "val FSFT, no CORAL": probe[(c, seed, "fsft_no_coral")]["val_source"],
            "val source only": b("source_only", "target_val_acc"),
            "wall s": float(r["wall_s"])})
    return out


COLUMNS = ["source only", "2.1", "FSFT", "via f_s, 2.1 only", "via f_s, 2.1 and 3", "FSFT, no CORAL", "ceiling", "joint ceiling"]
DIFFERENCES = [  # (label, a, b): paired a − b, test and validation
    ("the change (via f_s, 2.1 and 3 − FSFT): the rule", "via f_s, 2.1 and 3", "FSFT"),
    ("the stage-3 term (kept in 3 − stage 2.1 only, both via f_s)", "via f_s, 2.1 and 3", "via f_s, 2.1 only"),
    ("CORAL under the change (via f_s, 2.1 and 3 − FSFT without CORAL)", "via f_s, 2.1 and 3", "FSFT, no CORAL"),
    ("CORAL under the default (FSFT − FSFT without CORAL)", "FSFT", "FSFT, no CORAL"),
]


def main():
    rs_all = rows()
    assert all(abs(r["stage 1"] - r["source only"]) < 5e-7 for r in rs_all), "a split differs from the benchmark's"
    print("| cell | seed | " + " | ".join(COLUMNS) + " | validation: FSFT / via f_s, 2.1 and 3 | wall s |")
    print("|---" * (len(COLUMNS) + 4) + "|")
    for r in rs_all:
        print(f"| {r['cell']} | {r['seed']} | " + " | ".join(_f(r[k]) for k in COLUMNS)
              + f" | {r['val FSFT']:.3f} / {r['val via f_s, 2.1 and 3']:.3f} | {r['wall s']:.0f} |")
    print_cell_summaries(rs_all, COLUMNS, DIFFERENCES + [("stage 2.1 − source only", "2.1", "source only")])


if __name__ == "__main__":
    main()
