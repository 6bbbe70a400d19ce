"""FSFT: few-shot fine-tuning domain adaptation for subtomogram classification (Yu et al. 2020).

Usage::

    from aitom.classify.deep.fsft import train, predict, evaluate
    result = train(source_dj, target_dj, shots=5, run_dir="runs/fsft")
    labels, probabilities = predict(result.classifier, subtomograms)
"""
from .checkpoint import CheckpointError, CheckpointStore
from .classifier import SubtomogramClassifier
from .config import FSFTConfig
from .data import FewShotSplit, batch_dataset, few_shot_split, sample_pair_groups
from .distribute import get_strategy
from .losses import coral, cross_entropy
from .models import FSFTNetworks
from aitom.image.normalize import standardize
from .stages import (STAGES, RunContext, StageData, TrainingDivergedError, recalibrate_batchnorm, stage1_source,
                     stage2_1_coral, stage2_2_discriminator, stage3_finetune)
from .pipeline import FSFTResult, evaluate, predict, train

__all__ = [
    "CheckpointError", "CheckpointStore", "FSFTConfig", "FSFTNetworks", "FSFTResult", "FewShotSplit", "RunContext",
    "STAGES", "StageData", "SubtomogramClassifier", "TrainingDivergedError", "batch_dataset", "coral",
    "cross_entropy", "evaluate", "few_shot_split", "get_strategy", "predict", "recalibrate_batchnorm",
    "sample_pair_groups", "stage1_source", "stage2_1_coral", "stage2_2_discriminator", "stage3_finetune",
    "standardize", "train",
]
