"""Stage 3's self-training rounds: class-balanced pseudo-labels, never the pool's true labels."""
import dataclasses

import keras
import numpy as np
import pytest
from fsft_helpers import stage_data, tiny_config

from aitom.classify.deep.fsft import baselines, stage3_finetune
from aitom.classify.deep.fsft.models import FSFTNetworks
from aitom.classify.deep.fsft.pseudo_labels import select_pseudo_labels
from aitom.classify.deep.fsft.stages import StageData, _with_pseudo_labels, predict_logits


def test_each_class_gets_its_most_confident_rows_and_no_more():
    p = np.array([[0.90, 0.05, 0.05],   # 0: class 0, most confident
                  [0.50, 0.30, 0.20],   # 1: class 0
                  [0.70, 0.20, 0.10],   # 2: class 0
                  [0.10, 0.80, 0.10],   # 3: class 1
                  [0.20, 0.60, 0.20],   # 4: class 1
                  [0.30, 0.30, 0.40]])  # 5: class 2, the only one
    positions, labels = select_pseudo_labels(p, 1.0)  # 2 per class
    np.testing.assert_array_equal(positions, [0, 2, 3, 4, 5])
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 2])
    positions, labels = select_pseudo_labels(p, 0.5)  # 1 per class
    np.testing.assert_array_equal(positions, [0, 3, 5])
    np.testing.assert_array_equal(labels, [0, 1, 2])


def test_an_over_predicted_class_does_not_crowd_out_the_others():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(4), size=400)
    p[:300, 0] += 5.0  # three quarters predicted as class 0, all more confident than the rest
    p /= p.sum(1, keepdims=True)
    positions, labels = select_pseudo_labels(p, 0.2)
    assert np.bincount(labels, minlength=4).tolist() == [20, 20, 20, 20]
    assert len(np.unique(positions)) == 80


@pytest.fixture(scope="module")
def data():
    return stage_data(12, 24, shots=2, target_shift=1.0, target_noise=1.2)


def test_pseudo_labels_are_the_networks_predictions_on_the_pool(data):
    """Through the encoder ``pseudo_label_encoder`` names (f_t by default, f_s on request)."""
    cfg = tiny_config(shots=2, pseudo_label_fraction=0.5)
    net = FSFTNetworks(16, 3, cfg)
    rng = np.random.default_rng(0)  # f_s unlike f_t: its convolution kernels perturbed
    net.blocks["source"].set_weights([w + rng.normal(0, 0.3, w.shape) if w.ndim == 5 else w
                                      for w in net.blocks["source"].get_weights()])
    shots, pool = data.split.target_shots, data.split.target_unlabelled
    chosen = {}
    for domain in ("target", "source"):
        rows, labels = _with_pseudo_labels(net, data, cfg.replace(pseudo_label_encoder=domain))
        assert set(shots) <= set(rows) and len(set(rows)) == len(rows)
        np.testing.assert_array_equal(labels[np.isin(rows, shots)], data.target.y[np.sort(shots)])
        pooled = rows[~np.isin(rows, shots)]
        assert set(pooled) <= set(pool)
        predicted = predict_logits(net, domain, data.target.x, pooled).argmax(1)
        np.testing.assert_array_equal(labels[~np.isin(rows, shots)], predicted)
        chosen[domain] = list(zip(rows.tolist(), labels.tolist()))
    assert chosen["target"] != chosen["source"]


def test_self_training_never_reads_the_pools_labels(data):
    """Scrambling the unlabelled pool's labels changes nothing: the rounds use predictions only."""
    cfg = tiny_config(shots=2, epochs_stage3=2, self_training_rounds=2)
    y = data.target.y.copy()
    pool = data.split.target_unlabelled
    y[pool] = np.random.default_rng(1).permutation(y[pool])
    scrambled = StageData(data.source, dataclasses.replace(data.target, y=y), data.split)
    weights = []
    for d in (data, scrambled):
        keras.utils.set_random_seed(0)
        net = FSFTNetworks(16, 3, cfg)
        _, history = stage3_finetune(net, d, cfg)
        assert history["round"] == [0, 0, 1, 1, 2, 2]
        weights.append([w for m in net.components().values() for w in m.get_weights()])
    assert all(np.array_equal(a, b) for a, b in zip(*weights))


def test_zero_rounds_is_the_papers_stage_3(data):
    cfg = tiny_config(shots=2, epochs_stage3=3, self_training_rounds=0)
    _, history = stage3_finetune(FSFTNetworks(16, 3, cfg), data, cfg)
    assert history["round"] == [0, 0, 0] and len(history["loss"]) == 3


def test_self_training_epochs_sets_each_rounds_length_not_the_stages(data):
    cfg = tiny_config(shots=2, epochs_stage3=2, self_training_rounds=2, self_training_epochs=3)
    _, history = stage3_finetune(FSFTNetworks(16, 3, cfg), data, cfg)
    assert history["round"] == [0, 0, 1, 1, 1, 2, 2, 2]


def test_a_pool_too_small_for_one_row_per_class_adds_no_round(data):
    cfg = tiny_config(shots=2, epochs_stage3=2, self_training_rounds=2, pseudo_label_fraction=0.01)
    _, history = stage3_finetune(FSFTNetworks(16, 3, cfg), data, cfg)
    assert history["round"] == [0, 0]


def test_labelled_data_methods_do_not_self_train():
    for name in ("finetune", "fada"):
        assert baselines.resolve_method(name) is not None
    assert baselines.METHODS["fada"].changes["self_training_rounds"] == 0
    assert baselines.METHODS["fsft_no_self_training"].changes == {"self_training_rounds": 0}
    assert "self_training_rounds" not in baselines.METHODS["fsft"].changes
