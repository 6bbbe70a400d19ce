"""Tutorial: from a few annotated particles in a copick project to every pick classified, written back to copick.

Needs the copick extra: ``pip install -e .[copick]``.

1. Simulate a labelled *source* data set (:func:`aitom.simulation.tomogram.simulate_tomogram`, high SNR):
   subtomograms at the true particle positions, and as class ``"background"`` the template matcher's false
   picks on these tomograms (hard negatives, mostly particle rims) plus random negatives.
2. Build a copick project (filesystem, in ``--out``) whose runs are *target*-domain tomograms (low SNR,
   other defocus and tilt range), written as OME-NGFF zarr. In each run, a template matcher
   (:func:`aitom.picking.template_matching.pick_particles`, more picks than particles) leaves its
   candidates as the pick set ``particle`` of user ``pytom``, session ``0``. In the first run a "user"
   annotates ``shots`` particles per class and ``shots`` false picks, as one would in napari-copick: pick
   sets named after the classes and ``background``, user ``alice``, session ``1``.
3. ``aitom-fsft copick-train``: the annotations become the labelled target shots, the template-matching
   picks the unlabelled target pool; FSFT trains. With ``shots`` annotations per class every one is a
   labelled shot, so there is no labelled target test set: step 5 is the evaluation.
4. ``aitom-fsft copick-classify``: every candidate of every run is classified and written back as new pick
   sets, one per class, user ``fsft``, session ``1``, score = class probability (background left out).
5. Read the result with copick's own API and score it against the ground truth: picking precision and
   recall before and after classification, and the class accuracy of matched picks.

Run (from the repository root)::

    .venv/bin/python doc/tutorials/copick_tutorial.py --out runs/copick_tutorial
    .venv/bin/python doc/tutorials/copick_tutorial.py --out runs/copick_quick --quick

Outputs in ``--out``: ``project/`` and ``copick.json`` (the copick project, with the written pick sets),
``source/`` (source data set), ``fsft/`` and ``fsft_target/`` (training run and its target set), ``job/``
(classification job: per-run CSV, ``summary.csv``, ``summary.png``) and ``metrics.json``.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import pandas as pd

from aitom.classify.deep.fsft.cli import main as aitom_fsft
from aitom.io import copick_project
from aitom.io.atomic import atomic_open
from aitom.io.dataset import SubtomogramSet, save_subtomogram_set
from aitom.io.particles import COORDINATE_COLUMNS
from aitom.picking import match_picks, matched_class_accuracy, picking_metrics
from aitom.picking.simulated import class_agnostic_picks, labelled_subtomograms
from aitom.simulation.tomogram import simulate_tomogram
from aitom.structure import load_default_densities

FULL = {
    "classes": ("1bxn", "1qvr", "3gl1"), "voxel_spacing_nm": 1.0, "box_size": 32, "shape": (160, 160, 96),
    "particles_per_tomogram": 40, "source_tomograms": 3, "runs": 3, "background_per_tomogram": 15, "shots": 5,

    "pick_factor": 1.5, "match_radius_nm": 5.0, "chunks": (64, 64, 64),
    "fsft": ["--epochs-stage1", "15", "--epochs-stage2-1", "5", "--epochs-stage2-2", "30", "--epochs-stage3", "10",
             "--coral-batch-size", "64"],
}
QUICK = dict(FULL, voxel_spacing_nm=2.0, box_size=16, shape=(64, 64, 40), particles_per_tomogram=10, source_tomograms=1,
             runs=2, background_per_tomogram=6, shots=2, classes=("1bxn", "3gl1"), chunks=(32, 32, 32),
             fsft=["--epochs-stage1", "1", "--epochs-stage2-1", "1", "--epochs-stage2-2", "1", "--epochs-stage3", "1",
                   "--widths", "4,4,4,8", "--dcd-hidden", "8", "--batch-size", "8", "--coral-batch-size", "8",
                   "--dcd-batch-size", "8", "--stage3-batch-size", "8"])
SOURCE = {"snr": 2.0, "defocus_um": -3.0, "tilt_range_deg": 70.0}
TARGET = {"snr": 0.5, "defocus_um": -6.0, "tilt_range_deg": 55.0}


def simulate(densities, p, acquisition, rng, name):
    """One tomogram of the settings ``p`` in an acquisition domain."""
    return simulate_tomogram(densities, p["shape"], p["particles_per_tomogram"], rng,
                             voxel_spacing_nm=p["voxel_spacing_nm"], name=name, **acquisition)


def source_set(densities, p, rng):
    """Labelled source subtomograms: true particle positions, and as ``background`` the template matcher's
    false picks plus random negatives."""
    class_names = sorted(list(p["classes"]) + ["background"])
    x, y = [], []
    for i in range(p["source_tomograms"]):
        sim = simulate(densities, p, SOURCE, rng, f"source_{i}")
        xs, ys = labelled_subtomograms(sim, class_names, template_match(sim.tomogram, densities, p, SOURCE, len(sim.particles)),
                                       p["box_size"], p["background_per_tomogram"],
                                       p["match_radius_nm"] / p["voxel_spacing_nm"], rng)
        x.append(xs)
        y.append(ys)
    return SubtomogramSet(np.concatenate(x), np.concatenate(y), class_names, voxel_spacing_nm=p["voxel_spacing_nm"])


def template_match(tomogram, densities, p, acquisition, n_particles):
    """Class-agnostic template matching, ``pick_factor`` picks per particle."""
    return class_agnostic_picks(tomogram, densities, acquisition["defocus_um"], p["voxel_spacing_nm"],
                                round(p["pick_factor"] * n_particles))


def build_project(out, densities, p, rng):
    """The copick project: target-domain runs with template-matching picks and a few annotations in run 1.

    Returns the configuration path and the ground truth per run (DataFrame of true particles)."""
    copick = copick_project.import_copick()
    objects = list(p["classes"]) + ["background", "particle"]
    config = copick_project.write_config(os.path.join(out, "copick.json"),
                                         [{"name": n, "is_particle": True, "label": i + 1} for i, n in enumerate(objects)],
                                         os.path.join(out, "project"), name="aitom copick tutorial")
    root = copick.from_file(config)
    voxel_A = p["voxel_spacing_nm"] * 10.0
    truth = {}
    for i in range(p["runs"]):
        name = f"TS-{i + 1:02d}"
        sim = simulate(densities, p, TARGET, rng, name)
        run = root.new_run(name)
        copick_project.write_tomogram(run, voxel_A, "wbp", sim.tomogram, chunks=p["chunks"])
        picks = template_match(sim.tomogram, densities, p, TARGET, len(sim.particles))
        run.new_picks("particle", session_id="0", user_id="pytom").from_numpy(
            picks[list(COORDINATE_COLUMNS)].to_numpy(float) * voxel_A, scores=picks["score"].to_numpy(float))
        if i == 0:  # the user's few annotations, one pick set per class; false picks are "background"
            false = picks[match_picks(picks, sim.particles, p["match_radius_nm"] / p["voxel_spacing_nm"]) < 0]
            for c in list(p["classes"]) + ["background"]:
                chosen = false if c == "background" else sim.particles[sim.particles["class_name"] == c]
                run.new_picks(c, session_id="1", user_id="alice").from_numpy(
                    chosen[list(COORDINATE_COLUMNS)].head(p["shots"]).to_numpy(float) * voxel_A)
        truth[name] = sim.particles
    return config, truth


def read_back(config, truth, voxel_A):
    """Written pick sets (user fsft, session 1) and the input picks of every run, read with copick's API."""
    copick = copick_project.import_copick()
    root = copick.from_file(config)
    rows = []
    for name in truth:
        run = root.get_run(name)
        for picks in run.get_picks(user_id=["fsft", "pytom"]):
            xyz = picks.full_positions() / voxel_A
            rows.append(pd.DataFrame({"run": name, "user": picks.user_id, "object": picks.pickable_object_name,
                                      "x_px": xyz[:, 0], "y_px": xyz[:, 1], "z_px": xyz[:, 2],
                                      "score": picks.scores()}))
    return pd.concat(rows, ignore_index=True)


def score(picks, truth, p):
    """Precision / recall of all candidates and of the written ones, and class accuracy of matched written picks."""
    radius = p["match_radius_nm"] / p["voxel_spacing_nm"]
    matched = {"candidates": [], "classified": []}
    predicted, classes, offset = [], [], 0
    for name, particles in truth.items():
        run = picks[picks["run"] == name]
        written = run[run["user"] == "fsft"]
        for key, table in (("candidates", run[run["user"] == "pytom"]), ("classified", written)):
            m = match_picks(table, particles, radius)
            matched[key].append(np.where(m >= 0, m + offset, -1))  # particles numbered across runs
        predicted.append(written["object"].to_numpy())
        classes.append(particles["class_name"].to_numpy())
        offset += len(particles)
    metrics = {key: picking_metrics(np.concatenate(m), offset) for key, m in matched.items()}
    metrics["class_accuracy_of_matched_picks"] = matched_class_accuracy(
        np.concatenate(predicted), np.concatenate(classes), np.concatenate(matched["classified"]))
    return metrics


def run(out, quick=False, seed=0, progress=True):
    """Run the whole tutorial; returns the metrics written to ``<out>/metrics.json``."""
    p = QUICK if quick else FULL
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(seed)
    t0 = time.time()
    densities = load_default_densities(voxel_spacing_nm=p["voxel_spacing_nm"], box_size=p["box_size"],
                                       ids=p["classes"])
    save_subtomogram_set(source_set(densities, p, rng), os.path.join(out, "source"))
    config, truth = build_project(out, densities, p, rng)
    t_data = time.time()
    voxel = str(p["voxel_spacing_nm"] * 10.0)
    quiet = [] if progress else ["--quiet"]
    common = ["--copick", config, "--voxel-size", voxel, "--tomo-type", "wbp", "--picks-object", "particle",
              "--picks-user", "pytom", "--picks-session", "0"]
    if aitom_fsft(["copick-train", "--source", os.path.join(out, "source"), "--run-dir", os.path.join(out, "fsft"),
                   "--annotation-user", "alice", "--annotation-session", "1",
                   "--seed", str(seed), *common,
                   *p["fsft"], *quiet]) != 0:
        raise RuntimeError("aitom-fsft copick-train failed")
    t_train = time.time()
    if aitom_fsft(["copick-classify", "--model", os.path.join(out, "fsft", "classifier"), "--out-dir",
                   os.path.join(out, "job"), "--out-user", "fsft", "--out-session", "1", *common]
                  + ([] if progress else ["--no-progress"])) != 0:
        raise RuntimeError("aitom-fsft copick-classify failed")
    t_classify = time.time()
    metrics = {"settings": "quick" if quick else "full", "seed": seed,
               **score(read_back(config, truth, p["voxel_spacing_nm"] * 10.0), truth, p),
               "match_radius_nm": p["match_radius_nm"],
               "seconds": {"simulate_and_project": round(t_data - t0, 1), "copick_train": round(t_train - t_data, 1),
                           "copick_classify": round(t_classify - t_train, 1)}}
    with atomic_open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    return metrics


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/copick_tutorial")
    parser.add_argument("--quick", action="store_true", help="tiny settings (seconds; numbers are not meaningful)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    m = run(args.out, quick=args.quick, seed=args.seed, progress=not args.quiet)
    print(f"\n{'':<30}{'picks':>7}{'precision':>11}{'recall':>9}")
    for key in ("candidates", "classified"):
        r = m[key]
        print(f"{key:<30}{r['n_picks']:>7}{r['precision']:>11.3f}{r['recall']:>9.3f}")
    accuracy = m["class_accuracy_of_matched_picks"]
    print(f"class accuracy of matched picks: {accuracy:.3f}")
    print(f"seconds: {m['seconds']}")
    print(f"metrics: {os.path.join(args.out, 'metrics.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
