"""Print this folder's tables: the paper's four stages (no self-training rounds) under the current defaults.

runs.csv holds ``fsft_no_self_training`` (through f_s, the default's deployed encoder, and through f_t) and
``fsft_no_coral[self_training_rounds=0]`` (through f_s). FSFT and FSFT without CORAL with the rounds (through
f_s) are the default's runs of ../tuning_deploy_encoder/results.jsonl; source only, stage 2.1 (through f_t)
and both ceilings come from ../benchmark_ctf_transfer/runs.csv, same splits. Usage: python table.py
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from default_runs import benchmark, cell, fmt as _f, folder_runs, print_cell_summaries, scored_both_ways  # noqa: E402,E501

FOUR_FS, FOUR_FT = "fsft_no_self_training", "fsft_no_self_training[deploy_encoder=target]"
THREE_FS = "fsft_no_coral[self_training_rounds=0]"


def rows():
    """One dict per split that has this folder's f_s runs (f_t's, where it ran, too; else None)."""
    probe, bench, new = scored_both_ways(), benchmark(), folder_runs(HERE)
    out = []
    for (s, snr, seed), ms in sorted(new.items()):
        if not {FOUR_FS, THREE_FS} <= set(ms):
            continue
        c = cell(s, snr)
        b = lambda m, k="accuracy": float(bench[(s, snr, seed, m)][k])
        n = lambda m, k="accuracy": float(ms[m][k]) if m in ms else None
        out.append({
            "cell": f"{s}, SNR {snr}", "key": (s, snr), "seed": seed,
            "source only": b("source_only"), "2.1 (f_t)": b("coral"),
            "four stages (f_s)": n(FOUR_FS), "four stages (f_t)": n(FOUR_FT), "no CORAL (f_s)": n(THREE_FS),
            "FSFT": probe[(c, seed, "fsft")]["test_source"],
            "FSFT, no CORAL": probe[(c, seed, "fsft_no_coral")]["test_source"],
            "ceiling": b("target_oracle"), "joint ceiling": b("joint_oracle"),
            "val source only": b("source_only", "target_val_acc"), "val 2.1 (f_t)": b("coral", "target_val_acc"),
            "val four stages (f_s)": n(FOUR_FS, "target_val_acc"),
            "val four stages (f_t)": n(FOUR_FT, "target_val_acc"),
            "val no CORAL (f_s)": n(THREE_FS, "target_val_acc"),
            "val FSFT": probe[(c, seed, "fsft")]["val_source"],
            "val FSFT, no CORAL": probe[(c, seed, "fsft_no_coral")]["val_source"],
            "wall s": n(FOUR_FS, "wall_s") + n(THREE_FS, "wall_s")})
    return out


COLUMNS = ["source only", "2.1 (f_t)", "four stages (f_t)", "four stages (f_s)", "no CORAL (f_s)", "FSFT",
           "FSFT, no CORAL", "ceiling", "joint ceiling"]
DIFFERENCES = [  # (label, a, b): paired a − b, test and validation
    ("the rounds (FSFT − four stages, f_s)", "FSFT", "four stages (f_s)"),
    ("CORAL without the rounds (four stages − no CORAL, f_s)", "four stages (f_s)", "no CORAL (f_s)"),
    ("CORAL with the rounds (FSFT − FSFT without CORAL, f_s)", "FSFT", "FSFT, no CORAL"),
    ("four stages: f_t − f_s", "four stages (f_t)", "four stages (f_s)"),
    ("stage 3 − stage 2.1 (f_t)", "four stages (f_t)", "2.1 (f_t)"),
    ("stage 2.1 − stage 1", "2.1 (f_t)", "source only"),
]


def main():
    rs_all = rows()
    print("| cell | seed | " + " | ".join(COLUMNS) + " | wall s (both runs) |")
    print("|---" * (len(COLUMNS) + 3) + "|")
    for r in rs_all:
        print(f"| {r['cell']} | {r['seed']} | " + " | ".join(_f(r[k]) for k in COLUMNS) + f" | {r['wall s']:.0f} |")
    print_cell_summaries(rs_all, COLUMNS, DIFFERENCES)


if __name__ == "__main__":
    main()
