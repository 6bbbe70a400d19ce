"""Pool accuracy of graph-based pseudo-label rules, offline, on a round dump of ``pseudo_probe.py`` (dump=PREFIX).

Usage: .venv/bin/python doc/results/tuning_pseudo_labels/offline_rules.py PREFIX-round0.npz
Prints the accuracy over the whole pool (its hidden labels) of the network's argmax, of the softmax
averaged over each row's k nearest neighbours (cosine, embeddings), and of label propagation
(Zhou et al. 2004: F = (I - a S)^-1 P on a symmetric kNN graph with weights cos^3).
"""
import sys

import numpy as np

d = np.load(sys.argv[1])
p, e, y = d["p"], d["e_pool"], d["y_pool"]
n = len(y)
sim = e @ e.T
np.fill_diagonal(sim, -1)
print(f"network argmax: {np.mean(p.argmax(1) == y):.3f} ({n} rows)")
for k in (5, 10, 20, 40):
    q = p[np.argsort(-sim, 1)[:, :k]].mean(1)
    print(f"kNN average, k={k}: {np.mean(q.argmax(1) == y):.3f}")
for k in (10, 20):
    nn = np.argsort(-sim, 1)[:, :k]
    rows = np.repeat(np.arange(n), k)
    w = np.zeros((n, n))
    w[rows, nn.ravel()] = np.maximum(sim[rows, nn.ravel()], 0) ** 3
    w = w + w.T
    dm = 1 / np.sqrt(w.sum(1) + 1e-12)
    for a in (0.5, 0.8, 0.95):
        f = np.linalg.solve(np.eye(n) - a * w * dm[:, None] * dm[None, :], p)
        print(f"label propagation, k={k}, a={a}: {np.mean(f.argmax(1) == y):.3f}")
