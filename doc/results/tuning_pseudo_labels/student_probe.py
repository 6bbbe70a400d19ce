"""Probe (issue 10): a student trained from scratch, the ceiling's way, on FSFT's pseudo-labels.

Usage, from the repository root with the benchmark data simulated under runs/bench-data:
    .venv/bin/python doc/results/tuning_pseudo_labels/student_probe.py CELL SEED FRACTION [FRACTION ...]
FSFT is trained with the defaults; then, for each FRACTION, a fresh network of the same architecture is
trained as ``target_oracle`` trains the ceiling (stage 1's recipe, 6 x 20 epochs, target data only), on the
shots (true labels) plus the pool's class-balanced most confident FSFT predictions (FRACTION of the pool;
1.0 labels every row with FSFT's argmax). One JSON line per student: the target validation accuracy (the
unlabelled pool's hidden labels) of FSFT and of the student; the test set is not printed.
"""
import dataclasses
import json
import sys
import time

import aitom  # noqa: F401  before TensorFlow: turns oneDNN on unless TF_ENABLE_ONEDNN_OPTS is set
import keras
import numpy as np
import tensorflow as tf

from aitom.classify.deep.fsft import train
from aitom.classify.deep.fsft.baselines import ORACLE_EPOCH_FACTOR
from aitom.classify.deep.fsft.models import FSFTNetworks
from aitom.classify.deep.fsft.pseudo_labels import select_pseudo_labels
from aitom.classify.deep.fsft.stages import RunContext, StageData, accuracy, predict_logits, stage1_source
from aitom.io.dataset import load_two_domain

cell, seed, fractions = sys.argv[1], int(sys.argv[2]), [float(f) for f in sys.argv[3:]]
src, tgt = load_two_domain(f"runs/bench-data/{cell}")
t = time.time()
res = train(src, tgt, shots=5, seed=seed, progress=False)
split, config = res.split, res.networks.config
pool, shots = split.target_unlabelled, split.target_shots
fsft_val = accuracy(res.networks, "target", tgt, pool)
p = tf.nn.softmax(predict_logits(res.networks, "target", tgt.x, pool)).numpy()
print(json.dumps({"cell": cell, "seed": seed, "fsft_val": round(fsft_val, 3), "wall": round(time.time() - t)}),
      flush=True)
for fraction in fractions:
    t = time.time()
    positions, labels = select_pseudo_labels(p, fraction)
    y = np.full(len(tgt.y), -1, np.int64)
    y[shots] = tgt.y[shots]
    y[pool[positions]] = labels
    student_set = dataclasses.replace(tgt, y=y)
    student_split = dataclasses.replace(split, source_train=np.sort(np.concatenate([shots, pool[positions]])),
                                        source_val=split.target_test[:0])
    keras.utils.set_random_seed(seed)
    net = FSFTNetworks(tgt.box_size, len(tgt.class_names), config)
    stage1_source(net, StageData(student_set, student_set, student_split),
                  config.replace(epochs_stage1=ORACLE_EPOCH_FACTOR * config.epochs_stage1), RunContext())
    print(json.dumps({"cell": cell, "seed": seed, "fraction": fraction, "n_pseudo": int(len(positions)),
                      "precision": round(float(np.mean(labels == tgt.y[pool[positions]])), 3),
                      "fsft_val": round(fsft_val, 3), "student_val": round(accuracy(net, "source", tgt, pool), 3),
                      "wall": round(time.time() - t)}), flush=True)
