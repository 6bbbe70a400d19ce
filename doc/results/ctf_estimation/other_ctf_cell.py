"""FSFT on a cell whose CTFs have a form the defocus estimate does not model.

The benchmark's shrec cell (10 structures, 28³ at 1.0 nm, 100 source and 200 target subtomograms per class,
source SNR 1000, target SNR 0.1, 5 shots) simulated with 7 % amplitude contrast in both domains and, on the
target only, an envelope 1/e at Nyquist (``sigma`` 1.0, a B-factor of about 1600 Å²), as a simulator other
than AITom's might. ``source_only`` and ``fsft`` use the recorded parameters (amplitude contrast and envelope
included); ``[ctf_estimation=always]`` ignores them and estimates both defoci (the search models neither
term); ``[ctf_transfer=false]`` reads the source as stored; ``target_oracle`` is the ceiling.
The same CTF form on the assemblies set (28³ at 1.2 nm, as the benchmark's assemblies cells) with STRUCTURES
``assemblies``. ``--bare``: both sets lose their voxel spacing and acquisition parameters, as subtomograms from a
tool that records neither arrive (the estimate then works in a 1.0 nm voxel it assumes). ``--target-per-class N``:
N target subtomograms per class instead of 200 (100: the size of a set of 100 per class and domain, split by the
defaults into 5 shots, a test set and an unlabelled pool of about 47 per class). Each variant writes its own folder
(other_ctf[_bare][_target<N>]/runs.csv, or ``--out DIR``) and keeps its data in
runs/other-ctf-data[-target<N>]. ``--simulate-only``: simulate the cell's data and stop (run it once before
processes that share the data start).
Usage: python doc/results/ctf_estimation/other_ctf_cell.py SEEDS "METHOD;METHOD" [STRUCTURES] [--bare]
       [--target-per-class N] [--out DIR] [--simulate-only]
"""
import argparse

from aitom.classify.deep.fsft.experiment import run_experiment, simulated_cell
from aitom.io.dataset import SubtomogramSet

SOURCE = {"Cs": 2.2, "Dz": -10.0, "voltage": 300.0, "amplitude_contrast": 0.07}
TARGET = {"Cs": 2.0, "Dz": -5.0, "voltage": 300.0, "amplitude_contrast": 0.07, "sigma": 1.0}

VOXEL_NM = {"shrec": 1.0, "assemblies": 1.2}

parser = argparse.ArgumentParser()
parser.add_argument("seeds", type=lambda v: [int(s) for s in v.split(",")])
parser.add_argument("methods", type=lambda v: v.split(";"))
parser.add_argument("structures", nargs="?", default="shrec", choices=sorted(VOXEL_NM))
parser.add_argument("--bare", action="store_true")
parser.add_argument("--target-per-class", type=int, default=200)
parser.add_argument("--out")
parser.add_argument("--simulate-only", action="store_true")
args = parser.parse_args()
size = "" if args.target_per_class == 200 else f"_target{args.target_per_class}"
data_dir = "runs/other-ctf-data" + size.replace("_", "-")
cell = dict(structures=args.structures, n_per_class=(100, args.target_per_class),
            voxel_spacing_nm=VOXEL_NM[args.structures], source_preset=SOURCE, target_preset=TARGET)


def bare_cell(source_snr, target_snr):
    """The cell without voxel spacing or acquisition parameters."""
    sets = simulated_cell(data_dir, source_snr, target_snr, progress=False, **cell)
    return tuple(SubtomogramSet(s.x, s.y, s.class_names) for s in sets)


if args.simulate_only:
    simulated_cell(data_dir, 1000, 0.1, progress=True, **cell)
    raise SystemExit
out = args.out or "doc/results/ctf_estimation/other_ctf" + ("_bare" if args.bare else "") + size
run_experiment(out, target_snrs=(0.1,),
               seeds=args.seeds, methods=args.methods, data_dir=data_dir, progress=False,
               simulate=bare_cell if args.bare else None, **cell)
