"""Tutorial: simulate two acquisition domains, train FSFT, read the per-stage target accuracy.

Run from the repository root (after ``make install``)::

    .venv/bin/python doc/tutorials/fsft_tutorial.py --out runs/tutorial            # ~10 classes, full schedule
    .venv/bin/python doc/tutorials/fsft_tutorial.py --out runs/tutorial --quick    # a one-minute version

Every step is a public function; the comments say what a structural biologist would change for real data.
"""
import argparse
import os

from aitom.classify.deep.fsft import FSFTConfig, evaluate, predict, train
from aitom.image.montage import save_class_montage
from aitom.io.dataset import load_two_domain
from aitom.simulation.dataset import simulate_two_domain_dataset
from aitom.structure import default_structure_ids, load_default_densities


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/tutorial")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    # 1. Structures: the ten SHREC complexes shipped with the package, as densities at 1 nm/voxel in a
    #    28^3 box. For your own structures use aitom.structure.pdb_to_density or map_to_density.
    n_classes, per_class = (4, 24) if args.quick else (10, 100)
    ids = default_structure_ids()[:n_classes]
    densities = load_default_densities(voxel_spacing_nm=1.0, box_size=28, ids=ids)

    # 2. Two domains: the source is a high-SNR simulation (Cs 2.2 mm, -10 um defocus); the target is
    #    another microscope setting (Cs 2.0 mm, -5 um) at SNR 0.1. Real target data would instead be
    #    extracted from tomograms (aitom.picking) and saved with aitom.io.dataset.save_subtomogram_set.
    data_dir = os.path.join(args.out, "data")
    if not os.path.exists(os.path.join(data_dir, "dataset.json")):
        simulate_two_domain_dataset(data_dir, densities, n_per_class=per_class, box_size=28, voxel_spacing_nm=1.0,
                                    source_snr=1000.0, target_snr=0.1, source_preset="cs2.2mm_dz-10um",
                                    target_preset="cs2.0mm_dz-5um", seed=args.seed, progress=True)
    source, target = load_two_domain(data_dir)          # memory-mapped: never all in RAM
    save_class_montage(target.x, target.y, target.class_names, os.path.join(args.out, "montage_target.png"))

    # 3. FSFT with the default schedule (stage 1 trains 60 epochs, the reference 20); 5 labelled target
    #    subtomograms per class are drawn with the seed, the rest of the target is split into an unlabelled
    #    pool and a held-out test set.
    config = FSFTConfig(seed=args.seed)
    if args.quick:
        config = config.replace(epochs_stage1=6, epochs_stage2_1=4, epochs_stage2_2=20, epochs_stage3=6,
                                coral_batch_size=32)
    run_dir = os.path.join(args.out, "run")
    result = train(source, target, shots=5, config=config, run_dir=run_dir,
                   resume=os.path.exists(os.path.join(run_dir, "checkpoints", "latest.json")))

    # 4. Per-stage target accuracy (stage 1 = source only; 2.1 = + CORAL; 3 = FSFT).
    print("\nstage  encoder  target test accuracy")
    for stage, a in result.accuracy.items():
        print(f"{stage:<6} {a['domain']:<8} {a['target_test_acc']:.3f}")

    # 5. The trained classifier is one folder; load it anywhere with SubtomogramClassifier.load.
    test = target.subset(result.split.target_test)
    labels, probabilities = predict(os.path.join(run_dir, "classifier"), test)
    report = evaluate(result.classifier, test, out_dir=args.out, name="tutorial_test")
    print(f"test accuracy {report['accuracy']:.3f}; confusion matrix in {args.out}/tutorial_test_confusion.png")


if __name__ == "__main__":
    main()
