"""The optimised training and inference paths compute what the plain Keras formulation computes.

The FSFT networks use a fused BatchNormalization (``models.FusedBatchNormalization``), apply ReLU
after max-pooling (the two commute exactly) and run eager inference as a compiled graph. A plain
reference written with stock Keras layers in the textbook order (Conv3D, BatchNormalization, ReLU,
MaxPool3D) and an explicit GradientTape/Adam step must give the same loss, gradients, weights and
BatchNorm statistics on a fixed batch.

Tolerances, relative to the largest magnitude of the compared array unless said otherwise: float32
reductions over ~10^3..10^4 values per channel are summed in different orders by the fused kernel and
by ``tf.nn.moments``. Measured worst cases on these seeded inputs: BatchNorm outputs, gradients and
statistics 2.8e-6 (bound 5e-6; 2e-5 for the input gradient, a difference of nearly equal terms);
network gradients 2.9e-6 (bound 1e-4); logits 4.7e-7 (bound 1e-5); weights after one Adam step
9.2e-6 absolute (bound 2e-5, 2% of the ~1e-3 a weight moves in one step: a weight whose gradient is
within round-off of zero may take an Adam step of a different size).
"""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from fsft_helpers import blob_set, tiny_config
from keras import layers

from aitom.classify.deep.fsft import stage1_source
from aitom.classify.deep.fsft.data import few_shot_split
from aitom.classify.deep.fsft.losses import cross_entropy
from aitom.classify.deep.fsft.models import FSFTNetworks, FusedBatchNormalization
from aitom.classify.deep.fsft.stages import RunContext, StageData
from aitom.image.normalize import standardize

RTOL = 1e-5  # of the largest magnitude of the compared array


def close(a, b, rtol=RTOL, atol=0.0):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(np.abs(a).max(), np.abs(b).max(), 1e-12)
    np.testing.assert_allclose(a, b, rtol=0, atol=atol + rtol * scale)


@pytest.mark.parametrize("shape", [(6, 12, 12, 12, 16), (4, 7, 7, 7, 3), (5, 9, 9, 4)])
def test_fused_batchnorm_equals_keras_batchnorm(shape):
    rng = np.random.default_rng(0)
    x = tf.constant((1.5 + 2.0 * rng.normal(size=shape)).astype(np.float32))
    w = tf.constant(rng.normal(size=shape).astype(np.float32))
    ref = layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
    fused = FusedBatchNormalization(momentum=0.9, epsilon=1e-5)
    for layer in (ref, fused):
        layer.build(shape)
    ref.set_weights([rng.normal(size=shape[-1]).astype(np.float32), rng.normal(size=shape[-1]).astype(np.float32),
                     rng.normal(size=shape[-1]).astype(np.float32), rng.uniform(0.5, 2, size=shape[-1]).astype(np.float32)])
    fused.set_weights(ref.get_weights())
    out = []
    for layer in (ref, fused):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * w)
        grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
        out.append([y, *grads, layer.moving_mean, layer.moving_variance, layer(x, training=False)])
    names = ("y", "dx", "dgamma", "dbeta", "moving_mean", "moving_variance", "inference y")
    for name, a, b in zip(names, *out):
        close(a, b, rtol=5e-6 if name != "dx" else 2e-5)


def test_fused_batchnorm_falls_back_to_keras_for_non_float32():
    layer = FusedBatchNormalization()
    x = tf.random.normal((3, 4, 4, 4, 2), dtype=tf.float64)
    layer.build(x.shape)
    assert layer._fused_shape(x) is None
    assert layer._fused_shape(tf.cast(x, tf.float32)) == (-1, 4, 4, 2)
    layer(x, training=True)  # Keras' own code path: no error


def _reference_network(box, n_classes, config):
    """Stock Keras layers in the textbook order; weights in the order of f_s, f0_s, g."""
    inp = keras.Input((box, box, box, 1))
    x = inp
    for wdt in config.widths:
        x = layers.Conv3D(wdt, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=config.bn_momentum, epsilon=config.bn_epsilon)(x)
        x = layers.ReLU()(x)
        x = layers.MaxPool3D(2)(x)
    out = layers.Dense(n_classes)(layers.Flatten()(x))
    return keras.Model(inp, out)


def _project_weights(net):
    return net.blocks["source"].get_weights() + net.shared["source"].get_weights() + net.classifier.get_weights()


def _set_project_weights(net, weights):
    n_fs, n_f0 = len(net.blocks["source"].weights), len(net.shared["source"].weights)
    net.blocks["source"].set_weights(weights[:n_fs])
    net.shared["source"].set_weights(weights[n_fs:n_fs + n_f0])
    net.classifier.set_weights(weights[n_fs + n_f0:])


def _loss_and_gradients(logits_fn, variables, y):
    with tf.GradientTape() as tape:
        loss = cross_entropy(y, logits_fn(), 8)
    return float(loss), tape.gradient(loss, variables)


def test_stage1_step_equals_plain_keras_step():
    """One epoch of one batch through ``stage1_source`` (the real loop) == one plain GradientTape/Adam step."""
    source = blob_set(3, seed=0)  # 9 subtomograms, 3 classes
    split = few_shot_split(source.y, source.y, source.class_names, shots=1, target_test_fraction=0.0,
                           source_val_fraction=0.0)
    split.source_train = split.source_train[:8]  # exactly one batch
    cfg = tiny_config(epochs_stage1=1, batch_size=8, augment=False, lr_schedule="constant")  # a plain Adam step
    keras.utils.set_random_seed(0)
    net = FSFTNetworks(16, 3, cfg)
    ref = _reference_network(16, 3, cfg)
    start = _project_weights(net)
    ref.set_weights(start)
    rows = np.sort(split.source_train)  # the order batch_dataset reads a batch in
    x = tf.constant(standardize(source.x[rows])[..., None])
    y = tf.constant(source.y[rows].astype(np.int32))

    # loss and gradients of the first step
    variables = net.encoder_variables(("source",)) + net.classifier.trainable_variables
    p_loss, p_grads = _loss_and_gradients(lambda: net.logits(x, "source", training=True), variables, y)
    r_loss, r_grads = _loss_and_gradients(lambda: ref(x, training=True), ref.trainable_variables, y)
    np.testing.assert_allclose(p_loss, r_loss, rtol=1e-5)
    assert [g.shape for g in p_grads] == [g.shape for g in r_grads]
    for a, b in zip(p_grads, r_grads):
        close(a, b, rtol=1e-4)

    # the training calls above moved the BatchNorm statistics: start again from the same weights
    _set_project_weights(net, start)
    ref.set_weights(start)
    _, history = stage1_source(net, StageData(source, source, split), cfg, RunContext())
    opt = keras.optimizers.Adam(learning_rate=cfg.lr_stage1)
    with tf.GradientTape() as tape:
        loss = cross_entropy(y, ref(x, training=True), 8)
    opt.apply_gradients(zip(tape.gradient(loss, ref.trainable_variables), ref.trainable_variables))
    np.testing.assert_allclose(history["loss"][0], float(loss), rtol=1e-5)
    for a, b in zip(_project_weights(net), ref.get_weights()):  # kernels, BatchNorm parameters and statistics
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-5)


def test_compiled_inference_and_export_equal_the_plain_network(tmp_path):
    cfg = tiny_config()
    keras.utils.set_random_seed(1)
    net = FSFTNetworks(16, 3, cfg)
    # non-trivial BatchNorm statistics
    xb = tf.constant(standardize(blob_set(4, seed=2).x)[..., None])
    net.encode(xb, "source", training=True)
    ref = _reference_network(16, 3, cfg)
    ref.set_weights(_project_weights(net))
    x = tf.constant(standardize(blob_set(3, seed=3).x)[..., None])
    expected = ref(x, training=False).numpy()
    close(net.logits(x, "source"), expected)                            # compiled eager path
    close(tf.function(lambda v: net.logits(v, "source"))(x), expected)  # inside a graph: the layers
    f, z = net.encode(x, "source", training=False)
    close(net.classifier(z), expected)
    exported = net.inference_model("source")
    close(exported(x, training=False), expected)
    config_text = json.dumps(exported.get_config())
    assert "FusedBatchNormalization" not in config_text and "BatchNormalization" in config_text
    path = str(tmp_path / "m.keras")
    exported.save(path)
    close(keras.saving.load_model(path, compile=False)(x, training=False), expected)
