"""The experiment's report: tables and figures from the runs CSV of :mod:`.experiment`.

:func:`write_report` writes ``results_table.md`` (:func:`accuracy_table`, :func:`paired_tables`,
:func:`cost_table`), ``heatmap_<structures>_shots<k>.png`` (:func:`heatmaps`), ``stages_<cell>_shots<k>.png``
(:func:`stage_bars`) and ``confusion/<cell>_shots<k>_<method>_seed<s>.png`` (:func:`confusion_matrices`).
Every function takes the CSV's rows indexed by :func:`index_runs`.
"""
import dataclasses
import json
import os

import numpy as np

from aitom.errors import InputError
from aitom.io.atomic import atomic_open

from .experiment import CEILING, CSV_NAME, REFERENCES, _num, _slug, cell_name, read_runs


@dataclasses.dataclass
class Runs:
    """The rows of a runs CSV, indexed for the report.

    ``cells`` are ``(structures, source_snr, target_snr)``, the shrec set first, SNRs from high to low;
    ``by`` maps ``cell + (shots, method)`` to that combination's rows (one per seed).
    """

    rows: list
    methods: list
    shots: list
    cells: list
    by: dict


def index_runs(rows, methods=None):
    """:class:`Runs` of ``rows`` (dicts of strings, as :func:`.experiment.read_runs` gives them).

    ``methods`` come first, in that order; the other methods of the rows follow sorted by name. Rows
    written before structure sets (no ``structures`` value) are the shrec set's.

    Examples
    --------
    >>> row = dict(structures="", source_snr="1000", target_snr="0.1", shots="5", seed="0", method="fsft")
    >>> runs = index_runs([row, dict(row, method="coral")], methods=["fsft"])
    >>> runs.methods, runs.cells
    (['fsft', 'coral'], [('shrec', 1000.0, 0.1)])
    """
    for r in rows:
        r["structures"] = r.get("structures") or "shrec"
    names = {r["method"] for r in rows}
    preferred = list(methods or [])
    methods = [m for m in preferred if m in names] + sorted(names - set(preferred))
    shots = sorted({int(r["shots"]) for r in rows})
    cells = sorted({(r["structures"], float(r["source_snr"]), float(r["target_snr"])) for r in rows},
                   key=lambda c: (c[0] != "shrec", c[0], -c[1], -c[2]))
    by = {}
    for r in rows:
        by.setdefault((r["structures"], float(r["source_snr"]), float(r["target_snr"]), int(r["shots"]), r["method"]),
                      []).append(r)
    return Runs(rows, methods, shots, cells, by)


def cell_label(cell):
    """A cell's column title: ``'1000 → 0.1'``, ``'assemblies: 1000 → 0.1'``."""
    return ("" if cell[0] == "shrec" else f"{cell[0]}: ") + f"{_num(cell[1])} → {_num(cell[2])}"


def _mean_std(values):
    v = np.asarray(values, float)
    return float(v.mean()), (float(v.std(ddof=1)) if len(v) > 1 else 0.0), len(v)


def accuracy_table(runs, k):
    """Markdown lines: mean ± std (n) of the target test accuracy per method and cell at ``k`` shots, with
    its ratio to the cell's ceiling (the mean of :data:`.experiment.CEILING`'s runs there) and the mean
    validation accuracy; the best non-ceiling mean of each column in bold."""
    by, methods = runs.by, runs.methods
    columns = [c for c in runs.cells if any(by.get(c + (k, m)) for m in methods)]
    stats = {c + (m,): _mean_std([float(r["accuracy"]) for r in by[c + (k, m)]])
             for c in columns for m in methods if by.get(c + (k, m))}
    ceiling = {c: stats[c + (CEILING,)][0] for c in columns if c + (CEILING,) in stats}
    best = {c: max(v[0] for key, v in stats.items() if key[:3] == c and key[3] not in REFERENCES) for c in columns
            if any(key[:3] == c and key[3] not in REFERENCES for key in stats)}
    lines = [f"## {k} shots per class", "",
             "| method | " + " | ".join(cell_label(c) for c in columns) + " |",
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
    return lines + [""]


def paired_tables(runs, cell, k):
    """Markdown lines for one cell and shot count: accuracy per seed, mean accuracy after stages 1, 2.1
    and the last, and the paired difference to ``fsft`` over the seeds they share ([] if no runs)."""
    present = [m for m in runs.methods if runs.by.get(cell + (k, m))]
    if not present:
        return []
    rows = {m: runs.by[cell + (k, m)] for m in present}
    seeds = sorted({int(r["seed"]) for m in present for r in rows[m]})
    acc = {(m, int(r["seed"])): float(r["accuracy"]) for m in present for r in rows[m]}
    stage_acc = {m: [json.loads(r["stage_accuracy"]) for r in rows[m]] for m in present}
    ref = "fsft" if "fsft" in present else None
    lines = [f"## {cell_label(cell)}, {k} shots: per seed, per stage, paired with fsft", "",
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
    return lines + [""]


def cost_table(runs):
    """Markdown lines: per method, runs, wall time mean ± std, largest peak RSS, mean load average."""
    lines = ["## Cost per method", "",
             "Wall time of one run as if run alone (shared stages included), peak RSS of the process during it, "
             "and the 1-minute load average when runs finished (the machine is shared: times are noisy).", "",
             "| method | runs | wall time (s), mean ± std | peak RSS (MiB), max | load average, mean |",
             "|---|---|---|---|---|"]
    for m in runs.methods:
        rs = [r for r in runs.rows if r["method"] == m]
        w = _mean_std([float(r["wall_s"]) for r in rs])
        lines.append(f"| {m} | {len(rs)} | {w[0]:.0f} ± {w[1]:.0f} | {max(float(r['peak_rss_mb']) for r in rs):.0f} "
                     f"| {np.mean([float(r['load1']) for r in rs]):.1f} |")
    return lines


def results_table(runs):
    """The text of ``results_table.md``: the accuracy tables, the paired tables and the cost table."""
    lines = ["# FSFT experiment: target test accuracy", "",
             "Mean ± standard deviation over seeds (n runs) of the target test accuracy, and in brackets its ratio "
             f"to the cell's ceiling (`{CEILING}`: the same network trained on labelled target data); the best "
             "mean of a column in bold. `val`: mean accuracy on the unlabelled target pool's hidden labels (the "
             "validation score used for tuning). Generated by `aitom.classify.deep.fsft.report.write_report` "
             "from `runs.csv`.", ""]
    for k in runs.shots:
        lines += accuracy_table(runs, k)
    for k in runs.shots:
        for c in runs.cells:
            lines += paired_tables(runs, c, k)
    return "\n".join(lines + cost_table(runs)) + "\n"


def _heatmap_figure(grids, row_labels, col_labels, path, title):
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


def heatmaps(runs, out_dir):
    """``heatmap_[<structures>_]shots<k>.png`` per structure set and shot count: one panel per method, mean
    accuracy over source SNR x target SNR. Returns the paths written."""
    paths = []
    for g in sorted({c[0] for c in runs.cells}):
        s_values = sorted({c[1] for c in runs.cells if c[0] == g}, reverse=True)
        t_values = sorted({c[2] for c in runs.cells if c[0] == g}, reverse=True)
        for k in runs.shots:
            grids = {}
            for m in runs.methods:
                grid = np.full((len(s_values), len(t_values)), np.nan)
                for i, sv in enumerate(s_values):
                    for j, tv in enumerate(t_values):
                        rs = runs.by.get((g, sv, tv, k, m))
                        if rs:
                            grid[i, j] = np.mean([float(r["accuracy"]) for r in rs])
                if np.isfinite(grid).any():
                    grids[m] = grid
            if grids:
                prefix = "" if g == "shrec" else f"{g}_"
                path = os.path.join(out_dir, f"heatmap_{prefix}shots{k}.png")
                _heatmap_figure(grids, [_num(v) for v in s_values], [_num(v) for v in t_values], path,
                                title=f"{g}: target test accuracy, {k} shots")
                paths.append(path)
    return paths


def _stage_bars_figure(stage_means, path, title):
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


def stage_bars(runs, out_dir):
    """``stages_<cell>_shots<k>.png`` per cell and shot count: each method's accuracy after each of its
    stages, mean ± std over seeds. Returns the paths written."""
    paths = []
    for c in runs.cells:
        for k in runs.shots:
            stage_means = {}
            for m in runs.methods:
                rs = runs.by.get(c + (k, m))
                if rs:
                    per = [json.loads(r["stage_accuracy"]) for r in rs]
                    stage_means[m] = {st: _mean_std([p[st] for p in per if st in p])[:2] for st in per[0]}
            if stage_means:
                path = os.path.join(out_dir, f"stages_{cell_name(c[1], c[2], c[0])}_shots{k}.png")
                _stage_bars_figure(stage_means, path, title=f"{cell_label(c)}, {k} shots: accuracy after each stage")
                paths.append(path)
    return paths


def confusion_matrices(runs, out_dir):
    """``confusion/<cell>_shots<k>_<method>_seed<s>.png``: the confusion matrix of each method's run with
    the lowest seed, per cell and shot count. Returns the paths written."""
    from . import plots
    os.makedirs(os.path.join(out_dir, "confusion"), exist_ok=True)
    paths = []
    for c in runs.cells:
        for k in runs.shots:
            for m in runs.methods:
                rs = runs.by.get(c + (k, m))
                if not rs:
                    continue
                first = min(rs, key=lambda r: int(r["seed"]))
                cm = np.array(json.loads(first["confusion"]))
                acc = np.trace(cm) / max(cm.sum(), 1)
                path = os.path.join(out_dir, "confusion",
                                    f"{cell_name(c[1], c[2], c[0])}_shots{k}_{_slug(m)}_seed{first['seed']}.png")
                plots.save_confusion_matrix(cm, json.loads(first["class_names"]), path,
                                            title=f"{m}, {cell_label(c)}, {k} shots, seed {first['seed']}: {acc:.3f}")
                paths.append(path)
    return paths


def write_report(out_dir, methods=None, csv_path=None):
    """Write ``results_table.md`` and the figures from ``<out_dir>/runs.csv``; returns the table's text.

    Parameters
    ----------
    out_dir : str
        Folder of the report (and, unless ``csv_path`` is given, of ``runs.csv``).
    methods : list of str, optional
        Methods listed first, in this order; the others follow sorted by name.
    csv_path : str, optional
        The runs CSV (default ``<out_dir>/runs.csv``).

    Raises
    ------
    InputError
        If the CSV holds no runs.

    Examples
    --------
    >>> from aitom.classify.deep.fsft.report import write_report
    >>> text = write_report("doc/results", methods=["fsft", "finetune"])  # doctest: +SKIP
    """
    csv_path = csv_path or os.path.join(out_dir, CSV_NAME)
    rows = read_runs(csv_path)
    if not rows:
        raise InputError(csv_path, "no runs to report")
    runs = index_runs(rows, methods)
    text = results_table(runs)
    with atomic_open(os.path.join(out_dir, "results_table.md"), "w") as f:
        f.write(text)
    heatmaps(runs, out_dir)
    confusion_matrices(runs, out_dir)
    stage_bars(runs, out_dir)
    return text
