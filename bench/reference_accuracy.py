"""The AITom PyTorch reference FSFT beside this project's, on one benchmark cell, scored the honest way.

Trains :class:`torch_reference.TorchFSFT` with ``reference_faults=True`` (softmax twice, unsquared CORAL
norm with α = 500, one BatchNorm for both domains in the shared blocks, no recalibration) on the split that
every method of ``aitom-fsft experiment`` uses for that seed (shots, unlabelled pool and test set
disjoint), with the reference schedule of ``FSFTConfig``, and scores the final model (nothing chosen by
the test set) in inference mode on the target test set. Each seed becomes one row, method
``aitom_reference_pytorch``, of the experiment's ``runs.csv``, so that the report prints it beside FSFT,
the baselines and the ceiling of the same cell. A row already there is not run again.

    .venv/bin/python bench/reference_accuracy.py --out doc/results/benchmark --data-dir runs/bench-data \\
        --structures shrec --target-snr 0.1 --n-per-class 100,200 --seeds 0,1,2

Needs PyTorch (``pip install -e .[bench]``).
"""
import argparse
import json
import os
import sys
import time

import aitom  # noqa: F401  (sets TensorFlow's environment before anything imports it)
import numpy as np
import torch._dynamo  # noqa: F401  (torch's optimizers load it, and with it Triton, which crashes once TF is loaded)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import describe  # noqa: E402
from torch_reference import TorchFSFT  # noqa: E402

from aitom.classify.deep.fsft.config import FSFTConfig  # noqa: E402
from aitom.classify.deep.fsft.data import few_shot_split  # noqa: E402
from aitom.classify.deep.fsft.experiment import (CSV_NAME, _key, _num, _write_runs, read_runs,  # noqa: E402
                                                 simulated_cell)
from aitom.classify.deep.fsft.report import write_report  # noqa: E402
from aitom.classify.deep.fsft.stages import StageData  # noqa: E402

METHOD = "aitom_reference_pytorch"


def run_seed(source, target, config):
    """Train the reference on ``config.seed``'s split.

    Returns (target test accuracy after stages 1, 2.1 and 3, source validation accuracy, confusion matrix, seconds).
    """
    split = few_shot_split(source.y, target.y, source.class_names, config.shots, config.target_test_fraction,
                           config.source_val_fraction, config.seed)
    data = StageData(source, target, split)
    test, yt = np.sort(split.target_test), np.asarray(target.y)

    def score(domain):
        pred = net.predict(target.x, test, domain)
        return float(np.mean(pred == yt[test])), pred

    net = TorchFSFT(source.box_size, len(source.class_names), config, seed=config.seed, reference_faults=True)
    t0 = time.perf_counter()
    acc = {}
    net.stage1(data, config.epochs_stage1, seed=config.seed)
    acc["1"] = score("source")[0]  # the source network on target data
    net.stage2_1(data, config.epochs_stage2_1, seed=config.seed)
    acc["2.1"] = score("target")[0]
    net.stage2_2(data, config.epochs_stage2_2, reference_algorithm=True, seed=config.seed)
    net.stage3(data, config.epochs_stage3, seed=config.seed)
    acc["3"], pred = score("target")
    k = len(target.class_names)
    cm = np.zeros((k, k), np.int64)
    np.add.at(cm, (yt[test], pred), 1)
    source_val = net.accuracy(source.x, np.asarray(source.y), split.source_val)
    return acc, source_val, cm, time.perf_counter() - t0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="the experiment folder holding runs.csv")
    p.add_argument("--data-dir", default=os.path.join("runs", "experiment-data"))
    p.add_argument("--structures", default="shrec")
    p.add_argument("--source-snr", type=float, default=1000.0)
    p.add_argument("--target-snr", type=float, default=0.1)
    p.add_argument("--n-per-class", default="100,200")
    p.add_argument("--voxel-spacing-nm", type=float, default=1.0)
    p.add_argument("--shots", type=int, default=5)
    p.add_argument("--seeds", default="0,1,2")
    args = p.parse_args(argv)
    print(describe())
    counts = [int(v) for v in args.n_per_class.split(",")]
    source, target = simulated_cell(args.data_dir, args.source_snr, args.target_snr, args.structures,
                                    n_per_class=counts[0] if len(counts) == 1 else counts,
                                    voxel_spacing_nm=args.voxel_spacing_nm)
    csv_path = os.path.join(args.out, CSV_NAME)
    os.makedirs(args.out, exist_ok=True)
    for seed in (int(v) for v in args.seeds.split(",")):
        row = {"structures": args.structures, "source_snr": _num(args.source_snr), "target_snr": _num(args.target_snr),
               "shots": args.shots, "seed": seed, "method": METHOD}
        rows = read_runs(csv_path)
        if _key(row) in {_key(r) for r in rows}:
            continue
        acc, source_val, cm, seconds = run_seed(source, target, FSFTConfig(seed=seed, shots=args.shots))
        print(f"seed {seed}: target test accuracy after each stage {acc}, {seconds:.0f} s", flush=True)
        row.update(accuracy=f"{acc['3']:.6f}", stage_accuracy=json.dumps({k: round(v, 6) for k, v in acc.items()}),
                   source_val_acc=f"{source_val:.6f}", target_val_acc="", n_test=int(cm.sum()),
                   wall_s=f"{seconds:.1f}", peak_rss_mb="0", load1=f"{os.getloadavg()[0]:.2f}",
                   finished=time.strftime("%Y-%m-%dT%H:%M:%S"), class_names=json.dumps(list(target.class_names)),
                   confusion=json.dumps(cm.tolist()))
        _write_runs(read_runs(csv_path) + [row], csv_path)
    write_report(args.out)


if __name__ == "__main__":
    main()
