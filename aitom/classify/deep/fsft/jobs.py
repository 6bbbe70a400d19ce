"""Many-tomogram classification jobs: resumable job folders, per-tomogram outputs and a summary table.

A job classifies the picks of many tomograms, one tomogram at a time, into a job folder::

    <out_dir>/job.json                 the job's parameters (a resumed job must pass the same ones)
    <out_dir>/tomograms/<name>.<ext>   classified picks of one tomogram (written atomically)
    <out_dir>/tomograms/<name>.done    per-class counts; written last, atomically: the tomogram is finished
    <out_dir>/tomograms/<name>.pending what a tomogram is about to write outside the job folder (copick jobs)
    <out_dir>/summary.csv              one row per tomogram and a ``total`` row: picks per class
    <out_dir>/summary.png              the same as a stacked bar chart

A killed job is continued with ``resume=True``: tomograms with a ``.done`` record are skipped, any other
output is ignored and rewritten, since only the ``.done`` record says that a tomogram is complete.

:func:`classify_particle_lists` runs such a job over particle lists, one per tomogram, as
pytom-match-pick writes them; :mod:`aitom.classify.deep.fsft.copick_jobs` runs one over a copick project.
"""
import json
import os
import re

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from aitom.errors import InputError
from aitom.io.atomic import atomic_open, atomic_path
from aitom.io.particles import FORMATS, detect_format, read_particles, write_particles

from .classifier import SubtomogramClassifier
from .picks import BACKGROUND, SKIPPED, UNASSIGNED, classify_picks, tomogram_geometry

JOB_FILE = "job.json"
SUMMARY_CSV, SUMMARY_PNG = "summary.csv", "summary.png"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as err:
        raise InputError(path, f"unreadable job record ({type(err).__name__}: {err})") from err


def _write_json(obj, path):
    with atomic_open(path, "w") as f:
        json.dump(obj, f, indent=2)


class TomogramJob:
    """A job folder whose tomograms are finished one by one (see the module docstring).

    Parameters
    ----------
    out_dir : str
        Job folder.
    params : dict
        JSON-serialisable parameters that decide the output; stored in ``job.json``.
    resume : bool
        Continue the job in ``out_dir`` (its parameters must equal ``params``). Without it, a folder that
        already holds a job is refused.

    Examples
    --------
    >>> job = TomogramJob("runs/job", {"model": "m"}, resume=False)  # doctest: +SKIP
    >>> job.is_done("TS_01")  # doctest: +SKIP
    False
    """

    def __init__(self, out_dir, params, resume=False):
        self.out_dir = os.fspath(out_dir)
        self.folder = os.path.join(self.out_dir, "tomograms")
        path = os.path.join(self.out_dir, JOB_FILE)
        params = json.loads(json.dumps(params))  # the form it has once stored (tuples -> lists)
        if os.path.exists(path):
            if not resume:
                raise InputError(self.out_dir, "already holds a job: pass resume to continue it, or choose another "
                                               "output folder")
            saved = _read_json(path)
            changed = sorted(k for k in set(saved) | set(params) if saved.get(k) != params.get(k))
            if changed:
                raise InputError(path, f"resume: parameter(s) {', '.join(changed)} differ from the job being resumed")
        else:
            os.makedirs(self.out_dir, exist_ok=True)
            _write_json(params, path)
        os.makedirs(self.folder, exist_ok=True)
        self.params = params

    def path(self, name, suffix):
        """``<out_dir>/tomograms/<name><suffix>``; ``name`` must be a plain file name."""
        if not _SAFE_NAME.match(name):
            raise InputError(name, "tomogram name cannot be used as a file name (letters, digits and . _ + - only, "
                                   "not starting with a dot)")
        return os.path.join(self.folder, name + suffix)

    def is_done(self, name):
        """True when tomogram ``name`` was finished."""
        return os.path.exists(self.path(name, ".done"))

    def pending(self, name):
        """The record :meth:`mark_pending` left for an unfinished tomogram, or None."""
        path = self.path(name, ".pending")
        return _read_json(path) if os.path.exists(path) and not self.is_done(name) else None

    def mark_pending(self, name, record):
        """Record (atomically) what tomogram ``name`` is about to write outside the job folder."""
        _write_json(record, self.path(name, ".pending"))

    def mark_done(self, name, counts):
        """Finish tomogram ``name``: its per-class counts (dict class -> int), written atomically."""
        _write_json({"tomogram": name, "counts": {k: int(v) for k, v in counts.items()}}, self.path(name, ".done"))
        pending = self.path(name, ".pending")
        if os.path.exists(pending):
            os.remove(pending)

    def counts(self, names):
        """Per-class counts of finished tomograms, as a dict name -> dict."""
        return {n: _read_json(self.path(n, ".done"))["counts"] for n in names if self.is_done(n)}

    def write_summary(self, names, classes):
        """Write ``summary.csv`` and ``summary.png`` for the finished tomograms among ``names``.

        Returns
        -------
        pandas.DataFrame
            Columns ``tomogram``, ``picks``, one per particle class in ``classes`` order and then any
            other label found (``background``, ``unassigned``, ``skipped``); one row per finished
            tomogram and a ``total`` row.
        """
        table = summary_table(self.counts(names), classes)
        with atomic_open(os.path.join(self.out_dir, SUMMARY_CSV), "w", newline="") as f:
            table.to_csv(f, index=False)
        save_summary_png(table, os.path.join(self.out_dir, SUMMARY_PNG))
        return table


def summary_table(counts, classes):
    """Table of picks per class and tomogram (see :meth:`TomogramJob.write_summary`).

    Examples
    --------
    >>> summary_table({"a": {"x": 2, "skipped": 1}, "b": {"y": 1}}, ["x", "y"]).to_dict("list")
    {'tomogram': ['a', 'b', 'total'], 'picks': [3, 1, 4], 'x': [2, 0, 2], 'y': [0, 1, 1], 'skipped': [1, 0, 1]}
    """
    classes = [c for c in classes if c != BACKGROUND]  # with the other rejections, after the particle classes
    extra = sorted({k for c in counts.values() for k in c} - set(classes),
                   key=lambda k: ((BACKGROUND, UNASSIGNED, SKIPPED).index(k) if k in (BACKGROUND, UNASSIGNED, SKIPPED)
                                  else -1, k))
    columns = list(classes) + extra
    rows = [[name, sum(c.values())] + [int(c.get(k, 0)) for k in columns] for name, c in counts.items()]
    table = pd.DataFrame(rows, columns=["tomogram", "picks"] + columns)
    total = ["total"] + [int(table[k].sum()) for k in ["picks"] + columns]
    table.loc[len(table)] = total
    return table


def save_summary_png(table, path):
    """Stacked horizontal bar chart of picks per class and tomogram (the table's rows except ``total``)."""
    body = table[table["tomogram"] != "total"]
    columns = [c for c in table.columns if c not in ("tomogram", "picks")]
    fig = Figure(figsize=(7.0, 1.2 + 0.3 * max(len(body), 1)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    left = np.zeros(len(body))
    for column in columns:
        values = body[column].to_numpy(dtype=float)
        ax.barh(np.arange(len(body)), values, left=left, label=column)
        left += values
    ax.set_yticks(np.arange(len(body)), body["tomogram"].tolist())
    ax.invert_yaxis()
    ax.set_xlabel("picks")
    ax.set_title(f"{int(table['picks'].iloc[-1])} picks in {len(body)} tomograms")
    if columns:
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    return path


def class_counts(classified):
    """Counts of ``fsft_class`` in a classified particle list, as a dict."""
    return {str(k): int(v) for k, v in classified["fsft_class"].value_counts().items()}


def classify_particle_lists(particle_lists, tomograms, model, out_dir, threshold=None, batch_size=64, edge="pad",
                            pad_value="mean", fmt=None, resume=False, progress=True, trusted=False):
    """Classify several particle lists (one per tomogram, as pytom-match-pick writes them) as one resumable job.

    Each list is one unit of the job: its picks are matched to ``tomograms`` by name
    (:func:`aitom.classify.deep.fsft.picks.group_by_tomogram`), classified with
    :func:`aitom.classify.deep.fsft.picks.classify_picks` and written to
    ``<out_dir>/tomograms/<list stem>.<list extension>`` in the list's own format (STAR outputs keep the
    input's other blocks), with the ``fsft_*`` columns.

    Parameters
    ----------
    particle_lists : list of str
        Particle lists (STAR, CSV or AITom pickle); their file stems must differ.
    tomograms : list of str
        MRC tomograms the lists refer to.
    model : str or SubtomogramClassifier
        Classifier (folder or object).
    out_dir : str
        Job folder (see the module docstring).
    threshold, batch_size, edge, pad_value
        As for :func:`aitom.classify.deep.fsft.picks.classify_picks`.
    fmt : str, optional
        Format of every list (default: detected per list).
    resume : bool
        Continue a killed job in ``out_dir``.
    progress : bool
        Progress bar over lists.
    trusted : bool
        Allow AITom pickle lists (unpickling can run code; see :func:`aitom.io.particles.read_particles`).

    Returns
    -------
    pandas.DataFrame
        The summary table (also in ``summary.csv`` / ``summary.png``).

    Examples
    --------
    >>> classify_particle_lists(["TS_01.star", "TS_02.star"], ["TS_01.mrc", "TS_02.mrc"],
    ...                         "runs/fsft/classifier", "runs/job")  # doctest: +SKIP
    """
    if fmt is not None and fmt not in FORMATS:
        raise InputError("fmt", f"unknown particle list format {fmt!r}; expected one of {', '.join(FORMATS)}")
    lists = [os.fspath(p) for p in particle_lists]
    tomograms = [os.fspath(t) for t in tomograms]
    stems = [os.path.splitext(os.path.basename(p))[0] for p in lists]
    repeated = sorted({s for s in stems if stems.count(s) > 1})
    if repeated:
        raise InputError("particle_lists", f"several lists are named {repeated[0]!r}; each list's output is named "
                                           "after it, so the names must differ")
    classifier = model if isinstance(model, SubtomogramClassifier) else SubtomogramClassifier.load(os.fspath(model))
    params = {"kind": "particle-lists", "particle_lists": [os.path.abspath(p) for p in lists],
              "tomograms": [os.path.abspath(t) for t in tomograms], "model": _model_id(model),
              "threshold": threshold, "edge": edge, "pad_value": pad_value, "fmt": fmt}
    job = TomogramJob(out_dir, params, resume=resume)
    for stem in stems:
        job.path(stem, "")  # refuse unusable names before any work
    shapes, voxels = tomogram_geometry(tomograms)
    with tqdm(total=len(lists), disable=not progress, desc="tomograms", unit="tomogram") as bar:
        for path, stem in zip(lists, stems):
            if not job.is_done(stem):
                list_fmt = fmt or detect_format(path)
                picks = read_particles(path, fmt=list_fmt, tomogram_shape=shapes, pixel_size_A=voxels,
                                       trusted=trusted)
                classified = classify_picks(tomograms, picks, classifier, batch_size=batch_size, threshold=threshold,
                                            progress=False, edge=edge, pad_value=pad_value)
                like = path if list_fmt in ("pytom", "relion4", "relion5") else None
                write_particles(classified, job.path(stem, os.path.splitext(path)[1]), fmt=list_fmt,
                                tomogram_shape=shapes, like=like)
                job.mark_done(stem, class_counts(classified))
            bar.update(1)
    return job.write_summary(stems, classifier.class_names)


def _model_id(model):
    """How ``job.json`` records a model: its folder, or ``None`` for an in-memory classifier."""
    return os.path.abspath(os.fspath(model)) if isinstance(model, (str, os.PathLike)) else None
