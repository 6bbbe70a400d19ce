"""FSFT networks: domain-related and shared encoder blocks, classifier g, discriminator D.

The encoder is four blocks (Conv3D 3x3x3 'same', BatchNorm, ReLU, MaxPool 2). Blocks 1-2 are
domain-related: one copy per domain (f_s, f_t). Blocks 3-4 (f_0) share their convolution weights
across domains but keep one BatchNorm per domain: BatchNorm statistics carry the acquisition
domain, so a target subtomogram is normalised with target statistics in every block, in training
and in inference alike. Every sub-network is a plain functional Keras model built from standard
layers, so an exported classifier loads with ``keras.saving.load_model`` and no custom objects.
"""
import keras
from keras import layers

DOMAINS = ("source", "target")


def _conv_block(x, filters, name, bn):
    x = layers.Conv3D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = bn(x)
    x = layers.ReLU(name=f"{name}_relu")(x)
    return layers.MaxPool3D(2, name=f"{name}_pool")(x)


def _bn(name, config):
    return layers.BatchNormalization(
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
            x = layers.ReLU(name=f"shared_{domain}_block{3 + i}_relu")(x)
            x = layers.MaxPool3D(2, name=f"shared_{domain}_block{3 + i}_pool")(x)
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
            raise ValueError(f"box_size {box_size} is too small: four 2x poolings need at least 16 voxels")
        self.box_size = int(box_size)
        self.n_classes = int(n_classes)
        self.config = config
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
        """Return (domain-related feature map, embedding) of a batch (n, s, s, s, 1)."""
        f = self.blocks[domain](x, training=training)
        return f, self.shared[domain](f, training=training)

    def logits(self, x, domain, training=False):
        return self.classifier(self.encode(x, domain, training)[1], training=training)

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
        """One functional model: raw-standardised input (n, s, s, s, 1) -> logits, for ``domain``."""
        inp = keras.Input((self.box_size,) * 3 + (1,), name="subtomogram")
        z = self.shared[domain](self.blocks[domain](inp))
        return keras.Model(inp, self.classifier(z), name=f"fsft_{domain}_classifier")

    def batchnorm_layers(self, domain):
        """BatchNorm layers that normalise ``domain``'s subtomograms."""
        return [l for m in (self.blocks[domain], self.shared[domain]) for l in m.layers
                if isinstance(l, layers.BatchNormalization)]
