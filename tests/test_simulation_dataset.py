"""Simulated subtomogram sets and two-domain data sets, and the ``simulate`` sub-command."""
import argparse
import json
import os

import numpy as np
import pytest

from aitom.errors import InputError
from aitom.io.dataset import load_two_domain
from aitom.simulation import cli
from aitom.simulation import dataset as sd

BOX = 16


def densities():
    """Two tiny synthetic classes (a rod and a pair of blobs), centred on BOX // 2."""
    g = np.indices((BOX,) * 3, dtype=float) - BOX // 2
    rod = np.exp(-(g[0] ** 2 / 18 + g[1] ** 2 / 2 + g[2] ** 2 / 2))
    pair = (np.exp(-((g[0] - 3) ** 2 + g[1] ** 2 + g[2] ** 2) / 3)
            + np.exp(-((g[0] + 3) ** 2 + (g[1] - 2) ** 2 + g[2] ** 2) / 3))
    return {"rod": rod.astype(np.float32), "pair": pair.astype(np.float32)}


def test_acquisition_presets_and_op():
    assert set(sd.ACQUISITION_PRESETS) == {"cs2.2mm_dz-10um", "cs2.0mm_dz-5um"}
    op = sd.acquisition_op("cs2.2mm_dz-10um", 0.5, 1.2)
    assert op == {"model": {"missing_wedge_angle": 30.0, "SNR": 0.5},
                  "ctf": {"pix_size": 1.2, "Cs": 2.2, "Dz": -10.0, "voltage": 300.0}}
    assert sd.acquisition_op("cs2.0mm_dz-5um", np.inf, 1.0)["model"]["SNR"] is None
    with pytest.raises(InputError):
        sd.acquisition_op("nope", 0.5, 1.0)


def test_a_preset_given_as_a_dict_carries_amplitude_contrast_and_an_envelope_into_the_simulation():
    preset = {"Cs": 2.0, "Dz": -5.0, "voltage": 300.0, "amplitude_contrast": 0.1, "sigma": 1.0}
    op = sd.acquisition_op(preset, None, 1.0)
    assert op["ctf"] == dict(preset, pix_size=1.0)
    plain = sd.acquisition_op("cs2.0mm_dz-5um", None, 1.0)
    x = [sd.simulate_subtomograms(densities(), 2, o, np.random.default_rng(0)).x for o in (op, plain)]
    assert not np.allclose(x[0], x[1])  # the amplitude term passes low frequencies the plain CTF removes
    assert abs(x[0].mean()) > 10 * abs(x[1].mean())
    with pytest.raises(InputError, match="needs Dz, Cs, voltage"):
        sd.acquisition_op({"Cs": 2.0, "Dz": -5.0}, 0.5, 1.0)


def test_simulate_subtomograms_shapes_labels_and_determinism():
    op = sd.acquisition_op("cs2.0mm_dz-5um", 0.5, 1.0)
    s = sd.simulate_subtomograms(densities(), 3, op, np.random.default_rng(0))
    assert s.x.shape == (6, BOX, BOX, BOX) and s.x.dtype == np.float32
    assert s.class_names == ("pair", "rod") and list(s.y) == [0, 0, 0, 1, 1, 1]
    assert s.voxel_spacing_nm == 1.0 and s.meta["op"] == op
    assert np.all(np.isfinite(s.x)) and np.all(s.x.std(axis=(1, 2, 3)) > 0)
    again = sd.simulate_subtomograms(densities(), 3, op, np.random.default_rng(0))
    np.testing.assert_array_equal(s.x, again.x)
    small_batches = sd.simulate_subtomograms(densities(), 3, op, np.random.default_rng(0), batch_size=2)
    np.testing.assert_allclose(s.x, small_batches.x, rtol=0, atol=1e-5 * np.abs(s.x).max())
    other = sd.simulate_subtomograms(densities(), 3, op, np.random.default_rng(1))
    assert not np.allclose(s.x, other.x)


def test_simulate_two_domain_dataset(tmp_path):
    kwargs = dict(densities=densities(), n_per_class=2, box_size=BOX, voxel_spacing_nm=1.0, source_snr=1.0,
                  target_snr=0.5, source_preset="cs2.2mm_dz-10um", target_preset="cs2.0mm_dz-5um")
    meta = sd.simulate_two_domain_dataset(tmp_path / "a", seed=3, **kwargs)
    source, target = load_two_domain(tmp_path / "a")
    assert source.x.shape == target.x.shape == (4, BOX, BOX, BOX)
    assert source.class_names == target.class_names == ("pair", "rod") and list(target.y) == [0, 0, 1, 1]
    assert source.meta["op"]["ctf"]["Dz"] == -10.0 and target.meta["op"]["ctf"]["Dz"] == -5.0
    assert not np.allclose(source.x, target.x)
    with open(tmp_path / "a" / "dataset.json") as f:
        recorded = json.load(f)["meta"]
    assert recorded == meta
    assert recorded["parameters"]["seed"] == 3 and recorded["parameters"]["target_snr"] == 0.5
    assert recorded["ops"]["target"]["model"] == {"missing_wedge_angle": 30.0, "SNR": 0.5}
    sd.simulate_two_domain_dataset(tmp_path / "b", seed=3, **kwargs)
    for first, second in zip((source, target), load_two_domain(tmp_path / "b")):
        np.testing.assert_array_equal(first.x, second.x)
    sd.simulate_two_domain_dataset(tmp_path / "a", seed=4, **kwargs)  # replaces the data set
    assert not np.allclose(load_two_domain(tmp_path / "a")[0].x, source.x)
    os.makedirs(tmp_path / "other")
    with pytest.raises(InputError):
        sd.simulate_two_domain_dataset(tmp_path / "other", **kwargs)
    with pytest.raises(InputError):
        sd.simulate_two_domain_dataset(tmp_path / "c", **{**kwargs, "box_size": 20})


def test_bad_densities():
    op = sd.acquisition_op("cs2.0mm_dz-5um", 0.5, 1.0)
    with pytest.raises(InputError):
        sd.simulate_subtomograms({}, 2, op, np.random.default_rng(0))
    with pytest.raises(InputError):
        sd.simulate_subtomograms({"a": np.zeros((8, 8, 8)), "b": np.zeros((6, 6, 6))}, 2, op, np.random.default_rng(0))
    with pytest.raises(InputError):
        sd.simulate_subtomograms(densities(), 0, op, np.random.default_rng(0))


def test_cli_simulate(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    out = tmp_path / "ds"
    args = parser.parse_args(["simulate", "--out", str(out), "--classes", "2", "--per-class", "2", "--box", "16",
                              "--voxel-nm", "2", "--seed", "1", "--quiet"])
    args.func(args)
    source, target = load_two_domain(out)
    assert len(source) == len(target) == 4 and len(source.class_names) == 2
    for name in ("montage_source.png", "montage_target.png"):
        with open(out / name, "rb") as f:
            assert f.read(4) == b"\x89PNG"
    assert str(out) in capsys.readouterr().out
