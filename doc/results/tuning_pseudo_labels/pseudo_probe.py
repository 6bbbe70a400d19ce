"""Probe (issue 10): other pseudo-labels for the self-training rounds, and rounds that train differently.

Usage, from the repository root with the benchmark data simulated under runs/bench-data:
    .venv/bin/python doc/results/tuning_pseudo_labels/pseudo_probe.py CELL RULE SEED [TAU] [FIELD=VALUE ...]
RULE: confidence (the package's: class-balanced most confident softmax predictions) | centroid (SHOT,
Liang et al. 2020: the pool's L2-normalised, rotation-averaged embeddings are assigned to class centroids,
first weighted by the softmax probabilities, then by the hard assignment, the shots with their true labels
added to both; confidences are softmax(cosine / TAU), then the same class-balanced selection) | agree
(confidence ranking, keeping only rows whose centroid label agrees). Every round prints the precision of
the rows each rule would select (the pool's hidden labels: monitoring only, nothing chosen by it inside
the run).
FIELD=VALUE: FSFTConfig fields passed to ``train`` (e.g. ``pseudo_label_fraction=0.8``); round_FIELD=VALUE:
a field for the self-training rounds only (e.g. ``round_gamma=0``); dump=PREFIX: each round's probabilities
and embeddings saved to PREFIX-roundN.npz; shot_repeat=N: the labelled shots enter each round's rows N
times (their weight against the pseudo-labels). Last line: one JSON line with the target validation
accuracy (the unlabelled pool's hidden labels); the test set is not printed.
"""
import json
import sys
import time

import aitom  # noqa: F401  before TensorFlow: turns oneDNN on unless TF_ENABLE_ONEDNN_OPTS is set
import numpy as np
import tensorflow as tf

import aitom.classify.deep.fsft.stages as S
from aitom.classify.deep.fsft import train
from aitom.classify.deep.fsft.data import FLIP_AXES, batch_dataset
from aitom.classify.deep.fsft.pseudo_labels import select_pseudo_labels
from aitom.io.dataset import load_two_domain

cell, rule, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
tau = float(sys.argv[4]) if len(sys.argv) > 4 else 0.1
overrides = dict(a.split("=", 1) for a in sys.argv[5:])
dump = overrides.pop("dump", None)  # dump=PREFIX: each round's probabilities and embeddings to PREFIX-roundN.npz
shot_repeat = int(overrides.pop("shot_repeat", 1))  # shot_repeat=N: the true shots N times in each round's rows
overrides = {k: json.loads(v) for k, v in overrides.items()}
in_rounds = {k[len("round_"):]: overrides.pop(k) for k in list(overrides) if k.startswith("round_")}
rounds = []


def embeddings(networks, x, indices):
    out = []
    for xb, _ in batch_dataset(x, None, np.asarray(indices), 64):
        e = sum(networks.encode(tf.reverse(xb, a) if a else xb, "target", False)[1] for a in FLIP_AXES) / 4
        out.append(e.numpy())
    e = np.concatenate(out)
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def centroid_probabilities(e_pool, p_pool, e_shots, y_shots, k):
    w = p_pool
    for _ in range(2):
        shots = np.eye(k)[y_shots]
        c = (w.T @ e_pool + shots.T @ e_shots) / (w.sum(0) + shots.sum(0))[:, None]
        c /= np.linalg.norm(c, axis=1, keepdims=True)
        sim = e_pool @ c.T
        w = np.eye(k)[sim.argmax(1)]
    z = sim / tau
    z = np.exp(z - z.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def probe(networks, data, config):
    split, y = data.split, np.asarray(data.target.y)
    pool, shots = split.target_unlabelled, split.target_shots
    p = tf.nn.softmax(S.predict_logits(networks, "target", data.target.x, pool)).numpy()
    k = p.shape[1]
    e_pool, e_shots = embeddings(networks, data.target.x, pool), embeddings(networks, data.target.x, shots)
    q = centroid_probabilities(e_pool, p, e_shots, y[shots], k)
    if dump:
        np.savez(f"{dump}-round{len(rounds)}.npz", p=p, e_pool=e_pool, e_shots=e_shots, y_pool=y[pool], y_shots=y[shots])
    rounds.append(1)
    agree = p * (p.argmax(1) == q.argmax(1))[:, None]
    rules = {"confidence": p, "centroid": q, "agree": agree}
    stats = {}
    for name, probs in rules.items():
        pos, lab = select_pseudo_labels(probs, config.pseudo_label_fraction)
        if name == "agree":
            keep = agree[pos].max(1) > 0
            pos, lab = pos[keep], lab[keep]
        stats[name] = (pos, lab)
        print(f"# {name}: all-pool acc {np.mean(probs.argmax(1) == y[pool]):.3f}, selected {len(pos)}, "
              f"precision {np.mean(lab == y[pool][pos]):.3f}", flush=True)
    pos, lab = stats[rule]
    rows = np.concatenate([np.tile(shots, shot_repeat), pool[pos]])
    labels = np.concatenate([np.tile(y[shots], shot_repeat), lab])
    order = np.argsort(rows, kind="stable")
    return rows[order].astype(np.int64), labels[order].astype(np.int64)


S._with_pseudo_labels = probe
fit = S._stage3_fit


def fit_rounds(networks, data, config, run, rows, labels, round_):
    return fit(networks, data, config.replace(**in_rounds) if round_ else config, run, rows, labels, round_)


S._stage3_fit = fit_rounds
src, tgt = load_two_domain(f"runs/bench-data/{cell}")
t = time.time()
res = train(src, tgt, shots=5, seed=seed, progress=False, **overrides)
val = S.accuracy(res.networks, "target", tgt, res.split.target_unlabelled)
print(json.dumps({"cell": cell, "rule": rule, "tau": tau, **overrides, **{"round_" + k: v for k, v in in_rounds.items()},
                  **({"shot_repeat": shot_repeat} if shot_repeat != 1 else {}), "seed": seed, "target_val": round(val, 3),
                  "wall": round(time.time() - t)}), flush=True)
