import csv
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from fsft_helpers import blob_set, tiny_config
from worker_helpers import python_result

from aitom.classify.deep.fsft import train
from aitom.classify.deep.fsft.baselines import (METHODS, ORACLE_EPOCH_FACTOR, SharedStages, final_accuracy,
                                                resolve_method, run_method)
from aitom.classify.deep.fsft.experiment import read_runs, run_experiment
from aitom.classify.deep.fsft.losses import _projection_seed, sliced_wasserstein
from aitom.errors import InputError
from aitom.io.dataset import SubtomogramSet

CFG = tiny_config(epochs_stage1=3, epochs_stage2_1=3, epochs_stage2_2=6, epochs_stage3=3, lr_stage2_2=2e-3)
# per method: (stage, history key) whose value must fall during the method's own training
FALLS = {"source_only": [("1", "loss")], "adabn": [("1", "loss")], "finetune": [("3", "target_ce")],
         "coral": [("2.1", "loss")], "swd": [("2.1", "loss")], "fada": [("2.2", "loss"), ("3", "target_ce")],
         "fsft": [("2.2", "loss"), ("3", "target_ce")], "target_oracle": [("oracle", "loss")],
         "joint_oracle": [("oracle", "loss")]}


@pytest.fixture(scope="module")
def domains():
    """The target's volumes are mirrored: its class blobs sit where the source's are not, so the source
    network is wrong on the target and the target losses have something to learn."""
    target = blob_set(12, shift=1.5, noise=1.5, seed=1)
    target = SubtomogramSet(np.ascontiguousarray(target.x[:, ::-1]), target.y, target.class_names, 1.0)
    return blob_set(12, seed=0), target


@pytest.fixture(scope="module")
def shared(domains):
    return SharedStages(*domains)


@pytest.mark.parametrize("name", list(FALLS))
def test_method_trains_and_predicts_valid_class_ids(name, domains, shared):
    source, target = domains
    result = run_method(name, source, target, shots=3, config=CFG, shared=shared)
    for stage, key in FALLS[name]:
        values = result.history[stage][key]
        assert values[-1] < values[0], (name, stage, key, values)
    pred = result.classifier.predict(target.x[result.split.target_test])
    assert pred.min() >= 0 and pred.max() < 3
    assert 0.0 <= final_accuracy(result) <= 1.0
    assert result.cost.wall_s > 0 and result.cost.peak_rss_mb > 0
    expected_domain = "source" if name in ("source_only", "target_oracle", "joint_oracle") else "target"
    assert list(result.accuracy.values())[-1]["domain"] == expected_domain
    if name == "fada":
        assert "d_loss" in result.history["3"]  # D is trained in stage 3, alternately with the encoders
        assert not any("dcd_block" in l.name for l in result.networks.discriminator.layers)
    if name == "finetune":
        assert "dcd" not in result.history["3"]  # no discriminator
    if name.endswith("_oracle"):  # the ceilings train longer than stage 1, the joint one on more rows
        assert "source_val_acc" not in result.history["oracle"]  # no source rows to score, no NaN column
    if name == "target_oracle":
        assert len(result.history["oracle"]["loss"]) == ORACLE_EPOCH_FACTOR * CFG.epochs_stage1


def test_methods_share_stage_one_and_start_from_checks_the_split(domains, shared):
    a = shared.run(("1",), CFG.replace(shots=3))
    assert shared.run(("1",), CFG.replace(shots=3)) is a
    with pytest.raises(InputError, match="different split"):
        train(*domains, shots=3, config=CFG.replace(seed=1), stages=("1", "3"), start_from=a, progress=False)
    with pytest.raises(InputError, match="lr_stage1"):
        train(*domains, shots=3, config=CFG.replace(lr_stage1=0.1), stages=("1", "3"), start_from=a, progress=False)


def test_method_names_with_config_changes():
    assert set(METHODS) >= {"source_only", "finetune", "coral", "swd", "fada", "fsft", "fsft_no_coral",
                            "fsft_alternating", "fsft_no_3d"}
    method = resolve_method("fsft[coral_alpha=50, dcd_use_3d_branch=False]")
    assert method.keywords == {"coral_alpha": 50, "dcd_use_3d_branch": False}
    assert resolve_method("fsft[ctf_transfer=false,augment=True]").keywords == {"ctf_transfer": False, "augment": True}
    with pytest.raises(InputError, match="unknown method"):
        resolve_method("fsfft")
    with pytest.raises(InputError, match="not an FSFTConfig field"):
        resolve_method("fsft[alpha=5]")


@pytest.mark.parametrize("name", ["finetune", "finetune_target_only", "fada", "fsft_no_coral"])
def test_baselines_drop_the_stage3_terms_that_are_fsfts_own(name, monkeypatch):
    from aitom.classify.deep.fsft import baselines
    seen = []
    monkeypatch.setattr(baselines, "_train_stages", lambda s, t, config, *rest: seen.append(config))
    METHODS[name](None, None, config=CFG.replace(stage3_coral_alpha=1.0, stage3_source_target_weight=1.0))
    assert seen[0].stage3_coral_alpha == 0
    assert seen[0].stage3_source_target_weight == (1.0 if name == "fsft_no_coral" else 0.0)  # FSFT's own term


def _numpy_swd(zs, zt, theta):
    ps, pt = np.sort(zs @ theta, axis=0), np.sort(zt @ theta, axis=0)
    n, m = len(ps), len(pt)
    lcm = np.lcm(n, m)  # both empirical quantile functions are constant on steps of 1/lcm
    a, b = np.repeat(ps, lcm // n, axis=0), np.repeat(pt, lcm // m, axis=0)
    return np.mean(np.mean((a - b) ** 2, axis=0))


def test_sliced_wasserstein_equals_numpy_reference():
    rng = np.random.default_rng(0)
    zs = rng.normal(size=(6, 5)).astype(np.float32)
    zt = (2.0 * rng.normal(size=(4, 5)) + 1.0).astype(np.float32)
    theta = tf.random.stateless_normal([5, 16], seed=_projection_seed((3, 7))).numpy()
    theta /= np.linalg.norm(theta, axis=0)
    for a, b in ((zs, zt), (zs, zs[::-1] + 0.5), (zt, zs)):
        got = float(sliced_wasserstein(a, b, 16, seed=(3, 7)))
        np.testing.assert_allclose(got, _numpy_swd(a.astype(float), b.astype(float), theta), rtol=1e-4)
    assert float(sliced_wasserstein(zs, zs[::-1], 16, seed=1)) == pytest.approx(0.0, abs=1e-6)
    # one direction on a 1-D embedding: W2^2 between two point sets; a shift by c costs c^2
    x = rng.normal(size=(8, 1)).astype(np.float32)
    np.testing.assert_allclose(float(sliced_wasserstein(x, x + 3.0, 4, seed=0)), 9.0, rtol=1e-5)
    # reproducible from the seed, different for another seed
    assert float(sliced_wasserstein(zs, zt, 8, seed=5)) == float(sliced_wasserstein(zs, zt, 8, seed=5))
    assert float(sliced_wasserstein(zs, zt, 8, seed=5)) != float(sliced_wasserstein(zs, zt, 8, seed=6))


def test_unknown_alignment_is_named(domains):
    with pytest.raises(InputError, match="unknown alignment 'mmd'"):
        train(*domains, shots=3, config=CFG.replace(alignment="mmd"), stages=("1", "2.1"), progress=False,
              epochs_stage1=0)


def test_experiment_runner_writes_table_csv_and_plots_and_resumes(domains, tmp_path):
    out = str(tmp_path / "results")
    calls = []

    def simulate(source_snr, target_snr):
        calls.append((source_snr, target_snr))
        return domains

    rows = run_experiment(out, source_snrs=(1000,), target_snrs=(0.1,), shots=(3,), seeds=(0,),
                          methods=("source_only", "coral"), config=CFG, simulate=simulate, progress=False)
    assert len(rows) == 2 and calls == [(1000, 0.1)]
    for name in ("runs.csv", "results_table.md", "heatmap_shots3.png", "stages_src1000_tgt0.1_shots3.png",
                 "confusion/src1000_tgt0.1_shots3_coral_seed0.png"):
        assert os.path.exists(os.path.join(out, name)), name
    with open(os.path.join(out, "runs.csv"), newline="") as f:
        runs = list(csv.DictReader(f))
    assert [r["method"] for r in runs] == ["source_only", "coral"]
    coral_row = runs[1]
    assert set(json.loads(coral_row["stage_accuracy"])) == {"1", "2.1"}
    cm = np.array(json.loads(coral_row["confusion"]))
    assert cm.sum() == int(coral_row["n_test"])
    assert np.trace(cm) / cm.sum() == pytest.approx(float(coral_row["accuracy"]), abs=1e-6)
    table = open(os.path.join(out, "results_table.md")).read()
    assert "| 1000 → 0.1 |" in table and "coral" in table and "±" in table

    def fail(*args):
        raise AssertionError("a finished cell must not be simulated again")

    run_experiment(out, source_snrs=(1000,), target_snrs=(0.1,), shots=(3,), seeds=(0,),
                   methods=("source_only", "coral"), config=CFG, simulate=fail, progress=False)
    assert len(read_runs(os.path.join(out, "runs.csv"))) == 2


SWD_MIRRORED = r"""
import json
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from aitom.classify.deep.fsft.losses import sliced_wasserstein
rng = np.random.default_rng(0)
xs = rng.normal(size=(8, 6)).astype(np.float32)
xt = (rng.normal(size=(8, 6)) * 2 + 1).astype(np.float32)
w0 = rng.normal(size=(6, 4)).astype(np.float32)
w = tf.Variable(w0)
with tf.GradientTape() as tape:
    loss = sliced_wasserstein(xs @ w, xt @ w, 16, seed=(1, 2))
single = (float(loss), tape.gradient(loss, w).numpy())
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    wd = tf.Variable(w0)
def replica(a, b):
    with tf.GradientTape() as tape:
        loss = sliced_wasserstein(a @ wd, b @ wd, 16, seed=(1, 2))
    return loss, tape.gradient(loss, wd)
@tf.function
def step(a, b):
    loss, grad = strategy.run(replica, args=(a, b))
    return strategy.reduce("SUM", loss, None), strategy.reduce("SUM", grad, None)
for a, b in strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices((xs, xt)).batch(8)):
    loss, grad = step(a, b)
print("RESULT" + json.dumps({"single": [single[0], single[1].tolist()],
                             "mirrored": [float(loss), grad.numpy().tolist()],
                             "replicas": strategy.num_replicas_in_sync}))
"""


def test_sliced_wasserstein_under_two_replicas_equals_single_device():
    """Each replica holds half of each batch; the summed loss and gradient are the global batch's."""
    res = python_result(["-c", SWD_MIRRORED])
    assert res["replicas"] == 2
    np.testing.assert_allclose(res["mirrored"][0], res["single"][0], rtol=1e-5)
    np.testing.assert_allclose(np.array(res["mirrored"][1]), np.array(res["single"][1]), rtol=1e-4, atol=1e-5)


def test_experiment_report_puts_the_ceiling_beside_every_accuracy_per_structure_set(domains, tmp_path):
    out = str(tmp_path / "results")
    for structures in ("shrec", "assemblies"):
        run_experiment(out, source_snrs=(1000,), target_snrs=(0.1,), shots=(3,), seeds=(0,),
                       methods=("source_only", "target_oracle"), config=CFG, simulate=lambda s, t: domains,
                       progress=False, structures=structures)
    runs = read_runs(os.path.join(out, "runs.csv"))
    assert [(r["structures"], r["method"]) for r in runs] == [
        ("shrec", "source_only"), ("shrec", "target_oracle"), ("assemblies", "source_only"),
        ("assemblies", "target_oracle")]
    assert runs[1]["target_val_acc"] == "" and 0 <= float(runs[0]["target_val_acc"]) <= 1
    table = open(os.path.join(out, "results_table.md")).read()
    header = next(line for line in table.splitlines() if line.startswith("| method |"))
    assert "| 1000 → 0.1 |" in header and "| assemblies: 1000 → 0.1 |" in header
    row = next(line for line in table.splitlines() if line.startswith("| source_only |"))
    ratio = float(runs[0]["accuracy"]) / float(runs[1]["accuracy"])
    assert f"[{ratio:.2f}×]" in row
    assert os.path.exists(os.path.join(out, "stages_assemblies_src1000_tgt0.1_shots3.png"))


def test_joint_oracle_learns_both_domains_in_the_target_oracles_steps(domains, shared):
    source, target = domains
    runs = {name: run_method(name, source, target, shots=3, config=CFG, shared=shared)
            for name in ("target_oracle", "joint_oracle")}
    split = runs["joint_oracle"].split
    n_target = len(split.target_shots) + int(np.sum(target.y[split.target_unlabelled] >= 0))
    steps = {"target_oracle": len(runs["target_oracle"].history["oracle"]["loss"]) * (n_target // CFG.batch_size),
             "joint_oracle": len(runs["joint_oracle"].history["oracle"]["loss"])
             * ((n_target + len(split.source_train)) // CFG.batch_size)}
    assert abs(steps["joint_oracle"] - steps["target_oracle"]) <= (n_target + len(split.source_train)) // CFG.batch_size
    source_acc = {n: r.accuracy["oracle"]["source_val_acc"] for n, r in runs.items()}
    assert source_acc["joint_oracle"] > source_acc["target_oracle"]  # the mirrored source is learnt too
