"""Mixed precision (``FSFTConfig.mixed_precision``): half-precision compute, float32 where it matters.

With ``mixed_precision=True`` the networks are built under a Keras mixed policy (half-precision
activations and products, float32 variables): ``mixed_float16`` when a GPU is visible, with each stage's
Adam wrapped in a ``keras.optimizers.LossScaleOptimizer`` (dynamic loss scaling: the loss is scaled up
before the gradients are taken and the gradients scaled back, so that small float16 gradients do not
flush to zero; a step whose gradients overflow is skipped and the scale lowered). Without a GPU the
policy is ``mixed_bfloat16``: TensorFlow has no float16 CPU kernel for 3-D max-pooling, and bfloat16
has float32's range, so it needs no loss scaling (oneDNN runs it on AVX-512 BF16 / AMX units).

The numerically sensitive parts stay float32 in both: the logits enter the softmax cross-entropy as
float32, CORAL's covariances and the sliced Wasserstein distance are computed in float32 (``losses``),
BatchNorm statistics are float32 (Keras), and an exported classifier
(``FSFTNetworks.inference_model``) is float32. The default is off: float32 everywhere.
"""
import contextlib

import keras
import tensorflow as tf


def policy_name(config):
    """The Keras dtype policy of the networks: 'float32', or 'mixed_float16' (GPU) / 'mixed_bfloat16' (CPU).

    Examples
    --------
    >>> from aitom.classify.deep.fsft import FSFTConfig
    >>> policy_name(FSFTConfig())
    'float32'
    """
    if not getattr(config, "mixed_precision", False):
        return "float32"
    return "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"


@contextlib.contextmanager
def network_policy(config):
    """Within the block, new layers get the policy :func:`policy_name` gives (nothing changes for float32).

    The previous global policy is restored afterwards, so that only the networks built inside are affected.

    Examples
    --------
    >>> from aitom.classify.deep.fsft import FSFTConfig
    >>> with network_policy(FSFTConfig(mixed_precision=True)):
    ...     layer = keras.layers.Dense(2)
    >>> layer.dtype_policy.name in ("mixed_float16", "mixed_bfloat16"), layer.dtype_policy.variable_dtype
    (True, 'float32')
    >>> keras.layers.Dense(2).dtype_policy.name
    'float32'
    """
    name = policy_name(config)
    if name == "float32":
        yield
        return
    saved = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy(saved)


def stage_optimizer(optimizer, config):
    """``optimizer`` wrapped in a ``LossScaleOptimizer`` under the ``mixed_float16`` policy, else itself.

    Steps take their gradients with :func:`scaled_gradients`.
    """
    if policy_name(config) == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def scaled_gradients(tape, loss, variables, optimizer):
    """``tape.gradient(loss, variables)``, of the loss times the current loss scale for a ``LossScaleOptimizer``.

    The scale enters as the loss's upstream gradient, so the loss itself need not be recomputed inside
    the tape; ``optimizer.apply_gradients`` divides it out again. Other optimizers get the plain gradient.

    Examples
    --------
    >>> v = tf.Variable(2.0)
    >>> with tf.GradientTape() as tape:
    ...     loss = v * v
    >>> opt = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(), initial_scale=1024.0)
    >>> float(scaled_gradients(tape, loss, [v], opt)[0])
    4096.0
    """
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return tape.gradient(loss, variables, output_gradients=optimizer.scale_loss(tf.ones_like(loss)))
    return tape.gradient(loss, variables)
