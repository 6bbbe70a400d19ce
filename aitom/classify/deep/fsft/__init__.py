"""FSFT: few-shot fine-tuning domain adaptation for subtomogram classification (Yu et al. 2020).

Usage::

    from aitom.classify.deep.fsft import train, predict, evaluate
    result = train(source_dj, target_dj, shots=5, run_dir="runs/fsft")
    labels, probabilities = predict(result.classifier, subtomograms)

Public API
----------
Training and use (:mod:`~aitom.classify.deep.fsft.pipeline`)
    :func:`train`, :func:`predict`, :func:`evaluate`, :class:`FSFTResult`, :class:`FSFTConfig`
    (:mod:`~aitom.classify.deep.fsft.config`), :class:`SubtomogramClassifier`
    (:mod:`~aitom.classify.deep.fsft.classifier`), :func:`classify_picks`
    (:mod:`~aitom.classify.deep.fsft.picks`), :func:`with_ctf` (a data set's acquisition parameters, for
    the CTF transfer of :mod:`~aitom.classify.deep.fsft.domain_transfer`), :func:`estimate_ctf_pair` (both
    domains' defocus from their subtomograms, :mod:`~aitom.classify.deep.fsft.ctf_estimation`)
The four stages (:mod:`~aitom.classify.deep.fsft.stages`)
    :func:`stage1_source`, :func:`stage2_1_coral`, :func:`stage2_2_discriminator`, :func:`stage3_finetune`
Several devices (:mod:`~aitom.classify.deep.fsft.distribute`)
    :func:`get_strategy`
Errors
    :class:`CheckpointError` (:mod:`~aitom.classify.deep.fsft.checkpoint`), :class:`TrainingDivergedError`

Everything else is imported from its module: networks (``models``), losses (``losses``), few-shot splits
and batches (``data``), checkpoints (``checkpoint``), figures (``plots``), the ``tf.data`` stream of picks
(``streaming``), baselines and ablations (``baselines``), the experiment grid (``experiment``) and its tables
and figures (``report``), the command line (``cli``: every ``aitom-fsft`` parser).

The names are loaded from their modules on first use (as scikit-image does), so importing the package
costs nothing and loads neither TensorFlow nor matplotlib; the command line relies on this to configure
TensorFlow's logging before it loads.
"""
import importlib

_EXPORTS = {
    "train": "pipeline", "predict": "pipeline", "evaluate": "pipeline", "FSFTResult": "pipeline",
    "FSFTConfig": "config",
    "SubtomogramClassifier": "classifier",
    "classify_picks": "picks",
    "stage1_source": "stages", "stage2_1_coral": "stages", "stage2_2_discriminator": "stages",
    "stage3_finetune": "stages", "TrainingDivergedError": "stages",
    "get_strategy": "distribute",
    "CheckpointError": "checkpoint",
    "with_ctf": "domain_transfer",
    "estimate_ctf_pair": "ctf_estimation",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
