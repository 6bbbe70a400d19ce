"""How much a network can learn from the target domain itself: a reference for FSFT's numbers.

Trains the FSFT encoder + classifier with labels on the target's unlabelled pool plus its shots (about
525 labelled target subtomograms for 10 classes x 100) and reports its accuracy on the same target test
set FSFT uses (same split for the same seed). Also reports the source-only model with the target
BatchNorm statistics recalibrated on the unlabelled pool (AdaBN).

    .venv/bin/python doc/results/target_upper_bound.py runs/paper_t0.1 --seed 0
"""
import argparse
import dataclasses

import numpy as np

from aitom.classify.deep.fsft import (FSFTConfig, FSFTNetworks, StageData, few_shot_split, recalibrate_batchnorm,
                                      stage1_source)
from aitom.classify.deep.fsft.stages import accuracy
from aitom.io.dataset import load_two_domain


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shots", type=int, default=5)
    args = p.parse_args()
    source, target = load_two_domain(args.dataset)
    config = FSFTConfig(seed=args.seed, shots=args.shots)
    split = few_shot_split(source.y, target.y, source.class_names, config.shots, config.target_test_fraction,
                           config.source_val_fraction, config.seed)
    k = len(source.class_names)

    labelled_target = np.concatenate([split.target_unlabelled, split.target_shots])
    oracle_split = dataclasses.replace(split, source_train=labelled_target, source_val=split.target_test)
    net = FSFTNetworks(source.box_size, k, config)
    stage1_source(net, StageData(target, target, oracle_split), config)
    print(f"trained on {len(labelled_target)} labelled target subtomograms: "
          f"{accuracy(net, 'source', target, split.target_test):.3f}")

    net = FSFTNetworks(source.box_size, k, config)
    stage1_source(net, StageData(source, target, split), config)
    print(f"source only: {accuracy(net, 'source', target, split.target_test):.3f}")
    net.target_from_source()
    recalibrate_batchnorm(net, "target", target.x, split.target_unlabelled)
    print(f"source only + target BatchNorm statistics (AdaBN): {accuracy(net, 'target', target, split.target_test):.3f}")


if __name__ == "__main__":
    main()
