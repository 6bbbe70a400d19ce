"""The FSFT pipeline (``train``, ``predict``, ``evaluate``): end to end, in AITom's classification style.

``train(source, target, shots=5)`` takes data sets in any form ``aitom.io.dataset.load_dataset``
reads (folders, pickles, ``dj`` lists), draws the few-shot split, runs the stages in order with
checkpoints and returns a :class:`FSFTResult` holding the target-domain classifier. The target test
set is read only to report each stage's accuracy; nothing is selected by it.
"""
import contextlib
import copy
import dataclasses
import json
import os
import time

import keras
import numpy as np
from tqdm.auto import tqdm

from aitom.errors import InputError
from aitom.io.atomic import atomic_open
from aitom.io.dataset import SubtomogramSet, harmonize_classes, load_dataset

from . import plots
from .checkpoint import CheckpointStore, run_lock
from .classifier import SubtomogramClassifier, json_safe
from .config import FSFTConfig
from .data import FewShotSplit, few_shot_split
from .distribute import get_strategy, is_chief
from .domain_transfer import source_as_target
from .models import FSFTNetworks
from .stages import (STAGES, RunContext, StageData, _unlabelled_pool, accuracy, calibrate_target_batchnorm,
                     stage1_source, stage2_1_coral, stage2_2_discriminator, stage3_finetune)

STAGE_FUNCTIONS = {"1": stage1_source, "2.1": stage2_1_coral, "2.2": stage2_2_discriminator, "3": stage3_finetune}


@dataclasses.dataclass
class FSFTResult:
    """What :func:`train` returns.

    Attributes
    ----------
    classifier : SubtomogramClassifier
        The deployable classifier (target domain, or source if no adaptation stage ran).
    networks : aitom.classify.deep.fsft.models.FSFTNetworks
        Every trained network.
    split : aitom.classify.deep.fsft.data.FewShotSplit
        The few-shot split (source train / validation, target shots / unlabelled pool / test).
    history : dict
        Stage -> quantity -> one value per epoch.
    accuracy : dict
        Stage -> the target test accuracy (``"target_test_acc"``) and source validation accuracy after it.
    run_dir : str or None

    Examples
    --------
    >>> result = train("data/source", "data/target", shots=5)  # doctest: +SKIP
    >>> result.accuracy["3"]["target_test_acc"]  # doctest: +SKIP
    >>> result.classifier.save("runs/r1/classifier")  # doctest: +SKIP
    """

    classifier: SubtomogramClassifier
    networks: FSFTNetworks
    split: FewShotSplit
    history: dict
    accuracy: dict
    run_dir: str = None


def _write_json(obj, path):
    """Write ``obj`` as valid JSON: NaN (an accuracy with nothing to measure it on) becomes null."""
    with atomic_open(path, "w") as f:
        json.dump(json_safe(obj), f, indent=2, allow_nan=False)


def _load_dataset_named(obj, name):
    """``load_dataset``; an error about an in-memory input ('dj[3]') also says which domain it is."""
    try:
        return load_dataset(obj)
    except InputError as e:
        if isinstance(obj, (str, os.PathLike)) or e.source.startswith(name):
            raise
        raise InputError(f"{name} {e.source}", e.problem) from e


def _load_pair(source, target):
    source = _load_dataset_named(source, "source")
    target = _load_dataset_named(target, "target")
    for name, s in (("source", source), ("target", target)):  # memmapped sets were checked when loaded
        s.validate(name, check_values=not isinstance(s.x, np.memmap))
    source, target = harmonize_classes(source, target)
    if source.box_size != target.box_size:
        raise InputError("target", f"box size {target.box_size} differs from the source's {source.box_size}")
    vs, vt = source.voxel_spacing_nm, target.voxel_spacing_nm
    if vs is not None and vt is not None and abs(vs - vt) > 0.01 * vs:
        raise InputError("target", f"voxel spacing {vt} nm differs from the source's {vs} nm; resample one first")
    return source, target


def _stage_domain(completed, config, transfer):
    """The encoder target subtomograms go through after the ``completed`` stages (``config.deploy_encoder``;
    ``transfer``: what :func:`_source_as_target` applied)."""
    if "2.1" not in completed and "3" not in completed:
        return "source"
    if config.deploy_encoder == "auto":  # f_s gains from stage 3 and the rounds (shared layers on target labels)
        return "source" if transfer.get("ctf_transfer") and "3" in completed else "target"
    return config.deploy_encoder


# A run folder holds RUN_MARKER (written first) and what train writes; a folder of run outputs without
# the marker (written before it existed) is recognised by its config.json and split.json
RUN_MARKER = ".aitom-fsft-run"
_RUN_ENTRIES = {"config.json", "split.json", "checkpoints", "classifier", "history.json", "accuracy.json",
                "training_curves.png", "target_test.json", "target_test_confusion.png"}


def _claim_run_dir(run_dir):
    """Mark an empty (or new) ``run_dir`` as a run folder; refuse a folder that holds anything else."""
    os.makedirs(run_dir, exist_ok=True)
    entries = {n for n in os.listdir(run_dir) if not n.startswith(".")}  # hidden: .lock, killed writes' temporaries
    if os.path.exists(os.path.join(run_dir, RUN_MARKER)) or (
            entries <= _RUN_ENTRIES and {"config.json", "split.json"} <= entries):
        return
    if entries:
        raise InputError(run_dir, f"is not an aitom-fsft run folder (it holds {sorted(entries)[0]!r}); train writes "
                                  "config.json, split.json, checkpoints/ and more there: choose a new or empty folder")
    with atomic_open(os.path.join(run_dir, RUN_MARKER), "w") as f:
        f.write("aitom-fsft run folder: written by aitom.classify.deep.fsft.train\n")


FIELDS_ADDED_LATER = {"self_training_rounds": 0, "self_training_epochs": None, "coral_encoder": "target",
                     "stage3_coral_alpha": 0.0, "stage3_source_target_weight": 0.0,
                     "pseudo_label_encoder": "target"}
"""FSFTConfig fields newer than some run folders, with the value that reproduces what such a run did."""


def _prepare_run_dir(run_dir, resume, config, split, write=True):
    """Record config and split in a new run folder (``write``: the chief), or check them against a resumed one."""
    cfg_path, split_path = os.path.join(run_dir, "config.json"), os.path.join(run_dir, "split.json")
    if resume and os.path.exists(cfg_path) and os.path.exists(split_path):  # (a kill may fall between the two writes)
        with open(cfg_path) as f:
            saved = FSFTConfig.from_dict({**FIELDS_ADDED_LATER, **json.load(f)})
        if saved != config:
            differ = {k: v for k, v in saved.to_dict().items() if v != getattr(config, k)}
            raise InputError(cfg_path, f"resume=True but the configuration differs from the run being resumed "
                                       f"(the run's values: {differ})")
        with open(split_path) as f:
            saved_split = FewShotSplit.from_dict(json.load(f))
        if saved_split.to_dict() != split.to_dict():
            raise InputError(split_path, "resume=True but the data or seed give a different split")
        return
    if os.path.exists(os.path.join(run_dir, "checkpoints", "latest.json")):
        raise InputError(run_dir, "already holds a run: pass resume=True to continue it, or choose another folder")
    if write:
        _write_json(config.to_dict(), cfg_path)
        _write_json(split.to_dict(), split_path)


def _adopt(start_from, networks, config, split):
    """Copy a finished run's weights, histories and accuracies into a new run (see ``train``)."""
    done = list(start_from.classifier.meta["stages"])
    if start_from.split.to_dict() != split.to_dict():
        raise InputError("start_from", "was trained on a different split (data, shots or seed differ)")
    if "3" in done:
        raise InputError("start_from", "has run stage 3; only runs that stop before stage 3 can be continued")
    theirs = FSFTConfig.from_dict(start_from.classifier.meta["config"])
    for field in FSFTConfig.stage_fields("split", *done):
        if getattr(theirs, field) != getattr(config, field):
            raise InputError("start_from", f"its {field}={getattr(theirs, field)!r} differs from this run's "
                                           f"{getattr(config, field)!r}")
    mine = networks.components()
    for name, model in start_from.networks.components().items():
        if name != "D" or "2.2" in done:  # an untrained D keeps this run's own initialisation
            mine[name].set_weights(model.get_weights())
    return dict(start_from.history), {k: dict(v) for k, v in start_from.accuracy.items()}, done


def train(source, target, shots=None, config=None, run_dir=None, resume=False, strategy=None, progress=True,
          stages=STAGES, start_from=None, **overrides):
    """Train FSFT and return an :class:`FSFTResult`.

    Parameters
    ----------
    source, target : data sets (folder, pickle, ``dj`` list, SubtomogramSet). Target subtomograms
        labelled -1 are unlabelled. Labelled target rows beyond the shots are split by
        ``config.target_test_fraction`` (default 0.5) into a test set, read only to report each stage's
        accuracy, and the unlabelled pool (their labels unread). The pool feeds CORAL, the BatchNorm
        statistics, the defocus estimate and the self-training rounds: with a test set of your own, pass
        ``target_test_fraction=0`` so that every target row joins it.
    shots : labelled target subtomograms per class (drawn with ``config.seed``); None keeps
        ``config.shots`` (5 by default), a number replaces it.
    config : FSFTConfig; ``overrides`` replace single fields (e.g. ``epochs_stage1=5``).
    run_dir : folder for checkpoints, histories, plots and the classifier; None keeps nothing. It must
        be new, empty or a run folder; it is locked for the whole run, so a second ``train`` on it
        fails at once (:func:`.checkpoint.run_lock`).
    resume : continue the run in ``run_dir`` from its last completed stage or epoch.
    strategy : a ``tf.distribute`` strategy (default: :func:`get_strategy`). Under a multi-worker
        strategy every worker makes this call; only the chief writes to ``run_dir`` (doc/distributed.md).
    stages : subset of ("1", "2.1", "2.2", "3"), run in that order (ablations drop some).
    start_from : an :class:`FSFTResult` of the same data, shots and seed that stopped before stage
        3 (e.g. ``stages=("1",)``): its completed stages are taken as done here (weights, histories
        and accuracies copied; the configuration fields those stages read must agree), so that
        several runs share them. Equivalent to re-running them with the same seed.

    Examples
    --------
    >>> result = train("data/source", "data/target", shots=5, run_dir="runs/r1")  # doctest: +SKIP
    >>> result.accuracy["3"]["target_test_acc"]  # doctest: +SKIP
    """
    with contextlib.ExitStack() as held:  # holds the run folder's lock until the run ends
        return _train(held, source, target, shots, config, run_dir, resume, strategy, progress, stages, start_from,
                      overrides)


def _train(held, source, target, shots, config, run_dir, resume, strategy, progress, stages, start_from, overrides):
    """:func:`train`, with ``held`` (an ExitStack) to hold the run folder's lock in."""
    config = (config or FSFTConfig()).replace(**({} if shots is None else {"shots": shots}), **overrides)
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise InputError("stages", f"unknown stage(s) {sorted(unknown)}; choose from {STAGES}")
    source, target = _load_pair(source, target)
    split = few_shot_split(source.y, target.y, source.class_names, config.shots, config.target_test_fraction,
                           config.source_val_fraction, config.seed)
    if "2.1" in stages and min(len(split.source_train), len(_unlabelled_pool(split))) < 2:
        raise InputError("target", f"stage 2.1 needs at least two unlabelled target subtomograms (or shots) and two "
                                   f"source training subtomograms for a covariance; the split has "
                                   f"{len(_unlabelled_pool(split))} and {len(split.source_train)}")
    strategy = strategy or get_strategy()
    keras.utils.set_random_seed(config.seed)  # weight initialisation follows the seed
    with strategy.scope():
        networks = FSFTNetworks(source.box_size, len(source.class_names), config)
    transferred, transfer = _source_as_target(source, target, split, config, progress)
    data = StageData(transferred, target, split)
    store = None
    history, acc, completed = {}, {}, []
    run = RunContext(strategy=strategy, progress=progress)
    if start_from is not None:
        history, acc, completed = _adopt(start_from, networks, config, split)
    chief = is_chief(strategy)  # the other workers of a multi-worker run write nothing (doc/distributed.md)
    if run_dir is not None:
        if chief:
            _claim_run_dir(run_dir)  # before the lock: a folder that is not a run gets no .lock file either
            held.enter_context(run_lock(run_dir))
        _prepare_run_dir(run_dir, resume, config, split, write=chief)
        store = run.store = CheckpointStore(run_dir, write=chief)
        manifest = store.latest() if resume else None
        if manifest is not None:
            state = manifest["state"]
            history, acc, completed = state["histories"], state["accuracy"], state["completed"]
            if state.get("done"):
                store.restore(manifest, {n: m.weights for n, m in networks.components().items()})
            else:  # restore the networks now: a stage may read them before its epoch loop (2.2 encodes its pools)
                store.restore(manifest, {n: m.weights for n, m in networks.components().items()}, partial=True)
                run.resume = manifest
    first_adaptation = next((s for s in STAGES if s in stages and s != "1"), None)
    for stage in (s for s in STAGES if s in stages):
        if stage in completed:
            continue
        resuming = run.resume is not None and run.resume["state"].get("stage") == stage
        if stage == first_adaptation and stage != "2.1" and not resuming:  # no CORAL stage: f_t starts from
            networks.target_from_source()  # f_s here, with target BatchNorm statistics from target data
            calibrate_target_batchnorm(networks, data, config)
        run.extra_state = {"histories": history, "accuracy": acc, "completed": completed}
        started = time.perf_counter()
        _, history[stage] = STAGE_FUNCTIONS[stage](networks, data, config, run)
        completed = completed + [stage]
        domain = _stage_domain(completed, config, transfer)
        summary = f"stage {stage} done in {time.perf_counter() - started:.0f} s"
        if stage != "2.2":
            acc[stage] = {"domain": domain,
                          "target_test_acc": accuracy(networks, domain, target, split.target_test),
                          "source_val_acc": accuracy(networks, "source", data.source, split.source_val)}
            summary += (f": target test accuracy {acc[stage]['target_test_acc']:.3f} ({domain} encoder), "
                        f"source validation accuracy {acc[stage]['source_val_acc']:.3f}")
        if progress:
            tqdm.write(summary)
        if store is not None:
            store.save(f"stage{stage}-done", {n: m.weights for n, m in networks.components().items()},
                       {"stage": stage, "done": True, "histories": history, "accuracy": acc, "completed": completed})
    domain = _stage_domain(completed, config, transfer)
    classifier = SubtomogramClassifier(
        networks.inference_model(domain), source.class_names, source.box_size, source.voxel_spacing_nm,
        meta={"domain": domain, "stages": completed, "config": config.to_dict(), "accuracy": acc,
              "source_transfer": transfer},
        rotation_averaging=config.rotation_averaging)
    result = FSFTResult(classifier, networks, split, history, acc, run_dir)
    if run_dir is not None and chief:
        _write_outputs(result, target)
    return result


def _source_as_target(source, target, split, config, progress):
    """``source`` with its volumes as the target would record them (:mod:`.domain_transfer`), and what was
    applied; the noise spectrum comes from the shots and the unlabelled pool, never the test set."""
    rows = np.concatenate([split.target_shots, split.target_unlabelled])
    volumes, applied = source_as_target(source, target, rows, config)
    fit = applied.get("ctf_estimate")
    if progress and fit and "why" in fit:
        tqdm.write(f"CTF not estimated from the data: {fit['why']}")
    elif progress and fit:
        tqdm.write(f"CTF estimated from the data: source Dz {fit['source_Dz']} µm, target Dz {fit['target_Dz']} µm, "
                   f"amplitude contrast {fit['amplitude_contrast']:g}"
                   f"{', target contrast inverted' if fit['contrast'] < 0 else ''} (χ² drop {fit['delta_chi2']:.1f}: "
                   f"{'used' if fit['use'] else 'too weak, not used'})")
    if progress and config.ctf_transfer and not applied["ctf_transfer"]:
        tqdm.write("CTF transfer off: no acquisition parameters (meta['op']['ctf'] with Dz, Cs, voltage; the "
                   "CLI's --source-ctf / --target-ctf) and no clear estimate from the data")
    if volumes is source.x:
        return source, applied
    source = copy.copy(source)  # a shallow copy: the caller's set keeps its own volumes
    source.x = volumes
    return source, applied


def _write_outputs(result, target):
    run_dir = result.run_dir
    result.classifier.save(os.path.join(run_dir, "classifier"), overwrite=True)
    _write_json(result.history, os.path.join(run_dir, "history.json"))
    _write_json(result.accuracy, os.path.join(run_dir, "accuracy.json"))
    plots.save_training_curves(result.history, os.path.join(run_dir, "training_curves.png"))
    if len(result.split.target_test):
        evaluate(result.classifier, target, out_dir=run_dir, name="target_test", indices=result.split.target_test,
                 overwrite=True)


def _as_classifier(model):
    if isinstance(model, SubtomogramClassifier):
        return model
    if isinstance(model, FSFTResult):
        return model.classifier
    return SubtomogramClassifier.load(os.fspath(model))


def _as_set(data, classifier):
    """``data`` as a set, checked as a loaded data set is: real, finite, non-constant volumes."""
    if isinstance(data, np.ndarray) and data.ndim == 4:
        data = SubtomogramSet(data, np.full(len(data), -1, np.int64), classifier.class_names)
    s = load_dataset(data)
    return s.validate("data", check_values=not isinstance(s.x, np.memmap))  # memmapped sets were checked when loaded


def predict(model, data, batch_size=64):
    """Predict class ids and probabilities.

    Parameters
    ----------
    model : SubtomogramClassifier, FSFTResult, or the path of a saved classifier folder.
    data : array (n, s, s, s), SubtomogramSet, or anything ``load_dataset`` reads (e.g. a ``dj`` list).

    Returns
    -------
    labels : (n,) int class ids into ``classifier.class_names``
    probabilities : (n, k) float

    Examples
    --------
    >>> labels, probabilities = predict("runs/r1/classifier", subtomograms)  # doctest: +SKIP
    >>> [classifier.class_names[i] for i in labels]  # doctest: +SKIP
    """
    classifier = _as_classifier(model)
    s = _as_set(data, classifier)
    proba = _predict_rows(classifier, s, np.arange(len(s)), batch_size)
    return proba.argmax(axis=1), proba


def _predict_rows(classifier, s, rows, batch_size, chunk=1024):
    """Probabilities of rows ``rows`` (sorted) of ``s``, read ``chunk`` rows at a time (memmap-friendly)."""
    if len(rows) == 0:
        return np.zeros((0, len(classifier.class_names)), np.float32)
    return np.concatenate([classifier.predict_proba(np.asarray(s.x[rows[i:i + chunk]]), batch_size, s.voxel_spacing_nm)
                           for i in range(0, len(rows), chunk)])


def evaluate(model, data, out_dir=None, name="evaluation", batch_size=64, indices=None, overwrite=False):
    """Accuracy, per-class accuracy and confusion matrix on a labelled data set.

    The data set's class names are mapped onto the classifier's by name; an unknown class raises
    InputError. ``indices`` restricts the evaluation to those rows (read in chunks, so a memory-mapped
    set is never loaded whole). With ``out_dir``, writes ``<name>_confusion.png`` and ``<name>.json``;
    ``name`` must be a plain file name, and existing report files are replaced only with ``overwrite``.

    Parameters
    ----------
    model : SubtomogramClassifier, FSFTResult, or the path of a saved classifier folder.
    data : labelled data set: SubtomogramSet, folder, pickle or ``dj`` list (rows labelled -1 are skipped).
    out_dir : folder for the report files, or None to write nothing.
    name : file name stem of the report files.
    batch_size : subtomograms per inference batch.
    indices : rows of ``data`` to evaluate (default all).
    overwrite : replace existing report files.

    Returns
    -------
    dict
        ``n``, ``accuracy``, ``per_class_accuracy`` (class -> accuracy, None for a class without rows),
        ``class_names`` and ``confusion_matrix`` (rows: true class).

    Examples
    --------
    >>> report = evaluate("runs/r1/classifier", "data/target", out_dir="runs/r1/eval")  # doctest: +SKIP
    >>> report["accuracy"], report["per_class_accuracy"]  # doctest: +SKIP
    """
    if out_dir is not None:
        if not isinstance(name, str) or os.path.basename(name) != name or name in ("", ".", ".."):
            raise InputError("name", f"{name!r} must be a plain file name (no folder, no '..'): it names the report "
                                     "files inside out_dir")
        existing = [p for p in (os.path.join(out_dir, f"{name}{end}") for end in ("_confusion.png", ".json"))
                    if os.path.lexists(p)]
        if existing and not overwrite:
            raise InputError(existing[0], "exists; pass overwrite=True (--overwrite) to replace it")
    classifier = _as_classifier(model)
    s = _as_set(data, classifier)
    names = list(classifier.class_names)
    unknown = sorted(set(s.class_names) - set(names))
    if unknown:
        raise InputError(name, f"classes {unknown} are not among the classifier's {names}")
    rows = np.arange(len(s)) if indices is None else np.sort(np.asarray(indices, dtype=np.int64))
    labelled = rows[np.asarray(s.y)[rows] >= 0]
    if len(labelled) == 0:
        raise InputError(name, "no labelled subtomogram to evaluate")
    y_true = np.array([names.index(s.class_names[i]) for i in np.asarray(s.y)[labelled]])
    y_pred = _predict_rows(classifier, s, labelled, batch_size).argmax(axis=1)
    k = len(names)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    per_class = {names[c]: (float(cm[c, c] / cm[c].sum()) if cm[c].sum() else None) for c in range(k)}
    report = {"n": int(len(labelled)), "accuracy": float(np.trace(cm) / cm.sum()), "per_class_accuracy": per_class,
              "class_names": names, "confusion_matrix": cm.tolist()}
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        plots.save_confusion_matrix(cm, names, os.path.join(out_dir, f"{name}_confusion.png"),
                                    title=f"{name}: accuracy {report['accuracy']:.3f} (n={report['n']})")
        _write_json(report, os.path.join(out_dir, f"{name}.json"))
    return report
