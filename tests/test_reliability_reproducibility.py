"""Reproducibility: the same seed and data give the same shots, splits, simulated data and (on CPU) the
same trained weights and accuracies, whatever the global random state was before.

Cross-process reproducibility of training is checked in ``test_reliability_faults.py``: a run whose
stages were computed in killed child processes ends bit-for-bit equal to one computed in the test process.
What is not reproducible (thread counts, GPUs) is listed in ``doc/reliability.md``.
"""
import json
import os
import random

import keras
import numpy as np
import tensorflow as tf
from fsft_helpers import blob_set, tiny_config
from test_simulation_dataset import densities

from aitom.classify.deep.fsft import train
from aitom.classify.deep.fsft.data import few_shot_split
from aitom.simulation import dataset as sd

CFG = tiny_config(epochs_stage1=2, epochs_stage2_1=2, epochs_stage2_2=2, epochs_stage3=2, widths=(4, 4, 4, 8),
                  dcd_hidden=8, shots=2)


def domains():
    return blob_set(8, seed=0), blob_set(8, shift=1.5, noise=1.5, seed=1)


def weights(networks):
    return [w for m in networks.components().values() for w in m.get_weights()]


def disturb_global_random_state():
    """Move every global generator that code could (wrongly) read."""
    random.seed(99)
    np.random.seed(99)
    np.random.rand(5)
    tf.random.set_seed(99)
    tf.random.uniform((5,))
    keras.random.normal((5,))


def read(path):
    with open(path) as f:
        return json.load(f)


def test_same_seed_and_data_give_the_same_run_bit_for_bit_on_cpu(tmp_path):
    a = train(*domains(), shots=CFG.shots, config=CFG, run_dir=str(tmp_path / "a"), progress=False)
    disturb_global_random_state()
    b = train(*domains(), shots=CFG.shots, config=CFG, run_dir=str(tmp_path / "b"), progress=False)
    for name in ("config.json", "split.json", "history.json", "accuracy.json", "target_test.json"):
        assert read(tmp_path / "a" / name) == read(tmp_path / "b" / name), name
    source, target = domains()
    expected_split = few_shot_split(source.y, target.y, source.class_names, CFG.shots, CFG.target_test_fraction,
                                    CFG.source_val_fraction, CFG.seed)
    assert a.split.to_dict() == expected_split.to_dict()  # the shots depend on labels and seed only
    assert all(np.array_equal(x, y) for x, y in zip(weights(a.networks), weights(b.networks)))
    np.testing.assert_array_equal(a.classifier.predict_proba(target.x), b.classifier.predict_proba(target.x))


def test_weight_initialisation_follows_config_seed():
    def initial(seed):
        disturb_global_random_state()
        cfg = CFG.replace(seed=seed, epochs_stage1=0)
        return weights(train(*domains(), shots=2, config=cfg, progress=False, stages=("1",)).networks)

    first, again, other = initial(0), initial(0), initial(1)
    assert all(np.array_equal(x, y) for x, y in zip(first, again))
    assert not all(np.array_equal(x, y) for x, y in zip(first, other))


def test_simulated_data_depend_on_the_seed_only(tmp_path):
    op = sd.acquisition_op("cs2.0mm_dz-5um", 0.5, 1.0)
    a = sd.simulate_subtomograms(densities(), 3, op, np.random.default_rng(7), workers=1)
    disturb_global_random_state()
    b = sd.simulate_subtomograms(densities(), 3, op, np.random.default_rng(7), workers=2)
    np.testing.assert_array_equal(a.x, b.x)  # bit for bit, whatever the thread count
    # another batch size changes the order of floating-point operations only (documented: not bitwise)
    c = sd.simulate_subtomograms(densities(), 3, op, np.random.default_rng(7), batch_size=2)
    np.testing.assert_allclose(a.x, c.x, rtol=0, atol=1e-5 * np.abs(a.x).max())
    kwargs = dict(densities=densities(), n_per_class=2, box_size=16, voxel_spacing_nm=1.0, source_snr=1.0,
                  target_snr=0.5, source_preset="cs2.2mm_dz-10um", target_preset="cs2.0mm_dz-5um", seed=3)
    sd.simulate_two_domain_dataset(tmp_path / "a", workers=1, **kwargs)
    disturb_global_random_state()
    sd.simulate_two_domain_dataset(tmp_path / "b", workers=2, **kwargs)
    for domain in ("source", "target"):
        for name in ("subtomograms.npy", "labels.npy", "meta.json"):
            with open(tmp_path / "a" / domain / name, "rb") as f, open(tmp_path / "b" / domain / name, "rb") as g:
                assert f.read() == g.read(), (domain, name)
    assert read(tmp_path / "a" / "dataset.json") == read(tmp_path / "b" / "dataset.json")
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]
