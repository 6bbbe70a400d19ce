"""FSFT: few-shot fine-tuning domain adaptation for subtomogram classification (Yu et al. 2020).

Usage::

    from aitom.classify.deep.fsft import train, predict, evaluate
    result = train(source_dj, target_dj, shots=5, run_dir="runs/fsft")
    labels, probabilities = predict(result.classifier, subtomograms)

The names below are loaded from their modules on first use (as scikit-image does), so importing the
package costs nothing and loads neither TensorFlow nor matplotlib; the command line
(:mod:`aitom.classify.deep.fsft.cli`) relies on this to configure TensorFlow's logging before it loads.
"""
import importlib

_EXPORTS = {
    "CheckpointError": "checkpoint", "CheckpointStore": "checkpoint",
    "SubtomogramClassifier": "classifier",
    "FSFTConfig": "config",
    "FewShotSplit": "data", "batch_dataset": "data", "few_shot_split": "data", "sample_pair_groups": "data",
    "get_strategy": "distribute",
    "coral": "losses", "cross_entropy": "losses",
    "FSFTNetworks": "models",
    "STAGES": "stages", "RunContext": "stages", "StageData": "stages", "TrainingDivergedError": "stages",
    "recalibrate_batchnorm": "stages", "stage1_source": "stages", "stage2_1_coral": "stages",
    "stage2_2_discriminator": "stages", "stage3_finetune": "stages",
    "FSFTResult": "pipeline", "evaluate": "pipeline", "predict": "pipeline", "train": "pipeline",
}
_ELSEWHERE = {"standardize": "aitom.image.normalize"}

__all__ = sorted(_EXPORTS) + sorted(_ELSEWHERE)


def __getattr__(name):
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
    elif name in _ELSEWHERE:
        module = importlib.import_module(_ELSEWHERE[name])
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
