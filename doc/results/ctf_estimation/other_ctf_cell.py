"""FSFT on a cell whose CTFs have a form the defocus estimate does not model.

The benchmark's shrec cell (10 structures, 28³ at 1.0 nm, 100 source and 200 target subtomograms per class,
source SNR 1000, target SNR 0.1, 5 shots) simulated with 7 % amplitude contrast in both domains and, on the
target only, an envelope 1/e at Nyquist (``sigma`` 1.0, a B-factor of about 1600 Å²), as a simulator other
than AITom's might. ``source_only`` and ``fsft`` use the recorded parameters (amplitude contrast and envelope
included); ``[ctf_estimation=always]`` ignores them and estimates both defoci (the search models neither
term); ``[ctf_transfer=false]`` reads the source as stored; ``target_oracle`` is the ceiling.
The same CTF form on the assemblies set (28³ at 1.2 nm, as the benchmark's assemblies cells) with STRUCTURES
``assemblies``.
Usage: python doc/results/ctf_estimation/other_ctf_cell.py SEEDS METHODS [STRUCTURES]  (writes other_ctf/runs.csv)
"""
import sys

from aitom.classify.deep.fsft.experiment import run_experiment

SOURCE = {"Cs": 2.2, "Dz": -10.0, "voltage": 300.0, "amplitude_contrast": 0.07}
TARGET = {"Cs": 2.0, "Dz": -5.0, "voltage": 300.0, "amplitude_contrast": 0.07, "sigma": 1.0}

VOXEL_NM = {"shrec": 1.0, "assemblies": 1.2}

seeds = [int(s) for s in sys.argv[1].split(",")]
methods = sys.argv[2].split(";")
structures = sys.argv[3] if len(sys.argv) > 3 else "shrec"
run_experiment("doc/results/ctf_estimation/other_ctf", target_snrs=(0.1,), seeds=seeds, methods=methods,
               data_dir="runs/other-ctf-data", progress=False, structures=structures, n_per_class=(100, 200),
               voxel_spacing_nm=VOXEL_NM[structures], source_preset=SOURCE, target_preset=TARGET)
