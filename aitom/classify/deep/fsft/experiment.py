"""The paper's experiment grid, for every method of :mod:`.baselines`: ``aitom-fsft experiment``.

For each (source SNR, target SNR) cell one two-domain data set is simulated from the shipped
structures (once: it is kept under ``data_dir`` and reused). On it, for each shot count and seed,
every method runs on the same split (drawn from the seed, so shared by all methods of that seed);
methods share the stages they have in common (see :class:`.baselines.SharedStages`). Every run
becomes one row of ``<out>/runs.csv``; a row already there is not run again (resumable). From the
CSV, :func:`write_report` writes ``<out>/results_table.md`` (mean ± std of the target test accuracy
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
    rows = read_runs(csv_path)
    done = {_key(r) for r in rows}
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
                val = float("nan") if name == CEILING else _target_val_accuracy(result, target)
                rows.append({
                    "structures": structures, "source_snr": _num(s_snr), "target_snr": _num(t_snr), "shots": k,
                    "seed": seed, "method": name, "target_val_acc": "" if np.isnan(val) else f"{val:.6f}",
                    "accuracy": f"{final_accuracy(result):.6f}",
                    "stage_accuracy": json.dumps({st: round(a["target_test_acc"], 6)
                                                  for st, a in result.accuracy.items()}),
                    "source_val_acc": f"{list(result.accuracy.values())[-1]['source_val_acc']:.6f}",
                    "n_test": len(result.split.target_test), "wall_s": f"{result.cost.wall_s:.1f}",
                    "peak_rss_mb": f"{result.cost.peak_rss_mb:.0f}", "load1": f"{os.getloadavg()[0]:.2f}",
                    "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    "class_names": json.dumps(list(target.class_names)), "confusion": json.dumps(cm.tolist())})
                _write_runs(rows, csv_path)
                bar.update(1)
            del shared, result
            gc.collect()
            keras.backend.clear_session()
    bar.close()
    if report:
        write_report(out_dir, methods=methods)
    return rows


# ---------------------------------------------------------------- report

def _mean_std(values):
    v = np.asarray(values, float)
    return float(v.mean()), (float(v.std(ddof=1)) if len(v) > 1 else 0.0), len(v)


def _order(names, preferred):
    return [m for m in preferred if m in names] + sorted(set(names) - set(preferred))


def _heatmaps(grids, row_labels, col_labels, path, title):
    """One panel per method: mean accuracy over source SNR (rows) x target SNR (columns)."""
    from .plots import save_figure, subplots
    n = len(grids)
    ncols = min(4, n)
    nrows = -(-n // ncols)
    fig, axes = subplots(nrows, ncols, squeeze=False, constrained_layout=True,
                         figsize=(0.8 + (1.0 + 0.75 * len(col_labels)) * ncols,
                                  (1.3 + 0.5 * len(row_labels)) * nrows + 0.4))
    for ax in axes.flat[n:]:
        ax.axis("off")
    for i, (ax, (name, g)) in enumerate(zip(axes.flat, grids.items())):
        im = ax.imshow(g, vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(len(col_labels)), col_labels, fontsize=8)
        ax.set_yticks(range(len(row_labels)), row_labels if i % ncols == 0 else [], fontsize=8)
        if i // ncols == nrows - 1 or i + ncols >= n:
            ax.set_xlabel("target SNR", fontsize=8)
        if i % ncols == 0:
            ax.set_ylabel("source SNR", fontsize=8)
        ax.set_title(name, fontsize=9)
        for i in range(g.shape[0]):
            for j in range(g.shape[1]):
                if np.isfinite(g[i, j]):
                    ax.text(j, i, f"{g[i, j]:.2f}", ha="center", va="center", fontsize=8,
                            color="black" if g[i, j] > 0.6 else "white")
    fig.colorbar(im, ax=list(axes.flat), fraction=0.02)
    fig.suptitle(title)
    return save_figure(fig, path)


def _stage_bars(stage_means, path, title):
    """Grouped bars: per method, the target test accuracy after each of its stages (mean ± std)."""
    from .plots import save_figure, subplots
    order = ("1", "2.1", "BN", "2.2", "3")
    stages = sorted({s for per in stage_means.values() for s in per},
                    key=lambda s: (order.index(s) if s in order else len(order), s))
    fig, ax = subplots(figsize=(1.5 + 1.1 * len(stage_means), 3.4))
    width = 0.8 / max(len(stages), 1)
    for i, st in enumerate(stages):
        xs = [j for j, per in enumerate(stage_means.values()) if st in per]
        means = [per[st][0] for per in stage_means.values() if st in per]
        stds = [per[st][1] for per in stage_means.values() if st in per]
        ax.bar(np.array(xs) + (i - (len(stages) - 1) / 2) * width, means, width, yerr=stds, capsize=2,
               label=f"after {st}")
    ax.set_xticks(range(len(stage_means)), list(stage_means), rotation=30, ha="right")
    ax.set_ylabel("target test accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def write_report(out_dir, methods=None, csv_path=None):
    """Write the Markdown table and the plots from ``<out_dir>/runs.csv``; returns the table's text.

    Every accuracy is printed with its ratio to the cell's ceiling (the mean of :data:`CEILING`'s runs
    there), when the ceiling ran in that cell.
    """
    from . import plots

    rows = read_runs(csv_path or os.path.join(out_dir, CSV_NAME))
    if not rows:
        raise InputError(csv_path or os.path.join(out_dir, CSV_NAME), "no runs to report")
    for r in rows:
        r["structures"] = r.get("structures") or "shrec"
    methods = _order({r["method"] for r in rows}, list(methods or []))
    shots = sorted({int(r["shots"]) for r in rows})
    cells = sorted({(r["structures"], float(r["source_snr"]), float(r["target_snr"])) for r in rows},
                   key=lambda c: (c[0] != "shrec", c[0], -c[1], -c[2]))
    by = {}
    for r in rows:
        by.setdefault((r["structures"], float(r["source_snr"]), float(r["target_snr"]), int(r["shots"]), r["method"]),
                      []).append(r)

    def label(c):
        return ("" if c[0] == "shrec" else f"{c[0]}: ") + f"{_num(c[1])} → {_num(c[2])}"

    lines = ["# FSFT experiment: target test accuracy", "",
             "Mean ± standard deviation over seeds (n runs) of the target test accuracy, and in brackets its ratio "
             f"to the cell's ceiling (`{CEILING}`: the same network trained on labelled target data); the best "
             "mean of a column in bold. `val`: mean accuracy on the unlabelled target pool's hidden labels (the "
             "validation score used for tuning). Generated by `aitom.classify.deep.fsft.experiment.write_report` "
             "from `runs.csv`.", ""]
    for k in shots:
        columns = [c for c in cells if any(by.get(c + (k, m)) for m in methods)]
        stats = {c + (m,): _mean_std([float(r["accuracy"]) for r in by[c + (k, m)]])
                 for c in columns for m in methods if by.get(c + (k, m))}
        ceiling = {c: stats[c + (CEILING,)][0] for c in columns if c + (CEILING,) in stats}
        best = {c: max(v[0] for key, v in stats.items() if key[:3] == c and key[3] != CEILING) for c in columns
                if any(key[:3] == c and key[3] != CEILING for key in stats)}
        lines += [f"## {k} shots per class", "",
                  "| method | " + " | ".join(label(c) for c in columns) + " |",
                  "|---|" + "---|" * len(columns)]
        for m in methods:
            if not any(c + (m,) in stats for c in columns):
                continue
            entries = []
            for c in columns:
                if c + (m,) not in stats:
                    entries.append("–")
                    continue
                mean, std, n = stats[c + (m,)]
                txt = f"{mean:.3f} ± {std:.3f} ({n})"
                if c in ceiling and m != CEILING:
                    txt += f" [{mean / ceiling[c]:.2f}×]"
                vals = [float(r["target_val_acc"]) for r in by[c + (k, m)] if r.get("target_val_acc")]
                if vals:
                    txt += f", val {np.mean(vals):.3f}"
                entries.append(f"**{txt}**" if mean == best.get(c) else txt)
            lines.append(f"| {m} | " + " | ".join(entries) + " |")
        lines.append("")
    for k in shots:
        for c in cells:
            present = [m for m in methods if by.get(c + (k, m))]
            if not present:
                continue
            seeds = sorted({int(r["seed"]) for m in present for r in by[c + (k, m)]})
            acc = {(m, int(r["seed"])): float(r["accuracy"]) for m in present for r in by[c + (k, m)]}
            stage_acc = {m: [json.loads(r["stage_accuracy"]) for r in by[c + (k, m)]] for m in present}
            ref = "fsft" if "fsft" in present else None
            lines += [f"## {label(c)}, {k} shots: per seed, per stage, paired with fsft", "",
                      "Seeds share the split (shots, unlabelled pool, test set) across methods. Stage columns: "
                      "mean accuracy after that stage. Paired: mean of (fsft − method) over seeds, and "
                      "seeds where fsft is better / equal / worse.", "",
                      "| method | " + " | ".join(f"seed {x}" for x in seeds)
                      + " | after 1 | after 2.1 | after 3 (or last) | paired fsft − method | fsft better/equal/worse |",
                      "|---|" + "---|" * (len(seeds) + 5)]
            for m in present:
                per_seed = [f"{acc[(m, x)]:.3f}" if (m, x) in acc else "–" for x in seeds]
                stage_cells = []
                for st in ("1", "2.1", None):
                    vals = [list(a.values())[-1] if st is None else a.get(st) for a in stage_acc[m]]
                    vals = [v for v in vals if v is not None]
                    stage_cells.append(f"{np.mean(vals):.3f}" if vals else "–")
                if ref is None or m == ref:
                    paired = ["–", "–"]
                else:
                    diffs = [acc[(ref, x)] - acc[(m, x)] for x in seeds if (ref, x) in acc and (m, x) in acc]
                    paired = [f"{np.mean(diffs):+.3f}" if diffs else "–",
                              f"{sum(d > 0 for d in diffs)}/{sum(d == 0 for d in diffs)}/{sum(d < 0 for d in diffs)}"]
                lines.append(f"| {m} | " + " | ".join(per_seed + stage_cells + paired) + " |")
            lines.append("")
    lines += ["## Cost per method", "",
              "Wall time of one run as if run alone (shared stages included), peak RSS of the process during it, "
              "and the 1-minute load average when runs finished (the machine is shared: times are noisy).", "",
              "| method | runs | wall time (s), mean ± std | peak RSS (MiB), max | load average, mean |",
              "|---|---|---|---|---|"]
    for m in methods:
        rs = [r for r in rows if r["method"] == m]
        w = _mean_std([float(r["wall_s"]) for r in rs])
        lines.append(f"| {m} | {len(rs)} | {w[0]:.0f} ± {w[1]:.0f} | {max(float(r['peak_rss_mb']) for r in rs):.0f} "
                     f"| {np.mean([float(r['load1']) for r in rs]):.1f} |")
    text = "\n".join(lines) + "\n"
    with atomic_open(os.path.join(out_dir, "results_table.md"), "w") as f:
        f.write(text)

    # heat-maps: one figure per structure set and shot count, one panel per method, source SNR x target SNR
    for g in sorted({c[0] for c in cells}):
        s_values = sorted({c[1] for c in cells if c[0] == g}, reverse=True)
        t_values = sorted({c[2] for c in cells if c[0] == g}, reverse=True)
        for k in shots:
            grids = {}
            for m in methods:
                grid = np.full((len(s_values), len(t_values)), np.nan)
                for i, sv in enumerate(s_values):
                    for j, tv in enumerate(t_values):
                        rs = by.get((g, sv, tv, k, m))
                        if rs:
                            grid[i, j] = np.mean([float(r["accuracy"]) for r in rs])
                if np.isfinite(grid).any():
                    grids[m] = grid
            if grids:
                prefix = "" if g == "shrec" else f"{g}_"
                _heatmaps(grids, [_num(v) for v in s_values], [_num(v) for v in t_values],
                          os.path.join(out_dir, f"heatmap_{prefix}shots{k}.png"),
                          title=f"{g}: target test accuracy, {k} shots")
    # per-stage accuracy bars and confusion matrices (lowest seed) per cell and shot count
    os.makedirs(os.path.join(out_dir, "confusion"), exist_ok=True)
    for c in cells:
        name = cell_name(c[1], c[2], c[0])
        for k in shots:
            stage_means = {}
            for m in methods:
                rs = by.get(c + (k, m))
                if not rs:
                    continue
                per = [json.loads(r["stage_accuracy"]) for r in rs]
                stage_means[m] = {st: _mean_std([p[st] for p in per if st in p])[:2] for st in per[0]}
                first = min(rs, key=lambda r: int(r["seed"]))
                cm = np.array(json.loads(first["confusion"]))
                acc = np.trace(cm) / max(cm.sum(), 1)
                plots.save_confusion_matrix(
                    cm, json.loads(first["class_names"]),
                    os.path.join(out_dir, "confusion", f"{name}_shots{k}_{_slug(m)}_seed{first['seed']}.png"),
                    title=f"{m}, {label(c)}, {k} shots, seed {first['seed']}: {acc:.3f}")
            if stage_means:
                _stage_bars(stage_means, os.path.join(out_dir, f"stages_{name}_shots{k}.png"),
                            title=f"{label(c)}, {k} shots: accuracy after each stage")
    return text


# ---------------------------------------------------------------- command line

def _floats(text):
    return tuple(float(v) for v in text.split(","))


def _ints(text):
    return tuple(int(v) for v in text.split(","))


def _methods(text):
    """Split on commas outside brackets: 'fsft,fsft[coral_alpha=50,gamma=0.1]'."""
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return [m.strip() for m in out + [cur] if m.strip()]


def cmd_experiment(args):
    from .cli import _config_from_args
    if args.report_only:
        print(write_report(args.out, methods=_methods(args.methods)))
        return
    counts = _ints(args.n_per_class)
    simulation = {"n_per_class": counts[0] if len(counts) == 1 else counts, "box_size": args.box_size,
                  "n_classes": args.n_classes, "voxel_spacing_nm": args.voxel_spacing_nm, "seed": args.data_seed,
                  "noise_model": args.noise_model, "structures": args.structures}
    run_experiment(args.out, _floats(args.source_snrs), _floats(args.target_snrs), _ints(args.grid_shots),
                   _ints(args.seeds), _methods(args.methods), _config_from_args(args), data_dir=args.data_dir,
                   progress=not args.quiet, **simulation)
    print(f"table: {os.path.join(args.out, 'results_table.md')}; runs: {os.path.join(args.out, CSV_NAME)}")


def add_parser(subparsers):
    """Register ``aitom-fsft experiment``."""
    from .cli import _add_config_options
    p = subparsers.add_parser(
        "experiment", help="baselines, ablations and FSFT over a grid of SNRs, shots and seeds (resumable)",
        description=__doc__.split("\n\n")[0], conflict_handler="resolve")
    _add_config_options(p)  # first: the grid's --shots below replaces FSFTConfig's
    p.add_argument("--out", default="doc/results", help="folder of runs.csv, results_table.md and the plots")
    p.add_argument("--data-dir", default=os.path.join("runs", "experiment-data"),
                   help="where simulated cells are kept (default runs/experiment-data)")
    p.add_argument("--source-snrs", default="1000", help=f"comma-separated (paper: {','.join(map(_num, PAPER_SNRS))})")
    p.add_argument("--target-snrs", default="0.1", help="comma-separated")
    p.add_argument("--shots", dest="grid_shots", default="5",
                   help=f"comma-separated (paper: {','.join(map(str, PAPER_SHOTS))})")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated; each seed draws one split shared by all methods")
    p.add_argument("--methods", default=",".join(BASELINES),
                   help="comma-separated names from aitom.classify.deep.fsft.baselines.METHODS, optionally with "
                        "[field=value,...], e.g. fsft[coral_alpha=50]")
    p.add_argument("--structures", default="shrec",
                   help="shipped structure set to simulate: shrec (asymmetric units, default) or assemblies")
    p.add_argument("--n-per-class", default="100",
                   help="subtomograms per class and domain, or SOURCE,TARGET (e.g. 100,200)")
    p.add_argument("--box-size", type=int, default=28)
    p.add_argument("--n-classes", type=int, default=10)
    p.add_argument("--voxel-spacing-nm", type=float, default=1.0)
    p.add_argument("--data-seed", type=int, default=0, help="seed of the simulation")
    p.add_argument("--noise-model", choices=("aitom", "calibrated"), default="aitom",
                   help="SNR units: 'aitom' (default) = AITom's nominal SNR, the paper's units; 'calibrated' = "
                        "SNR measured by 2r/(1-r) (about 11-14x noisier at the same number, doc/simulation.md)")
    p.add_argument("--report-only", action="store_true", help="only rewrite the table and plots from runs.csv")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_experiment, shots=None)
    return p
