"""Print this folder's tables: the current defaults on the held-out-like cells of ``other_ctf_cell.py --bare
--target-per-class 100`` (another CTF form, no voxel size or acquisition parameters, 100 source and 100 target
subtomograms per class), one table per structure set.

runs.csv holds this folder's runs (FSFT, fine-tune and FADA with f_s deployed, the defaults; the joint ceiling;
on shrec also source only and the target-only ceiling). On assemblies, source only, the target-only ceiling and
FSFT as it ran before ``deploy_encoder`` (f_t deployed) are the rows of ``../other_ctf_bare_target100/runs.csv``,
same splits. Usage: python table.py
"""
import json
import os
import statistics as st
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
EARLIER = os.path.join(HERE, "..", "other_ctf_bare_target100")
sys.path.insert(0, os.path.join(HERE, "..", ".."))
from default_runs import fmt, folder_runs  # noqa: E402


def read(folder):
    """(structures, seed) -> {method: row} of ``folder``'s runs.csv (one target SNR per folder)."""
    return {(structures, seed): runs for (structures, _, seed), runs in folder_runs(folder).items()}


def rows(structures):
    """One dict per seed of ``structures`` with every column (None where a run is missing)."""
    new, old = read(HERE), read(EARLIER)
    out = []
    for (s, seed) in sorted(k for k in new if k[0] == structures):
        here, before = new[(s, seed)], old.get((s, seed), {})

        def acc(method, key="accuracy", runs=None):
            runs = runs if runs is not None else (here if method in here else before)
            return float(runs[method][key]) if method in runs else None

        stages = json.loads(here["fsft"]["stage_accuracy"]) if "fsft" in here else {}
        out.append({"seed": seed, "source only": acc("source_only"), "2.1": stages.get("2.1"),
                    "FSFT (f_t, before)": acc("fsft", runs=before), "FSFT": acc("fsft", runs=here),
                    "fine-tune": acc("finetune"), "FADA": acc("fada"),
                    "ceiling": acc("target_oracle"), "joint ceiling": acc("joint_oracle"),
                    "val FSFT": acc("fsft", "target_val_acc", here), "val fine-tune": acc("finetune", "target_val_acc"),
                    "val FADA": acc("fada", "target_val_acc"), "val source only": acc("source_only", "target_val_acc"),
                    "stage 1 = source only": stages.get("1") == acc("source_only") if stages else None,
                    "FSFT wall s": acc("fsft", "wall_s", here)})
    return out


COLUMNS = ["source only", "2.1", "FSFT (f_t, before)", "FSFT", "fine-tune", "FADA", "ceiling", "joint ceiling"]
DIFFERENCES = [("FSFT − source only", "FSFT", "source only"), ("FSFT − fine-tune", "FSFT", "fine-tune"),
               ("FSFT − FADA", "FSFT", "FADA"), ("FSFT − FSFT with f_t (before)", "FSFT", "FSFT (f_t, before)"),
               ("stage 2.1 − source only", "2.1", "source only")]


def print_tables(structures):
    table = rows(structures)
    if not table:
        return
    columns = [c for c in COLUMNS if any(r[c] is not None for r in table)]
    print(f"\n### {structures}\n")
    print("| seed | " + " | ".join(columns) + " | stage 1 = source only | FSFT wall s |")
    print("|---|" + "---|" * (len(columns) + 2))
    for r in table:
        wall = "–" if r["FSFT wall s"] is None else f"{r['FSFT wall s']:.0f}"
        print(f"| {r['seed']} | " + " | ".join(fmt(r[c]) for c in columns) + f" | {r['stage 1 = source only']} | {wall} |")
    means = {c: st.mean(r[c] for r in table) for c in columns if all(r[c] is not None for r in table)}
    print(f"| mean of {len(table)} | " + " | ".join(f"**{means[c]:.3f}**" if c in means else "–" for c in columns)
          + " | | |")
    if "joint ceiling" in means:
        print("\nRatio to the joint ceiling: " + ", ".join(f"{c} {means[c] / means['joint ceiling']:.2f}x"
                                                         for c in columns[:-1] if c in means))
    print("\n| paired, points (seeds up) | test | validation |")
    print("|---|---|---|")
    for label, a, b in DIFFERENCES:
        d = [100 * (r[a] - r[b]) for r in table if r[a] is not None and r[b] is not None]
        val = [100 * (r["val " + a] - r["val " + b]) for r in table
               if r.get("val " + a) is not None and r.get("val " + b) is not None]
        if d:
            print(f"| {label} | {st.mean(d):+.1f} ({sum(x > 0 for x in d)}/{len(d)}; "
                  + ", ".join(f"{x:+.1f}" for x in d) + f") | {f'{st.mean(val):+.1f}' if val else '–'} |")


if __name__ == "__main__":
    for structures in ("assemblies", "shrec"):
        print_tables(structures)
