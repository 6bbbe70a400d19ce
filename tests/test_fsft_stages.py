import dataclasses

import keras
import numpy as np
import pytest
from fsft_helpers import blob_set, stage_data, tiny_config

from aitom.classify.deep.fsft import (TrainingDivergedError, stage1_source, stage2_1_coral, stage2_2_discriminator,
                                      stage3_finetune)
from aitom.classify.deep.fsft.models import FSFTNetworks
from aitom.classify.deep.fsft.stages import StageData, recalibrate_batchnorm


@pytest.fixture(scope="module")
def data():
    return stage_data(16, 16, shots=3, target_shift=1.5, target_noise=1.5)


def test_each_stage_lowers_its_own_loss(data):
    # The paper's CORAL: on 8-subtomogram batches the normalised mismatch sits at its sampling-noise floor
    # (about 2 (rank + 1) / batch), so the stage-2.1 total could not fall by much on these tiny batches.
    cfg = tiny_config(epochs_stage1=4, epochs_stage2_1=4, epochs_stage2_2=12, epochs_stage3=4, lr_stage2_2=2e-3,
                      coral_loss="paper", coral_alpha=500.0)
    net = FSFTNetworks(16, 3, cfg)
    for stage in (stage1_source, stage2_1_coral, stage2_2_discriminator, stage3_finetune):
        _, history = stage(net, data, cfg)
        loss = history["loss"]
        assert loss[-1] < loss[0], (stage.__name__, loss)


def test_stage2_1_starts_target_encoder_from_source(data):
    cfg = tiny_config(epochs_stage2_1=0)
    net = FSFTNetworks(16, 3, cfg)
    stage2_1_coral(net, data, cfg.replace(recalibrate_target_bn=False))
    for a, b in zip(net.blocks["source"].get_weights(), net.blocks["target"].get_weights()):
        np.testing.assert_array_equal(a, b)
    # shared convolutions are one set of weights; BatchNorms are per domain
    shared_conv = net.shared["source"].get_layer("shared_block3_conv")
    assert shared_conv is net.shared["target"].get_layer("shared_block3_conv")
    assert net.shared["source"].get_layer("shared_block3_bn_source") is not \
        net.shared["target"].get_layer("shared_block3_bn_target")


@pytest.mark.parametrize("through", ["target", "source"])
def test_stage2_1_coral_encoder_decides_which_encoder_is_aligned(data, through):
    # 'source': the target batch goes through f_s, f_t stays untrained and becomes a copy of the aligned f_s;
    # 'target' (the paper's): f_t is trained apart from f_s and ends different from it
    cfg = tiny_config(epochs_stage2_1=2, recalibrate_target_bn=False, coral_encoder=through)
    net = FSFTNetworks(16, 3, cfg)
    stage1_source(net, data, cfg.replace(epochs_stage1=1))
    before = [w.copy() for w in net.blocks["source"].get_weights()]
    stage2_1_coral(net, data, cfg)
    after_s, after_t = net.blocks["source"].get_weights(), net.blocks["target"].get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(before, after_s))  # f_s trained in both
    same = all(np.array_equal(a, b) for a, b in zip(after_s, after_t))
    assert same == (through == "source")


def test_recalibration_sets_target_statistics_to_the_target_data(data):
    cfg = tiny_config()
    net = FSFTNetworks(16, 3, cfg)
    net.target_from_source()
    bn = net.blocks["target"].get_layer("f_target_block1_bn")
    before = bn.moving_mean.numpy().copy()
    idx = data.split.target_unlabelled
    recalibrate_batchnorm(net, "target", data.target.x, idx, batch_size=len(idx))
    # one batch: the moving mean equals that batch's mean of the first convolution's output
    from aitom.image.normalize import standardize
    conv = net.blocks["target"].get_layer("f_target_block1_conv")
    expected = conv(standardize(data.target.x[np.sort(idx)])[..., None]).numpy().mean(axis=(0, 1, 2, 3))
    np.testing.assert_allclose(bn.moving_mean.numpy(), expected, rtol=1e-3, atol=1e-5)
    assert not np.allclose(before, expected)
    assert bn.momentum == cfg.bn_momentum
    src_bn = net.blocks["source"].get_layer("f_source_block1_bn")
    np.testing.assert_array_equal(src_bn.moving_mean.numpy(), before)


def test_non_finite_loss_stops_the_stage_naming_it(data):
    x = np.array(data.source.x)
    x[data.split.source_train[:4]] = np.nan
    broken = StageData(type(data.source)(x, data.source.y, data.source.class_names), data.target, data.split)
    cfg = tiny_config()
    with pytest.raises(TrainingDivergedError, match=r"stage 1, epoch 1, step \d+"):
        stage1_source(FSFTNetworks(16, 3, cfg), broken, cfg)


def test_recalibration_gives_population_moments_on_class_sorted_data():
    """Class-grouped rows in small batches: the exact population mean and variance, not a mean of
    within-batch variances (which would miss the between-class variance)."""
    from aitom.image.normalize import standardize
    s = blob_set(8, n_classes=3, shift=4.0, seed=5)  # rows stored class by class
    cfg = tiny_config()
    net = FSFTNetworks(16, 3, cfg)
    idx = np.arange(len(s.y))
    recalibrate_batchnorm(net, "target", s.x, idx, batch_size=4)
    bn = net.blocks["target"].get_layer("f_target_block1_bn")
    conv = net.blocks["target"].get_layer("f_target_block1_conv")
    a = conv(standardize(s.x)[..., None]).numpy().reshape(-1, bn.moving_mean.shape[0]).astype(np.float64)
    np.testing.assert_allclose(bn.moving_mean.numpy(), a.mean(0), rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), a.var(0), rtol=2e-3, atol=1e-6)
    # a sorted walk averaging within-batch variances gives less than the population variance
    within = np.mean([a.reshape(len(idx), -1, a.shape[1])[i:i + 4].reshape(-1, a.shape[1]).var(0)
                      for i in range(0, len(idx), 4)], axis=0)
    assert np.all(within < a.var(0))
    assert bn.momentum == cfg.bn_momentum


def test_stage2_1_epoch_is_one_pass_over_the_source_training_set(data):
    """The target pool is smaller than the source training set: it is cycled, not the epoch's end."""
    cfg = tiny_config(epochs_stage2_1=2)
    net = FSFTNetworks(16, 3, cfg)
    src, pool = data.split.source_train, data.split.target_unlabelled
    assert len(pool) < len(src)
    batch = min(cfg.coral_batch_size, len(src), len(pool))
    captured = {}
    from aitom.classify.deep.fsft import stages as stages_module
    fit = stages_module._fit

    def spy(stage, networks, run, epochs, optimizer, *args, **kwargs):
        history = fit(stage, networks, run, epochs, optimizer, *args, **kwargs)
        captured["steps"] = int(optimizer.iterations.numpy())
        return history

    stages_module._fit = spy
    try:
        stage2_1_coral(net, data, cfg)
    finally:
        stages_module._fit = fit
    assert captured["steps"] == cfg.epochs_stage2_1 * (len(src) // batch)


def test_without_coral_the_target_statistics_come_from_target_data(tmp_path):
    """fine-tune / FADA / no-CORAL: before D or stage 3, f_t is f_s but with target BatchNorm statistics
    (from the shots for labelled-data methods, from the unlabelled pool otherwise)."""
    from aitom.classify.deep.fsft import train
    source, target = blob_set(14, seed=0), blob_set(14, shift=3.0, noise=1.5, seed=1)
    for recalibrate in (False, True):
        cfg = tiny_config(epochs_stage3=0, recalibrate_target_bn=recalibrate)
        result = train(source, target, shots=3, config=cfg, stages=("1", "3"), progress=False)
        net = result.networks
        for a, b in zip(net.blocks["source"].get_layer("f_source_block1_conv").get_weights(),
                        net.blocks["target"].get_layer("f_target_block1_conv").get_weights()):
            np.testing.assert_array_equal(a, b)
        rows = result.split.target_unlabelled if recalibrate else result.split.target_shots
        probe = FSFTNetworks(16, 3, cfg)
        probe.blocks["target"].set_weights(net.blocks["source"].get_weights())
        probe.shared["target"].set_weights(net.shared["source"].get_weights())
        recalibrate_batchnorm(probe, "target", target.x, rows, seed=cfg.seed)
        got = net.blocks["target"].get_layer("f_target_block1_bn").moving_mean.numpy()
        want = probe.blocks["target"].get_layer("f_target_block1_bn").moving_mean.numpy()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
        assert not np.allclose(got, net.blocks["source"].get_layer("f_source_block1_bn").moving_mean.numpy())


def _nan_test_rows(data):
    """``data`` with the target test volumes NaN: a stage that read one would stop on a non-finite loss."""
    x = np.asarray(data.target.x).copy()
    x[data.split.target_test] = np.nan
    return StageData(data.source, dataclasses.replace(data.target, x=x), data.split)


@pytest.mark.parametrize("through", ["target", "source"])
def test_stage3_coral_term_reads_the_pool_in_every_round_and_never_the_test_set(data, through):
    cfg = tiny_config(epochs_stage3=2, self_training_rounds=1, stage3_coral_alpha=1.0, coral_encoder=through)
    _, history = stage3_finetune(FSFTNetworks(16, 3, cfg), _nan_test_rows(data), cfg)
    assert history["round"] == [0, 0, 1, 1]
    assert len(history["coral"]) == 4 and all(0 < c < 2 for c in history["coral"])  # the normalised loss's range


def test_stage3_coral_term_leaves_the_pairs_as_they_were(data):
    # the pool batches are drawn after the pairs: a vanishing weight trains as the paper's stage 3 does
    weights = []
    for alpha in (0.0, 1e-30):
        cfg = tiny_config(epochs_stage3=2, self_training_rounds=0, stage3_coral_alpha=alpha)
        keras.utils.set_random_seed(0)
        net = FSFTNetworks(16, 3, cfg)
        _, history = stage3_finetune(net, data, cfg)
        assert ("coral" in history) == bool(alpha)
        weights.append([w for m in net.components().values() for w in m.get_weights()])
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_stage3_coral_term_moves_only_the_pools_embeddings(data):
    # the pool through f_t, no L_S, no D: f_s would change only through a gradient of the term on the source side
    cfg = tiny_config(epochs_stage3=2, self_training_rounds=0, stage3_coral_alpha=10.0, coral_encoder="target",
                      gamma=0.0, stage3_source_weight=0.0)
    net = FSFTNetworks(16, 3, cfg)
    net.target_from_source()
    before = [w.copy() for w in net.blocks["source"].get_weights()]
    _, history = stage3_finetune(net, data, cfg)
    assert history["coral"][-1] > 0
    for a, b in zip(before, net.blocks["source"].get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_stage3_source_target_term_trains_f_s_on_the_labelled_target(data, weight):
    # no L_S and no D: f_s changes only if the labelled target rows also go through it
    cfg = tiny_config(epochs_stage3=2, self_training_rounds=0, gamma=0.0, stage3_source_weight=0.0,
                      stage3_source_target_weight=weight)
    net = FSFTNetworks(16, 3, cfg)
    net.target_from_source()
    before = [w.copy() for w in net.blocks["source"].get_weights()]
    _, history = stage3_finetune(net, data, cfg)
    assert ("target_ce_source" in history) == bool(weight)
    changed = not all(np.array_equal(a, b) for a, b in zip(before, net.blocks["source"].get_weights()))
    assert changed == bool(weight)


@pytest.mark.parametrize("encoder", ["target", "source"])
def test_self_training_labels_the_pool_through_the_chosen_encoder(data, encoder, monkeypatch):
    from aitom.classify.deep.fsft import stages
    seen, predict, pool = [], stages.predict_logits, list(data.split.target_unlabelled)

    def recording(net, domain, x, indices, *args, **kwargs):
        if list(indices) == pool:
            seen.append(domain)
        return predict(net, domain, x, indices, *args, **kwargs)

    monkeypatch.setattr(stages, "predict_logits", recording)
    cfg = tiny_config(epochs_stage3=1, self_training_rounds=1, pseudo_label_encoder=encoder)
    stage3_finetune(FSFTNetworks(16, 3, cfg), data, cfg)
    assert seen == [encoder]
