"""``aitom-fsft``: simulate data, train FSFT, predict, evaluate, classify picks, run the demo."""
import argparse
import dataclasses
import json
import os
import sys

from aitom.errors import InputError


def _add_config_options(p, exclude=()):
    """``--config`` and one option per FSFTConfig field, except the fields named in ``exclude`` (a command
    whose own option has that name, as the experiment's grid of ``--shots``)."""
    from .config import FSFTConfig
    g = p.add_argument_group("FSFT hyper-parameters (defaults: the reference implementation's; see FSFTConfig)")
    g.add_argument("--config", help="JSON file of FSFTConfig fields (options below override it)")
    for f in dataclasses.fields(FSFTConfig):
        if f.name in exclude:
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.name == "widths":
            g.add_argument(flag, type=lambda s: tuple(int(v) for v in s.split(",")), help="e.g. 16,16,16,128")
        elif f.type is bool or isinstance(f.default, bool):
            g.add_argument(flag, type=_boolean, metavar="{true,false}")
        elif f.name == "source_noise_share":
            g.add_argument(flag, type=lambda s: NONE if s.lower() == "none" else float(s), metavar="{SHARE,none}")
        else:
            kind = f.type if f.type in (int, float, str) else float if isinstance(f.default, float) else int
            g.add_argument(flag, type=kind)


def _boolean(text):
    """``true``/``yes``/``1`` or ``false``/``no``/``0``; anything else is an error, not a silent False."""
    value = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}.get(text.lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value


NONE = "none"
"""An option's value that sets its FSFTConfig field to None (an absent option keeps the default)."""


def _ctf_option(text):
    """``Dz=-5,Cs=2.0,voltage=300[,pix_size=1.0]`` as a dict of floats."""
    try:
        ctf = {k.strip(): float(v) for k, v in (part.split("=", 1) for part in text.split(","))}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected Dz=UM,Cs=MM,voltage=KV[,pix_size=NM], got {text!r}") from None
    unknown, missing = set(ctf) - {"Dz", "Cs", "voltage", "pix_size"}, {"Dz", "Cs", "voltage"} - set(ctf)
    if unknown or missing:
        raise argparse.ArgumentTypeError(f"expected Dz=UM,Cs=MM,voltage=KV[,pix_size=NM], got {text!r}")
    return ctf


def _add_ctf_options(p):
    p.add_argument("--source-ctf", type=_ctf_option, metavar="Dz=UM,Cs=MM,voltage=KV[,pix_size=NM]",
                   help="acquisition of the source data set (AITom's op['ctf']: defocus in µm, negative = "
                        "underfocus); with --target-ctf, the source gets the target's CTF (--ctf-transfer). "
                        "Simulated sets carry theirs")
    p.add_argument("--target-ctf", type=_ctf_option, metavar="Dz=UM,Cs=MM,voltage=KV[,pix_size=NM]",
                   help="acquisition of the target data set, as --source-ctf")


def _with_ctf(data, ctf):
    """``data`` with the acquisition parameters ``ctf`` of ``--source-ctf`` / ``--target-ctf`` (None: as it is)."""
    from .domain_transfer import with_ctf
    return data if ctf is None else with_ctf(data, **ctf)


def _config_from_args(args):
    from .config import FSFTConfig
    config = FSFTConfig()
    if args.config:
        try:
            with open(args.config) as f:
                config = FSFTConfig.from_dict(json.load(f))
        except (OSError, TypeError, ValueError) as e:  # missing, not JSON, unknown or bad field
            raise InputError(args.config, f"not a usable FSFTConfig JSON file ({type(e).__name__}: {e})") from e
    changes = {f.name: getattr(args, f.name) for f in dataclasses.fields(FSFTConfig)
               if getattr(args, f.name, None) is not None}  # excluded fields have no attribute
    return config.replace(**{k: None if v is NONE else v for k, v in changes.items()})


def _print_accuracy_table(accuracy):
    print("\nstage  encoder  target test accuracy  source val accuracy")
    for stage, a in accuracy.items():
        print(f"{stage:<6} {a['domain']:<8} {a['target_test_acc']:>20.3f} {a['source_val_acc']:>20.3f}")


def _data_args(args):
    if args.dataset:
        from aitom.io.dataset import load_two_domain
        return load_two_domain(args.dataset)
    if not (args.source and args.target):
        raise InputError("arguments", "give --dataset DIR (a two-domain folder) or both --source and --target")
    return _load_data(args.source, args), _load_data(args.target, args)


def _load_data(path, args):
    """The data set at ``path``; a pickle only with ``--allow-pickle`` (pickles can run code when loaded)."""
    from aitom.io.dataset import load_dataset
    return load_dataset(path, trusted=args.allow_pickle)


def _add_safety_options(p, overwrite=None):
    """``--allow-pickle``, and ``--overwrite`` with help ``overwrite`` (what it lets the command replace)."""
    p.add_argument("--allow-pickle", action="store_true",
                   help="read .pkl/.pickle data sets: pickles can run code when loaded, so only for files you trust "
                        "(even then only NumPy arrays and built-in containers are loaded); prefer set folders "
                        "(.npy + JSON), written by 'aitom-fsft simulate' or aitom.io.dataset.save_subtomogram_set")
    if overwrite:
        p.add_argument("--overwrite", action="store_true", help=overwrite)


def cmd_train(args):
    from .pipeline import train
    source, target = _data_args(args)
    source, target = _with_ctf(source, args.source_ctf), _with_ctf(target, args.target_ctf)
    config = _config_from_args(args)
    result = train(source, target, shots=config.shots, config=config,
                   run_dir=args.run_dir, resume=args.resume, progress=not args.quiet,
                   stages=tuple(args.stages.split(",")))
    _print_accuracy_table(result.accuracy)
    print(f"\nclassifier: {os.path.join(args.run_dir, 'classifier')}")


def cmd_predict(args):
    import numpy as np
    from aitom.io.atomic import atomic_open
    from .classifier import SubtomogramClassifier
    from aitom.io.atomic import check_output
    from .pipeline import predict
    check_output(args.out, args.overwrite, inputs=[args.data])
    clf = SubtomogramClassifier.load(args.model)
    labels, proba = predict(clf, _load_data(args.data, args))
    with atomic_open(args.out, "w") as f:
        f.write("index,class,probability," + ",".join(f"p_{c}" for c in clf.class_names) + "\n")
        for i, (l, p) in enumerate(zip(labels, proba)):
            f.write(f"{i},{clf.class_names[l]},{p[l]:.6f}," + ",".join(f"{v:.6f}" for v in p) + "\n")
    counts = np.bincount(labels, minlength=len(clf.class_names))
    print(f"{len(labels)} subtomograms -> {args.out}; per class: "
          + ", ".join(f"{c}={n}" for c, n in zip(clf.class_names, counts)))


def cmd_evaluate(args):
    from .pipeline import evaluate
    report = evaluate(args.model, _load_data(args.data, args), out_dir=args.out_dir, name=args.name,
                      overwrite=args.overwrite)
    print(f"accuracy {report['accuracy']:.3f} on {report['n']} subtomograms")
    for c, a in report["per_class_accuracy"].items():
        print(f"  {c:<12} {'-' if a is None else f'{a:.3f}'}")
    print(f"confusion matrix: {os.path.join(args.out_dir, args.name + '_confusion.png')}")


def summarize_runs(run_dirs):
    """Markdown table of the target test accuracy per stage, mean ± std over runs, from accuracy.json."""
    import numpy as np
    per_stage = {}
    for d in run_dirs:
        path = os.path.join(d, "accuracy.json")
        if not os.path.exists(path):
            raise InputError(path, "missing: is this a finished run folder?")
        with open(path) as f:
            for stage, a in json.load(f).items():
                if a["target_test_acc"] is not None:  # null: the run had no target test set
                    per_stage.setdefault(stage, []).append(a["target_test_acc"])
    lines = ["| stage | target test accuracy (mean ± std) | runs | per run |", "| --- | --- | --- | --- |"]
    for stage, v in per_stage.items():
        v = np.asarray(v)
        lines.append(f"| {stage} | {v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.3f} | {len(v)} | "
                     + ", ".join(f"{a:.3f}" for a in v) + " |")
    return "\n".join(lines)


def cmd_summarize(args):
    print(summarize_runs(args.run_dirs))


def cmd_demo(args):
    from .demo import run_demo
    settings = {k: getattr(args, k) for k in ("source_snr", "target_snr", "n_per_class", "shots", "noise_model")
                if getattr(args, k) is not None}
    run_demo(args.out, quick=args.quick, seed=args.seed, progress=not args.quiet, **settings)


def _object_map(pairs):
    """``--map OBJECT=CLASS ...`` as a dict."""
    mapping = {}
    for pair in pairs or ():
        name, sep, cls = pair.partition("=")
        if not (sep and name and cls):
            raise InputError("--map", f"expected OBJECT=CLASS, got {pair!r}")
        mapping[name] = cls
    return mapping


def _pad_value(text):
    if text == "mean":
        return text
    try:
        return float(text)
    except ValueError:
        raise InputError("--pad-value", f"expected a number or 'mean', got {text!r}") from None


def _pick_selection(objects, user, session):
    from aitom.io.copick_project import PickSelection
    return PickSelection(objects, user, session)


def _print_job_summary(table, where):
    total = table.iloc[-1]
    counts = ", ".join(f"{c}={int(total[c])}" for c in table.columns[2:] if int(total[c]))
    print(f"{int(total['picks'])} picks in {len(table) - 1} tomogram(s); per class: {counts or 'none'}")
    print(f"summary: {os.path.join(where, 'summary.csv')} and summary.png")


def cmd_copick_train(args):
    from aitom.io.copick_project import import_copick
    import_copick()  # before anything slow: without copick, say how to install it
    from .copick_jobs import train_from_copick
    result = train_from_copick(
        _with_ctf(_load_data(args.source, args), args.source_ctf), args.copick, args.run_dir, args.voxel_size,
        args.tomo_type,
        _pick_selection(args.annotation_objects, args.annotation_user, args.annotation_session),
        _pick_selection(args.picks_object, args.picks_user, args.picks_session), runs=args.runs,
        object_classes=_object_map(args.map), config=_config_from_args(args), shots=args.shots,
        max_unlabelled=args.max_unlabelled, background_per_run=args.background_per_run, resume=args.resume,
        progress=not args.quiet, edge=args.edge, pad_value=_pad_value(args.pad_value), target_dir=args.target_dir,
        target_ctf=args.target_ctf)
    _print_accuracy_table(result.accuracy)
    print(f"\ntarget set: {args.target_dir or args.run_dir.rstrip(os.sep) + '_target'}")
    print(f"classifier: {os.path.join(args.run_dir, 'classifier')}")


def cmd_copick_classify(args):
    from aitom.io.copick_project import import_copick
    import_copick()
    from .copick_jobs import classify_copick_project
    table = classify_copick_project(
        args.copick, args.model, args.out_dir, args.voxel_size, args.tomo_type,
        _pick_selection(args.picks_object, args.picks_user, args.picks_session), args.out_user, args.out_session,
        runs=args.runs, object_classes=_object_map(args.map), threshold=args.threshold,
        rejected_object=args.write_rejected, batch_size=args.batch_size, edge=args.edge,
        pad_value=_pad_value(args.pad_value), resume=args.resume, progress=not args.no_progress)
    _print_job_summary(table, args.out_dir)


def cmd_classify_lists(args):
    from .jobs import classify_particle_lists
    table = classify_particle_lists(args.picks, args.tomogram, args.model, args.out_dir, threshold=args.threshold,
                                    batch_size=args.batch_size, edge=args.edge, pad_value=_pad_value(args.pad_value),
                                    fmt=args.format, resume=args.resume, progress=not args.no_progress,
                                    trusted=args.allow_pickle)
    _print_job_summary(table, args.out_dir)


def _add_copick_selection(p, project):
    """Options shared by the copick commands: project, runs, tomograms, picks to classify, object map."""
    p.add_argument("--copick", required=True, metavar="CONFIG", help="copick project configuration (JSON)")
    p.add_argument("--runs", nargs="+", metavar="RUN", help="runs to use (default: all)")
    p.add_argument("--voxel-size", type=float, required=True, help="voxel spacing (Å) of the tomograms to cut from")
    p.add_argument("--tomo-type", required=True, help="tomogram type, e.g. wbp or denoised")
    p.add_argument("--picks-object", nargs="+", metavar="OBJECT", help=f"picks {project}: object(s) (default: any)")
    p.add_argument("--picks-user", help=f"picks {project}: user id (default: any)")
    p.add_argument("--picks-session", help=f"picks {project}: session id (default: any)")
    p.add_argument("--map", nargs="+", metavar="OBJECT=CLASS",
                   help="object whose name differs from its class in the source data set (default: same name)")
    p.add_argument("--edge", choices=("pad", "skip"), default="pad",
                   help="pad boxes that reach outside the tomogram, or skip those picks")
    p.add_argument("--pad-value", default="mean", help="'mean' (tomogram mean) or a number")


def _add_copick_commands(sub):
    """``copick-train``, ``copick-classify`` (need the copick extra) and ``classify-lists``."""
    ct = sub.add_parser("copick-train", help="train FSFT with annotated copick picks as the few-shot target",
                        description="Cut the labelled target shots (annotated picks, one object per class) and an "
                                    "unlabelled pool (the picks to classify) out of a copick project's tomograms, "
                                    "write them as a data set (--target-dir) and train FSFT. Needs copick: "
                                    "pip install -e .[copick]")
    ct.add_argument("--source", required=True, help="labelled source data set")
    ct.add_argument("--run-dir", required=True, help="folder for checkpoints, plots and the classifier")
    ct.add_argument("--target-dir", help="folder for the target data set (default: <run-dir>_target)")
    _add_copick_selection(ct, "for the unlabelled pool (those to classify later)")
    ct.add_argument("--annotation-user", required=True, help="user id of the annotated picks")
    ct.add_argument("--annotation-session", help="session id of the annotated picks (default: any)")
    ct.add_argument("--annotation-objects", nargs="+", metavar="OBJECT",
                    help="annotated objects, one per class (default: every object of that user and session)")
    ct.add_argument("--max-unlabelled", type=int, default=2000, help="at most this many pool picks (random)")
    ct.add_argument("--background-per-run", type=int, default=0,
                    help="random negatives per run away from every pick, as class 'background'")
    ct.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    ct.add_argument("--quiet", action="store_true")
    _add_ctf_options(ct)
    _add_safety_options(ct)
    _add_config_options(ct)
    ct.set_defaults(func=cmd_copick_train)

    cc = sub.add_parser("copick-classify", help="classify every pick of a copick project; write new pick sets",
                        description="Classify the selected picks of every run and write them back as new pick "
                                    "sets, one per predicted class (object = class), under --out-user/--out-session, "
                                    "score = class probability. Existing pick sets are never modified. A resumable "
                                    "job in --out-dir (per-run CSV, summary.csv, summary.png). Needs copick: "
                                    "pip install -e .[copick]")
    cc.add_argument("--model", required=True, help="classifier folder (<run-dir>/classifier)")
    cc.add_argument("--out-dir", required=True, help="job folder")
    _add_copick_selection(cc, "to classify")
    cc.add_argument("--out-user", required=True, help="user id of the written pick sets")
    cc.add_argument("--out-session", required=True, help="session id of the written pick sets")
    cc.add_argument("--threshold", type=float, help="below this top probability a pick is rejected")
    cc.add_argument("--write-rejected", metavar="OBJECT",
                    help="write background and below-threshold picks as a pick set of this object "
                         "(default: leave them out)")
    cc.add_argument("--batch-size", type=int, default=64)
    cc.add_argument("--resume", action="store_true", help="continue a killed job in --out-dir")
    cc.add_argument("--no-progress", action="store_true")
    cc.set_defaults(func=cmd_copick_classify)

    cl = sub.add_parser("classify-lists", help="classify several particle lists (one per tomogram) as one job",
                        description="Classify particle lists, one per tomogram as pytom-match-pick writes them, "
                                    "into a resumable job folder: <out-dir>/tomograms/<list> with fsft_* columns, "
                                    "summary.csv and summary.png.")
    cl.add_argument("--picks", nargs="+", required=True, help="particle lists (STAR, CSV, AITom pickle)")
    cl.add_argument("--tomogram", nargs="+", required=True, metavar="MRC", help="the tomograms they name")
    cl.add_argument("--model", required=True, help="classifier folder")
    cl.add_argument("--out-dir", required=True, help="job folder")
    cl.add_argument("--threshold", type=float, help="below this top probability a pick is background/unassigned")
    cl.add_argument("--batch-size", type=int, default=64)
    cl.add_argument("--format", help="format of every list (default: detected per list)")
    cl.add_argument("--edge", choices=("pad", "skip"), default="pad")
    cl.add_argument("--pad-value", default="mean", help="'mean' (tomogram mean) or a number")
    cl.add_argument("--resume", action="store_true", help="continue a killed job in --out-dir")
    cl.add_argument("--no-progress", action="store_true")
    _add_safety_options(cl)
    cl.set_defaults(func=cmd_classify_lists)


def cmd_classify_picks(args):
    from aitom.io.atomic import check_output
    from aitom.io.particles import detect_format, read_particles, write_particles
    from .classifier import SubtomogramClassifier
    from .picks import SKIPPED, UNASSIGNED, classify_picks, tomogram_geometry
    pad_value = _pad_value(args.pad_value)
    check_output(args.out, args.overwrite, inputs=[args.picks, *args.tomogram])
    shapes, voxels = tomogram_geometry(args.tomogram)
    fmt = args.format or detect_format(args.picks)
    picks = read_particles(args.picks, fmt=fmt, tomogram_shape=shapes, pixel_size_A=voxels or None,
                           trusted=args.allow_pickle)
    classifier = SubtomogramClassifier.load(args.model)
    if args.single_pass:
        classifier.rotation_averaging = False
    result = classify_picks(args.tomogram, picks, classifier, batch_size=args.batch_size, threshold=args.threshold,
                            progress=not args.no_progress, edge=args.edge, pad_value=pad_value)
    like = args.picks if fmt in ("pytom", "relion4", "relion5") else None
    write_particles(result, args.out, fmt=args.out_format, tomogram_shape=shapes, like=like)
    counts = result["fsft_class"].value_counts()
    print(f"{len(result)} picks from {len(args.tomogram)} tomogram(s) -> {args.out}; per class: "
          + ", ".join(f"{c}={counts.get(c, 0)}" for c in (*classifier.class_names, UNASSIGNED, SKIPPED)
                      if counts.get(c, 0)))


def _add_classify_picks_command(sub):
    """``classify-picks --tomogram T.mrc [T2.mrc ...] --picks P.star --model M --out O.star [--threshold P]``."""
    from aitom.io.particles import FORMATS
    from aitom.picking.extract import EDGE_MODES
    p = sub.add_parser(
        "classify-picks",
        help="classify template-matching picks (cut from memory-mapped tomograms) with a trained classifier",
        description="Cut every pick out of its tomogram, classify it with an FSFT classifier and write the "
                    "particle list with fsft_class, fsft_probability and fsft_p_<class> columns added. Picks "
                    "are matched to tomograms by name (rlnTomoName, ptmMicrographName, ... against the file "
                    "name, its stem, or the stem without 'rec_').",
    )
    p.add_argument("--tomogram", nargs="+", required=True, metavar="MRC", help="tomogram(s), uncompressed MRC")
    p.add_argument("--picks", required=True, help="particle list: STAR (pytom-match-pick, RELION 4/5), CSV or "
                                                  "AITom pickle (only with --allow-pickle)")
    p.add_argument("--model", required=True, help="classifier folder written by SubtomogramClassifier.save")
    p.add_argument("--out", required=True, help="output particle list (format from --out-format or the extension)")
    p.add_argument("--threshold", type=float, help="below this top probability a pick is 'background' "
                                                   "(or 'unassigned' without a background class)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--single-pass", action="store_true",
                   help="one forward pass per pick, not the classifier's average over four 180-degree rotations "
                        "(about 3.5x faster, less accurate; doc/picking.md)")
    p.add_argument("--format", choices=FORMATS, help="format of --picks (default: detected)")
    p.add_argument("--out-format", choices=FORMATS, help="format of --out (default: from the extension; .star "
                                                         "keeps the format of --picks)")
    p.add_argument("--edge", choices=EDGE_MODES, default="pad", help="pad boxes that reach outside the "
                                                                     "tomogram, or skip those picks")
    p.add_argument("--pad-value", default="mean", help="'mean' (tomogram mean) or a number")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists (never --picks itself)")
    p.add_argument("--allow-pickle", action="store_true",
                   help="read an AITom pickle as --picks: pickles can run code when loaded, so only for files you "
                        "trust (even then only NumPy arrays and built-in containers are loaded); prefer STAR or CSV")
    p.set_defaults(func=cmd_classify_picks)


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
    from .experiment import CSV_NAME, run_experiment
    from .report import write_report
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


def _add_experiment_command(sub):
    """``experiment``: the grid of :mod:`.experiment` and its report."""
    from . import experiment
    from .baselines import BASELINES
    p = sub.add_parser(
        "experiment", help="baselines, ablations and FSFT over a grid of SNRs, shots and seeds (resumable)",
        description=experiment.__doc__.split("\n\n")[0])
    _add_config_options(p, exclude=("shots",))  # the grid's --shots below takes FSFTConfig.shots' name
    p.add_argument("--out", default="doc/results", help="folder of runs.csv, results_table.md and the plots")
    p.add_argument("--data-dir", default=os.path.join("runs", "experiment-data"),
                   help="where simulated cells are kept (default runs/experiment-data)")
    p.add_argument("--source-snrs", default="1000",
                   help=f"comma-separated (paper: {','.join(map(experiment._num, experiment.PAPER_SNRS))})")
    p.add_argument("--target-snrs", default="0.1", help="comma-separated")
    p.add_argument("--shots", dest="grid_shots", default="5",
                   help=f"comma-separated (paper: {','.join(map(str, experiment.PAPER_SHOTS))})")
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
    p.set_defaults(func=cmd_experiment)


def build_parser():
    p = argparse.ArgumentParser(prog="aitom-fsft", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="simulate two domains from the shipped structures, train FSFT, report accuracy")
    d.add_argument("--out", default="runs/demo")
    d.add_argument("--quick", action="store_true", help="a smaller, faster run (a few minutes on 2 cores)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--source-snr", type=float, help="source SNR (default 1000)")
    d.add_argument("--target-snr", type=float, help="target SNR (default 0.1)")
    d.add_argument("--n-per-class", type=int, help="subtomograms per class and domain (default 100)")
    d.add_argument("--shots", type=int, help="labelled target subtomograms per class (default 5)")
    d.add_argument("--noise-model", choices=("aitom", "calibrated"),
                   help="SNR units (default aitom: AITom's and the paper's nominal SNR; see doc/simulation.md)")
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=cmd_demo)

    t = sub.add_parser("train", help="train FSFT on a source and a target data set")
    t.add_argument("--dataset", help="two-domain folder written by 'aitom-fsft simulate'")
    t.add_argument("--source", help="source data set (set folder, class folders, or a pickle with --allow-pickle)")
    t.add_argument("--target", help="target data set")
    t.add_argument("--run-dir", required=True, help="folder for checkpoints, plots and the classifier")
    t.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    t.add_argument("--stages", default="1,2.1,2.2,3", help="comma-separated subset of 1,2.1,2.2,3")
    t.add_argument("--quiet", action="store_true")
    _add_ctf_options(t)
    _add_safety_options(t)
    _add_config_options(t)
    t.set_defaults(func=cmd_train)

    pr = sub.add_parser("predict", help="classify subtomograms with a trained classifier")
    pr.add_argument("--model", required=True, help="classifier folder (<run-dir>/classifier)")
    pr.add_argument("--data", required=True, help="data set to classify")
    pr.add_argument("--out", required=True, help="CSV of predicted classes and probabilities")
    _add_safety_options(pr, overwrite="replace --out if it exists")
    pr.set_defaults(func=cmd_predict)

    e = sub.add_parser("evaluate", help="accuracy, per-class accuracy and confusion matrix on labelled data")
    e.add_argument("--model", required=True)
    e.add_argument("--data", required=True)
    e.add_argument("--out-dir", required=True)
    e.add_argument("--name", default="evaluation", help="file name stem of the report in --out-dir")
    _add_safety_options(e, overwrite="replace the report files <name>.json and <name>_confusion.png if they exist")
    e.set_defaults(func=cmd_evaluate)

    sm = sub.add_parser("summarize", help="per-stage target accuracy, mean ± std over finished runs")
    sm.add_argument("run_dirs", nargs="+")
    sm.set_defaults(func=cmd_summarize)

    _add_copick_commands(sub)
    from aitom.simulation.cli import add_parser as add_simulate_command
    add_simulate_command(sub)
    _add_classify_picks_command(sub)
    _add_experiment_command(sub)
    return p


def quiet_tensorflow_logs(environ=os.environ):
    """Hide TensorFlow's C++ log lines below FATAL, unless the user set ``TF_CPP_MIN_LOG_LEVEL``.

    On a machine without a GPU, TensorFlow logs ``failed call to cuInit ... UNKNOWN ERROR (303)`` as an
    error when it first looks for devices; the command line has nothing to do about it, so it hides it.
    Called by :func:`main` before anything imports TensorFlow (which reads the variable once), and only
    there: importing the library changes no setting.

    Examples
    --------
    >>> from aitom.classify.deep.fsft.cli import quiet_tensorflow_logs
    >>> env = {}
    >>> quiet_tensorflow_logs(env)
    >>> env
    {'TF_CPP_MIN_LOG_LEVEL': '3'}
    >>> env = {"TF_CPP_MIN_LOG_LEVEL": "0"}
    >>> quiet_tensorflow_logs(env)
    >>> env
    {'TF_CPP_MIN_LOG_LEVEL': '0'}
    """
    environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None):
    quiet_tensorflow_logs()
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except InputError as e:
        print(f"aitom-fsft: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a failing read or write (a full disk, say): one line naming the file
        print(f"aitom-fsft: error: {f'{e.filename}: {e.strerror}' if e.filename else e}", file=sys.stderr)
        return 2
    except RuntimeError as e:  # a corrupt checkpoint or a diverged run: one line naming it, not a traceback
        if type(e).__name__ not in ("CheckpointError", "TrainingDivergedError"):
            raise
        print(f"aitom-fsft: error: {e}", file=sys.stderr)
        return 2 if type(e).__name__ == "CheckpointError" else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
