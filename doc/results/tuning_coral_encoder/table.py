"""Print this folder's tables: runs.csv (CORAL through f_s) beside the default's runs on the same splits.

The default's FSFT and no-CORAL runs (through f_s, the deployed encoder) are in
../tuning_deploy_encoder/results.jsonl; source only, CORAL through f_t and the ceiling in
../benchmark_ctf_transfer/runs.csv. Usage: python table.py
"""
import os
import statistics as st
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from default_runs import benchmark, cell, folder_runs, scored_both_ways  # noqa: E402

NEW_CORAL, NEW_FSFT = "coral[coral_encoder=source]", "fsft[coral_encoder=source]"


def main():
    probe, bench, new = scored_both_ways(), benchmark(), folder_runs(HERE)
    rows = []
    for (s, snr, seed), ms in sorted(new.items()):
        if NEW_FSFT not in ms:  # a run still going
            continue
        c = cell(s, snr)
        rows.append({
            "cell": f"{s}, SNR {snr}", "key": (s, snr), "seed": seed,
            "source only": float(bench[(s, snr, seed, "source_only")]["accuracy"]),
            "2.1 via f_t": float(bench[(s, snr, seed, "coral")]["accuracy"]),
            "2.1 via f_s": float(ms[NEW_CORAL]["accuracy"]),
            "val 2.1 via f_t": float(bench[(s, snr, seed, "coral")]["target_val_acc"]),
            "val 2.1 via f_s": float(ms[NEW_CORAL]["target_val_acc"]),
            "FSFT": probe[(c, seed, "fsft")]["test_source"],
            "FSFT, CORAL via f_s": float(ms[NEW_FSFT]["accuracy"]),
            "FSFT, no CORAL": probe[(c, seed, "fsft_no_coral")]["test_source"],
            "val FSFT": probe[(c, seed, "fsft")]["val_source"],
            "val FSFT, CORAL via f_s": float(ms[NEW_FSFT]["target_val_acc"]),
            "val FSFT, no CORAL": probe[(c, seed, "fsft_no_coral")]["val_source"],
            "ceiling": float(bench[(s, snr, seed, "target_oracle")]["accuracy"]),
            "wall s": float(ms[NEW_FSFT]["wall_s"])})
    cols = ["source only", "2.1 via f_t", "2.1 via f_s", "FSFT", "FSFT, CORAL via f_s", "FSFT, no CORAL", "ceiling"]
    print("| cell | seed | " + " | ".join(cols) + " | validation: FSFT / CORAL via f_s / no CORAL | wall s |")
    print("|---" * (len(cols) + 4) + "|")
    for r in rows:
        print(f"| {r['cell']} | {r['seed']} | " + " | ".join(f"{r[k]:.3f}" for k in cols)
              + f" | {r['val FSFT']:.3f} / {r['val FSFT, CORAL via f_s']:.3f} / {r['val FSFT, no CORAL']:.3f}"
              + f" | {r['wall s']:.0f} |")
    print()
    print("| cell (seeds) | source only | stage 2.1 via f_t | stage 2.1 via f_s | FSFT (CORAL via f_t) | FSFT, CORAL via f_s"
          " | FSFT without CORAL | ceiling | via f_s − via f_t, FSFT test | the same, FSFT validation | stage 2.1 via f_s"
          " − source only |")
    print("|---" * 11 + "|")
    for key in sorted({r["key"] for r in rows}):
        rs = [r for r in rows if r["key"] == key]
        m = lambda k: f"{st.mean(r[k] for r in rs):.3f}"
        d = lambda a, b: "%+.1f (%s)" % (100 * st.mean(r[a] - r[b] for r in rs),
                                        ", ".join("%+.1f" % (100 * (r[a] - r[b])) for r in rs))
        print(f"| {rs[0]['cell']} ({','.join(str(r['seed']) for r in rs)}) | {m('source only')} | {m('2.1 via f_t')} | "
              f"{m('2.1 via f_s')} | {m('FSFT')} | {m('FSFT, CORAL via f_s')} | {m('FSFT, no CORAL')} | {m('ceiling')} | "
              f"{d('FSFT, CORAL via f_s', 'FSFT')} | {d('val FSFT, CORAL via f_s', 'val FSFT')} | "
              f"{d('2.1 via f_s', 'source only')} |")


if __name__ == "__main__":
    main()
