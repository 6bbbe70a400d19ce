"""Print this folder's tables: FSFT with CORAL through f_s in stage 2.1 and kept in stage 3 (runs.csv), beside
the runs on the same splits that it is judged against.

FSFT and FSFT without CORAL (the default's, through f_s) are in ../tuning_deploy_encoder/results.jsonl; FSFT
with CORAL through f_s in stage 2.1 only in ../tuning_coral_encoder/runs.csv; source only and both ceilings in
../benchmark_ctf_transfer/runs.csv. Usage: python table.py
"""
import json
import os
import statistics as st
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from default_runs import benchmark, cell, folder_runs, scored_both_ways  # noqa: E402

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


def _f(value):
    return "–" if value is None else f"{value:.3f}"


def main():
    rs_all = rows()
    assert all(abs(r["stage 1"] - r["source only"]) < 5e-7 for r in rs_all), "a split differs from the benchmark's"
    print("| cell | seed | " + " | ".join(COLUMNS) + " | validation: FSFT / via f_s, 2.1 and 3 | wall s |")
    print("|---" * (len(COLUMNS) + 4) + "|")
    for r in rs_all:
        print(f"| {r['cell']} | {r['seed']} | " + " | ".join(_f(r[k]) for k in COLUMNS)
              + f" | {r['val FSFT']:.3f} / {r['val via f_s, 2.1 and 3']:.3f} | {r['wall s']:.0f} |")
    for key in sorted({r["key"] for r in rs_all}):
        rs = [r for r in rs_all if r["key"] == key]
        print(f"\n{rs[0]['cell']}, seeds {','.join(str(r['seed']) for r in rs)}: means")
        print("| " + " | ".join(COLUMNS) + " |\n" + "|---" * len(COLUMNS) + "|")
        print("| " + " | ".join(_f(None if any(r[k] is None for r in rs) else st.mean(r[k] for r in rs))
                                for k in COLUMNS) + " |")
        print("\n| paired difference (points) | test, mean (per seed) | seeds up | validation, mean |\n|---|---|---|---|")
        for label, a, b in DIFFERENCES + [("stage 2.1 − source only", "2.1", "source only")]:
            if any(r[a] is None or r[b] is None for r in rs):
                continue
            d = [100 * (r[a] - r[b]) for r in rs]
            v = (f"{100 * st.mean(r['val ' + a] - r['val ' + b] for r in rs):+.1f}"
                 if "val " + a in rs[0] and "val " + b in rs[0] else "–")
            print(f"| {label} | {st.mean(d):+.1f} ({', '.join(f'{x:+.1f}' for x in d)}) | "
                  f"{sum(x > 0 for x in d)}/{len(d)} | {v} |")


if __name__ == "__main__":
    main()
