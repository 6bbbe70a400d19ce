"""Per-seed table: the blind path (defocus estimated, `ctf_estimation=always`) beside the recorded-parameter
runs, the source read as stored and the ceiling of the same seeds (doc/results/benchmark_ctf_transfer/runs.csv).
Usage: python doc/results/ctf_estimation/compare.py"""
import csv
import os

here = os.path.dirname(os.path.abspath(__file__))
rows = {}
for path in (os.path.join(here, "runs.csv"), os.path.join(here, "..", "benchmark_ctf_transfer", "runs.csv")):
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if r["target_snr"] == "0.1":
                rows[(r["structures"], int(r["seed"]), r["method"])] = float(r["accuracy"])
columns = [("source only, estimated", "source_only[ctf_estimation=always]"), ("source only, recorded", "source_only"),
           ("FSFT, estimated", "fsft[ctf_estimation=always]"), ("FSFT, recorded", "fsft"),
           ("FSFT, source as stored", "fsft_no_ctf_transfer"), ("ceiling", "target_oracle")]
print("| set | seed | " + " | ".join(c for c, _ in columns) + " |")
print("|---|---|" + "---|" * len(columns))
for structures in ("shrec", "assemblies"):
    seeds = sorted({s for (st, s, m) in rows if st == structures and m == columns[2][1]})
    for seed in seeds:
        cells = [f"{rows[(structures, seed, m)]:.3f}" if (structures, seed, m) in rows else "" for _, m in columns]
        print(f"| {structures} | {seed} | " + " | ".join(cells) + " |")
    if seeds:
        means = []
        for _, m in columns:
            v = [rows[(structures, s, m)] for s in seeds if (structures, s, m) in rows]
            means.append(f"**{sum(v) / len(v):.3f}**" if len(v) == len(seeds) else "")
        print(f"| {structures} | mean of {len(seeds)} | " + " | ".join(means) + " |")
