"""Tiny synthetic two-domain data sets for the FSFT tests (no simulation needed)."""
import numpy as np

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
