"""Which encoder should target subtomograms go through? Trains a method (default ``fsft``) on one cell and seed,
then scores the unlabelled pool's hidden labels (validation) and the test rows through f_t (the paper's choice),
through f_s, and with the two's probabilities averaged. Appends a JSON line to results.jsonl beside this file.
The networks do not depend on ``deploy_encoder`` (it picks the encoder at prediction only).
``teacher=source`` labels the self-training rounds' pool through f_s instead of f_t (the package's
``pseudo_label_encoder``, which this probe's first runs patched in).
Usage: python doc/results/tuning_deploy_encoder/deploy_probe.py DATA_DIR CELL SEED [method=NAME] [teacher=source]
       [field=value ...]"""
import json
import os
import sys
import numpy as np
from aitom.classify.deep.fsft import FSFTConfig
from aitom.classify.deep.fsft.baselines import SharedStages, resolve_method
from aitom.classify.deep.fsft.stages import predict_logits
from aitom.io.dataset import load_dataset
data_dir, cell, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
changes = dict(a.split("=", 1) for a in sys.argv[4:])
method = changes.pop("method", "fsft")
teacher = changes.pop("teacher", "target")
source, target = (load_dataset(f"{data_dir}/{cell}/{d}") for d in ("source", "target"))
config = FSFTConfig(seed=seed, pseudo_label_encoder=teacher, **changes)
result = resolve_method(method)(source, target, 5, config, SharedStages(source, target))
net, split, y = result.networks, result.split, np.asarray(target.y)
out = {"data": data_dir, "cell": cell, "seed": seed, "method": method, **changes}
if teacher != "target":
    out["teacher"] = teacher
for name, rows in (("val", split.target_unlabelled), ("test", split.target_test)):
    p = {d: np.exp(predict_logits(net, d, target.x, rows)) for d in ("target", "source")}
    p = {d: v / v.sum(1, keepdims=True) for d, v in p.items()}
    p["mean"] = (p["target"] + p["source"]) / 2
    for d, v in p.items():
        out[f"{name}_{d}"] = float(np.mean(v.argmax(1) == y[rows]))
print(json.dumps(out), flush=True)
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.jsonl"), "a") as f:
    f.write(json.dumps(out) + "\n")
