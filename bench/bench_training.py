#!/usr/bin/env python
"""Inference, the four stages and memory of the FSFT networks: this project (TensorFlow/Keras) vs PyTorch.

Every project contender is the library's own function, called as ``train`` calls it. One process
times the contenders on the same random data, interleaved (A B C A B C ...) with a short pause
between blocks so that spinning worker threads of one framework go idle before the next one runs; it
reports the median and best of the repeats, and project/PyTorch ratios. Peak memory comes from one
subprocess per workload (``--worker``), since RSS is per process (``aitom.classify.deep.fsft.memory``).
Stage-1 training throughput against PyTorch, with oneDNN on and off, is ``bench/bench_cpu_ratio.py``.

Sections (``--sections``, comma separated):

infer     inference throughput, standardisation included: ``stages.predict_logits`` with one pass (tf.data
          pipeline), the exported ``SubtomogramClassifier.predict_proba``, PyTorch (both layouts).
pipeline  each FSFT stage (1, 2.1, 2.2, 3) at fixed epochs on a synthetic 10-class 28^3 two-domain
          set, through ``stage1_source`` etc., vs ``torch_reference.TorchFSFT`` at equal epochs
          (stage 2.2 both as the reference does it, re-running the encoders on every batch, and with
          this project's precomputed features).
memory    peak RSS of a subprocess running one stage-1 epoch alone (the pipeline section's 900 source
          subtomograms, batch 32): ``stage1_source``, and ``TorchFSFT.stage1``.
memmap    stage 1 streaming from a memory-mapped ``.npy`` (``--memmap-n`` x ``--memmap-box``^3,
          created sparse in ``--memmap-dir`` and deleted afterwards): peak anonymous and total RSS.

Usage::

    .venv/bin/python bench/bench_training.py                      # all but memmap, prints tables
    .venv/bin/python bench/bench_training.py --sections pipeline,memory --epochs 1,1,1,1 --pipeline-repeats 1
    .venv/bin/python bench/bench_training.py --sections memmap    # the 13 GB streaming check
    .venv/bin/python bench/bench_training.py --write doc/performance.md   # also update the doc's tables

PyTorch is optional (``pip install -e .[bench]``); without it the PyTorch rows are skipped.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import aitom  # noqa: E402,F401  before TensorFlow: turns oneDNN on unless TF_ENABLE_ONEDNN_OPTS is set
from aitom.classify.deep.fsft.memory import MemorySampler, peak_rss_mib, status_mib  # noqa: E402
from harness import EpochClock, emit, median, run_worker, two_domain_data  # noqa: E402

BEGIN, END = "<!-- bench_training:begin -->", "<!-- bench_training:end -->"


def _args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sections", default="infer,pipeline,memory")
    p.add_argument("--repeats", type=int, default=9, help="interleaved repeats per contender")
    p.add_argument("--pipeline-repeats", type=int, default=2)
    p.add_argument("--epochs", default="2,2,5,3", help="epochs of stages 1, 2.1, 2.2, 3 in 'pipeline'")
    p.add_argument("--tf-inter-op", type=int, default=None, help="tf inter-op threads (default: TF's)")
    p.add_argument("--tf-intra-op", type=int, default=None, help="tf intra-op threads (default: TF's)")
    p.add_argument("--memmap-n", type=int, default=100_000)
    p.add_argument("--memmap-box", type=int, default=32)
    p.add_argument("--memmap-steps", type=int, default=300)
    p.add_argument("--memmap-dir", default="/tmp")
    p.add_argument("--write", default=None, help="replace the bench block of this markdown file")
    p.add_argument("--json", default=None, help="also save the raw results and machine description here")
    p.add_argument("--render", default=None, help="only render (and --write) the tables of a --json file")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ----------------------------------------------------------------------------------------- helpers

def _setup_tf(args):
    import tensorflow as tf
    if args.tf_inter_op is not None:
        tf.config.threading.set_inter_op_parallelism_threads(args.tf_inter_op)
    if args.tf_intra_op is not None:
        tf.config.threading.set_intra_op_parallelism_threads(args.tf_intra_op)
    return tf


def _torch():
    sys.modules.setdefault("triton", None)  # PyPI's torch imports it for optimizers; it crashes beside TensorFlow
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count())
    return torch


def interleave(contenders, repeats, calls, pause=0.3):
    """contenders: {name: (fn, samples_per_call)} -> {name: [samples/s per block]} (warm-up excluded)."""
    for fn, _ in contenders.values():
        fn()
        fn()
    out = {k: [] for k in contenders}
    for _ in range(repeats):
        for name, (fn, n) in contenders.items():
            time.sleep(pause)
            t = time.perf_counter()
            for _ in range(calls):
                fn()
            out[name].append(calls * n / (time.perf_counter() - t))
    return out


# ----------------------------------------------------------------------------- inference contenders

def _with_threads(torch, n, fn):
    """``fn`` run with ``n`` PyTorch intra-op threads (restored afterwards)."""
    def run():
        saved = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            return fn()
        finally:
            torch.set_num_threads(saved)
    return run


def section_infer(args, tf, torch, results):
    import numpy as np
    from aitom.classify.deep.fsft import FSFTConfig, SubtomogramClassifier
    from aitom.classify.deep.fsft.models import FSFTNetworks
    from aitom.classify.deep.fsft.stages import predict_logits
    from aitom.image.normalize import standardize
    n, box, k, bs = 256, 28, 10, 64
    x = np.random.default_rng(1).normal(size=(n, box, box, box)).astype(np.float32)
    idx = np.arange(n)
    net = FSFTNetworks(box, k, FSFTConfig())
    clf = SubtomogramClassifier(net.inference_model("source"), [f"c{i}" for i in range(k)], box)
    contenders = {
        "project predict_logits (tf.data, standardise)": (lambda: predict_logits(net, "source", x, idx, bs,
                                                                                 rotations=False), n),
        "project exported classifier predict_proba": (lambda: clf.predict_proba(x, bs), n),
    }
    if torch is not None:
        import torch_reference as tr
        for name, cl in (("PyTorch reference (NCDHW)", False), ("PyTorch channels_last_3d", True)):
            m = tr.classifier_network(k)
            if cl:
                m = m.to(memory_format=torch.channels_last_3d)
            m.eval()

            def run(m=m, cl=cl):
                with torch.no_grad():
                    return np.concatenate([m(tr.to_tensor(standardize(x[i:i + bs]), cl)).numpy()
                                           for i in range(0, n, bs)])
            for threads in (os.cpu_count(), 1):
                label = name if threads == os.cpu_count() else f"{name}, 1 thread"
                contenders[label] = (_with_threads(torch, threads, run), n)
    results["infer"] = interleave(contenders, max(3, args.repeats // 2 + 1), 1)


# ---------------------------------------------------------------------------------------- pipeline

def _stage_samples(data, config):
    """Subtomograms pushed through an encoder with gradients, per epoch, per stage, in the project's stages.

    Stage 2.1 differs between the frameworks: the project's epoch is one pass over the source training set
    (the target pool cycled), the reference's stops at the smaller target pool; ``"2.1 reference"`` is the
    reference's count. The other stages do the same work per epoch in both.
    """
    from aitom.classify.deep.fsft.stages import _pairs_per_group
    sp = data.split
    n_tr = len(sp.source_train) // config.batch_size * config.batch_size
    b21 = min(config.coral_batch_size, len(sp.source_train), len(sp.target_unlabelled))
    n21 = len(sp.source_train) // b21 * b21 * 2
    n21_reference = min(len(sp.source_train), len(sp.target_unlabelled)) // b21 * b21 * 2
    npg = _pairs_per_group(config, len(sp.target_shots))
    n22 = (4 * npg) // min(config.dcd_batch_size, 4 * npg) * min(config.dcd_batch_size, 4 * npg)  # pairs
    b3 = min(config.stage3_batch_size, 2 * npg)
    n3 = (2 * npg) // b3 * b3 * 2
    return {"1": n_tr, "2.1": n21, "2.1 reference": n21_reference, "2.2": n22, "3": n3}


def section_pipeline(args, tf, torch, results):
    import keras
    from aitom.classify.deep.fsft import (FSFTConfig, stage1_source, stage2_1_coral, stage2_2_discriminator,
                                          stage3_finetune)
    from aitom.classify.deep.fsft.models import FSFTNetworks
    from aitom.classify.deep.fsft.stages import RunContext
    e1, e21, e22, e3 = (int(v) for v in args.epochs.split(","))
    # the reference's four stages: no self-training rounds (their cost is in doc/results.md's wall times)
    config = FSFTConfig(epochs_stage1=e1, epochs_stage2_1=e21, epochs_stage2_2=e22, epochs_stage3=e3,
                        self_training_rounds=0)
    data = two_domain_data()
    samples = _stage_samples(data, config)
    fns = {"1": stage1_source, "2.1": stage2_1_coral, "2.2": stage2_2_discriminator, "3": stage3_finetune}
    rows = {}

    def add(name, stage, total, epochs):
        r = rows.setdefault((name, stage), {"total": [], "epoch": []})
        r["total"].append(total)
        r["epoch"].extend(epochs)

    for rep in range(args.pipeline_repeats):
        keras.utils.set_random_seed(rep)
        net = FSFTNetworks(28, 10, config)
        for stage in ("1", "2.1", "2.2", "3"):
            clock = EpochClock()
            t0 = time.perf_counter()
            fns[stage](net, data, config, RunContext(store=clock))
            total = time.perf_counter() - t0
            add("project", stage, total, clock.epochs(skip=1))  # epochs 2..
        if torch is not None:
            import torch_reference as tr
            for variant, threads in (("PyTorch reference (NCDHW)", os.cpu_count()), ("PyTorch reference, 1 thread", 1)):
                torch.set_num_threads(threads)
                m = tr.TorchFSFT(28, 10, config, seed=rep)
                for stage, call in (("1", lambda: m.stage1(data, e1)), ("2.1", lambda: m.stage2_1(data, e21)),
                                    ("2.2", lambda: m.stage2_2(data, e22, reference_algorithm=True)),
                                    ("3", lambda: m.stage3(data, e3))):
                    time.sleep(0.3)
                    t0 = time.perf_counter()
                    call()
                    add(variant, stage, time.perf_counter() - t0, [])
                time.sleep(0.3)
                t0 = time.perf_counter()
                m.stage2_2(data, e22, reference_algorithm=False)
                add(variant + ", precomputed features", "2.2", time.perf_counter() - t0, [])
            torch.set_num_threads(os.cpu_count())
    results["pipeline"] = {"rows": {f"{k[0]}|{k[1]}": v for k, v in rows.items()}, "samples": samples,
                           "epochs": {"1": e1, "2.1": e21, "2.2": e22, "3": e3},
                           "sizes": {"source_train": len(data.split.source_train),
                                     "target_unlabelled": len(data.split.target_unlabelled),
                                     "target_shots": len(data.split.target_shots)}}


# ------------------------------------------------------------------------------------------- memory

def worker(args):
    """Run one workload alone and print its peak memory as JSON (called in a subprocess)."""
    name = args.worker
    base = status_mib()
    out = {"workload": name}
    if name == "memmap":
        out.update(memmap_stream(args))
        emit(out)
        return
    if name == "torch-train":
        _torch()
        out["after_import_MiB"] = status_mib()["VmRSS"]
        import torch_reference as tr  # loads TensorFlow too (the project's pair sampling and data helpers)
        from aitom.classify.deep.fsft import FSFTConfig
        data = two_domain_data()
        model = tr.TorchFSFT(28, 10, FSFTConfig(), seed=0)
        with MemorySampler() as s:
            model.stage1(data, 1)
    elif name == "project-train":
        _setup_tf(args)
        from aitom.classify.deep.fsft import FSFTConfig, stage1_source
        from aitom.classify.deep.fsft.models import FSFTNetworks
        from aitom.classify.deep.fsft.stages import RunContext
        out["after_import_MiB"] = status_mib()["VmRSS"]
        data = two_domain_data()
        config = FSFTConfig(epochs_stage1=1)
        net = FSFTNetworks(28, 10, config)
        with MemorySampler() as s:
            stage1_source(net, data, config, RunContext())
    else:
        raise SystemExit(f"unknown worker {name}")
    out.update({"before_MiB": base["VmRSS"], "peak_VmRSS_MiB": s.peak["VmRSS"], "peak_RssAnon_MiB": s.peak["RssAnon"],
                "ru_maxrss_MiB": peak_rss_mib(), "steps": len(data.split.source_train) // 32})
    emit(out)


def _run_worker(args, name, extra=()):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", name] + list(extra)
    if args.tf_inter_op is not None:
        cmd += ["--tf-inter-op", str(args.tf_inter_op)]
    if args.tf_intra_op is not None:
        cmd += ["--tf-intra-op", str(args.tf_intra_op)]
    return run_worker(cmd, name=name)


def section_memory(args, results):
    names = ["project-train"]
    try:
        import torch  # noqa: F401
        names.append("torch-train")
    except ImportError:
        pass
    results["memory"] = {n: _run_worker(args, n) for n in names}


def memmap_stream(args):
    """Stage 1 for ``--memmap-steps`` steps, reading rows of a sparse memory-mapped .npy."""
    import numpy as np
    _setup_tf(args)  # thread settings, before TensorFlow starts
    from aitom.classify.deep.fsft import FSFTConfig, stage1_source
    from aitom.classify.deep.fsft.models import FSFTNetworks
    from aitom.classify.deep.fsft.stages import RunContext, StageData
    from aitom.classify.deep.fsft.data import FewShotSplit
    from aitom.io.dataset import SubtomogramSet
    n, box, k = args.memmap_n, args.memmap_box, 10
    nbytes = n * box ** 3 * 4
    free = shutil.disk_usage(args.memmap_dir).free
    if free < 1.2 * nbytes:
        raise SystemExit(f"{args.memmap_dir}: {free / 2**30:.1f} GiB free, need {1.2 * nbytes / 2**30:.1f} GiB")
    path = os.path.join(args.memmap_dir, f"fsft_bench_memmap_{os.getpid()}.npy")
    out = {"n": n, "box": box, "file_GiB": nbytes / 2**30}
    try:
        mm = np.lib.format.open_memmap(path, "w+", np.float32, (n, box, box, box))  # sparse: no data written
        rng = np.random.default_rng(0)
        # write real values into the rows that will be read, so the reads are not of holes only
        batch = 32
        rows = np.sort(rng.choice(n, size=args.memmap_steps * batch + 64, replace=False))
        for i in range(0, len(rows), 512):
            r = rows[i:i + 512]
            mm[r] = rng.normal(size=(len(r), box, box, box)).astype(np.float32)
        mm.flush()
        del mm
        x = np.load(path, mmap_mode="r")
        y = rng.integers(0, k, n)
        src = SubtomogramSet(x, y, tuple(f"c{i}" for i in range(k)))
        split = FewShotSplit(source_train=rows[64:], source_val=rows[:64], target_shots=np.zeros(0, np.int64),
                             target_unlabelled=np.zeros(0, np.int64), target_test=np.zeros(0, np.int64))
        config = FSFTConfig(epochs_stage1=1, batch_size=batch)
        net = FSFTNetworks(box, k, config)
        out["before_MiB"] = status_mib()
        clock = EpochClock()
        with MemorySampler() as s:
            t0 = time.perf_counter()
            stage1_source(net, StageData(src, src, split), config, RunContext(store=clock))
            out["seconds"] = time.perf_counter() - t0
        out.update({"steps": len(rows[64:]) // batch, "peak_VmRSS_MiB": s.peak["VmRSS"],
                    "peak_RssAnon_MiB": s.peak["RssAnon"], "peak_RssFile_MiB": s.peak["RssFile"],
                    "ru_maxrss_MiB": peak_rss_mib(),
                    "subtomograms_per_s": len(rows[64:]) // batch * batch / out["seconds"]})
    finally:
        if os.path.exists(path):
            os.remove(path)
    return out


# ------------------------------------------------------------------------------------------ report

def _fmt(v, nd=1):
    return "—" if v is None else f"{v:.{nd}f}"


def report(args, results, machine):
    lines = [BEGIN, "", f"Generated {machine['date']} by `{machine['command']}`.", "",
             machine.get("header", f"Machine: {machine.get('cpu')}"), "",
             f"Load average before/after: {machine['load_before']} / {machine['load_after']}. "
             f"Python {machine['python']}, TensorFlow {machine['tf']}, Keras {machine['keras']}, "
             f"NumPy {machine['numpy']}, PyTorch {machine['torch']}. Threads: TF intra-op "
             f"{machine['tf_intra']}, inter-op {machine['tf_inter']} (0 = TF default, one per core); "
             f"PyTorch {machine['torch_threads']} intra-op, {machine['torch_interop']} inter-op.", ""]
    ref = "PyTorch reference (NCDHW)"
    if "infer" in results:
        res, title = results["infer"], "Inference, 256 subtomograms 28^3 in batches of 64, standardisation included"
        base = median(res[ref]) if ref in res else None
        torch_rows = [median(v) for k, v in res.items() if k.startswith("PyTorch")]
        best = max(torch_rows) if torch_rows else None
        lines += [f"**{title}** ({len(next(iter(res.values())))} interleaved repeats)", "",
                  "| contender | subtomograms/s median | best | median / PyTorch reference | median / fastest PyTorch |",
                  "|---|---:|---:|---:|---:|"]
        for name, v in res.items():
            lines.append(f"| {name} | {_fmt(median(v))} | {_fmt(max(v))} | "
                         f"{_fmt(median(v) / base, 2) + 'x' if base else '—'} | "
                         f"{_fmt(median(v) / best, 2) + 'x' if best else '—'} |")
        lines.append("")
    if "memory" in results:
        lines += ["**Peak memory** (a subprocess running one stage-1 epoch alone, 900 source subtomograms in "
                  "steps of 32: `stage1_source`, `TorchFSFT.stage1`; RSS after importing the framework shows its own "
                  "share; the PyTorch process loads TensorFlow too, for the project's data helpers)", "",
                  "| workload | RSS after imports MiB | peak RSS MiB | peak anonymous RSS MiB |", "|---|---:|---:|---:|"]
        for name, r in results["memory"].items():
            lines.append(f"| {name} | {_fmt(r.get('after_import_MiB'), 0)} | {_fmt(r['peak_VmRSS_MiB'], 0)} | "
                         f"{_fmt(r['peak_RssAnon_MiB'], 0)} |")
        lines.append("")
    if "pipeline" in results:
        p = results["pipeline"]
        ep, smp = p["epochs"], p["samples"]
        lines += [f"**Pipeline per stage** (synthetic 10-class 28^3: {p['sizes']['source_train']} source training, "
                  f"{p['sizes']['target_unlabelled']} unlabelled target, {p['sizes']['target_shots']} target shots; "
                  f"epochs 1/2.1/2.2/3 = {ep['1']}/{ep['2.1']}/{ep['2.2']}/{ep['3']}; median of "
                  f"{args.pipeline_repeats} runs, alternating project and PyTorch; seconds per stage include "
                  f"tf.function tracing, per-epoch source-validation accuracy and BatchNorm recalibration, as the "
                  f"stages do them)", "",
                  "| stage | project s | PyTorch reference s | PyTorch 1 thread s | project speed / fastest PyTorch | "
                  "project steady-state epochs |", "|---|---:|---:|---:|---:|---:|"]
        rows = p["rows"]
        variants = (ref, "PyTorch reference, 1 thread")

        def med(name, st):
            r = rows.get(f"{name}|{st}")
            return median(r["total"]) if r else None

        tot = {n: 0.0 for n in ("project",) + variants}
        for st in ("1", "2.1", "2.2", "3"):
            tp = med("project", st)
            tts = [med(v, st) for v in variants]
            for n, v in zip(("project",) + variants, [tp] + tts):
                tot[n] += v or 0.0
            fastest = min([t for t in tts if t], default=None)
            pr = rows.get(f"project|{st}")
            unit = "pairs" if st == "2.2" else "subtomograms"
            steady = (f"{smp[st] / median(pr['epoch']):.0f} {unit}/s" if pr and pr["epoch"] else "—")
            lines.append(f"| {st} | {_fmt(tp, 2)} | {_fmt(tts[0], 2)} | {_fmt(tts[1], 2)} | "
                         f"{_fmt(fastest / tp, 2) + 'x' if fastest and tp else '—'} | {steady} |")
        fastest = min([tot[v] for v in variants if tot[v]], default=None)
        lines.append(f"| all | {_fmt(tot['project'], 2)} | {_fmt(tot[variants[0]] or None, 2)} | "
                     f"{_fmt(tot[variants[1]] or None, 2)} | {_fmt(fastest / tot['project'], 2) + 'x' if fastest else '—'} | |")
        if "2.1 reference" in smp and med("project", "2.1") and smp["2.1 reference"] != smp["2.1"]:
            scale = smp["2.1 reference"] / smp["2.1"]  # the project's stage 2.1 at the reference's work per epoch
            equal = tot["project"] - med("project", "2.1") * (1 - scale)
            lines.append(f"| all, the project's stage 2.1 scaled to the reference's {smp['2.1 reference']} (not "
                         f"{smp['2.1']}) subtomograms per epoch | {_fmt(equal, 2)} | {_fmt(tot[variants[0]] or None, 2)} | "
                         f"{_fmt(tot[variants[1]] or None, 2)} | {_fmt(fastest / equal, 2) + 'x' if fastest else '—'} | |")
        pre = [med(f"{v}, precomputed features", "2.2") for v in variants]
        if any(pre):
            fastest = min([t for t in pre if t])
            lines.append(f"| 2.2 with PyTorch precomputing the features as the project does | "
                         f"{_fmt(med('project', '2.2'), 2)} | {_fmt(pre[0], 2)} | {_fmt(pre[1], 2)} | "
                         f"{_fmt(fastest / med('project', '2.2'), 2)}x | |")
        lines.append("")
    if "memmap" in results:
        m = results["memmap"]
        lines += [f"**Streaming from a memory-mapped .npy**: {m['n']} x {m['box']}^3 float32 ({m['file_GiB']:.1f} GiB, "
                  f"sparse file), stage 1 for {m['steps']} steps of 32 rows spread over the whole file: "
                  f"{m['subtomograms_per_s']:.0f} subtomograms/s. RSS before training (networks built) "
                  f"{m['before_MiB']['VmRSS']:.0f} MiB, of which anonymous {m['before_MiB']['RssAnon']:.0f} MiB; "
                  f"peak {m['peak_VmRSS_MiB']:.0f} MiB, of which anonymous {m['peak_RssAnon_MiB']:.0f} MiB "
                  f"(TensorFlow's working set for the step, independent of the data set's size) and file-backed "
                  f"{m['peak_RssFile_MiB']:.0f} MiB (shared libraries and the mapped rows read so far: page cache, "
                  f"which the kernel drops under memory pressure).", ""]
    lines.append(END)
    return "\n".join(lines)


def machine_info(args, tf, torch):
    import numpy as np
    import keras

    import machine
    return {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "header": machine.header(tf),
            "python": platform.python_version(), "tf": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "torch": torch.__version__ if torch else "not installed",
            "tf_intra": tf.config.threading.get_intra_op_parallelism_threads(),
            "tf_inter": tf.config.threading.get_inter_op_parallelism_threads(),
            "torch_threads": torch.get_num_threads() if torch else "—",
            "torch_interop": torch.get_num_interop_threads() if torch else "—",
            "command": "python " + " ".join([os.path.relpath(os.path.abspath(__file__), ROOT)] + sys.argv[1:]),
            "load_before": " ".join(f"{v:.1f}" for v in os.getloadavg())}


def main(argv=None):
    args = _args(argv)
    if args.worker:
        worker(args)
        return
    if args.render:
        with open(args.render) as f:
            saved = json.load(f)
        args.pipeline_repeats = saved["args"]["pipeline_repeats"]
        _output(args, saved["results"], saved["machine"])
        return
    tf = _setup_tf(args)
    torch = _torch()
    machine = machine_info(args, tf, torch)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    results = {}
    for s in sections:
        t0 = time.perf_counter()
        if s == "infer":
            section_infer(args, tf, torch, results)
        elif s == "pipeline":
            section_pipeline(args, tf, torch, results)
        elif s == "memory":
            section_memory(args, results)
        elif s == "memmap":
            results["memmap"] = _run_worker(args, "memmap", ["--memmap-n", str(args.memmap_n), "--memmap-box",
                                                            str(args.memmap_box), "--memmap-steps",
                                                            str(args.memmap_steps), "--memmap-dir", args.memmap_dir])
        else:
            raise SystemExit(f"unknown section {s!r}")
        print(f"[{s}: {time.perf_counter() - t0:.0f} s]", file=sys.stderr)
    machine["load_after"] = " ".join(f"{v:.1f}" for v in os.getloadavg())
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results, "machine": machine}, f, indent=1)
    _output(args, results, machine)


def _output(args, results, machine):
    text = report(args, results, machine)
    print(text)
    print("RAW " + json.dumps(results), file=sys.stderr)
    if args.write:
        old = open(args.write).read() if os.path.exists(args.write) else ""
        if BEGIN in old and END in old:
            new = old[:old.index(BEGIN)] + text + old[old.index(END) + len(END):]
        else:
            new = old + ("\n" if old else "") + text + "\n"
        from aitom.io.atomic import atomic_open
        with atomic_open(args.write, "w") as f:
            f.write(new)


if __name__ == "__main__":
    main()
