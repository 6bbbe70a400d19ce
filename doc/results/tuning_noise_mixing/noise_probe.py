"""Probe (issue 10, not adopted): source subtomograms mixed with noise shaped like the target's.

Usage, from the repository root with the benchmark data simulated under runs/bench-data:
    .venv/bin/python doc/results/tuning_noise_mixing/noise_probe.py CELL MODE SEED [STAGES]
MODE: none | fixed<r> | logu<r_min> (the source volume's share r of the variance, fixed or drawn
log-uniformly in [r_min, 1] per subtomogram); STAGES: comma-separated, default 1. The noise is white
noise filtered by the root of the mean power spectrum of 300 standardised target subtomograms (no label
read). Every read of the source array is mixed (training, stage 2.2's pool and the source validation
score alike). Prints one JSON line: the target validation accuracy (the unlabelled pool's hidden labels);
the test set is not printed.
"""
import sys, time, json
import numpy as np
from aitom.io.dataset import load_two_domain
from aitom.image.normalize import standardize
import aitom.classify.deep.fsft.data as D
from aitom.classify.deep.fsft import train
from aitom.classify.deep.fsft.stages import accuracy

cell, mode = sys.argv[1], sys.argv[2]
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
stages = tuple(sys.argv[4].split(",")) if len(sys.argv) > 4 else ("1",)
src, tgt = load_two_domain(f"runs/bench-data/{cell}")
s = src.x.shape[1]
# target mean power spectrum from 300 target volumes (no labels read)
rng = np.random.default_rng(123)
rows = np.sort(rng.choice(len(tgt.x), 300, replace=False))
xt = standardize(np.asarray(tgt.x[rows], np.float32))
P = np.mean(np.abs(np.fft.rfftn(xt, axes=(1, 2, 3))) ** 2, axis=0)
A = np.sqrt(P)
src_id = id(src.x)
orig_read = D._read
nrng = np.random.default_rng(seed + 1000)

def noise(n):
    w = nrng.standard_normal((n, s, s, s)).astype(np.float32)
    v = np.fft.irfftn(np.fft.rfftn(w, axes=(1, 2, 3)) * A, s=(s, s, s), axes=(1, 2, 3)).astype(np.float32)
    return standardize(v)

def r_draw(n):
    if mode == "none":
        return None
    if mode.startswith("fixed"):
        return np.full(n, float(mode[5:]), np.float32)
    if mode.startswith("logu"):
        lo = float(mode[4:])
        return np.exp(nrng.uniform(np.log(lo), 0.0, n)).astype(np.float32)

def patched(x, idx, codes):
    out = orig_read(x, idx, codes)
    if x is src.x or id(x) == src_id:
        r = r_draw(len(idx))
        if r is not None:
            v = out[..., 0]
            v = np.sqrt(r)[:, None, None, None] * v + np.sqrt(1 - r)[:, None, None, None] * noise(len(idx))
            out = standardize(v)[..., None]
    return out
D._read = patched
t = time.time()
res = train(src, tgt, shots=5, seed=seed, stages=stages, progress=False)
dom = "source" if stages == ("1",) else "target"
val = accuracy(res.networks, dom, tgt, res.split.target_unlabelled)
sv = accuracy(res.networks, "source", src, res.split.source_val)
print(json.dumps({"cell": cell, "mode": mode, "seed": seed, "stages": stages, "target_val": round(val, 3),
                  "source_val": round(sv, 3), 
                  "wall": round(time.time() - t)}), flush=True)
