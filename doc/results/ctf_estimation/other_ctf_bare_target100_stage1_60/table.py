"""Print this folder's tables: the defaults with stage 1 at 60 epochs (commit abb5c4c on) on the held-out-like
cells of ``other_ctf_cell.py --bare --target-per-class 100``, beside the runs of 20 epochs on the same splits.

runs.csv holds this folder's runs (FSFT, fine-tune and FADA at the defaults). The runs of 20 epochs and both
ceilings (which train 120 epochs either way) are read through ``../other_ctf_bare_target100_defaults/table.py``.
Usage: python table.py
"""
import importlib.util
import json
import os
import statistics as st
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))
from default_runs import fmt, folder_runs  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "defaults_at_20", os.path.join(HERE, "..", "other_ctf_bare_target100_defaults", "table.py"))
AT_20 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(AT_20)

COLUMNS = ["stage 1, 20", "stage 1, 60", "2.1, 60", "FSFT, 20", "FSFT, 60", "fine-tune, 20", "fine-tune, 60",
           "FADA, 20", "FADA, 60", "ceiling", "joint ceiling"]
DIFFERENCES = [("FSFT, 60 − FSFT, 20", "FSFT, 60", "FSFT, 20"),
               ("FSFT, 60 − fine-tune, 60", "FSFT, 60", "fine-tune, 60"),
               ("FSFT, 60 − FADA, 60", "FSFT, 60", "FADA, 60"),
               ("stage 1, 60 − stage 1, 20", "stage 1, 60", "stage 1, 20"),
               ("stage 2.1 − stage 1, at 60", "2.1, 60", "stage 1, 60"),
               ("FSFT − stage 1, at 60", "FSFT, 60", "stage 1, 60")]


def rows(structures):
    """One dict per seed of ``structures`` run here, with every column (None where a run is missing)."""
    before = {r["seed"]: r for r in AT_20.rows(structures)}
    out = []
    for (s, _, seed), here in sorted(folder_runs(HERE).items()):
        if s != structures:
            continue
        acc = lambda m: float(here[m]["accuracy"]) if m in here else None  # noqa: E731
        stages = json.loads(here["fsft"]["stage_accuracy"])
        b = before[seed]
        out.append({"seed": seed, "stage 1, 20": b["source only"], "stage 1, 60": stages["1"],
                    "2.1, 60": stages["2.1"],
                    "FSFT, 20": b["FSFT"], "FSFT, 60": acc("fsft"), "fine-tune, 20": b["fine-tune"],
                    "fine-tune, 60": acc("finetune"), "FADA, 20": b["FADA"], "FADA, 60": acc("fada"),
                    "ceiling": b["ceiling"], "joint ceiling": b["joint ceiling"],
                    "wall s": float(here["fsft"]["wall_s"])})
    return out


def print_tables(structures):
    table = rows(structures)
    if not table:
        return
    print(f"\n### {structures}\n")
    print("| seed | " + " | ".join(COLUMNS) + " | FSFT wall s |")
    print("|---|" + "---|" * (len(COLUMNS) + 1))
    for r in table:
        print(f"| {r['seed']} | " + " | ".join(fmt(r[c]) for c in COLUMNS) + f" | {r['wall s']:.0f} |")
    means = {c: st.mean(r[c] for r in table) for c in COLUMNS if all(r[c] is not None for r in table)}
    print(f"| mean of {len(table)} | " + " | ".join(f"**{means[c]:.3f}**" if c in means else "–" for c in COLUMNS)
          + " | |")
    print("\n| paired, points | test, mean (seeds up; per seed) |\n|---|---|")
    for label, a, b in DIFFERENCES:
        d = [100 * (r[a] - r[b]) for r in table if r[a] is not None and r[b] is not None]
        if d:
            print(f"| {label} | {st.mean(d):+.1f} ({sum(x > 0 for x in d)}/{len(d)}; "
                  + ", ".join(f"{x:+.1f}" for x in d) + ") |")


if __name__ == "__main__":
    for structures in ("assemblies", "shrec"):
        print_tables(structures)
