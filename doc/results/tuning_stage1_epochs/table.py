"""Print this folder's tables: FSFT with stage 1 trained 60 epochs (runs.csv) beside the runs of 20 epochs on the
same splits.

The runs of 20 epochs: FSFT through f_s in ../tuning_deploy_encoder/results.jsonl; source only (stage 1), stage 2.1
and both ceilings in ../benchmark_ctf_transfer/runs.csv; fine-tune, FADA and FSFT without CORAL at 20 epochs (through
f_s) in the former; the four stages without the self-training rounds at 20 epochs (through f_s) in
../ablation_four_stages/runs.csv. Usage: python table.py
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from default_runs import benchmark, cell, fmt, folder_runs, print_cell_summaries, scored_both_ways  # noqa: E402

NEW = ("fsft[epochs_stage1=60]", "fsft")  # the option before abb5c4c, the default after it
BASELINE_COLUMNS = ["fine-tune, 20", "fine-tune, 60", "FADA, 20", "FADA, 60", "FSFT, 60", "ceiling", "joint ceiling"]
ROUNDS_COLUMNS = ["no rounds, 20", "FSFT, 20", "no rounds, 60", "FSFT, 60", "ceiling", "joint ceiling"]
CORAL_COLUMNS = ["no CORAL, 20", "FSFT, 20", "no CORAL, 60", "FSFT, 60", "ceiling", "joint ceiling"]
COLUMNS = ["stage 1, 20", "stage 1, 60", "2.1, 20", "2.1, 60", "FSFT, 20", "FSFT, 60", "ceiling", "joint ceiling"]

# The sections printed after the main table: title, the column a split needs to be shown, columns, differences.
SECTIONS = [
    ("Fine-tune and FADA (through f_s, as deployed) at 20 and 60 stage-1 epochs, on the splits where both ran",
     "fine-tune, 60", BASELINE_COLUMNS,
     [("FSFT, 60 − fine-tune, 60", "FSFT, 60", "fine-tune, 60"), ("FSFT, 60 − FADA, 60", "FSFT, 60", "FADA, 60"),
      ("fine-tune, 60 − fine-tune, 20", "fine-tune, 60", "fine-tune, 20"),
      ("FADA, 60 − FADA, 20", "FADA, 60", "FADA, 20")]),
    ("CORAL's share: FSFT without CORAL (`fsft_no_coral`, through f_s) at 20 and 60 stage-1 epochs",
     "no CORAL, 60", CORAL_COLUMNS,
     [("FSFT, 60 − no CORAL, 60: the rule", "FSFT, 60", "no CORAL, 60"),
      ("FSFT, 20 − no CORAL, 20", "FSFT, 20", "no CORAL, 20")]),
    ("The self-training rounds' share: the paper's four stages (`fsft_no_self_training`, through f_s) at 20 and 60 "
     "stage-1 epochs", "no rounds, 60", ROUNDS_COLUMNS,
     [("FSFT, 60 − no rounds, 60 (the rule: shrec, SNR 0.1)", "FSFT, 60", "no rounds, 60"),
      ("FSFT, 20 − no rounds, 20", "FSFT, 20", "no rounds, 20")]),
]


def rows():
    """One dict per split of this folder's runs."""
    probe, bench = scored_both_ways(), benchmark()
    four_stages = folder_runs(os.path.join(os.path.dirname(HERE), "ablation_four_stages"))
    out = []
    for (s, snr, seed), ms in sorted(folder_runs(HERE).items()):
        c, r = cell(s, snr), next(ms[m] for m in NEW if m in ms)
        b = lambda m, k="accuracy": float(bench[(s, snr, seed, m)][k])
        at60 = lambda m, k="accuracy": float(ms[m][k]) if m in ms else None
        at20 = lambda m, k="test_source": probe[(c, seed, m)][k] if (c, seed, m) in probe else None
        rounds20 = four_stages.get((s, snr, seed), {}).get("fsft_no_self_training")
        stage = json.loads(r["stage_accuracy"])
        out.append({
            "cell": f"{s}, SNR {snr}", "key": (s, snr), "seed": seed, "stage 1, 20": b("source_only"),
            "stage 1, 60": stage["1"], "2.1, 20": b("coral"), "2.1, 60": stage["2.1"],
            "FSFT, 20": probe[(c, seed, "fsft")]["test_source"], "FSFT, 60": float(r["accuracy"]),
            "ceiling": b("target_oracle"), "joint ceiling": b("joint_oracle"),
            "val FSFT, 20": probe[(c, seed, "fsft")]["val_source"], "val FSFT, 60": float(r["target_val_acc"]),
            "wall s": float(r["wall_s"]),
            "fine-tune, 20": at20("finetune"), "fine-tune, 60": at60("finetune"),
            "FADA, 20": at20("fada"), "FADA, 60": at60("fada"),
            "no CORAL, 20": at20("fsft_no_coral"), "val no CORAL, 20": at20("fsft_no_coral", "val_source"),
            "no CORAL, 60": at60("fsft_no_coral"), "val no CORAL, 60": at60("fsft_no_coral", "target_val_acc"),
            "no rounds, 20": rounds20 and float(rounds20["accuracy"]),
            "val no rounds, 20": rounds20 and float(rounds20["target_val_acc"]),
            "no rounds, 60": at60("fsft_no_self_training"),
            "val no rounds, 60": at60("fsft_no_self_training", "target_val_acc")})
    return out


def main():
    rs = rows()
    print("| cell | seed | " + " | ".join(COLUMNS) + " | validation: FSFT, 20 / 60 | wall s |")
    print("|---" * (len(COLUMNS) + 4) + "|")
    for r in rs:
        print(f"| {r['cell']} | {r['seed']} | " + " | ".join(fmt(r[k]) for k in COLUMNS)
              + f" | {r['val FSFT, 20']:.3f} / {r['val FSFT, 60']:.3f} | {r['wall s']:.0f} |")
    print_cell_summaries(rs, COLUMNS, [("FSFT, 60 − FSFT, 20 (the rule: shrec, SNR 0.1)", "FSFT, 60", "FSFT, 20"),
                                       ("stage 1, 60 − stage 1, 20", "stage 1, 60", "stage 1, 20")])
    for title, needs, columns, differences in SECTIONS:
        ran = [r for r in rs if r[needs] is not None]
        if ran:
            print(f"\n**{title}**")
            print_cell_summaries(ran, columns, differences)

if __name__ == "__main__":
    main()
