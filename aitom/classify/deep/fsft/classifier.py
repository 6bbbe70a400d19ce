"""The trained classifier as one artefact: a Keras model plus its class names and input geometry."""
import json
import os

import keras
import numpy as np

from aitom.errors import InputError
from aitom.io.atomic import atomic_path

from aitom.image.normalize import standardize

_MODEL_FILE = "model.keras"
_META_FILE = "classifier.json"


def softmax(logits):
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class SubtomogramClassifier:
    """Classifies raw subtomograms (n, s, s, s); standardisation is applied inside.

    Attributes
    ----------
    model : keras.Model, (n, s, s, s, 1) standardised float32 -> logits
    class_names : tuple of str
    box_size : int
    voxel_spacing_nm : float or None
    meta : dict, free-form provenance (domain, config, data set)
    """

    def __init__(self, model, class_names, box_size, voxel_spacing_nm=None, meta=None):
        self.model = model
        self.class_names = tuple(class_names)
        self.box_size = int(box_size)
        self.voxel_spacing_nm = None if voxel_spacing_nm is None else float(voxel_spacing_nm)
        self.meta = dict(meta or {})

    def check_input(self, x, source="subtomograms", voxel_spacing_nm=None):
        """Raise InputError if ``x`` (n, s, s, s) or its voxel spacing does not fit this model."""
        shape = tuple(np.shape(x))
        if len(shape) != 4 or len(set(shape[1:])) != 1:
            raise InputError(source, f"expected an array (n, s, s, s) of cubic subtomograms, got shape {shape}")
        if shape[1] != self.box_size:
            raise InputError(source, f"box size {shape[1]} does not match the model's {self.box_size}")
        if voxel_spacing_nm is not None and self.voxel_spacing_nm is not None:
            if abs(voxel_spacing_nm - self.voxel_spacing_nm) > 0.01 * self.voxel_spacing_nm:
                raise InputError(source, f"voxel spacing {voxel_spacing_nm} nm does not match the model's "
                                         f"{self.voxel_spacing_nm} nm")

    def predict_proba(self, x, batch_size=64, voxel_spacing_nm=None):
        """Class probabilities (n, k) of raw subtomograms (n, s, s, s)."""
        self.check_input(x, voxel_spacing_nm=voxel_spacing_nm)
        out = [softmax(np.asarray(self._logits(standardize(x[i:i + batch_size])[..., None])))
               for i in range(0, len(x), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, len(self.class_names)), np.float32)

    def _logits(self, x):
        """``self.model`` in inference mode as one compiled graph (traced once per model), not layer by layer."""
        cached = self.__dict__.get("_compiled")
        if cached is None or cached[0] is not self.model:
            import tensorflow as tf
            spec = tf.TensorSpec((None,) + (self.box_size,) * 3 + (1,), tf.float32)
            cached = self._compiled = (self.model, tf.function(lambda v, m=self.model: m(v, training=False),
                                                               input_signature=[spec]))
        return cached[1](x)

    def predict(self, x, batch_size=64, voxel_spacing_nm=None):
        """Class ids (n,) of raw subtomograms."""
        return self.predict_proba(x, batch_size, voxel_spacing_nm).argmax(axis=1)

    def save(self, path):
        """Write the folder ``path`` (model.keras + classifier.json) atomically."""
        with atomic_path(path) as tmp:
            os.makedirs(tmp)
            self.model.save(os.path.join(tmp, _MODEL_FILE))
            meta = {"format": "aitom-fsft-classifier", "version": 1, "class_names": list(self.class_names),
                    "box_size": self.box_size, "voxel_spacing_nm": self.voxel_spacing_nm, "meta": self.meta}
            with open(os.path.join(tmp, _META_FILE), "w") as f:
                json.dump(meta, f, indent=2)
        return path

    @classmethod
    def load(cls, path):
        """Load a folder written by :meth:`save`; InputError names what is missing or broken."""
        meta_path = os.path.join(path, _META_FILE)
        model_path = os.path.join(path, _MODEL_FILE)
        for p in (meta_path, model_path):
            if not os.path.exists(p):
                raise InputError(p, "missing: not a classifier folder written by aitom-fsft")
        try:
            with open(meta_path) as f:
                meta = json.load(f)
            class_names, box_size = meta["class_names"], meta["box_size"]
        except (ValueError, KeyError) as e:
            raise InputError(meta_path, f"unreadable classifier description ({e})") from e
        try:
            model = keras.saving.load_model(model_path, compile=False)
        except Exception as e:  # Keras raises many types for a broken archive
            raise InputError(model_path, f"unreadable Keras model ({type(e).__name__}: {e})") from e
        return cls(model, class_names, box_size, meta.get("voxel_spacing_nm"), meta.get("meta"))
