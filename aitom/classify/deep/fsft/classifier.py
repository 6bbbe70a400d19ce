"""The trained classifier as one artefact: a Keras model plus its class names and input geometry.

A classifier folder holds ``model.keras`` and ``classifier.json``. Loading it never runs code from the
folder: the model is read with Keras' ``safe_mode=True`` (no Python lambdas or custom code), on a Keras
release with the known safe-mode bypasses fixed (see ``setup.py``). Treat a ``.keras`` file from someone
you do not trust like a program all the same: see doc/reliability.md, "Security".
"""
import json
import math
import os

import keras
import numpy as np

from aitom.errors import InputError
from aitom.image.normalize import standardize
from aitom.io.atomic import atomic_path

from .averaging import RotationAveraged

_MODEL_FILE = "model.keras"
_META_FILE = "classifier.json"
_FORMAT = "aitom-fsft-classifier"


def json_safe(obj):
    """``obj`` with every non-finite float (NaN, inf) replaced by None, so ``json.dump`` writes valid JSON.

    Examples
    --------
    >>> from aitom.classify.deep.fsft.classifier import json_safe
    >>> json_safe({"1": {"target_test_acc": float("nan"), "source_val_acc": 0.9}})
    {'1': {'target_test_acc': None, 'source_val_acc': 0.9}}
    """
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def is_classifier_folder(path):
    """True when ``path`` is a folder whose ``classifier.json`` says it was written by
    :meth:`SubtomogramClassifier.save` (the only kind of folder ``save`` replaces).

    Examples
    --------
    >>> from aitom.classify.deep.fsft.classifier import is_classifier_folder
    >>> is_classifier_folder("runs/demo/run/classifier")  # doctest: +SKIP
    True
    """
    try:
        with open(os.path.join(path, _META_FILE)) as f:
            return json.load(f).get("format") == _FORMAT
    except (OSError, ValueError, AttributeError):
        return False


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
    rotation_averaging : bool, predictions averaged over the four 180° rotations of each subtomogram
        (:mod:`aitom.classify.deep.fsft.averaging`); ``train`` sets it from its configuration, a folder
        saved before it existed loads with False

    Examples
    --------
    >>> import numpy as np
    >>> from aitom.classify.deep.fsft import FSFTConfig, SubtomogramClassifier
    >>> from aitom.classify.deep.fsft.models import FSFTNetworks
    >>> networks = FSFTNetworks(16, 3, FSFTConfig())
    >>> classifier = SubtomogramClassifier(networks.inference_model("target"), ("a", "b", "c"), box_size=16)
    >>> x = np.random.default_rng(0).normal(size=(5, 16, 16, 16)).astype(np.float32)
    >>> classifier.predict_proba(x).shape
    (5, 3)

    A trained one comes from :func:`aitom.classify.deep.fsft.train` (``result.classifier``) or from a
    folder it saved: ``SubtomogramClassifier.load("runs/r1/classifier")``.
    """

    def __init__(self, model, class_names, box_size, voxel_spacing_nm=None, meta=None, rotation_averaging=False):
        self.model = model
        self.class_names = tuple(class_names)
        self.box_size = int(box_size)
        self.voxel_spacing_nm = None if voxel_spacing_nm is None else float(voxel_spacing_nm)
        self.meta = dict(meta or {})
        self.rotation_averaging = bool(rotation_averaging)

    def check_input(self, x, source="subtomograms", voxel_spacing_nm=None):
        """Raise InputError if ``x`` (n, s, s, s) or its voxel spacing does not fit this model, or if ``x`` is
        not real or holds NaN or infinite values."""
        shape = tuple(np.shape(x))
        if len(shape) != 4 or len(set(shape[1:])) != 1:
            raise InputError(source, f"expected an array (n, s, s, s) of cubic subtomograms, got shape {shape}")
        dtype = np.asarray(x).dtype
        if dtype.kind not in "fiu":
            raise InputError(source, f"expected real values, got {dtype}")
        bad = np.flatnonzero(~np.isfinite(np.asarray(x)).all(axis=(1, 2, 3)))  # also for n = 0
        if bad.size:
            raise InputError(source, f"subtomogram {bad[0]} holds NaN or infinite values ({bad.size} of "
                                     f"{shape[0]} do); its class would be meaningless")
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
        """``self.model`` in inference mode (rotation-averaged if so set) as one compiled graph, traced once
        per model and setting, not layer by layer."""
        key = (self.model, self.rotation_averaging)
        cached = self.__dict__.get("_compiled")
        if cached is None or cached[0] != key:
            import tensorflow as tf
            spec = tf.TensorSpec((None,) + (self.box_size,) * 3 + (1,), tf.float32)
            model = RotationAveraged(self.model) if self.rotation_averaging else self.model
            cached = self._compiled = (key, tf.function(lambda v: model(v, training=False), input_signature=[spec]))
        return cached[1](x)

    def predict(self, x, batch_size=64, voxel_spacing_nm=None):
        """Class ids (n,) of raw subtomograms."""
        return self.predict_proba(x, batch_size, voxel_spacing_nm).argmax(axis=1)

    def save(self, path, overwrite=False):
        """Write the folder ``path`` (model.keras + classifier.json) atomically.

        Parameters
        ----------
        path : str or os.PathLike
            A new folder. An existing classifier folder is replaced only with ``overwrite=True``; any
            other existing file or folder is never replaced.
        overwrite : bool

        Returns
        -------
        str or os.PathLike
            ``path``.

        Raises
        ------
        InputError
            If ``path`` exists and is not a classifier folder, or is one and ``overwrite`` is False.

        Examples
        --------
        >>> result.classifier.save("runs/demo/my_classifier")  # doctest: +SKIP
        >>> SubtomogramClassifier.load("runs/demo/my_classifier").class_names  # doctest: +SKIP
        """
        if os.path.lexists(path):
            if not (os.path.isdir(path) and not os.path.islink(path) and is_classifier_folder(path)):
                raise InputError(path, "exists and is not a classifier folder; refusing to replace it")
            if not overwrite:
                raise InputError(path, "classifier folder exists; pass overwrite=True to replace it")
        with atomic_path(path) as tmp:
            os.makedirs(tmp)
            self.model.save(os.path.join(tmp, _MODEL_FILE))
            meta = {"format": _FORMAT, "version": 1, "class_names": list(self.class_names),
                    "box_size": self.box_size, "voxel_spacing_nm": self.voxel_spacing_nm,
                    "rotation_averaging": self.rotation_averaging, "meta": json_safe(self.meta)}
            with open(os.path.join(tmp, _META_FILE), "w") as f:
                json.dump(meta, f, indent=2, allow_nan=False)
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
            model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
        except Exception as e:  # Keras raises many types for a broken archive
            raise InputError(model_path, f"unreadable Keras model ({type(e).__name__}: {e})") from e
        return cls(model, class_names, box_size, meta.get("voxel_spacing_nm"), meta.get("meta"),
                   bool(meta.get("rotation_averaging", False)))
