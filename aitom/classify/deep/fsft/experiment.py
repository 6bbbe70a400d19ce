"""The paper's experiment grid, for every method of :mod:`.baselines`: ``aitom-fsft experiment``.

For each (source SNR, target SNR) cell one two-domain data set is simulated from the shipped
structures (once: it is kept under ``data_dir`` and reused). On it, for each shot count and seed,
every method runs on the same split (drawn from the seed, so shared by all methods of that seed);
methods share the stages they have in common (see :class:`.baselines.SharedStages`). Every run
becomes one row of ``<out>/runs.csv``; a row already there is not run again (resumable). From the
CSV, :func:`.report.write_report` writes ``<out>/results_table.md`` (mean ± std of the target test accuracy
per method and cell, cost per method), ``heatmap_shots<k>.png`` (accuracy per method over source x
target SNR), ``stages_<cell>.png`` (target test accuracy after each stage) and
``confusion/<cell>_<method>.png`` (one seed); ``histories/`` keeps every run's per-epoch losses.

Cost columns: ``wall_s`` is what the method costs alone, the shared stages it builds on included
(they ran once); ``peak_rss_mb`` is this process's peak resident memory during the method and the
stages it builds on (the kernel's high-water mark, reset before each stage run; it includes the
data sets held in memory and TensorFlow's own footprint); ``load1`` is the 1-minute load average
when the run finished (other jobs on the machine make wall times noisy).
"""
import csv
import fcntl
import gc
import io
import json
import os
import re
import time

import numpy as np
from tqdm.auto import tqdm

from aitom.errors import InputError
from aitom.io.atomic import atomic_open

from .baselines import BASELINES, SharedStages, final_accuracy, resolve_method
from .config import FSFTConfig

PAPER_SNRS = (1000.0, 0.5, 0.1, 0.05, 0.03)
PAPER_SHOTS = (3, 5, 7)
SOURCE_PRESET = "cs2.2mm_dz-10um"
TARGET_PRESET = "cs2.0mm_dz-5um"
KEY = ("structures", "source_snr", "target_snr", "shots", "seed", "method")
COLUMNS = KEY + ("accuracy", "stage_accuracy", "source_val_acc", "target_val_acc", "n_test", "wall_s", "peak_rss_mb",
                 "load1", "finished", "class_names", "confusion")
CEILING = "target_oracle"
"""The method whose mean accuracy is each cell's ceiling (the same network trained on labelled target data)."""
REFERENCES = (CEILING, "joint_oracle")
"""Not methods: they train on the pool's labels, so they get no validation score and no 'best' mark."""
CSV_NAME = "runs.csv"


def _num(v):
    """Canonical text of a number (1000.0 -> '1000', 0.10 -> '0.1'), used in keys and file names."""
    return f"{float(v):g}"


def _key(row):
    row = dict(row, structures=row.get("structures") or "shrec")  # rows written before structure sets
    return tuple(_num(row[k]) if k in ("source_snr", "target_snr") else str(row[k]) for k in KEY)


def _slug(name):
    """A method name fit for a file name: 'fsft[coral_alpha=50]' -> 'fsft-coral_alpha-50'."""
    return re.sub(r"[^A-Za-z0-9_.]+", "-", name).strip("-")


def cell_name(source_snr, target_snr, structures="shrec"):
    """The name of a cell's data folder and file-name stem: ``[<structures>_]src<snr>_tgt<snr>``.

    Examples
    --------
    >>> cell_name(1000.0, 0.10), cell_name(1000, 0.1, "assemblies")
    ('src1000_tgt0.1', 'assemblies_src1000_tgt0.1')
    """
    prefix = "" if structures == "shrec" else f"{structures}_"
    return f"{prefix}src{_num(source_snr)}_tgt{_num(target_snr)}"


def read_runs(path):
    """Rows of a runs CSV as dicts of strings ([] if absent)."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _write_runs(rows, path):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k, "") for k in COLUMNS})
    with atomic_open(path, "w") as f:
        f.write(buf.getvalue())


def _add_run(row, path):
    """Add ``row`` to the runs CSV at ``path``, replacing a row of the same key. The file is re-read under an
    exclusive lock (``fcntl.flock`` on ``.<name>.lock`` beside it), so experiments that share an output folder
    keep each other's rows."""
    with open(os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        _write_runs([r for r in read_runs(path) if _key(r) != _key(row)] + [row], path)


def simulated_cell(data_dir, source_snr, target_snr, structures="shrec", n_per_class=100, box_size=28, n_classes=10,
                   voxel_spacing_nm=1.0, seed=0, source_preset=SOURCE_PRESET, target_preset=TARGET_PRESET,
                   noise_model="aitom", progress=False):
    """The (source, target) SubtomogramSets of one cell, simulated into ``data_dir/<cell>`` once.

    ``structures`` names a shipped structure set (``aitom.structure.defaults.STRUCTURE_SETS``);
    ``n_per_class`` is an int or a (source, target) pair. SNRs are in AITom's nominal units by default
    (``noise_model='aitom'``): the units of the FSFT paper's grid (1000, 0.5, 0.1, 0.05, 0.03). See
    doc/simulation.md for the measured SNR they give.

    A folder already there is reused when its recorded parameters match; otherwise InputError.
    """
    from aitom.io.dataset import load_two_domain
    from aitom.simulation.dataset import simulate_two_domain_dataset
    from aitom.structure import default_structure_ids, load_default_densities

    path = os.path.join(data_dir, cell_name(source_snr, target_snr, structures))
    counts = list(n_per_class) if isinstance(n_per_class, (tuple, list)) else [n_per_class] * 2
    wanted = {"n_per_class": counts[0] if counts[0] == counts[1] else counts, "box_size": box_size, "voxel_spacing_nm": float(voxel_spacing_nm),
              "source_preset": source_preset, "target_preset": target_preset, "seed": seed,
              "noise_model": noise_model}
    info = os.path.join(path, "dataset.json")
    if os.path.exists(info):
        with open(info) as f:
            meta = json.load(f)
        params = meta.get("meta", {}).get("parameters", {})
        differ = {k: (params.get(k), v) for k, v in wanted.items() if params.get(k) != v}
        if len(meta.get("class_names", [])) != n_classes:
            differ["n_classes"] = (len(meta.get("class_names", [])), n_classes)
        if differ:
            raise InputError(path, f"holds a data set simulated with other parameters {differ}; remove it or "
                                   f"choose another data folder")
    else:
        os.makedirs(data_dir, exist_ok=True)
        ids = default_structure_ids()[:n_classes]
        densities = load_default_densities(voxel_spacing_nm=voxel_spacing_nm, box_size=box_size, ids=ids,
                                           structure_set=structures)
        simulate_two_domain_dataset(path, densities, n_per_class=counts, box_size=box_size,
                                    voxel_spacing_nm=voxel_spacing_nm, source_snr=source_snr, target_snr=target_snr,
                                    source_preset=source_preset, target_preset=target_preset, seed=seed,
                                    noise_model=noise_model, progress=progress)
    return load_two_domain(path, mmap=False)


def _target_val_accuracy(result, target):
    """Accuracy on the labelled members of the unlabelled target pool (their labels are never used in
    training): the validation score by which defaults may be tuned, apart from the test set."""
    from .stages import accuracy
    pool = result.split.target_unlabelled
    pool = pool[np.asarray(target.y)[pool] >= 0]
    domain = list(result.accuracy.values())[-1]["domain"]
    return accuracy(result.networks, domain, target, pool) if len(pool) else float("nan")


def _confusion(result, target):
    from .pipeline import predict
    idx = result.split.target_test
    k = len(target.class_names)
    cm = np.zeros((k, k), dtype=np.int64)
    if len(idx):
        pred, _ = predict(result.classifier, target.x[np.sort(idx)])
        np.add.at(cm, (np.asarray(target.y)[np.sort(idx)], pred), 1)
    return cm


def run_experiment(out_dir="doc/results", source_snrs=(1000.0,), target_snrs=(0.1,), shots=(5,), seeds=(0, 1, 2),
                   methods=BASELINES, config=None, data_dir=None, simulate=None, progress=True, report=True,
                   structures="shrec", **simulation):
    """Run the grid and write the CSV (and, with ``report``, the table and plots). Returns the rows.

    Parameters
    ----------
    out_dir : folder of ``runs.csv``, the table and the plots.
    source_snrs, target_snrs, shots, seeds : the grid; every method runs on every combination.
    methods : names understood by :func:`.baselines.resolve_method` (e.g. ``fsft[coral_alpha=50]``).
    config : base FSFTConfig (its ``seed`` and ``shots`` are replaced per run).
    data_dir : where simulated cells are kept (default ``runs/experiment-data``, about 350 MB per cell
        at the default size; keep it out of ``doc/``).
    simulate : callable ``(source_snr, target_snr) -> (source, target)``; default
        :func:`simulated_cell` with ``structures`` and ``simulation`` (n_per_class, box_size, n_classes,
        voxel_spacing_nm, seed, source_preset, target_preset).
    structures : the shipped structure set simulated (a column of the CSV: one CSV holds several sets).

    Besides the target test accuracy, every row records ``target_val_acc``: the accuracy on the labelled
    members of the unlabelled target pool, whose labels no method trains on (blank for the target-trained
    ceiling, which trains on them). Defaults are tuned on that column of one structure set, never on a
    test accuracy.
    """
    import keras

    config = config or FSFTConfig()
    methods = list(methods)
    for m in methods:
        resolve_method(m)  # unknown names fail before anything runs
    data_dir = data_dir or os.path.join("runs", "experiment-data")
    if simulate is None:
        def simulate(s, t):
            return simulated_cell(data_dir, s, t, structures, progress=progress, **simulation)
    os.makedirs(os.path.join(out_dir, "histories"), exist_ok=True)
    csv_path = os.path.join(out_dir, CSV_NAME)
    done = {_key(r) for r in read_runs(csv_path)}
    plan = [(s, t, k, seed, m) for s in source_snrs for t in target_snrs for k in shots for seed in seeds
            for m in methods]
    todo = [p for p in plan if _key(dict(zip(KEY, (structures,) + p))) not in done]
    bar = tqdm(total=len(plan), initial=len(plan) - len(todo), desc="runs", unit="run", disable=not progress)
    cells = {}
    for p in todo:
        cells.setdefault(p[:2], {}).setdefault(p[2:4], []).append(p[4])
    for (s_snr, t_snr), groups in cells.items():
        source, target = simulate(s_snr, t_snr)
        for (k, seed), names in groups.items():
            shared = SharedStages(source, target)
            cfg = config.replace(seed=seed, shots=k)
            for name in names:
                cell = cell_name(s_snr, t_snr, structures)
                bar.set_postfix_str(f"{cell} shots {k} seed {seed} {name}")
                result = resolve_method(name)(source, target, k, cfg, shared)
                cm = _confusion(result, target)
                with atomic_open(os.path.join(out_dir, "histories", f"{cell}_shots{k}_seed{seed}_{_slug(name)}.json"),
                                 "w") as f:
                    json.dump(result.history, f)
                val = float("nan") if name in REFERENCES else _target_val_accuracy(result, target)
                _add_run({
                    "structures": structures, "source_snr": _num(s_snr), "target_snr": _num(t_snr), "shots": k,
                    "seed": seed, "method": name, "target_val_acc": "" if np.isnan(val) else f"{val:.6f}",
                    "accuracy": f"{final_accuracy(result):.6f}",
                    "stage_accuracy": json.dumps({st: round(a["target_test_acc"], 6)
                                                  for st, a in result.accuracy.items()}),
                    "source_val_acc": f"{list(result.accuracy.values())[-1]['source_val_acc']:.6f}",
                    "n_test": len(result.split.target_test), "wall_s": f"{result.cost.wall_s:.1f}",
                    "peak_rss_mb": f"{result.cost.peak_rss_mb:.0f}", "load1": f"{os.getloadavg()[0]:.2f}",
                    "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    "class_names": json.dumps(list(target.class_names)), "confusion": json.dumps(cm.tolist())},
                    csv_path)
                bar.update(1)
            del shared, result
            gc.collect()
            keras.backend.clear_session()
    bar.close()
    if report:
        from .report import write_report
        write_report(out_dir, methods=methods)
    return read_runs(csv_path)
