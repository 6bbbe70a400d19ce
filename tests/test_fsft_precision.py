"""Mixed precision (``FSFTConfig.mixed_precision``): half-precision networks, loss scaling, float32 where it matters.

On a CPU the policy is ``mixed_bfloat16`` (TensorFlow has no float16 CPU kernel for 3-D max-pooling), on a
GPU ``mixed_float16`` with loss scaling; the tests expect whichever this machine gets (bench/gpu_check.sh
runs them on a GPU). The loss-scaling arithmetic is checked on a small float16 Dense layer, which runs
on a CPU too.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf
from fsft_helpers import blob_set, tiny_config

from aitom.classify.deep.fsft import stage1_source, stage2_1_coral
from aitom.classify.deep.fsft.data import few_shot_split
from aitom.classify.deep.fsft.losses import batch_covariance, cross_entropy
from aitom.classify.deep.fsft.models import FSFTNetworks
from aitom.classify.deep.fsft.precision import network_policy, policy_name, scaled_gradients, stage_optimizer
from aitom.classify.deep.fsft.stages import StageData

HALF = tf.float16 if tf.config.list_logical_devices("GPU") else tf.bfloat16


def _data():
    source, target = blob_set(8, seed=0), blob_set(8, shift=1.0, seed=1)
    split = few_shot_split(source.y, target.y, source.class_names, shots=2, target_test_fraction=0.0,
                           source_val_fraction=0.0)
    return StageData(source, target, split)


def test_policy_follows_the_config_and_the_device():
    assert policy_name(tiny_config()) == "float32"
    assert policy_name(tiny_config(mixed_precision=True)) == f"mixed_{HALF.name}"
    optimizer = stage_optimizer(keras.optimizers.Adam(), tiny_config(mixed_precision=True))
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer) == (HALF == tf.float16)
    assert type(stage_optimizer(keras.optimizers.Adam(), tiny_config())) is keras.optimizers.Adam


def test_mixed_networks_compute_in_half_precision_with_float32_variables_and_export_float32():
    net = FSFTNetworks(16, 3, tiny_config(mixed_precision=True))
    assert keras.mixed_precision.dtype_policy().name == "float32"  # the global policy is left as it was
    x = tf.random.normal((2, 16, 16, 16, 1), seed=0)
    f, z = net.encode(x, "source", training=True)
    assert f.dtype == HALF and z.dtype == HALF
    assert net.logits(x, "source", training=True).dtype == HALF
    assert all(v.dtype == "float32" for m in net.components().values() for v in m.weights)
    exported = net.inference_model("source")
    assert exported(x).dtype == tf.float32
    half = net.logits(x, "source").numpy().astype(np.float32)
    np.testing.assert_allclose(exported(x).numpy(), half, atol=0.05 * np.abs(half).max())  # same weights
    assert FSFTNetworks(16, 3, tiny_config()).logits(x, "source", training=True).dtype == tf.float32


def test_losses_and_covariance_are_float32_from_half_precision_inputs():
    logits = tf.constant([[60000.0, 0.0], [0.0, 1.0]], tf.float16)  # exp() in float16 would overflow
    loss = cross_entropy(tf.constant([0, 1]), logits, 2)
    assert loss.dtype == tf.float32
    np.testing.assert_allclose(loss.numpy(), np.log1p(np.exp(-1.0)) / 2, rtol=1e-3)
    assert batch_covariance(tf.ones((4, 3), tf.float16)).dtype == tf.float32


@pytest.mark.parametrize("initial_scale", [1.0, 2.0 ** 15])
def test_loss_scaled_float16_step_equals_the_float32_step(initial_scale):
    """A float16 Dense layer whose gradients underflow in float16 unless the loss is scaled."""
    x = np.full((4, 8), 1e-3, np.float32)
    y = np.zeros(4, np.int32)
    steps = {}
    for name, policy in (("float32", "float32"), ("float16", "mixed_float16")):
        keras.utils.set_random_seed(0)
        layer = keras.layers.Dense(2, dtype=policy, kernel_initializer="zeros")
        layer.build((None, 8))
        optimizer = keras.optimizers.SGD(1.0)
        if policy != "float32":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=initial_scale)
        with tf.GradientTape() as tape:
            loss = 1e-6 * cross_entropy(y, layer(x), 4)  # weight gradients ~5e-10: below float16's 6e-8
        optimizer.apply_gradients(zip(scaled_gradients(tape, loss, layer.trainable_variables, optimizer),
                                      layer.trainable_variables))
        steps[name] = layer.kernel.numpy()
    assert np.abs(steps["float32"]).max() > 0
    if initial_scale == 1.0:  # unscaled, the float16 gradients flush to zero: no update at all
        assert np.abs(steps["float16"]).max() == 0
    else:
        np.testing.assert_allclose(steps["float16"], steps["float32"], rtol=2e-2)


def test_stages_train_under_mixed_precision():
    data = _data()
    cfg = tiny_config(mixed_precision=True, epochs_stage1=1, epochs_stage2_1=1, batch_size=8, coral_batch_size=8)
    keras.utils.set_random_seed(0)
    net = FSFTNetworks(16, 3, cfg)
    before = net.classifier.get_weights()[0].copy()
    _, h1 = stage1_source(net, data, cfg)
    _, h2 = stage2_1_coral(net, data, cfg)
    for h in (h1, h2):
        assert np.isfinite(h["loss"]).all(), h
    assert not np.allclose(before, net.classifier.get_weights()[0])
    with network_policy(cfg):
        assert keras.mixed_precision.dtype_policy().name == f"mixed_{HALF.name}"
