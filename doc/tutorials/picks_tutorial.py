"""Tutorial: pick particles in a tomogram, then classify the picks with FSFT (false picks included).

1. Simulate tomograms in two acquisition domains (:func:`aitom.simulation.tomogram.simulate_tomogram`):
   a *source* domain (high SNR, small defocus, wide tilt range) and a *target* domain (low SNR, larger
   defocus, narrower tilt range), with particles of known class, position and orientation.
2. Cut labelled subtomograms at the true positions, and as class ``"background"`` the false picks of the
   template matcher (step 4) on these tomograms plus random negatives away from every particle
   (:func:`aitom.picking.extract.extract_background`).
3. Train FSFT (:func:`aitom.classify.deep.fsft.train`) from the source set and a few labelled target
   subtomograms per class.
4. Simulate a new target-domain tomogram, write it as MRC, pick it with the template matcher
   (:func:`aitom.picking.template_matching.pick_particles`, the CTF-filtered mean of the class densities
   as a class-agnostic template, more picks than particles) and write the picks as a pytom-match-pick STAR file.
5. Classify the picks with the command ``aitom-fsft classify-picks``.
6. Report picking precision / recall (one-to-one matching within ``match_radius_nm``), the same after
   dropping picks classified ``"background"``, and the class accuracy of matched picks.

Run (from the repository root)::

    .venv/bin/python doc/tutorials/picks_tutorial.py --out runs/picks_tutorial
    .venv/bin/python doc/tutorials/picks_tutorial.py --out runs/picks_quick --quick

Outputs in ``--out``: ``test_tomogram.mrc``, ``test_truth.csv`` (ground truth), ``picks.star`` (template
matching), ``classified.star``
(picks with ``fsft_*`` columns), ``fsft/`` (training run and classifier) and ``metrics.json``.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

from aitom.classify.deep.fsft import FSFTConfig, train
from aitom.classify.deep.fsft.cli import main as aitom_fsft
from aitom.classify.deep.fsft.picks import BACKGROUND
from aitom.io.atomic import atomic_open
from aitom.io.dataset import SubtomogramSet
from aitom.io.file import put_mrc
from aitom.io.particles import read_particles, write_particles
from aitom.picking import match_picks, matched_class_accuracy, picking_metrics
from aitom.picking.simulated import class_agnostic_picks, labelled_subtomograms
from aitom.simulation.tomogram import simulate_tomogram
from aitom.structure import load_default_densities

FULL = {
    "classes": ("1bxn", "1qvr", "3gl1"), "voxel_spacing_nm": 1.0, "box_size": 32, "shape": (160, 160, 96),
    "particles_per_tomogram": 40, "source_tomograms": 3, "target_tomograms": 2, "background_per_tomogram": 15,
    "shots": 5, "pick_factor": 1.5, "match_radius_nm": 5.0,
    "fsft": {"epochs_stage1": 15, "epochs_stage2_1": 5, "epochs_stage2_2": 30, "epochs_stage3": 10,
             "coral_batch_size": 64},
}
QUICK = dict(FULL, voxel_spacing_nm=2.0, box_size=16, shape=(64, 64, 40), particles_per_tomogram=10,
             source_tomograms=1, target_tomograms=1, background_per_tomogram=6, shots=2, classes=("1bxn", "3gl1"),
             fsft={"epochs_stage1": 1, "epochs_stage2_1": 1, "epochs_stage2_2": 1, "epochs_stage3": 1,
                   "widths": (4, 4, 4, 8), "dcd_hidden": 8, "batch_size": 8, "coral_batch_size": 8,
                   "dcd_batch_size": 8, "stage3_batch_size": 8})
SOURCE = {"snr": 2.0, "defocus_um": -3.0, "tilt_range_deg": 70.0}
TARGET = {"snr": 0.5, "defocus_um": -6.0, "tilt_range_deg": 55.0}


def simulate(densities, p, acquisition, rng, name):
    """One tomogram of the settings ``p`` in an acquisition domain."""
    return simulate_tomogram(densities, p["shape"], p["particles_per_tomogram"], rng,
                             voxel_spacing_nm=p["voxel_spacing_nm"], name=name, **acquisition)


def labelled_set(simulations, class_names, densities, p, acquisition, rng):
    """Subtomograms of simulated tomograms as a SubtomogramSet: particles at their true positions, and as
    ``"background"`` the template matcher's false picks plus random negatives away from every particle."""
    x, y = zip(*(labelled_subtomograms(sim, class_names, pick(sim.tomogram, densities, p, acquisition, len(sim.particles)),
                                       p["box_size"], p["background_per_tomogram"],
                                       p["match_radius_nm"] / p["voxel_spacing_nm"], rng, background=BACKGROUND)
                 for sim in simulations))
    return SubtomogramSet(np.concatenate(x), np.concatenate(y), class_names, voxel_spacing_nm=p["voxel_spacing_nm"])


def pick(tomogram, densities, p, acquisition, n_particles):
    """Class-agnostic template matching, ``pick_factor`` picks per particle."""
    return class_agnostic_picks(tomogram, densities, acquisition["defocus_um"], p["voxel_spacing_nm"],
                                round(p["pick_factor"] * n_particles))


def run(out, quick=False, seed=0, progress=True):
    """Run the whole tutorial; returns the metrics written to ``<out>/metrics.json``."""
    p = QUICK if quick else FULL
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(seed)
    t0 = time.time()
    densities = load_default_densities(voxel_spacing_nm=p["voxel_spacing_nm"], box_size=p["box_size"],
                                       ids=p["classes"])
    class_names = sorted(list(p["classes"]) + [BACKGROUND])

    source = [simulate(densities, p, SOURCE, rng, f"source_{i}") for i in range(p["source_tomograms"])]
    target = [simulate(densities, p, TARGET, rng, f"target_{i}") for i in range(p["target_tomograms"])]
    config = FSFTConfig(seed=seed).replace(**p["fsft"])
    result = train(labelled_set(source, class_names, densities, p, SOURCE, rng),
                   labelled_set(target, class_names, densities, p, TARGET, rng),
                   shots=p["shots"], config=config, run_dir=os.path.join(out, "fsft"), progress=progress)
    t_train = time.time()

    test = simulate(densities, p, TARGET, rng, "test_tomogram")
    tomogram_path = os.path.join(out, "test_tomogram.mrc")
    put_mrc(test.tomogram, tomogram_path, overwrite=True, voxel_spacing=p["voxel_spacing_nm"] * 10.0)
    write_particles(test.particles, os.path.join(out, "test_truth.csv"))
    picks = pick(test.tomogram, densities, p, TARGET, len(test.particles))
    picks["tomogram"] = "test_tomogram"
    picks["pixel_size_A"] = p["voxel_spacing_nm"] * 10.0
    picks = picks.rename(columns={"score": "ptmLCCmax"})
    picks_path = os.path.join(out, "picks.star")
    write_particles(picks, picks_path, fmt="pytom")

    classified_path = os.path.join(out, "classified.star")
    status = aitom_fsft(["classify-picks", "--tomogram", tomogram_path, "--picks", picks_path,
                         "--model", os.path.join(out, "fsft", "classifier"), "--out", classified_path]
                        + ([] if progress else ["--no-progress"]))
    if status != 0:
        raise RuntimeError(f"aitom-fsft classify-picks exited with status {status}")
    classified = read_particles(classified_path)

    radius_vox = p["match_radius_nm"] / p["voxel_spacing_nm"]
    matched = match_picks(classified, test.particles, radius_vox)
    kept = (classified["fsft_class"] != BACKGROUND).to_numpy()
    matched_kept = match_picks(classified[kept], test.particles, radius_vox)
    true_class = test.particles["class_name"].to_numpy()
    hits = matched >= 0
    metrics = {
        "settings": "quick" if quick else "full", "seed": seed,
        "template_matching": picking_metrics(matched, len(test.particles)),
        "after_background_removal": picking_metrics(matched_kept, len(test.particles)),
        "class_accuracy_of_matched_picks": matched_class_accuracy(classified["fsft_class"], true_class, matched),
        "false_picks_labelled_background": float(np.mean(~kept[~hits])) if (~hits).any() else None,
        "true_picks_labelled_background": float(np.mean(~kept[hits])) if hits.any() else None,
        "fsft_target_test_accuracy": {s: a["target_test_acc"] for s, a in result.accuracy.items()},
        "match_radius_nm": p["match_radius_nm"],
        "seconds": {"simulate_and_train": round(t_train - t0, 1), "pick_and_classify": round(time.time() - t_train, 1)},
    }
    with atomic_open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    return metrics


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/picks_tutorial")
    parser.add_argument("--quick", action="store_true", help="tiny settings (seconds; numbers are not meaningful)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    m = run(args.out, quick=args.quick, seed=args.seed, progress=not args.quiet)
    print(f"\n{'':<34}{'picks':>7}{'precision':>11}{'recall':>9}")
    for key in ("template_matching", "after_background_removal"):
        r = m[key]
        print(f"{key:<34}{r['n_picks']:>7}{r['precision']:>11.3f}{r['recall']:>9.3f}")
    for key in ("class_accuracy_of_matched_picks", "false_picks_labelled_background", "true_picks_labelled_background"):
        print(f"{key:<41}{m[key] if m[key] is None else format(m[key], '.3f')}")
    print(f"FSFT target test accuracy per stage: {m['fsft_target_test_accuracy']}")
    print(f"metrics: {os.path.join(args.out, 'metrics.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
