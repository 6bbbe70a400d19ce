"""FSFT networks: domain-related and shared encoder blocks, classifier g, discriminator D.

The encoder is four blocks (Conv3D 3x3x3 'same', BatchNorm, ReLU, MaxPool 2). Blocks 1-2 are
domain-related: one copy per domain (f_s, f_t). Blocks 3-4 (f_0) share their convolution weights
across domains but keep one BatchNorm per domain: BatchNorm statistics carry the acquisition
domain, so a target subtomogram is normalised with target statistics in every block, in training
and in inference alike. Every sub-network is a functional Keras model.

Speed (see doc/performance.md): BatchNorm is :class:`FusedBatchNormalization`, the Keras layer
computed by TensorFlow's fused kernel; each block applies ReLU after the max-pooling, which gives
exactly the same values and gradients (max and ReLU commute) on an eighth of the voxels; eager
inference calls run one compiled graph. :meth:`FSFTNetworks.inference_model` exports standard
Keras layers only, so a saved classifier loads with ``keras.saving.load_model`` and no custom objects.
"""
import keras
import tensorflow as tf
from keras import layers

from aitom.errors import InputError

from .averaging import rotation_averaged_logits
from .precision import network_policy

DOMAINS = ("source", "target")


@keras.saving.register_keras_serializable(package="aitom_fsft")
class FusedBatchNormalization(layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` computed by TensorFlow's fused kernel.

    Same variables, configuration and results (to float32 round-off) as the Keras layer, whose
    TensorFlow backend builds batch normalisation from a dozen element-wise ops and reductions
    (their forward and backward passes cost more than the convolutions on CPU). Here a training
    call is one ``FusedBatchNormV3`` over the volume viewed as ``(n*d, h, w, c)`` (TensorFlow's
    CPU kernel for 5-D tensors is several times slower than for the same data in 4-D), plus the
    moving-average updates of the Keras layer; an inference call is one fused op with the moving
    statistics. Anything the fused op does not cover (masks, renorm, non-float32, axis other than
    the last, ``synchronized=True`` with more than one replica in sync) runs the Keras code.

    Exported models carry plain ``BatchNormalization`` layers: :meth:`FSFTNetworks.inference_model`
    swaps them in, so a saved classifier loads without this class.
    """

    def _fused_shape(self, inputs):
        shape = inputs.shape
        if (inputs.dtype != tf.float32 or self.renorm or not (self.scale and self.center)
                or self.axis not in (-1, len(shape) - 1) or len(shape) not in (4, 5)
                or any(d is None for d in shape[1:])):
            return None
        if len(shape) == 5:
            return (-1, shape[2], shape[3], shape[4])
        return (-1, shape[1], shape[2], shape[3])

    def call(self, inputs, training=None, mask=None):
        fused_shape = self._fused_shape(inputs) if mask is None else None
        training = bool(training) and self.trainable
        if fused_shape is not None and training and self.synchronized:
            ctx = tf.distribute.get_replica_context()
            if ctx is not None and ctx.num_replicas_in_sync > 1:
                fused_shape = None  # global statistics need the Keras all-reduce
        if fused_shape is None:
            return super().call(inputs, training=training, mask=mask)
        x = tf.reshape(inputs, fused_shape)
        gamma, beta = tf.convert_to_tensor(self.gamma), tf.convert_to_tensor(self.beta)
        if training:
            y, mean, unbiased_var, _, _, _ = tf.raw_ops.FusedBatchNormV3(
                x=x, scale=gamma, offset=beta, mean=tf.zeros([0]), variance=tf.zeros([0]),
                epsilon=self.epsilon, data_format="NHWC", is_training=True)
            n = tf.cast(tf.size(x) // tf.shape(x)[-1], tf.float32)
            var = unbiased_var * ((n - 1.0) / n)  # the fused op returns the Bessel-corrected variance
            m = self.momentum
            self.moving_mean.assign(self.moving_mean * m + mean * (1.0 - m))
            self.moving_variance.assign(self.moving_variance * m + var * (1.0 - m))
        else:
            y = tf.raw_ops.FusedBatchNormV3(
                x=x, scale=gamma, offset=beta, mean=tf.convert_to_tensor(self.moving_mean),
                variance=tf.convert_to_tensor(self.moving_variance), epsilon=self.epsilon, data_format="NHWC",
                is_training=False)[0]
        return tf.reshape(y, tf.shape(inputs))


def _conv_block(x, filters, name, bn):
    x = layers.Conv3D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = bn(x)
    x = layers.MaxPool3D(2, name=f"{name}_pool")(x)
    return layers.ReLU(name=f"{name}_relu")(x)  # relu(maxpool(x)) == maxpool(relu(x)), on 1/8 of the voxels


def _bn(name, config):
    return FusedBatchNormalization(
        momentum=config.bn_momentum,
        epsilon=config.bn_epsilon,
        synchronized=config.synchronized_bn,
        name=name,
    )


def domain_blocks(box_size, config, name):
    """Blocks 1-2 for one domain: (n, s, s, s, 1) -> feature map (n, s/4, s/4, s/4, widths[1])."""
    inp = keras.Input((box_size, box_size, box_size, 1), name=f"{name}_input")
    x = inp
    for i in range(2):
        x = _conv_block(x, config.widths[i], f"{name}_block{i + 1}", _bn(f"{name}_block{i + 1}_bn", config))
    return keras.Model(inp, x, name=name)


def shared_blocks(feature_shape, config):
    """Blocks 3-4, one model per domain sharing every Conv3D but not the BatchNorms.

    Returns a dict ``{domain: keras.Model}`` mapping a feature map to the flattened embedding.
    """
    convs = [layers.Conv3D(config.widths[2 + i], 3, padding="same", use_bias=False, name=f"shared_block{3 + i}_conv") for i in range(2)]
    models = {}
    for domain in DOMAINS:
        inp = keras.Input(feature_shape, name=f"shared_{domain}_input")
        x = inp
        for i, conv in enumerate(convs):
            x = conv(x)
            x = _bn(f"shared_block{3 + i}_bn_{domain}", config)(x)
            x = layers.MaxPool3D(2, name=f"shared_{domain}_block{3 + i}_pool")(x)
            x = layers.ReLU(name=f"shared_{domain}_block{3 + i}_relu")(x)
        x = layers.Flatten(name=f"shared_{domain}_flatten")(x)
        models[domain] = keras.Model(inp, x, name=f"shared_{domain}")
    return models


def discriminator(feature_shape, embedding_dim, config):
    """Domain-class discriminator D over a pair (a, b): 4 logits, one per pair group.

    3D branch: two conv blocks over the channel-wise concatenation of the pair's domain-related
    feature maps, then a dense layer. 1D branch: two dense layers over the concatenated
    embeddings, joined with the 3D branch's output, then two dense layers.
    """
    fa = keras.Input(feature_shape, name="feature_a")
    fb = keras.Input(feature_shape, name="feature_b")
    za = keras.Input((embedding_dim,), name="embedding_a")
    zb = keras.Input((embedding_dim,), name="embedding_b")
    h = layers.Concatenate(name="dcd_embeddings")([za, zb])
    h = layers.Dense(config.dcd_hidden, activation="relu", name="dcd_fc1")(h)
    h = layers.Dense(config.dcd_hidden, activation="relu", name="dcd_fc2")(h)
    if config.dcd_use_3d_branch:
        c = layers.Concatenate(axis=-1, name="dcd_features")([fa, fb])
        width = 2 * config.widths[1]
        c = _conv_block(c, width, "dcd_block1", _bn("dcd_block1_bn", config))
        c = _conv_block(c, config.widths[3], "dcd_block2", _bn("dcd_block2_bn", config))
        c = layers.Flatten(name="dcd_flatten")(c)
        c = layers.Dense(config.dcd_hidden, name="dcd_conv_fc")(c)
        h = layers.Concatenate(name="dcd_join")([h, c])
    h = layers.Dense(config.dcd_hidden, activation="relu", name="dcd_fc3")(h)
    out = layers.Dense(4, name="dcd_logits")(h)
    return keras.Model([fa, fb, za, zb], out, name="discriminator")


def _plain(model):
    """A copy of a functional ``model`` with standard layers in place of :class:`FusedBatchNormalization`."""
    def clone(layer):
        cls = layers.BatchNormalization if isinstance(layer, FusedBatchNormalization) else type(layer)
        return cls.from_config(dict(layer.get_config(), dtype="float32"))  # float32 also after mixed precision

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


class FSFTNetworks:
    """All trainable parts of FSFT for one input size and class count.

    Attributes
    ----------
    blocks : dict domain -> keras.Model, the domain-related blocks f_s, f_t
    shared : dict domain -> keras.Model, the shared blocks f_0 with that domain's BatchNorms
    classifier : keras.Model, g: embedding -> logits (softmax only at prediction)
    discriminator : keras.Model, D
    """

    def __init__(self, box_size, n_classes, config):
        if box_size < 16:
            raise InputError("box_size", f"{box_size} voxels is too small: the four 2x poolings need subtomograms "
                                         "of at least 16 voxels; cut larger boxes or resample")
        self.box_size = int(box_size)
        self.n_classes = int(n_classes)
        self.config = config
        with network_policy(config):  # half-precision compute if config.mixed_precision (precision.py)
            self.blocks = {d: domain_blocks(box_size, config, f"f_{d}") for d in DOMAINS}
            self.feature_shape = tuple(self.blocks["source"].output.shape[1:])
            self.shared = shared_blocks(self.feature_shape, config)
            self.embedding_dim = int(self.shared["source"].output.shape[-1])
            z = keras.Input((self.embedding_dim,), name="embedding")
            self.classifier = keras.Model(z, layers.Dense(n_classes, name="g_logits")(z), name="g")
            self.discriminator = discriminator(self.feature_shape, self.embedding_dim, config)

    def components(self):
        """Named parts, in a fixed order (checkpoints rely on it)."""
        return {
            "f_source": self.blocks["source"],
            "f_target": self.blocks["target"],
            "f0_source": self.shared["source"],
            "f0_target": self.shared["target"],
            "g": self.classifier,
            "D": self.discriminator,
        }

    def encode(self, x, domain, training):
        """Return (domain-related feature map, embedding) of a batch (n, s, s, s, 1).

        Called eagerly in inference mode, it runs one compiled graph per domain (traced once)
        instead of dispatching the layers one op at a time.
        """
        if not training and tf.executing_eagerly():
            return self._compiled("encode", domain)(tf.cast(x, tf.float32))
        f = self.blocks[domain](x, training=training)
        return f, self.shared[domain](f, training=training)

    def logits(self, x, domain, training=False, rotations=False):
        """Logits (n, k) of a batch (n, s, s, s, 1); compiled like :meth:`encode` when eager and inference.

        ``rotations``: in inference, the log of the class probabilities averaged over the batch's four
        180° rotations (:func:`aitom.classify.deep.fsft.averaging.rotation_averaged_logits`).
        """
        if not training and tf.executing_eagerly():
            return self._compiled("rotation_averaged" if rotations else "logits", domain)(tf.cast(x, tf.float32))
        if rotations and not training:
            return rotation_averaged_logits(lambda v: self.logits(v, domain), x)
        return self.classifier(self.encode(x, domain, training)[1], training=training)

    def _compiled(self, what, domain):
        cache = self.__dict__.setdefault("_compiled_cache", {})
        if (what, domain) not in cache:
            spec = tf.TensorSpec((None,) + (self.box_size,) * 3 + (1,), tf.float32)

            def encode(x):
                f = self.blocks[domain](x, training=False)
                return f, self.shared[domain](f, training=False)

            def logits(x):
                return self.classifier(encode(x)[1], training=False)

            fn = {"encode": encode, "logits": logits,
                  "rotation_averaged": lambda x: rotation_averaged_logits(logits, x)}[what]
            cache[(what, domain)] = tf.function(fn, input_signature=[spec])
        return cache[(what, domain)]

    def encoder_variables(self, domains=DOMAINS):
        """Trainable variables of the encoder for the given domains (shared convs once)."""
        seen, out = set(), []
        for d in domains:
            for v in self.blocks[d].trainable_variables + self.shared[d].trainable_variables:
                if id(v) not in seen:
                    seen.add(id(v))
                    out.append(v)
        return out

    def target_from_source(self):
        """Stage 2.1's start: f_t and the target BatchNorms become copies of the source ones."""
        self.blocks["target"].set_weights(self.blocks["source"].get_weights())
        self.shared["target"].set_weights(self.shared["source"].get_weights())

    def inference_model(self, domain):
        """One functional model: standardised input (n, s, s, s, 1) -> logits, for ``domain``.

        A copy with the current weights, built from standard Keras layers only (the fused
        BatchNormalization layers become ``keras.layers.BatchNormalization``), so that a saved
        classifier loads with ``keras.saving.load_model`` and no custom objects.
        """
        inp = keras.Input((self.box_size,) * 3 + (1,), name="subtomogram")
        z = _plain(self.shared[domain])(_plain(self.blocks[domain])(inp))
        return keras.Model(inp, _plain(self.classifier)(z), name=f"fsft_{domain}_classifier")

    def batchnorm_layers(self, domain):
        """BatchNorm layers that normalise ``domain``'s subtomograms."""
        return [l for m in (self.blocks[domain], self.shared[domain]) for l in m.layers
                if isinstance(l, layers.BatchNormalization)]
