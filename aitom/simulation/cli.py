"""``simulate`` sub-command: a two-domain data set from the shipped structures, plus class montages."""
import os

from aitom.errors import InputError
from aitom.simulation.dataset import ACQUISITION_PRESETS, DEFAULT_MISSING_WEDGE_ANGLE


def _class_ids(spec):
    """``--classes``: a count (the first k shipped SHREC ids) or comma-separated PDB ids."""
    from aitom.structure import default_structure_ids
    spec = spec.strip()
    if spec.isdigit():
        known = default_structure_ids()
        k = int(spec)
        if not 1 <= k <= len(known):
            raise InputError("--classes", f"count must be between 1 and {len(known)}, got {k}")
        return known[:k]
    ids = [s.strip().lower() for s in spec.split(",") if s.strip()]
    if not ids:
        raise InputError("--classes", f"no PDB ids in {spec!r}")
    return ids


def add_parser(subparsers):
    """Register ``simulate`` on an ``argparse`` sub-parser collection; returns the new parser."""
    presets = list(ACQUISITION_PRESETS)
    p = subparsers.add_parser(
        "simulate", help="simulate a two-domain (source/target) data set from the shipped structures",
        description="Simulate source and target subtomograms (random rotation and shift, CTF, missing wedge, "
                    "noise) and write <out>/source/, <out>/target/, <out>/dataset.json and "
                    "<out>/montage_source.png, <out>/montage_target.png. SNR is defined in doc/simulation.md.")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--classes", default="10", help="number of shipped SHREC classes, or comma-separated PDB ids "
                                                   "(default: 10)")
    p.add_argument("--per-class", type=int, default=100, help="subtomograms per class and domain (default: 100)")
    p.add_argument("--box", type=int, default=32, help="box edge in voxels (default: 32)")
    p.add_argument("--voxel-nm", type=float, default=1.0, help="voxel edge in nm (default: 1.0)")
    p.add_argument("--source-snr", type=float, default=1.0, help="source SNR (default: 1.0)")
    p.add_argument("--target-snr", type=float, default=0.5, help="target SNR (default: 0.5)")
    p.add_argument("--source-preset", choices=presets, default=presets[0], help=f"default: {presets[0]}")
    p.add_argument("--target-preset", choices=presets, default=presets[1], help=f"default: {presets[1]}")
    p.add_argument("--wedge", type=float, default=DEFAULT_MISSING_WEDGE_ANGLE,
                   help=f"missing-wedge angle in degrees (default: {DEFAULT_MISSING_WEDGE_ANGLE:g})")
    p.add_argument("--noise-model", choices=("calibrated", "aitom"), default="calibrated",
                   help="'calibrated': SNR as measured by AITom's estimator; 'aitom': AITom's own noise level")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_simulate)
    return p


def cmd_simulate(args):
    """Run ``simulate``: load densities, write the data set, then one montage per domain."""
    from aitom.image.montage import save_class_montage
    from aitom.io.dataset import load_two_domain
    from aitom.simulation.dataset import simulate_two_domain_dataset
    from aitom.structure import load_default_densities

    densities = load_default_densities(voxel_spacing_nm=args.voxel_nm, box_size=args.box, ids=_class_ids(args.classes))
    simulate_two_domain_dataset(args.out, densities, args.per_class, args.box, args.voxel_nm, args.source_snr,
                                args.target_snr, args.source_preset, args.target_preset,
                                missing_wedge_angle=args.wedge, seed=args.seed, noise_model=args.noise_model,
                                progress=not args.quiet)
    for domain, s in zip(("source", "target"), load_two_domain(args.out, check_values=False)):
        save_class_montage(s.x, s.y, s.class_names, os.path.join(args.out, f"montage_{domain}.png"))
    print(f"{len(densities)} classes x {args.per_class} subtomograms per domain -> {args.out} "
          f"(source/, target/, dataset.json, montage_source.png, montage_target.png)")
