"""The defocus pairs `ctf_estimation.estimate_ctf_pair` finds on simulated cells, per seed's split.

For each cell (sub-folder) of DATA_DIR (default runs/bench-data) and each seed: the estimate FSFT makes with ``ctf_estimation='always'``
(the source, and the target's shots + unlabelled pool of that seed's split; never its test rows), and two
null checks: the source's two halves, and the target pool's two halves (one domain against itself).
Usage: python doc/results/ctf_estimation/estimates.py [DATA_DIR] [SEEDS]
"""
import os
import sys

import numpy as np

from aitom.classify.deep.fsft import FSFTConfig
from aitom.classify.deep.fsft.data import few_shot_split
from aitom.classify.deep.fsft.domain_transfer import source_as_target
from aitom.classify.deep.fsft.ctf_estimation import estimate_ctf_pair
from aitom.io.dataset import load_dataset


def _null(fit):
    """A domain against itself: its χ² drop, and the pair it found when used."""
    pair = f": {fit['source']['Dz']}, {fit['target']['Dz']}" if fit["use"] else ""
    return f"{fit['delta_chi2']:.1f} ({'used' if fit['use'] else 'not used'}{pair})"


data_dir = sys.argv[1] if len(sys.argv) > 1 else "runs/bench-data"
seeds = [int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "0,1,2,3,4").split(",")]
print("| cell | truth (source, target; A) | seed | estimate (source, target; A) | χ² drop | source halves: χ² drop | "
      "target halves: χ² drop |")
print("|---|---|---|---|---|---|---|")
for cell in sorted(c for c in os.listdir(data_dir) if os.path.isdir(os.path.join(data_dir, c))):
    source, target = (load_dataset(f"{data_dir}/{cell}/{d}") for d in ("source", "target"))
    ctfs = [s.meta["op"]["ctf"] for s in (source, target)]
    truth = f"{ctfs[0]['Dz']}, {ctfs[1]['Dz']}; {ctfs[1].get('amplitude_contrast', 0.0)}"
    for seed in seeds:
        config = FSFTConfig(seed=seed, ctf_estimation="always")
        split = few_shot_split(source.y, target.y, source.class_names, config.shots, config.target_test_fraction,
                               config.source_val_fraction, seed)
        rows = np.concatenate([split.target_shots, split.target_unlabelled])
        fit = source_as_target(source, target, rows, config)[1]["ctf_estimate"]
        pool = np.random.default_rng(seed).permutation(rows)
        half_t = estimate_ctf_pair(target.x, target.x, target.voxel_spacing_nm, pool[::2], pool[1::2])
        perm = np.random.default_rng(seed).permutation(len(source.x))
        half_s = estimate_ctf_pair(source.x, source.x, source.voxel_spacing_nm, perm[::2], perm[1::2])
        print(f"| {cell} | {truth} | {seed} | {fit['source_Dz']}, {fit['target_Dz']}; {fit['amplitude_contrast']} | "
              f"{fit['delta_chi2']:.1f} ({'used' if fit['use'] else 'not used'}) | {_null(half_s)} | {_null(half_t)} |",
              flush=True)
