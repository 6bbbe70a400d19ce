"""aitom.classify.deep.fsft.averaging: predictions averaged over the four 180° rotations, wherever a
trained network predicts (the networks, the classifier and its folder, classify-picks)."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from aitom.classify.deep.fsft import FSFTConfig, SubtomogramClassifier
from aitom.classify.deep.fsft.classifier import softmax
from aitom.classify.deep.fsft.data import rotate_180
from aitom.classify.deep.fsft.models import FSFTNetworks
from aitom.image.normalize import standardize

CONFIG = FSFTConfig(widths=(4, 4, 6, 8), dcd_hidden=8)


@pytest.fixture(scope="module")
def networks():
    tf.keras.utils.set_random_seed(0)
    return FSFTNetworks(16, 3, CONFIG)


def cubes(n=5, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 16, 16, 16)).astype(np.float32)


def manual_average(logits_of, x):
    """Mean of the softmax of the four rotated copies, the rotations as training augments (data.rotate_180)."""
    views = [rotate_180(x, np.full(len(x), code)) for code in range(4)]
    return np.mean([softmax(np.asarray(logits_of(v[..., None]), np.float64)) for v in views], axis=0)


def test_networks_average_over_the_augmentation_rotations_eagerly_and_in_a_graph(networks):
    x = standardize(cubes())
    want = manual_average(lambda v: networks.logits(tf.constant(v), "source"), x)
    eager = softmax(networks.logits(tf.constant(x[..., None]), "source", rotations=True).numpy())
    graph = softmax(tf.function(lambda v: networks.logits(v, "source", rotations=True))(tf.constant(x[..., None])).numpy())
    np.testing.assert_allclose(eager, want, atol=1e-5)
    np.testing.assert_allclose(graph, want, atol=1e-5)
    one_pass = softmax(networks.logits(tf.constant(x[..., None]), "source").numpy())
    assert np.abs(one_pass - want).max() > 1e-3  # the random network is not rotation invariant: a real average
    # a rotated subtomogram gets the same averaged prediction
    rotated = rotate_180(x, np.full(len(x), 2))
    np.testing.assert_allclose(softmax(networks.logits(tf.constant(rotated[..., None]), "source", rotations=True).numpy()),
                               want, atol=1e-5)


def test_classifier_averages_keeps_the_setting_in_its_folder_and_old_folders_load_without(networks, tmp_path):
    x = cubes(seed=1)
    model = networks.inference_model("source")
    plain = SubtomogramClassifier(model, ("a", "b", "c"), 16)
    averaged = SubtomogramClassifier(model, ("a", "b", "c"), 16, rotation_averaging=True)
    np.testing.assert_allclose(averaged.predict_proba(x), manual_average(lambda v: model(v, training=False),
                                                                          standardize(x)), atol=1e-5)
    loaded = SubtomogramClassifier.load(averaged.save(str(tmp_path / "clf")))
    assert loaded.rotation_averaging
    np.testing.assert_allclose(loaded.predict_proba(x), averaged.predict_proba(x), atol=1e-6)
    plain.save(str(tmp_path / "old"))
    meta_path = os.path.join(tmp_path / "old", "classifier.json")
    with open(meta_path) as f:
        meta = json.load(f)
    del meta["rotation_averaging"]  # a folder written before the setting existed
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    old = SubtomogramClassifier.load(str(tmp_path / "old"))
    assert not old.rotation_averaging
    np.testing.assert_allclose(old.predict_proba(x), plain.predict_proba(x), atol=1e-6)


def test_reported_accuracies_use_the_setting_and_epoch_monitoring_does_not(networks, monkeypatch):
    from aitom.classify.deep.fsft import stages
    from aitom.io.dataset import SubtomogramSet
    data = SubtomogramSet(cubes(6, seed=3), np.array([0, 1, 2, 0, 1, 2]), ("a", "b", "c"))
    seen = []
    original = networks.logits
    monkeypatch.setattr(networks, "logits", lambda *a, **k: seen.append(k.get("rotations")) or original(*a, **k))
    stages.accuracy(networks, "source", data, np.arange(6))
    assert seen == [CONFIG.rotation_averaging] == [True]
    seen.clear()
    stages.accuracy(networks, "source", data, np.arange(6), rotations=False)
    assert seen == [False]
