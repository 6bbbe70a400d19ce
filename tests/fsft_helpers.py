"""Tiny synthetic two-domain data sets for the FSFT tests (no simulation needed)."""
import numpy as np

from aitom.image.optics import ctf as optics_ctf
from aitom.io.dataset import SubtomogramSet

from aitom.classify.deep.fsft import FSFTConfig


def blob_set(n_per_class, n_classes=3, box=16, shift=0.0, noise=1.0, seed=0):
    """Class c is a bright cube at a class-specific place; ``shift`` changes the domain's contrast."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    x = rng.normal(scale=noise, size=(len(y), box, box, box)).astype(np.float32)
    for c in range(n_classes):
        o = 2 + 3 * c
        x[y == c, o:o + 4, 4:8, 4:8] += 3.0 + shift
    x += shift * rng.normal(size=(len(y), 1, 1, 1)).astype(np.float32)
    return SubtomogramSet(x, y, tuple(f"class{c}" for c in range(n_classes)), voxel_spacing_nm=1.0)


def ctf_particles(n, dz, snr=None, seed=0, amplitude_contrast=0.0, envelope=None, pix_size=1.0, box=24):
    """``n`` centred particles in ``box``³ (a thin shell of radius 5-7 voxels and four small blobs each, at
    random) through a CTF of defocus ``dz`` µm, Cs 2.0 mm, 300 kV (``amplitude_contrast`` and ``envelope``:
    :func:`aitom.image.optics.ctf.rfft_from_op`'s ``amplitude_contrast`` and ``sigma``), with white noise at ``snr``
    (variance ratio) when given."""
    rng = np.random.default_rng(seed)
    g = np.indices((box,) * 3) - box // 2
    r = np.sqrt(np.sum(g ** 2, axis=0))
    x = np.zeros((n,) + (box,) * 3, np.float32)
    for v in x:
        v += np.exp(-(r - rng.uniform(5, 7)) ** 2 / 0.5)
        for c in rng.normal(scale=3.0, size=(4, 3)):
            v += np.exp(-np.sum((g - c[:, None, None, None]) ** 2, axis=0) / 2.0)
    h = optics_ctf.rfft_from_op({"Dz": dz, "Cs": 2.0, "voltage": 300.0, "pix_size": pix_size, "sigma": envelope,
                                 "amplitude_contrast": amplitude_contrast}, (box,) * 3)
    x = np.fft.irfftn(np.fft.rfftn(x, axes=(1, 2, 3)) * h, s=(box,) * 3, axes=(1, 2, 3)).astype(np.float32)
    if snr is not None:
        x += rng.normal(scale=np.sqrt(x.var() / snr), size=x.shape).astype(np.float32)
    return x


def stage_data(n_source, n_target, shots, target_shift, target_noise):
    """Source and target blob sets (seeds 0 and 1) with their few-shot split (seed 0), as a StageData."""
    from aitom.classify.deep.fsft.data import few_shot_split
    from aitom.classify.deep.fsft.stages import StageData
    source = blob_set(n_source, seed=0)
    target = blob_set(n_target, shift=target_shift, noise=target_noise, seed=1)
    return StageData(source, target, few_shot_split(source.y, target.y, source.class_names, shots=shots, seed=0))


def tiny_config(**changes):
    """Few epochs and small batches: each stage takes well under a second on 2 cores."""
    base = FSFTConfig(epochs_stage1=3, epochs_stage2_1=2, epochs_stage2_2=3, epochs_stage3=2, batch_size=8,
                      coral_batch_size=8, dcd_batch_size=8, stage3_batch_size=6, dcd_source_per_class=5, shots=3)
    return base.replace(**changes)
