"""FSFT on a cell whose CTFs have a form the defocus estimate does not model.

The benchmark's shrec cell (10 structures, 28³ at 1.0 nm, 100 source and 200 target subtomograms per class,
source SNR 1000, target SNR 0.1, 5 shots) simulated with 7 % amplitude contrast in both domains and, on the
target only, an envelope 1/e at Nyquist (``sigma`` 1.0, a B-factor of about 1600 Å²), as a simulator other
than AITom's might. ``source_only`` and ``fsft`` use the recorded parameters (amplitude contrast and envelope
included); ``[ctf_estimation=always]`` ignores them and estimates both defoci (the search models neither
term); ``[ctf_transfer=false]`` reads the source as stored; ``target_oracle`` is the ceiling.
The same CTF form on the assemblies set (28³ at 1.2 nm, as the benchmark's assemblies cells) with STRUCTURES
``assemblies``. With ``bare`` after STRUCTURES both sets lose their voxel spacing and acquisition parameters, as
subtomograms from a tool that records neither arrive: the estimate then works in a 1.0 nm voxel it assumes
(written to other_ctf_bare/runs.csv).
Usage: python doc/results/ctf_estimation/other_ctf_cell.py SEEDS METHODS [STRUCTURES [bare]]
"""
import sys

from aitom.classify.deep.fsft.experiment import run_experiment, simulated_cell
from aitom.io.dataset import SubtomogramSet

SOURCE = {"Cs": 2.2, "Dz": -10.0, "voltage": 300.0, "amplitude_contrast": 0.07}
TARGET = {"Cs": 2.0, "Dz": -5.0, "voltage": 300.0, "amplitude_contrast": 0.07, "sigma": 1.0}

VOXEL_NM = {"shrec": 1.0, "assemblies": 1.2}

seeds = [int(s) for s in sys.argv[1].split(",")]
methods = sys.argv[2].split(";")
structures = sys.argv[3] if len(sys.argv) > 3 else "shrec"
bare = sys.argv[4:] == ["bare"]
cell = dict(structures=structures, n_per_class=(100, 200), voxel_spacing_nm=VOXEL_NM[structures],
            source_preset=SOURCE, target_preset=TARGET)


def bare_cell(source_snr, target_snr):
    """The cell without voxel spacing or acquisition parameters."""
    sets = simulated_cell("runs/other-ctf-data", source_snr, target_snr, progress=False, **cell)
    return tuple(SubtomogramSet(s.x, s.y, s.class_names) for s in sets)


run_experiment("doc/results/ctf_estimation/other_ctf" + ("_bare" if bare else ""), target_snrs=(0.1,), seeds=seeds,
               methods=methods, data_dir="runs/other-ctf-data", progress=False, simulate=bare_cell if bare else None,
               **cell)
