"""Probe (issue 10): how much of the domain gap is the CTF? Source subtomograms re-filtered to the target's
CTF (oracle: both CTFs from the data set's metadata), optionally mixed with target-shaped noise.

Usage, from the repository root with the benchmark data simulated under runs/bench-data:
    .venv/bin/python doc/results/tuning_ctf/ctf_probe.py CELL FILTER MIX SEED [STAGES]
FILTER: none | blind (the root of the target's over the source's mean power spectrum, no metadata) | ratio (each source volume's spectrum times CTF_t CTF_s / (CTF_s^2 + 0.01): the target's CTF
in place of the source's) ; MIX: none | logu<r_min> (as doc/results/tuning_noise_mixing/noise_probe.py).
Prints one JSON line: target validation accuracy (the unlabelled pool's hidden labels); no test figure.
"""
import json
import sys
import time

import aitom  # noqa: F401
import numpy as np

import aitom.classify.deep.fsft.data as D
from aitom.classify.deep.fsft import train
from aitom.classify.deep.fsft.stages import accuracy
from aitom.image.normalize import standardize
from aitom.image.optics import ctf
from aitom.io.dataset import load_two_domain, SubtomogramSet

cell, filt, mix, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
stages = tuple(sys.argv[5].split(",")) if len(sys.argv) > 5 else ("1",)
src, tgt = load_two_domain(f"runs/bench-data/{cell}")
meta = json.load(open(f"runs/bench-data/{cell}/dataset.json"))["meta"]["ops"]
s = src.x.shape[1]
if filt == "ratio":
    c = {d: np.fft.ifftshift(ctf.create(meta[d]["ctf"]["Dz"], (s, s, s), pix_size=meta[d]["ctf"]["pix_size"],
                                        voltage=meta[d]["ctf"]["voltage"], Cs=meta[d]["ctf"]["Cs"])["ctf"])
         for d in ("source", "target")}
    h = c["target"] * c["source"] / (c["source"] ** 2 + 0.01)
    x = np.asarray(src.x, np.float32)
    xs = np.empty_like(x)
    for i in range(0, len(x), 100):
        xs[i:i + 100] = np.real(np.fft.ifftn(np.fft.fftn(x[i:i + 100], axes=(1, 2, 3)) * h, axes=(1, 2, 3)))
    src = SubtomogramSet(xs, src.y, src.class_names, src.voxel_spacing_nm, src.meta)
rng = np.random.default_rng(123)
rows = np.sort(rng.choice(len(tgt.x), 300, replace=False))
A = np.sqrt(np.mean(np.abs(np.fft.rfftn(standardize(np.asarray(tgt.x[rows], np.float32)), axes=(1, 2, 3))) ** 2, 0))
if filt == "blind":  # no metadata: the root of the target's over the source's mean power spectrum
    srows = np.sort(rng.choice(len(src.x), 300, replace=False))
    Ps = np.mean(np.abs(np.fft.rfftn(standardize(np.asarray(src.x[srows], np.float32)), axes=(1, 2, 3))) ** 2, 0)
    h = A / np.sqrt(Ps + 1e-3 * Ps.max())
    xs = np.fft.irfftn(np.fft.rfftn(np.asarray(src.x, np.float32), axes=(1, 2, 3)) * h, s=(s, s, s), axes=(1, 2, 3))
    src = SubtomogramSet(xs.astype(np.float32), src.y, src.class_names, src.voxel_spacing_nm, src.meta)
nrng = np.random.default_rng(seed + 1000)
orig_read = D._read


def patched(x, idx, codes):
    out = orig_read(x, idx, codes)
    if x is src.x and mix != "none":
        n = len(idx)
        r = np.exp(nrng.uniform(np.log(float(mix[4:])), 0.0, n)).astype(np.float32)[:, None, None, None]
        w = nrng.standard_normal((n, s, s, s)).astype(np.float32)
        noise = standardize(np.fft.irfftn(np.fft.rfftn(w, axes=(1, 2, 3)) * A, s=(s, s, s), axes=(1, 2, 3)))
        out = standardize(np.sqrt(r) * out[..., 0] + np.sqrt(1 - r) * noise)[..., None]
    return out


D._read = patched
t = time.time()
res = train(src, tgt, shots=5, seed=seed, stages=stages, progress=False)
dom = "source" if stages == ("1",) else "target"
print(json.dumps({"cell": cell, "filter": filt, "mix": mix, "seed": seed, "stages": stages,
                  "target_val": round(accuracy(res.networks, dom, tgt, res.split.target_unlabelled), 3),
                  "source_val": round(accuracy(res.networks, "source", src, res.split.source_val), 3),
                  "wall": round(time.time() - t)}), flush=True)
