"""Test helpers for classifying picks: a deterministic 'blob detector' classifier and tomograms with blobs."""
import keras
import numpy as np

from aitom.classify.deep.fsft.classifier import SubtomogramClassifier

BOX = 16


def blob_classifier(class_names=("background", "blob"), voxel_spacing_nm=2.0):
    """Logit of class 1 = 3 x mean of the standardised central 4^3 voxels, logit of class 0 = 0: a bright
    blob at the box centre is class 1 with probability ~1, a dark spot class 0."""
    inp = keras.Input((BOX, BOX, BOX, 1))
    x = keras.layers.GlobalAveragePooling3D()(keras.layers.Cropping3D(6)(inp))
    model = keras.Model(inp, keras.layers.Dense(2)(x))
    model.layers[-1].set_weights([np.array([[0.0, 3.0]]), np.zeros(2)])
    return SubtomogramClassifier(model, class_names, BOX, voxel_spacing_nm=voxel_spacing_nm)


def blob_tomogram(shape, blobs, dark, seed=0):
    """Unit Gaussian noise with +5 on a 5^3 cube at each of ``blobs`` and -5 at each of ``dark`` ([x, y, z])."""
    v = np.random.default_rng(seed).normal(0, 1, shape).astype(np.float32)
    for centres, value in ((blobs, 5.0), (dark, -5.0)):
        for c in centres:
            v[tuple(slice(k - 2, k + 3) for k in c)] += value
    return v
