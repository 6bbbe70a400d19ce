"""FSFT on copick projects: train from a few annotated picks, classify every pick of every run, write back.

Training (:func:`train_from_copick`)
    The labelled target shots are the annotated picks of several objects (one object = one class; an
    object's name is its class name unless ``object_classes`` maps it to one of the source data set's
    classes). The unlabelled target pool is the picks that are to be classified (at most
    ``max_unlabelled``, drawn at random). Both are cut out of the runs' tomograms at the source's voxel
    size and box and written as a data-set folder (default ``<run_dir>_target``, beside the run folder,
    which :func:`train` keeps for itself); then :func:`train` runs as usual on it.

Classification (:func:`classify_copick_project`)
    One resumable job (:mod:`aitom.classify.deep.fsft.jobs`) over the runs: per run, the selected picks
    are cut from the zarr tomogram chunk by chunk, classified, written to
    ``<out_dir>/tomograms/<run>.csv`` and written back into the project as **new pick sets, one per
    predicted class**, whose object is the class's object and whose owner is the ``output_user`` /
    ``output_session`` the caller chooses. Each point keeps its position and orientation and its
    ``score`` is the class probability. Picks classified ``background``, or below ``threshold``, are
    left out unless ``rejected_object`` names an object to write them under (score: the top class
    probability); picks whose box could not be cut (``edge='skip'``, outside the tomogram) are left out.
    Existing pick sets are never modified: a job refuses to start when a run already has a pick set of
    an output object under the output user and session. The only sets it ever deletes are those it was
    itself writing in a run when it was killed (recorded in ``<run>.pending``), before rewriting them.
"""
import os
import warnings

import numpy as np

from aitom.errors import InputError
from aitom.io.copick_project import (ROTATION_COLUMNS, check_objects, delete_pick_set,
                                     existing_pick_sets, import_copick, open_project, open_zarr_tomogram, select_runs,
                                     write_pick_set)
from aitom.io.dataset import META_FILE, SubtomogramSetWriter, load_dataset
from aitom.io.particles import write_particles
from aitom.picking.extract import extract_background, extract_subtomograms, plan_extraction, tomogram_coordinates

from .classifier import SubtomogramClassifier
from .domain_transfer import with_ctf
from .jobs import TomogramJob, class_counts
from .picks import BACKGROUND, UNASSIGNED, classify_tomogram, label_picks
from .pipeline import train

TARGET_SUFFIX = "_target"
_EXTRACT_BATCH = 256


def object_classes_for(objects, class_names, object_classes=None, what="annotations"):
    """Class name of each annotated object: ``object_classes[object]`` if given, else the object's name.

    Raises
    ------
    InputError
        If an object's class is not among ``class_names`` (one line, listing the classes).

    Examples
    --------
    >>> object_classes_for(["ribosome", "1bxn"], ["1bxn", "4v4r"], {"ribosome": "4v4r"})
    {'ribosome': '4v4r', '1bxn': '1bxn'}
    """
    mapping = dict(object_classes or {})
    out = {}
    for name in objects:
        cls = mapping.get(name, name)
        if cls not in class_names:
            raise InputError(what, f"object {name!r} matches no class of the source data set "
                                   f"({', '.join(class_names)}); map it with --map {name}=CLASS")
        out[name] = cls
    return out


def class_objects(root, class_names, object_classes=None):
    """Object each predicted class is written as: the object mapped to it, else the class's own name.

    ``background`` is not a particle class and is left out. Raises InputError when two objects map to
    one class, or a class is not a pickable object of the project.
    """
    inverse = {}
    for name, cls in (object_classes or {}).items():
        if inverse.get(cls, name) != name:
            raise InputError("object_classes", f"objects {inverse[cls]!r} and {name!r} both map to class {cls!r}; "
                                               "written picks of that class would have two objects")
        inverse[cls] = name
    out = {c: inverse.get(c, c) for c in class_names if c != BACKGROUND}
    check_objects(root, list(out.values()), "classes (objects the predicted classes are written as; map one with "
                                            "--map OBJECT=CLASS)")
    return out


def _copick_name(value, what):
    """``value`` unchanged, or InputError if copick would rename it (copick silently sanitises ids)."""
    import_copick()
    from copick.util.escape import sanitize_name

    with warnings.catch_warnings():  # sanitize_name warns about the very names this rejects
        warnings.simplefilter("ignore")
        clean = sanitize_name(value) if value else None
    if clean != value:
        raise InputError(what, f"{value!r} is not a valid copick id (no '_', spaces or path separators)")
    return value


def build_target_set(root, runs, voxel_size_A, tomo_type, annotations, pool, class_names, box_size, out_path,
                     voxel_spacing_nm=None, object_classes=None, max_unlabelled=2000, background_per_run=0, seed=0,
                     edge="pad", pad_value="mean", cache_mb=512):
    """Cut the few-shot target set out of a copick project and write it as a data-set folder.

    Parameters
    ----------
    root : copick.models.CopickRoot
    runs : list of copick.models.CopickRun
    voxel_size_A : float
        Voxel spacing of the tomograms to cut from.
    tomo_type : str
        Tomogram type (``"wbp"``, ``"denoised"``, ...).
    annotations : PickSelection
        Labelled picks; each pick's object gives its class (:func:`object_classes_for`).
    pool : PickSelection
        Unlabelled picks (the picks to be classified).
    class_names : sequence of str
        The source data set's classes.
    box_size : int
        Cube edge (the source's).
    out_path : str
        Set folder to write (atomically).
    voxel_spacing_nm : float, optional
        The source's voxel size; cubes are resampled to it (None: tomogram voxels).
    object_classes : dict, optional
        Object name -> class name, for objects not named after their class.
    max_unlabelled : int
        At most this many pool picks, drawn at random with ``seed``.
    background_per_run : int
        Random negatives per run, away from every annotated and pool pick, labelled ``background``
        (needs that class).
    seed : int
    edge, pad_value
        As in :func:`aitom.picking.extract.extract_subtomograms`.
    cache_mb : float
        Decoded zarr chunks kept per tomogram.

    Returns
    -------
    dict
        Counts: ``{"labelled": {class: n}, "unlabelled": n, "skipped": n}``.

    Raises
    ------
    InputError
        Unknown object names, a class without any annotation, missing tomograms.
    """
    class_names = list(class_names)
    rng = np.random.default_rng(seed)
    model_voxel_A = None if voxel_spacing_nm is None else 10.0 * voxel_spacing_nm
    plans, skipped = [], 0
    for run in runs:
        tomogram = open_zarr_tomogram(run, voxel_size_A, tomo_type, cache_mb)
        scale = 1.0 if model_voxel_A is None else model_voxel_A / tomogram.voxel_size_A
        labelled = annotations.read(run, tomogram.voxel_size_A)
        mapping = object_classes_for(sorted(set(labelled["object_name"])), class_names, object_classes)
        unlabelled = pool.read(run, tomogram.voxel_size_A)
        parts = []
        for table, labels in ((labelled, [class_names.index(mapping[o]) for o in labelled["object_name"]]),
                              (unlabelled, [-1] * len(unlabelled))):
            centres = tomogram_coordinates(table, tomogram.voxel_size_A, source=tomogram.path)
            mask, _ = plan_extraction(tomogram.shape, centres, box_size, scale, edge)
            skipped += int((~mask).sum())
            parts.append((centres[mask], np.asarray(labels, dtype=np.int64)[mask]))
        plans.append({"tomogram": tomogram, "scale": scale, "labelled": parts[0], "pool": parts[1],
                      "all": np.concatenate([parts[0][0], parts[1][0]])})
    counts = np.bincount(np.concatenate([p["labelled"][1] for p in plans]), minlength=len(class_names))
    if background_per_run:
        if BACKGROUND not in class_names:
            raise InputError("background_per_run", f"the source data set has no {BACKGROUND!r} class")
        counts[class_names.index(BACKGROUND)] += background_per_run * len(plans)
    missing = [c for c, n in zip(class_names, counts) if n == 0]
    if missing:
        raise InputError("annotations", f"no annotated pick ({annotations.label()}) for class(es) "
                                        f"{', '.join(missing)}: annotate them, map an object to them with --map "
                                        "OBJECT=CLASS, or for 'background' pass --background-per-run N")
    n_pool = sum(len(p["pool"][0]) for p in plans)
    keep = np.sort(rng.choice(n_pool, size=min(n_pool, int(max_unlabelled)), replace=False))
    starts = np.cumsum([0] + [len(p["pool"][0]) for p in plans])
    for plan, start, stop in zip(plans, starts[:-1], starts[1:]):
        chosen = keep[(keep >= start) & (keep < stop)] - start
        plan["pool"] = (plan["pool"][0][chosen], plan["pool"][1][chosen])
    n = int(counts.sum()) + len(keep)
    meta = {"copick": {"runs": [r.name for r in runs], "voxel_size_A": voxel_size_A, "tomo_type": tomo_type,
                       "annotations": annotations.to_dict(), "pool": pool.to_dict()}}
    with SubtomogramSetWriter(out_path, n, box_size, class_names, voxel_spacing_nm, meta=meta) as writer:
        row = 0
        for plan in plans:
            tomogram, scale = plan["tomogram"], plan["scale"]
            for centres, labels in (plan["labelled"], plan["pool"]):
                for i in range(0, len(centres), _EXTRACT_BATCH):
                    cubes, _, _ = extract_subtomograms(tomogram, centres[i:i + _EXTRACT_BATCH], box_size, scale,
                                                       edge="pad", pad_value=pad_value)
                    writer.write(row, cubes, labels[i:i + _EXTRACT_BATCH])
                    row += len(cubes)
            if background_per_run:
                cubes, _ = extract_background(tomogram, plan["all"], background_per_run, box_size, rng,
                                              min_distance=box_size * plan["scale"] / 2, scale=plan["scale"])
                writer.write(row, cubes, np.full(len(cubes), class_names.index(BACKGROUND)))
                row += len(cubes)
    return {"labelled": {c: int(k) for c, k in zip(class_names, counts)}, "unlabelled": int(len(keep)),
            "skipped": skipped}


def train_from_copick(source, config_path, run_dir, voxel_size_A, tomo_type, annotations, pool, runs=None,
                      object_classes=None, config=None, shots=None, max_unlabelled=2000, background_per_run=0,
                      resume=False, progress=True, edge="pad", pad_value="mean", cache_mb=512, target_dir=None,
                      target_ctf=None):
    """Train FSFT with a copick project's annotations as the few-shot target (see the module docstring).

    Parameters
    ----------
    source : data set
        Labelled source data (anything :func:`aitom.io.dataset.load_dataset` reads).
    config_path : str
        copick configuration file.
    run_dir : str
        Training run folder (:func:`train`'s).
    voxel_size_A, tomo_type
        Tomograms to cut from.
    annotations, pool : PickSelection
        Labelled picks (one object per class) and unlabelled picks.
    runs : list of str, optional
        Runs to use (default: all).
    object_classes : dict, optional
        Object name -> source class name.
    config : FSFTConfig, optional
    shots : int, optional
        Labelled target subtomograms per class; default: the smallest number of annotated picks of a
        class, so that every annotation of that class is a shot (this replaces ``config.shots``).
    max_unlabelled, background_per_run, edge, pad_value, cache_mb
        See :func:`build_target_set`.
    resume : bool
        Continue the run in ``run_dir`` (its target set is reused).
    progress : bool
    target_dir : str, optional
        Folder for the target set (default ``<run_dir>_target``).
    target_ctf : dict, optional
        The tomograms' acquisition parameters (``Dz``, ``Cs``, ``voltage``; :func:`.domain_transfer.with_ctf`):
        with the source's (its own metadata, or ``with_ctf``), the source is read with the target's CTF and noise.

    Returns
    -------
    FSFTResult

    Examples
    --------
    >>> from aitom.io.copick_project import PickSelection
    >>> result = train_from_copick("data/source", "project/copick.json", "runs/copick", 10.0, "wbp",
    ...                            PickSelection(("ribosome", "apoferritin"), "alice", "1"),
    ...                            PickSelection(("particle",), "pytom", "0"))  # doctest: +SKIP
    """
    run_dir = os.fspath(run_dir).rstrip(os.sep)
    target_path = os.fspath(target_dir) if target_dir is not None else run_dir + TARGET_SUFFIX
    exists = os.path.isfile(os.path.join(target_path, META_FILE))
    if exists and not resume:
        raise InputError(target_path, "already holds a target set: pass resume to continue that run, or choose "
                                      "another run folder")
    source = load_dataset(source)
    if not exists:
        root = open_project(config_path)
        build_target_set(root, select_runs(root, runs), voxel_size_A, tomo_type, annotations, pool,
                         source.class_names, source.box_size, target_path, source.voxel_spacing_nm, object_classes,
                         max_unlabelled, background_per_run, (config.seed if config is not None else 0), edge,
                         pad_value, cache_mb)
    target = load_dataset(target_path)
    if target_ctf:
        target = with_ctf(target, **target_ctf)
    if shots is None:
        shots = int(min(target.counts().values()))
    return train(source, target, shots=shots, config=config, run_dir=run_dir, resume=resume, progress=progress)


def classify_copick_project(config_path, model, out_dir, voxel_size_A, tomo_type, picks, output_user, output_session,
                            runs=None, object_classes=None, threshold=None, rejected_object=None, batch_size=64,
                            edge="pad", pad_value="mean", resume=False, progress=True, cache_mb=512):
    """Classify the picks of every run of a copick project and write them back as new pick sets.

    Parameters
    ----------
    config_path : str
        copick configuration file.
    model : str or SubtomogramClassifier
        Classifier (folder or object).
    out_dir : str
        Job folder (:mod:`aitom.classify.deep.fsft.jobs`): ``tomograms/<run>.csv`` with the ``fsft_*``
        columns and ``copick_object`` (the object the pick was written as, empty if left out),
        ``summary.csv``, ``summary.png``.
    voxel_size_A, tomo_type
        Tomograms to cut from.
    picks : PickSelection
        Picks to classify.
    output_user, output_session : str
        Owner of the written pick sets.
    runs : list of str, optional
        Runs (default: all).
    object_classes : dict, optional
        Object name -> class name; a class is written as the object mapped to it, else as the object
        named like the class.
    threshold : float, optional
        Picks whose top probability is below it count as rejected.
    rejected_object : str, optional
        Write rejected picks (``background`` or below ``threshold``) as a pick set of this object;
        default: leave them out.
    batch_size, edge, pad_value, cache_mb
        Inference batch, edge handling (:func:`aitom.picking.extract.extract_subtomograms`), decoded
        zarr chunks kept.
    resume : bool
        Continue a killed job in ``out_dir``.
    progress : bool
        Progress bar over runs.

    Returns
    -------
    pandas.DataFrame
        The summary table: picks per class and run, and a total row.

    Raises
    ------
    InputError
        Before anything is written: an output pick set already exists, a class has no object, a run
        lacks the tomogram, bad ids.

    Examples
    --------
    >>> classify_copick_project("project/copick.json", "runs/copick/classifier", "runs/job", 10.0, "wbp",
    ...                         PickSelection(("particle",), "pytom", "0"), "fsft", "1")  # doctest: +SKIP
    """
    root = open_project(config_path)
    selected = select_runs(root, runs)
    classifier = model if isinstance(model, SubtomogramClassifier) else SubtomogramClassifier.load(os.fspath(model))
    if threshold is not None and not 0 <= threshold <= 1:
        raise InputError("threshold", f"must be a probability in [0, 1], got {threshold!r}")
    _copick_name(output_user, "output_user")
    _copick_name(output_session, "output_session")
    targets = class_objects(root, classifier.class_names, object_classes)
    if rejected_object is not None:
        check_objects(root, [rejected_object], "rejected_object")
    outputs = sorted(set(targets.values()) | ({rejected_object} if rejected_object else set()))
    params = {"kind": "copick", "config": os.path.abspath(os.fspath(config_path)),
              "model": os.path.abspath(os.fspath(model)) if isinstance(model, (str, os.PathLike)) else None,
              "runs": runs if runs is None else list(runs), "voxel_size_A": float(voxel_size_A),
              "tomo_type": tomo_type, "picks": picks.to_dict(), "output_user": output_user,
              "output_session": output_session, "object_classes": dict(object_classes or {}),
              "threshold": threshold, "rejected_object": rejected_object, "edge": edge, "pad_value": pad_value}
    job = TomogramJob(out_dir, params, resume=resume)
    todo = [run for run in selected if not job.is_done(run.name)]
    for run in todo:  # every check before the first write
        job.path(run.name, "")
        open_zarr_tomogram(run, voxel_size_A, tomo_type, cache_mb)
        ours = set((job.pending(run.name) or {}).get("objects", ()))
        clash = [o for o in existing_pick_sets(run, outputs, output_user, output_session) if o not in ours]
        if clash:
            raise InputError(f"run {run.name}", f"already has pick set(s) {', '.join(clash)} of user {output_user!r}, "
                                                f"session {output_session!r}; existing pick sets are never "
                                                "overwritten: choose another output user or session")
    from tqdm.auto import tqdm

    with tqdm(total=len(selected), initial=len(selected) - len(todo), disable=not progress, desc="runs",
              unit="run") as bar:
        for run in todo:
            _classify_run(job, run, classifier, targets, rejected_object, voxel_size_A, tomo_type, picks,
                          output_user, output_session, threshold, batch_size, edge, pad_value, cache_mb)
            bar.update(1)
    return job.write_summary([r.name for r in selected], classifier.class_names)


def _classify_run(job, run, classifier, targets, rejected_object, voxel_size_A, tomo_type, selection, user, session,
                  threshold, batch_size, edge, pad_value, cache_mb):
    """One run of :func:`classify_copick_project`: classify, write the CSV, write the pick sets, mark done."""
    for name in (job.pending(run.name) or {}).get("objects", ()):  # sets a killed attempt was writing
        delete_pick_set(run, name, user, session)
    tomogram = open_zarr_tomogram(run, voxel_size_A, tomo_type, cache_mb)
    table = selection.read(run, tomogram.voxel_size_A)
    probabilities, reasons = classify_tomogram(tomogram, table, classifier, batch_size=batch_size, edge=edge,
                                               pad_value=pad_value)
    classified = label_picks(table, probabilities, reasons, classifier.class_names, threshold)
    rejected = {BACKGROUND: rejected_object, UNASSIGNED: rejected_object}
    classified["copick_object"] = [targets.get(c) or rejected.get(c) or "" for c in classified["fsft_class"]]
    write_particles(classified, job.path(run.name, ".csv"))
    objects = sorted(set(classified["copick_object"]) - {""})
    job.mark_pending(run.name, {"objects": objects, "user_id": user, "session_id": session})
    for name in objects:
        rows = classified[classified["copick_object"] == name]
        xyz = rows[["x_px", "y_px", "z_px"]].to_numpy(float) * rows["pixel_size_A"].to_numpy(float)[:, None]
        write_pick_set(run, name, user, session, xyz, rows["fsft_probability"].to_numpy(float),
                       rows[list(ROTATION_COLUMNS)].to_numpy(float).reshape(-1, 3, 3), tomogram.voxel_size_A)
    job.mark_done(run.name, class_counts(classified))
