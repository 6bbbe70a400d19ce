#!/usr/bin/env python
"""Stage-1 training and inference against the PyTorch reference, with oneDNN on and off, in one run.

TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` (and oneDNN ``ONEDNN_MAX_CPU_ISA``) once per process, so every
contender runs in its own subprocess (``--worker``); the parent runs the contenders one after the
other, in ``--rounds`` alternating rounds (A B C ... A B C ...), and reports the median per contender and
the ratios between medians of this run. Contenders (``--contenders``, comma separated):

tf-onednn          this project, ``TF_ENABLE_ONEDNN_OPTS=1`` (the package's default)
tf-onednn-avx2     the same with oneDNN capped at AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2``): an AVX2-only CPU
                   emulated on this one (same cores, caches and clock; not a real AVX2 machine)
tf-no-onednn       this project, ``TF_ENABLE_ONEDNN_OPTS=0`` (TensorFlow's default on CPUs without AVX-512
                   VNNI/BF16 or AMX). TensorFlow's own kernels are compiled for AVX, not AVX2/AVX-512 (its
                   start-up message says so), so they run the same code on an AVX2 CPU.
torch              the PyTorch reference network (``bench/torch_reference.py``), NCDHW, default threads
torch-1thread      the same with one intra-op thread (faster when the cores are shared)
torch-avx2         PyTorch capped at AVX2 (``ATEN_CPU_CAPABILITY=avx2``, ``ONEDNN_MAX_CPU_ISA=AVX2``)

Each worker measures, on a synthetic 10-class 28^3 set (900 training subtomograms, batch 32):

* stage-1 training through the library's ``stage1_source`` (``train(..., stages=("1",))`` runs exactly
  this), ``--epochs`` epochs; the first epoch (tracing) is left out of the steady-state throughput.
  PyTorch: ``TorchFSFT.stage1`` one epoch at a time (same data handling, same per-epoch validation);
* inference: ``stages.predict_logits`` with one pass per subtomogram (tf.data, standardisation) over 512 subtomograms in batches of
  64; PyTorch: the reference network in ``eval`` mode under ``no_grad`` on the same batches.

The report also gives the physical limit: convolution FLOPs per subtomogram counted analytically from
the architecture, against the CPU's float32 peak (``machine.peak_fp32_gflops``).

Usage::

    .venv/bin/python bench/bench_cpu_ratio.py [--rounds 2] [--epochs 3] [--contenders tf-onednn,torch]
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from harness import EpochClock, emit, median, run_worker as harness_run_worker, two_domain_data  # noqa: E402

CONTENDERS = {
    "tf-onednn": {"TF_ENABLE_ONEDNN_OPTS": "1"},
    "tf-onednn-avx2": {"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "tf-no-onednn": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "torch": {},
    "torch-1thread": {},
    "torch-avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
}
BOX, N_CLASSES, BATCH, N_INFER, INFER_BATCH = 28, 10, 32, 512, 64


def conv_flops(box=BOX, widths=(16, 16, 16, 128), n_classes=N_CLASSES):
    """Multiply-add FLOPs (2 per MAC) per subtomogram: (forward, training step).

    Convolutions 3^3 'same' and the final dense layer; a training step is forward + input gradient +
    filter gradient, except the first convolution's input gradient, which is not needed. BatchNorm,
    ReLU and pooling (memory-bound, a few FLOPs per voxel) are not counted.

    Examples
    --------
    >>> fwd, train = conv_flops()
    >>> round(fwd / 1e6, 1), round(train / 1e6, 1)
    (64.6, 174.9)
    """
    size, cin, macs = box, 1, []
    for w in widths:
        macs.append(size ** 3 * w * 27 * cin)
        size, cin = size // 2, w
    dense = widths[-1] * size ** 3 * n_classes
    fwd = 2 * (sum(macs) + dense)
    train = 3 * fwd - 2 * macs[0]
    return fwd, train


def worker(name, epochs):
    import numpy as np
    if name.startswith("torch"):
        # PyPI's (CUDA) torch wheel ships triton, which torch imports when an optimizer is built and which
        # crashes (SIGSEGV) in a process that has loaded TensorFlow; it only serves GPU compilation
        sys.modules.setdefault("triton", None)
    data = two_domain_data()
    n_train = len(data.split.source_train) // BATCH * BATCH
    x_inf = np.random.default_rng(1).normal(size=(N_INFER, BOX, BOX, BOX)).astype(np.float32)
    out = {"name": name, "n_train_per_epoch": n_train}
    if name.startswith("tf"):
        import aitom  # noqa: F401  (the environment above decides oneDNN; aitom only fills in an unset one)
        import keras
        import tensorflow as tf

        import machine
        from aitom.classify.deep.fsft import FSFTConfig, stage1_source
        from aitom.classify.deep.fsft.models import FSFTNetworks
        from aitom.classify.deep.fsft.stages import RunContext, predict_logits
        out["machine"] = machine.header(tf)
        config = FSFTConfig(epochs_stage1=epochs)
        keras.utils.set_random_seed(0)
        net = FSFTNetworks(BOX, N_CLASSES, config)
        clock = EpochClock()
        stage1_source(net, data, config, RunContext(store=clock))
        epoch_s = clock.epochs()
        idx = np.arange(N_INFER)
        predict_logits(net, "source", x_inf, idx, INFER_BATCH, rotations=False)  # trace; one pass, as PyTorch
        infer_s = []
        for _ in range(3):
            t = time.perf_counter()
            predict_logits(net, "source", x_inf, idx, INFER_BATCH, rotations=False)
            infer_s.append(time.perf_counter() - t)
    else:
        import torch

        import machine
        import torch_reference as tr
        from aitom.classify.deep.fsft import FSFTConfig
        from aitom.image.normalize import standardize
        if name == "torch-1thread":
            torch.set_num_threads(1)
        out["machine"] = machine.header() + (f" PyTorch {torch.__version__}, {torch.get_num_threads()} threads, "
                                             f"CPU capability {torch.backends.cpu.get_cpu_capability()}.")
        m = tr.TorchFSFT(BOX, N_CLASSES, FSFTConfig(), seed=0)
        epoch_s = []
        for _ in range(epochs):
            t = time.perf_counter()
            m.stage1(data, 1)
            epoch_s.append(time.perf_counter() - t)
        net = tr.classifier_network(N_CLASSES).eval()

        def infer():
            with torch.no_grad():
                return [net(tr.to_tensor(standardize(x_inf[i:i + INFER_BATCH]))).numpy()
                        for i in range(0, N_INFER, INFER_BATCH)]
        infer()
        infer_s = []
        for _ in range(3):
            t = time.perf_counter()
            infer()
            infer_s.append(time.perf_counter() - t)
    out.update(epoch_s=epoch_s, infer_s=infer_s)
    emit(out)


def run_worker(name, epochs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    for k in ("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY"):
        env.pop(k, None)
    env.update(CONTENDERS[name])
    return harness_run_worker([sys.executable, os.path.abspath(__file__), "--worker", name, "--epochs", str(epochs)],
                              env, name)


def report(results, args):
    import machine
    model, flags = machine.cpu_flags()
    mhz = machine.cpu_mhz()
    fwd, train = conv_flops()
    lines = [f"Command: `python bench/bench_cpu_ratio.py {' '.join(sys.argv[1:])}`; "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
             f"{', '.join(f'{n}: {len(r)} run(s)' for n, r in results.items())}, alternating; "
             f"medians; load average at the end {' '.join(f'{v:.1f}' for v in os.getloadavg())} "
             "(2 cores shared with other work)."]
    lines += [f"- {name}: {results[name][0]['machine']}" for name in results]
    lines += ["", "| contender | stage-1 training, subtomograms/s (steady epochs) | stage-1, first epoch s "
              "(tracing included) | inference subtomograms/s | training / PyTorch | inference / PyTorch | "
              "training, % of fp32 peak |", "|---|---:|---:|---:|---:|---:|---:|"]
    rate = {}
    for name, runs in results.items():
        n = runs[0]["n_train_per_epoch"]
        steady = [n / s for r in runs for s in r["epoch_s"][1:]]
        first = median([r["epoch_s"][0] for r in runs])
        infer = [N_INFER / s for r in runs for s in r["infer_s"]]
        rate[name] = (median(steady), first, median(infer))
    ref = rate.get("torch")
    for name, (tr_rate, first, inf_rate) in rate.items():
        cap = CONTENDERS[name].get("ONEDNN_MAX_CPU_ISA") or (
            "AVX2" if CONTENDERS[name].get("ATEN_CPU_CAPABILITY") == "avx2" else None)
        peak = machine.peak_fp32_gflops(flags, os.cpu_count(), mhz, cap)
        lines.append(f"| {name} | {tr_rate:.0f} | {first:.1f} | {inf_rate:.0f} | "
                     f"{tr_rate / ref[0]:.2f}x | {inf_rate / ref[2]:.2f}x | "
                     f"{100 * tr_rate * train / 1e9 / peak:.0f}% of {peak:.0f} GFLOP/s |" if ref else
                     f"| {name} | {tr_rate:.0f} | {first:.1f} | {inf_rate:.0f} | — | — | — |")
    peak = machine.peak_fp32_gflops(flags, os.cpu_count(), mhz)
    peak2 = machine.peak_fp32_gflops(flags, os.cpu_count(), mhz, "AVX2")
    lines += ["", f"Physical limit: {fwd / 1e6:.1f} MFLOP per subtomogram forward and {train / 1e6:.1f} MFLOP per "
              f"training sample (convolutions and the dense layer, `conv_flops`); float32 peak of {os.cpu_count()} "
              f"cores at {mhz:.0f} MHz with two FMA units: {peak:.0f} GFLOP/s with AVX-512, {peak2:.0f} with AVX2, "
              f"i.e. at most {peak * 1e9 / train:.0f} (AVX-512) or {peak2 * 1e9 / train:.0f} (AVX2) training "
              f"samples/s and {peak * 1e9 / fwd:.0f} / {peak2 * 1e9 / fwd:.0f} inference samples/s if the "
              "convolutions ran at peak and nothing else cost time."]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--contenders", default="tf-onednn,tf-onednn-avx2,tf-no-onednn,torch,torch-1thread,torch-avx2")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3, help="stage-1 epochs per worker (the first one is warm-up)")
    p.add_argument("--json", default=None, help="also save the raw results here (after every worker)")
    p.add_argument("--render", nargs="+", default=None, metavar="JSON",
                   help="only print the report of saved results (several files: their contenders together)")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker, args.epochs)
        return
    if args.render:
        results = {}
        for path in args.render:
            with open(path) as f:
                for name, runs in json.load(f).items():
                    results.setdefault(name, []).extend(runs)
        print(report(results, args))
        return
    names = [n.strip() for n in args.contenders.split(",") if n.strip()]
    unknown = set(names) - set(CONTENDERS)
    if unknown:
        raise SystemExit(f"unknown contender(s) {sorted(unknown)}; choose from {sorted(CONTENDERS)}")
    results = {n: [] for n in names}
    for r in range(args.rounds):
        for name in names:
            t = time.perf_counter()
            results[name].append(run_worker(name, args.epochs))
            print(f"[round {r + 1}: {name} {time.perf_counter() - t:.0f} s]", file=sys.stderr, flush=True)
            if args.json:
                with open(args.json, "w") as f:
                    json.dump({k: v for k, v in results.items() if v}, f, indent=1)
    print(report(results, args))


if __name__ == "__main__":
    main()
