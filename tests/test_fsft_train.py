import json
import os

import numpy as np
import pytest
from fsft_helpers import blob_set, tiny_config

from aitom.classify.deep.fsft import CheckpointError, SubtomogramClassifier, evaluate, predict, train
from aitom.classify.deep.fsft import pipeline
from aitom.classify.deep.fsft import stages as stages_module
from aitom.errors import InputError
from aitom.io.dataset import SubtomogramSet, to_dj


@pytest.fixture(scope="module")
def domains():
    return blob_set(14, seed=0), blob_set(14, shift=1.5, noise=1.5, seed=1)


@pytest.fixture(scope="module")
def finished(domains, tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp("run"))
    return train(*domains, shots=3, config=tiny_config(), run_dir=run_dir, progress=False)


def test_train_reports_every_stage_and_writes_its_outputs(finished):
    assert set(finished.accuracy) == {"1", "2.1", "3"}
    assert finished.accuracy["1"]["domain"] == "source"
    assert finished.accuracy["3"]["domain"] == "target"
    for a in finished.accuracy.values():
        assert 0.0 <= a["target_test_acc"] <= 1.0
    for name in ("config.json", "split.json", "history.json", "accuracy.json", "training_curves.png",
                 "target_test_confusion.png", "target_test.json", "classifier/model.keras",
                 "classifier/classifier.json"):
        assert os.path.exists(os.path.join(finished.run_dir, name)), name
    with open(os.path.join(finished.run_dir, "history.json")) as f:
        history = json.load(f)
    assert len(history["2.2"]["loss"]) == tiny_config().epochs_stage2_2


def test_test_set_excludes_the_shots(finished, domains):
    sp = finished.split
    assert not set(sp.target_shots) & set(sp.target_test)
    assert not set(sp.target_unlabelled) & set(sp.target_test)


def test_classifier_round_trip_predict_and_evaluate(finished, domains, tmp_path):
    target = domains[1]
    clf = SubtomogramClassifier.load(os.path.join(finished.run_dir, "classifier"))
    assert clf.class_names == target.class_names and clf.box_size == 16
    np.testing.assert_allclose(clf.predict_proba(target.x[:5]), finished.classifier.predict_proba(target.x[:5]),
                               atol=1e-5)
    labels, proba = predict(clf, to_dj(target.subset(np.arange(6))))
    assert labels.shape == (6,) and proba.shape == (6, 3)
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-5)
    report = evaluate(clf, target, out_dir=str(tmp_path), name="all")
    assert np.array(report["confusion_matrix"]).sum() == len(target)
    rows = np.array([7, 2, 30, 11])
    assert evaluate(clf, target, indices=rows)["confusion_matrix"] == \
        evaluate(clf, target.subset(np.sort(rows)))["confusion_matrix"]
    assert os.path.exists(tmp_path / "all_confusion.png")
    with pytest.raises(InputError, match="box size 20 does not match the model's 16"):
        clf.predict(np.zeros((2, 20, 20, 20), np.float32))
    with pytest.raises(InputError, match="voxel spacing"):
        clf.predict(target.x[:2], voxel_spacing_nm=2.0)


def test_resume_after_an_interrupted_stage_finishes_the_run(domains, tmp_path, monkeypatch):
    run_dir = str(tmp_path / "run")
    cfg = tiny_config(epochs_stage3=3)
    original = stages_module.stage3_finetune

    def interrupted(networks, data, config, run=None):
        original(networks, data, config.replace(epochs_stage3=1, self_training_rounds=0), run)
        raise KeyboardInterrupt  # the run dies right after stage 3's first epoch checkpoint

    monkeypatch.setitem(pipeline.STAGE_FUNCTIONS, "3", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(*domains, shots=3, config=cfg, run_dir=run_dir, progress=False)
    monkeypatch.undo()
    with open(os.path.join(run_dir, "checkpoints", "latest.json")) as f:
        assert json.load(f)["tag"] == "stage3-epoch0001"
    with pytest.raises(InputError, match="already holds a run"):
        train(*domains, shots=3, config=cfg, run_dir=run_dir, progress=False)
    result = train(*domains, shots=3, config=cfg, run_dir=run_dir, resume=True, progress=False)
    # epochs 2 and 3 ran on top of the saved first, then the self-training round's three
    rounds = [r for r in range(cfg.self_training_rounds + 1) for _ in range(3)]
    assert result.history["3"]["round"] == rounds and len(result.history["3"]["loss"]) == len(rounds)
    assert len(result.history["1"]["loss"]) == cfg.epochs_stage1  # earlier stages were not re-run
    assert os.path.exists(os.path.join(run_dir, "classifier", "model.keras"))


def test_corrupt_checkpoint_is_reported_not_loaded(domains, tmp_path):
    run_dir = str(tmp_path / "run")
    train(*domains, shots=3, config=tiny_config(), run_dir=run_dir, progress=False, stages=("1",))
    with open(os.path.join(run_dir, "checkpoints", "latest.json")) as f:
        tag = json.load(f)["tag"]
    npz = os.path.join(run_dir, "checkpoints", tag + ".npz")
    with open(npz, "r+b") as f:
        f.seek(100)
        f.write(b"\x00garbage\x00")
    with pytest.raises(CheckpointError, match="corrupt"):
        train(*domains, shots=3, config=tiny_config(), run_dir=run_dir, resume=True, progress=False)


def test_one_shot_and_no_coral_ablation(domains):
    result = train(*domains, shots=1, config=tiny_config(), progress=False, stages=("1", "2.2", "3"))
    assert set(result.accuracy) == {"1", "3"} and result.accuracy["3"]["domain"] == "target"


def test_bad_inputs_are_named(domains):
    source, target = domains
    extra = SubtomogramSet(target.x, target.y, ("class0", "class1", "zzz"))
    with pytest.raises(InputError, match="'zzz' is absent from the source"):
        train(source, extra, shots=3, config=tiny_config(), progress=False)
    with pytest.raises(InputError, match="fewer than shots=20"):
        train(source, target, shots=20, config=tiny_config(), progress=False)
    small = SubtomogramSet(target.x[:, :12, :12, :12], target.y, target.class_names)
    with pytest.raises(InputError, match="box size 12 differs"):
        train(source, small, shots=3, config=tiny_config(), progress=False)
    with pytest.raises(InputError, match="unknown stage"):
        train(source, target, shots=3, config=tiny_config(), progress=False, stages=("1", "4"))


def test_a_run_folder_older_than_self_training_resumes_only_as_it_was_trained(domains, tmp_path):
    """config.json written before ``self_training_rounds`` existed: that run had none; resuming it with
    the new default (2 rounds) would change its method half-way, so it is refused, naming the field."""
    run_dir = str(tmp_path / "run")
    cfg = tiny_config(self_training_rounds=0)
    train(*domains, shots=3, config=cfg, run_dir=run_dir, progress=False, stages=("1",))
    path = os.path.join(run_dir, "config.json")
    with open(path) as f:
        saved = json.load(f)
    del saved["self_training_rounds"]
    with open(path, "w") as f:
        json.dump(saved, f)
    with pytest.raises(InputError, match=r"configuration differs .*'self_training_rounds': 0"):
        train(*domains, shots=3, config=cfg.replace(self_training_rounds=2), run_dir=run_dir, resume=True,
              progress=False, stages=("1",))
    result = train(*domains, shots=3, config=cfg, run_dir=run_dir, resume=True, progress=False, stages=("1",))
    assert "1" in result.accuracy
