"""The embedded demo: two simulated domains from the shipped structures, FSFT, per-stage accuracy.

Runs with nothing downloaded: the ten SHREC structures shipped in ``aitom/data/structures`` are
simulated in a source acquisition setting (Cs 2.2 mm, -10 µm defocus, SNR 1000) and a target one
(Cs 2.0 mm, -5 µm defocus, SNR 0.1); FSFT trains with the reference schedule and the target test
accuracy after each stage is printed and written to ``<out>/summary.json``, beside two ceilings scored on
the same test set: the same network trained on the labelled target data (the shots plus the unlabelled pool
with its labels; ``target_oracle``), and on those and the labelled source, read as the target records it
(``joint_oracle``: every label FSFT could see). SNRs are in AITom's
nominal units (``noise_model='aitom'``), the units of the FSFT paper; see doc/simulation.md for how
they relate to the measured SNR.
"""
import json
import os
import time

import numpy as np

from aitom.io.atomic import atomic_open

DEMO = {"n_per_class": 100, "box_size": 28, "voxel_spacing_nm": 1.0, "source_snr": 1000.0, "target_snr": 0.1,
        "source_preset": "cs2.2mm_dz-10um", "target_preset": "cs2.0mm_dz-5um", "noise_model": "aitom", "shots": 5,
        "n_classes": 10, "overrides": {}}
QUICK = dict(DEMO, n_per_class=24, n_classes=4, overrides={
    "epochs_stage1": 6, "epochs_stage2_1": 4, "epochs_stage2_2": 20, "epochs_stage3": 6, "coral_batch_size": 32})


def run_demo(out, quick=False, seed=0, progress=True, **settings):
    """Simulate, train, report. Returns the summary dict also written to ``<out>/summary.json``.

    ``settings`` replace entries of the demo's data settings (``DEMO`` / ``QUICK``), e.g.
    ``target_snr=0.5`` or ``n_per_class=50``.
    """
    from aitom.image.montage import save_class_montage
    from aitom.io.dataset import load_two_domain
    from aitom.simulation.dataset import simulate_two_domain_dataset
    from aitom.structure import default_structure_ids, load_default_densities

    from .baselines import run_method
    from .config import FSFTConfig
    from .pipeline import train

    p = dict(QUICK if quick else DEMO)
    unknown = set(settings) - set(p)
    if unknown:
        raise ValueError(f"unknown demo settings {sorted(unknown)}; known: {sorted(p)}")
    p.update(settings)
    data_dir, run_dir = os.path.join(out, "data"), os.path.join(out, "run")
    t0 = time.time()
    if not os.path.exists(os.path.join(data_dir, "dataset.json")):
        ids = default_structure_ids()[:p["n_classes"]]
        densities = load_default_densities(voxel_spacing_nm=p["voxel_spacing_nm"], box_size=p["box_size"], ids=ids)
        simulate_two_domain_dataset(
            data_dir, densities, n_per_class=p["n_per_class"], box_size=p["box_size"],
            voxel_spacing_nm=p["voxel_spacing_nm"], source_snr=p["source_snr"], target_snr=p["target_snr"],
            source_preset=p["source_preset"], target_preset=p["target_preset"], noise_model=p["noise_model"],
            seed=seed, progress=progress)
    t_sim = time.time() - t0
    source, target = load_two_domain(data_dir)
    for name, s in (("source", source), ("target", target)):
        save_class_montage(s.x, s.y, s.class_names, os.path.join(out, f"montage_{name}.png"))
    resume = os.path.exists(os.path.join(run_dir, "checkpoints", "latest.json"))
    config = FSFTConfig(seed=seed).replace(**p["overrides"])
    result = train(source, target, shots=p["shots"], config=config, run_dir=run_dir, resume=resume, progress=progress)
    ceilings = {name: run_method(name, source, target, p["shots"], config, progress=progress)
                for name in ("target_oracle", "joint_oracle")}  # the same split as FSFT's, every label revealed
    n_labelled = int(len(result.split.target_shots) + (np.asarray(target.y)[result.split.target_unlabelled] >= 0).sum())
    n_source = int(len(result.split.source_train))
    summary = {"settings": p, "seed": seed, "simulation_seconds": round(t_sim, 1),
               "total_seconds": round(time.time() - t0, 1), "accuracy": result.accuracy,
               "ceiling": {"target_test_acc": ceilings["target_oracle"].accuracy["oracle"]["target_test_acc"],
                           "labelled_target_subtomograms": n_labelled},
               "joint_ceiling": {"target_test_acc": ceilings["joint_oracle"].accuracy["oracle"]["target_test_acc"],
                                 "labelled_target_subtomograms": n_labelled, "labelled_source_subtomograms": n_source},
               "classifier": os.path.join(run_dir, "classifier")}
    with atomic_open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(f"\nFSFT demo: {p['n_classes']} classes x {p['n_per_class']} per domain, {p['box_size']}^3, "
          f"source SNR {p['source_snr']} ({p['source_preset']}) -> target SNR {p['target_snr']} "
          f"({p['target_preset']}), {p['shots']} shots, seed {seed}")
    top, joint = summary["ceiling"]["target_test_acc"], summary["joint_ceiling"]["target_test_acc"]
    print("stage  encoder  target test accuracy  / ceiling  / joint ceiling")
    for stage, a in result.accuracy.items():
        acc = a["target_test_acc"]
        print(f"{stage:<6} {a['domain']:<8} {acc:>20.3f} {acc / top:>10.2f}x {acc / joint:>14.2f}x")
    print(f"ceiling: {top:.3f} (the same network trained on {n_labelled} labelled target subtomograms); joint "
          f"ceiling: {joint:.3f} (trained on those and {n_source} labelled source subtomograms read as the target "
          f"records them); same test set")
    print(f"outputs in {out} (summary.json, run/training_curves.png, run/target_test_confusion.png, "
          f"montage_*.png)")
    return summary
