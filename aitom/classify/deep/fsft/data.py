"""Few-shot splits, tf.data pipelines and discriminator pair groups.

Everything random here takes a seed or a ``numpy.random.Generator``; nothing reads the target
test set except evaluation.
"""
import dataclasses

import numpy as np
import tensorflow as tf

from aitom.errors import InputError
from aitom.image.normalize import standardize

from .losses import (G1_SAME_DOMAIN_SAME_CLASS, G2_CROSS_DOMAIN_SAME_CLASS, G3_SAME_DOMAIN_DIFFERENT_CLASS,
                     G4_CROSS_DOMAIN_DIFFERENT_CLASS)
from .domain_transfer import TransferredVolumes

ALL_GROUPS = (G1_SAME_DOMAIN_SAME_CLASS, G2_CROSS_DOMAIN_SAME_CLASS, G3_SAME_DOMAIN_DIFFERENT_CLASS,
              G4_CROSS_DOMAIN_DIFFERENT_CLASS)
CROSS_DOMAIN_GROUPS = (G2_CROSS_DOMAIN_SAME_CLASS, G4_CROSS_DOMAIN_DIFFERENT_CLASS)


@dataclasses.dataclass
class FewShotSplit:
    """Disjoint index sets into the source and target data sets.

    target_shots: the labelled target subtomograms (``shots`` per class); target_unlabelled: target
    subtomograms used without labels (CORAL, BatchNorm statistics); target_test: held out, read only
    by evaluation.
    """

    source_train: np.ndarray
    source_val: np.ndarray
    target_shots: np.ndarray
    target_unlabelled: np.ndarray
    target_test: np.ndarray

    def to_dict(self):
        return {k: np.asarray(v).tolist() for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d):
        return cls(**{f.name: np.asarray(d[f.name], dtype=np.int64) for f in dataclasses.fields(cls)})


def few_shot_split(y_source, y_target, class_names, shots, target_test_fraction=0.5, source_val_fraction=0.1,
                   seed=0):
    """Draw the labelled target shots per class, a target test set and a source validation set.

    Target subtomograms labelled -1 are unlabelled and go to the unlabelled pool. Of each class's
    remaining labelled target subtomograms, ``target_test_fraction`` is held out for testing and the
    rest joins the unlabelled pool (its labels are never read).

    Raises
    ------
    InputError
        If a class has fewer labelled target subtomograms than ``shots``, or no source subtomogram.
    """
    if shots < 1:
        raise InputError("shots", f"must be at least 1, got {shots}")
    y_source, y_target = np.asarray(y_source), np.asarray(y_target)
    rng = np.random.default_rng(seed)
    src_train, src_val, shots_idx, unlabelled, test = [], [], [], [], []
    for c, name in enumerate(class_names):
        s = rng.permutation(np.flatnonzero(y_source == c))
        if len(s) == 0:
            raise InputError("source", f"class {name!r} has no labelled subtomogram")
        n_val = int(round(source_val_fraction * len(s))) if len(s) > 1 else 0
        src_val.append(s[:n_val])
        src_train.append(s[n_val:])
        t = rng.permutation(np.flatnonzero(y_target == c))
        if len(t) < shots:
            raise InputError("target", f"class {name!r} has {len(t)} labelled subtomograms, fewer than shots={shots}")
        rest = t[shots:]
        n_test = int(round(target_test_fraction * len(rest)))
        shots_idx.append(t[:shots])
        test.append(rest[:n_test])
        unlabelled.append(rest[n_test:])
    unlabelled.append(np.flatnonzero(y_target < 0))
    cat = lambda parts: np.sort(np.concatenate(parts)).astype(np.int64)
    return FewShotSplit(cat(src_train), cat(src_val), cat(shots_idx), cat(unlabelled), cat(test))


ROTATIONS_180 = ((), (1, 2), (0, 2), (0, 1))
"""Axes of a volume ``[x, y, z]`` flipped by each augmentation code: identity, then 180° rotations about
x, y and z. Each maps the missing wedge (and any wedge or cone around a box axis) onto itself and keeps
the hand of the structure, so an augmented subtomogram is one that the microscope could have recorded."""

FLIP_AXES = tuple(tuple(a + 1 for a in axes) for axes in ROTATIONS_180)
"""The same rotations as axes of a batch ``(n, x, y, z[, 1])`` to reverse."""


def rotate_180(volumes, codes, out=None):
    """Volumes ``(n, s, s, s)`` each rotated by 180° about the box axis of its code (see :data:`ROTATIONS_180`).

    ``out=volumes`` rotates in place (each rotated row is read before it is written)."""
    volumes = np.asarray(volumes)
    out = volumes.copy() if out is None else out
    for code, axes in enumerate(FLIP_AXES):
        rows = np.flatnonzero(np.asarray(codes) == code)
        if axes and len(rows):
            out[rows] = np.flip(volumes[rows], axis=axes)
    return out


def _read(x, idx, codes):
    """Rows ``idx`` of ``x`` in that order, each rotated by its augmentation code (0: as stored),
    standardised, with a channel axis: ``(n, s, s, s, 1)`` float32.

    A code is ``rotation + len(ROTATIONS_180) * read_seed`` (:func:`augmentation_codes`); the read seed
    draws the noise of a :class:`.domain_transfer.TransferredVolumes` view and is ignored for arrays."""
    codes = np.asarray(codes, np.int64)
    n_rot = len(ROTATIONS_180)
    rows = _rows(x, idx, codes // n_rot)
    return standardize(rotate_180(rows, codes % n_rot, out=rows))[..., None]


def _rows(x, idx, read_seeds):
    """Rows ``idx`` (int array) of ``x``, fresh copies; the views get the read seeds."""
    if isinstance(x, (TransferredVolumes, StackedVolumes)):
        return x.read(idx, read_seeds)
    return np.asarray(x[idx], np.float32)  # integer-array indexing copies


class StackedVolumes:
    """Read-only view of several volume arrays (or :class:`.domain_transfer.TransferredVolumes` views)
    as one, row after row: ``parts[0]``'s rows first. Used to train one network on two domains at once."""

    def __init__(self, parts):
        shapes = {tuple(p.shape[1:]) for p in parts}
        if len(shapes) != 1:
            raise ValueError(f"parts hold volumes of different shapes: {sorted(shapes)}")
        self.parts = tuple(parts)
        self.offsets = np.cumsum([0] + [len(p) for p in parts])
        self.shape, self.dtype = (int(self.offsets[-1]),) + shapes.pop(), np.dtype(np.float32)
        self.ndim = len(self.shape)

    def __len__(self):
        return self.shape[0]

    def read(self, idx, read_seeds):
        """Rows ``idx`` (int array) in that order; ``read_seeds`` go to the parts that draw noise."""
        idx, read_seeds = np.asarray(idx, np.int64), np.asarray(read_seeds, np.int64)
        out = np.empty((len(idx),) + self.shape[1:], np.float32)
        part = np.searchsorted(self.offsets, idx, side="right") - 1
        for k in np.unique(part):
            at = np.flatnonzero(part == k)
            out[at] = _rows(self.parts[k], idx[at] - self.offsets[k], read_seeds[at])
        return out


def _gather_fn(x, y):
    """A NumPy function reading a batch of rows in sorted order (memmap-friendly), with their labels."""
    y = np.asarray(y, dtype=np.int32) if y is not None else None

    def gather(idx, codes):
        order = np.argsort(idx, kind="stable")
        idx, codes = idx[order], codes[order]
        yb = y[idx] if y is not None else np.full(len(idx), -1, np.int32)
        return _read(x, idx, codes), yb

    return gather


def augmentation_codes(n, seed):
    """``n`` augmentation codes from ``seed``; all 0 (as stored) when ``seed`` is None.

    Each code is ``rotation + len(ROTATIONS_180) * read_seed``: a rotation uniform over
    :data:`ROTATIONS_180` and a seed for whatever else a read draws (the noise of a
    :class:`.domain_transfer.TransferredVolumes` view), drawn after all the rotations."""
    if seed is None:
        return np.zeros(n, np.int64)
    rng = np.random.default_rng(seed)
    rotations = rng.integers(0, len(ROTATIONS_180), size=n)
    return rotations + len(ROTATIONS_180) * rng.integers(0, 2**40, size=n)


def batch_dataset(x, y, indices, batch_size, seed=None, drop_remainder=False, augment_seed=None):
    """tf.data pipeline of standardised batches ``(x (b, s, s, s, 1) float32, y (b,) int32)``.

    Rows are read from ``x`` (an array or a read-only memmap) one batch at a time, so a data set
    larger than memory streams from disk. ``seed`` shuffles the order (None keeps it);
    ``augment_seed`` rotates each row by a random one of :data:`ROTATIONS_180` (None: no augmentation).
    """
    indices = np.asarray(indices, dtype=np.int64)
    if seed is not None:
        indices = np.random.default_rng(seed).permutation(indices)
    codes = augmentation_codes(len(indices), augment_seed)
    s = x.shape[1]
    gather = _gather_fn(x, y)

    def load(idx, code):
        xb, yb = tf.numpy_function(gather, [idx, code], (tf.float32, tf.int32), stateful=False)
        xb.set_shape((None, s, s, s, 1))
        yb.set_shape((None,))
        return xb, yb

    ds = tf.data.Dataset.from_tensor_slices((indices, codes)).batch(batch_size, drop_remainder=drop_remainder)
    return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def pair_dataset(x_a, x_b, rows_a, rows_b, batch_size, codes_a, codes_b, extra=()):
    """tf.data pipeline of pair batches ``(x_a[rows_a], x_b[rows_b], *extra)``, in the given order.

    Volumes are read, rotated by their augmentation codes and standardised as in :func:`batch_dataset`;
    ``extra`` holds per-pair arrays (labels, groups) batched alongside. Incomplete last batches are dropped.
    """
    s = x_a.shape[1]

    def gather(ia, ib, ca, cb):
        return _read(x_a, ia, ca), _read(x_b, ib, cb)

    def load(ia, ib, ca, cb, *columns):
        xa, xb = tf.numpy_function(gather, [ia, ib, ca, cb], (tf.float32, tf.float32), stateful=False)
        xa.set_shape((None, s, s, s, 1))
        xb.set_shape((None, s, s, s, 1))
        return (xa, xb) + columns

    cols = (np.asarray(rows_a, np.int64), np.asarray(rows_b, np.int64), codes_a, codes_b) + tuple(extra)
    ds = tf.data.Dataset.from_tensor_slices(cols).batch(batch_size, drop_remainder=True)
    return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _members_of(classes, pool_labels, rng):
    """For each requested class, a random position in ``pool_labels`` holding that class."""
    out = np.empty(len(classes), dtype=np.int64)
    for c in np.unique(classes):
        where = classes == c
        members = np.flatnonzero(pool_labels == c)
        out[where] = rng.choice(members, size=where.sum())
    return out


def _other_classes(classes, n_classes, rng):
    """A uniformly drawn class different from each given one."""
    return (classes + 1 + rng.integers(0, n_classes - 1, size=len(classes))) % n_classes


def cycled_permutation(n, size, rng):
    """``size`` positions in ``range(n)``: random permutations of all ``n`` laid end to end, cut at ``size``."""
    return np.concatenate([rng.permutation(n) for _ in range(-(-size // n))])[:size] if size else np.zeros(0, np.int64)


def sample_pair_groups(source_labels, target_labels, n_per_group, rng, groups=ALL_GROUPS):
    """Sample balanced pairs of the four FADA groups.

    A pair is (a, b): ``a`` always from the source pool; ``b`` from the source pool (G1, G3) or the
    labelled target pool (G2, G4). Same-class pairs draw their class uniformly; different-class pairs
    draw the second class uniformly among the other classes (every negative combination occurs).
    G1 pairs two distinct source subtomograms where the class has two. Cross-domain groups use every
    target shot equally often (a fresh permutation per pass over the shots, see :func:`cycled_permutation`),
    so that no shot is left out of an epoch by chance.

    Parameters
    ----------
    source_labels, target_labels : int arrays, class ids of the source pool and the target shots.
    n_per_group : int, pairs per group.
    groups : which groups to draw.

    Returns
    -------
    dict of arrays, shuffled: ``a`` (positions in the source pool), ``b`` (positions in the pool of
    ``b_target``'s domain), ``b_target`` (bool), ``group``, ``label_a``, ``label_b``.
    """
    source_labels, target_labels = np.asarray(source_labels), np.asarray(target_labels)
    classes = np.unique(target_labels)
    if len(classes) < 2 and any(g in (G3_SAME_DOMAIN_DIFFERENT_CLASS, G4_CROSS_DOMAIN_DIFFERENT_CLASS) for g in groups):
        raise InputError("target", "different-class pair groups need at least two classes")
    parts = []
    for g in groups:
        if g in (G1_SAME_DOMAIN_SAME_CLASS, G3_SAME_DOMAIN_DIFFERENT_CLASS):
            ca = rng.choice(classes, size=n_per_group)
            a = _members_of(ca, source_labels, rng)
            if g == G1_SAME_DOMAIN_SAME_CLASS:
                b = _members_of(ca, source_labels, rng)
                clash = b == a
                for _ in range(8):  # re-draw b where it equals a (classes with >1 member)
                    if not clash.any():
                        break
                    b[clash] = _members_of(ca[clash], source_labels, rng)
                    clash = b == a
            else:
                cb = classes[_other_classes(np.searchsorted(classes, ca), len(classes), rng)]
                b = _members_of(cb, source_labels, rng)
            b_target = np.zeros(n_per_group, bool)
            yb = source_labels[b]
        else:
            b = cycled_permutation(len(target_labels), n_per_group, rng)
            yb = target_labels[b]
            if g == G2_CROSS_DOMAIN_SAME_CLASS:
                ca = yb
            else:
                ca = classes[_other_classes(np.searchsorted(classes, yb), len(classes), rng)]
            a = _members_of(ca, source_labels, rng)
            b_target = np.ones(n_per_group, bool)
        parts.append((a, b, b_target, np.full(n_per_group, g), source_labels[a], yb))
    cols = [np.concatenate(c) for c in zip(*parts)]
    order = rng.permutation(len(cols[0]))
    keys = ("a", "b", "b_target", "group", "label_a", "label_b")
    return {k: c[order] for k, c in zip(keys, cols)}


def stratified_pool(labels, indices, per_class, rng):
    """Up to ``per_class`` random members of each class among ``indices`` (sorted)."""
    labels, indices = np.asarray(labels), np.asarray(indices)
    out = []
    for c in np.unique(labels[indices]):
        members = indices[labels[indices] == c]
        out.append(rng.choice(members, size=min(per_class, len(members)), replace=False))
    return np.sort(np.concatenate(out))
