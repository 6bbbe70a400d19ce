"""Hyper-parameters of FSFT in one dataclass.

Defaults follow the public reference implementation of Yu et al. (2020) (AITom,
``classify/deep/supervised/cnn/few_shot/domain_adaptation/main.py``): epochs 20 / 20 / 100 / 30,
batch 32, CORAL batch 128, α = 500, D mini-batch 40 pairs, stage-3 mini-batch 20 pairs, γ = 0.2,
Adam learning rates 1e-3 / 2e-4 / 2e-4 / 1e-3, encoder widths 16, 16, 16, 128, D hidden width 64.
Where this package departs from the reference, the field's comment says why.
"""
import dataclasses
import json


@dataclasses.dataclass
class FSFTConfig:
    """Every number of the method, with the reference default.

    Architecture
        widths: output channels of the four encoder blocks (blocks 1-2 domain-related, 3-4 shared).
        dcd_hidden: width of the discriminator's dense layers.
        dcd_use_3d_branch: keep D's 3D branch (False is the "no 3D branch" ablation).
        bn_momentum, bn_epsilon: BatchNorm moving-average momentum (Keras convention; 0.9 equals
            PyTorch's default 0.1) and epsilon (PyTorch's 1e-5).
        synchronized_bn: global batch statistics across replicas under ``tf.distribute``.
    Stage 1 (source cross-entropy)
        epochs_stage1, batch_size, lr_stage1.
    Stage 2.1 (cross-entropy + α·CORAL)
        epochs_stage2_1, coral_batch_size (per domain), lr_stage2_1, coral_alpha.
    Stage 2.2 (discriminator)
        epochs_stage2_2, dcd_batch_size (pairs), lr_stage2_2, dcd_pairs_per_group (pairs of each
        of the four groups per epoch; None = classes x shots, as the reference),
        dcd_source_per_class (source subtomograms per class that pairs are drawn from).
    Stage 3 (fine-tuning against the frozen discriminator)
        epochs_stage3, stage3_batch_size (pairs), lr_stage3, gamma.
    Protocol
        shots: labelled target subtomograms per class; target_test_fraction: share of the remaining
        target subtomograms held out for testing (the rest is the unlabelled pool used by CORAL and
        BatchNorm statistics); source_val_fraction: source subtomograms held out for monitoring;
        recalibrate_target_bn: after stages 2.1 and 3, set the target BatchNorm statistics to the
        unlabelled target pool's population statistics (see doc/fsft.md); seed.
    """

    widths: tuple = (16, 16, 16, 128)
    dcd_hidden: int = 64
    dcd_use_3d_branch: bool = True
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    synchronized_bn: bool = True

    epochs_stage1: int = 20
    batch_size: int = 32
    lr_stage1: float = 1e-3

    epochs_stage2_1: int = 20
    coral_batch_size: int = 128
    lr_stage2_1: float = 2e-4
    coral_alpha: float = 500.0

    epochs_stage2_2: int = 100
    dcd_batch_size: int = 40
    lr_stage2_2: float = 2e-4
    dcd_pairs_per_group: int = None
    dcd_source_per_class: int = 20

    epochs_stage3: int = 30
    stage3_batch_size: int = 20
    lr_stage3: float = 1e-3
    gamma: float = 0.2

    shots: int = 5
    target_test_fraction: float = 0.5
    source_val_fraction: float = 0.1
    recalibrate_target_bn: bool = True
    seed: int = 0

    def replace(self, **changes):
        """A copy with some fields changed; unknown names raise ``TypeError``."""
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        if "widths" in d:
            d["widths"] = tuple(d["widths"])
        return cls(**d)

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)
