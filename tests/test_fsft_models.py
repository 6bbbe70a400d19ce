"""aitom.classify.deep.fsft.models: shapes, per-domain BatchNorm with shared convolutions, exports."""
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from aitom.classify.deep.fsft import FSFTConfig
from aitom.classify.deep.fsft.models import FSFTNetworks, FusedBatchNormalization
from aitom.errors import InputError

CONFIG = FSFTConfig(widths=(4, 4, 6, 8), dcd_hidden=8)


@pytest.fixture(scope="module")
def net():
    return FSFTNetworks(16, 3, CONFIG)


def batch(n=4, seed=0, box=16):
    return np.random.default_rng(seed).normal(size=(n, box, box, box, 1)).astype(np.float32)


def test_boxes_smaller_than_16_are_refused():
    with pytest.raises(InputError, match="box_size"):
        FSFTNetworks(15, 3, CONFIG)


def test_shapes_of_features_embeddings_logits_and_discriminator(net):
    x = batch()
    f, z = net.encode(x, "source", training=False)
    assert f.shape == (4, 4, 4, 4, 4)  # two 2x poolings, widths[1] channels
    assert z.shape == (4, 8) and net.embedding_dim == 8  # 16 / 2**4 = 1 voxel of widths[3] channels
    assert net.logits(x, "target").shape == (4, 3)
    assert net.discriminator([f, f, z, z]).shape == (4, 4)
    assert list(net.components()) == ["f_source", "f_target", "f0_source", "f0_target", "g", "D"]


def test_shared_blocks_share_convolutions_but_not_batchnorm(net):
    conv = {d: [v for v in net.shared[d].trainable_variables if "conv" in v.path] for d in ("source", "target")}
    assert len(conv["source"]) == 2 and all(a is b for a, b in zip(conv["source"], conv["target"]))
    bn_source = {id(v) for layer in net.batchnorm_layers("source") for v in layer.weights}
    bn_target = {id(v) for layer in net.batchnorm_layers("target") for v in layer.weights}
    assert bn_source and not bn_source & bn_target
    # the shared convolutions are counted once among the encoder variables of both domains
    both = net.encoder_variables(("source", "target"))
    assert len(both) == len({id(v) for v in both})
    assert len(both) == len(net.encoder_variables(("source",))) * 2 - 2


def test_domains_differ_until_target_is_copied_from_source():
    net = FSFTNetworks(16, 3, CONFIG)
    x = batch(seed=1)
    assert not np.allclose(net.logits(x, "source"), net.logits(x, "target"))
    net.target_from_source()
    np.testing.assert_allclose(net.logits(x, "source"), net.logits(x, "target"), rtol=1e-5, atol=1e-5)


def test_training_mode_updates_only_that_domains_batchnorm_statistics():
    net = FSFTNetworks(16, 3, CONFIG)
    before = {d: [l.moving_mean.numpy().copy() for l in net.batchnorm_layers(d)] for d in ("source", "target")}
    net.encode(tf.constant(batch(seed=2) + 3.0), "target", training=True)
    for d, changed in (("source", False), ("target", True)):
        after = [l.moving_mean.numpy() for l in net.batchnorm_layers(d)]
        assert any(not np.allclose(a, b) for a, b in zip(before[d], after)) is changed


def test_compiled_inference_equals_layer_by_layer_call(net):
    x = batch(seed=3)
    f = net.blocks["target"](x, training=False)
    direct = net.classifier(net.shared["target"](f, training=False), training=False)
    np.testing.assert_allclose(net.logits(x, "target"), direct, rtol=1e-5, atol=1e-5)


def test_inference_model_is_plain_keras_with_the_same_outputs(net):
    exported = net.inference_model("source")
    fused = [l for m in exported.layers for l in getattr(m, "layers", [m]) if isinstance(l, FusedBatchNormalization)]
    assert fused == []
    x = batch(seed=4)
    np.testing.assert_allclose(exported(x, training=False), net.logits(x, "source"), rtol=1e-4, atol=1e-5)


def test_discriminator_without_3d_branch_has_no_convolutions():
    net = FSFTNetworks(16, 2, CONFIG.replace(dcd_use_3d_branch=False))
    assert not [l for l in net.discriminator.layers if isinstance(l, layers.Conv3D)]
    with_branch = FSFTNetworks(16, 2, CONFIG)
    assert [l for l in with_branch.discriminator.layers if isinstance(l, layers.Conv3D)]
