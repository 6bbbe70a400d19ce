"""Peak memory and wall time of one method run alone in a fresh process (nothing shared, nothing cached).

The experiment runner's ``peak_rss_mb`` is the high-water mark of a long-lived process, which keeps
what earlier runs allocated; this script gives each method a process of its own. It prints one JSON
line: method, wall_s, peak_rss_mb (``resource.getrusage`` ``ru_maxrss``, the whole process: Python,
TensorFlow, both data sets in memory), rss_before_mb (after loading the data, before training).

    for m in source_only finetune coral swd fada fsft; do
        .venv/bin/python doc/results/measure_memory.py runs/experiment-data/src1000_tgt0.1 $m
    done
"""
import argparse
import json
import os
import resource
import time


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="a two-domain folder (e.g. runs/experiment-data/src1000_tgt0.1)")
    p.add_argument("method", help="a name from aitom.classify.deep.fsft.baselines.METHODS")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shots", type=int, default=5)
    args = p.parse_args()

    from aitom.classify.deep.fsft import FSFTConfig
    from aitom.classify.deep.fsft.baselines import final_accuracy, run_method
    from aitom.io.dataset import load_two_domain

    source, target = load_two_domain(args.dataset, mmap=False)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    result = run_method(args.method, source, target, args.shots, FSFTConfig(seed=args.seed))
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"method": args.method, "seed": args.seed, "accuracy": round(final_accuracy(result), 6),
                      "wall_s": round(wall, 1), "peak_rss_mb": round(peak), "rss_before_mb": round(before),
                      "load1": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
