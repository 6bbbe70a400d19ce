"""The experiment grid runner: cell names, run keys, the runs CSV, simulated cells, what a re-run skips."""
import numpy as np
import pytest

from aitom.classify.deep.fsft.experiment import (COLUMNS, _key, _slug, _write_runs, cell_name, read_runs,
                                                 run_experiment, simulated_cell)
from aitom.errors import InputError

ROW = dict(structures="shrec", source_snr="1000", target_snr="0.1", shots="5", seed="0", method="fsft")
SIMULATION = dict(n_per_class=2, box_size=16, n_classes=2, voxel_spacing_nm=1.5, seed=0)


def test_cell_names_use_canonical_numbers_and_prefix_other_structure_sets():
    assert cell_name(1000.0, 0.10) == cell_name("1000", "0.1") == "src1000_tgt0.1"
    assert cell_name(0.5, 1e-2) == "src0.5_tgt0.01"
    assert cell_name(1000, 0.05, "assemblies") == "assemblies_src1000_tgt0.05"


def test_method_slugs_are_file_names():
    assert _slug("fsft") == "fsft"
    assert _slug("fsft[coral_alpha=50]") == "fsft-coral_alpha-50"
    assert _slug("fsft[coral_alpha=50, gamma=0.1]") == "fsft-coral_alpha-50-gamma-0.1"


def test_keys_of_rows_written_before_structure_sets_are_the_shrec_sets():
    assert _key(dict(ROW, structures="")) == _key(ROW)
    assert _key({k: v for k, v in ROW.items() if k != "structures"}) == _key(ROW)
    assert _key(dict(ROW, source_snr="1000.0", target_snr="0.10")) == _key(ROW)  # however the numbers are spelt
    assert _key(dict(ROW, shots=5, seed=0)) == _key(ROW)
    assert _key(dict(ROW, structures="assemblies")) != _key(ROW)
    assert _key(dict(ROW, method="coral")) != _key(ROW)


def test_runs_csv_round_trip_in_column_order(tmp_path):
    path = tmp_path / "runs.csv"
    assert read_runs(path) == []
    _write_runs([dict(ROW, accuracy="0.5", unknown="dropped"), dict(ROW, seed="1")], path)
    assert path.read_text().splitlines()[0] == ",".join(COLUMNS)
    rows = read_runs(path)
    assert [r["seed"] for r in rows] == ["0", "1"]
    assert rows[0]["accuracy"] == "0.5" and rows[1]["accuracy"] == "" and "unknown" not in rows[0]
    assert list(rows[0]) == list(COLUMNS)


def test_adding_a_run_keeps_rows_another_experiment_wrote_meanwhile(tmp_path):
    from aitom.classify.deep.fsft.experiment import _add_run
    path = str(tmp_path / "runs.csv")
    _add_run(dict(ROW, method="source_only", accuracy="0.1"), path)
    _write_runs(read_runs(path) + [dict(ROW, method="coral", accuracy="0.2")], path)  # another process's row
    _add_run(dict(ROW, method="fsft", accuracy="0.3"), path)
    _add_run(dict(ROW, method="source_only", accuracy="0.4"), path)  # the same key again: replaced
    assert sorted((r["method"], r["accuracy"]) for r in read_runs(path)) == [
        ("coral", "0.2"), ("fsft", "0.3"), ("source_only", "0.4")]


def test_a_finished_run_is_not_run_again_also_when_written_before_structure_sets(tmp_path):
    _write_runs([dict(ROW, structures="", method="source_only", shots="3", accuracy="0.5")], tmp_path / "runs.csv")

    def simulate(source_snr, target_snr):
        raise AssertionError("nothing is left to run")

    rows = run_experiment(str(tmp_path), source_snrs=(1000.0,), target_snrs=(0.10,), shots=(3,), seeds=(0,),
                          methods=("source_only",), simulate=simulate, progress=False, report=False)
    assert len(rows) == 1


def test_unknown_methods_fail_before_anything_runs(tmp_path):
    def simulate(source_snr, target_snr):
        raise AssertionError("must not simulate")

    with pytest.raises(InputError, match="unknown method"):
        run_experiment(str(tmp_path), methods=("source_only", "fsfft"), simulate=simulate, progress=False)
    assert not (tmp_path / "runs.csv").exists()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("cells")
    simulated_cell(path, 1000, 0.5, **SIMULATION)
    return path


def test_simulated_cell_is_reused_when_its_parameters_match(data_dir, monkeypatch):
    import aitom.simulation.dataset as simulation
    first = simulated_cell(data_dir, 1000, 0.5, **SIMULATION)
    monkeypatch.setattr(simulation, "simulate_two_domain_dataset",
                        lambda *a, **k: pytest.fail("a matching cell must not be simulated again"))
    again = simulated_cell(data_dir, 1000.0, 0.50, **SIMULATION)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.x, b.x)
        assert a.x.shape == (4, 16, 16, 16) and list(a.class_names) == list(b.class_names)


@pytest.mark.parametrize("change, named", [({"seed": 1}, "'seed'"), ({"box_size": 20}, "'box_size'"),
                                           ({"n_per_class": 3}, "'n_per_class'"), ({"n_classes": 3}, "'n_classes'"),
                                           ({"noise_model": "calibrated"}, "'noise_model'"),
                                           ({"source_preset": "cs2.0mm_dz-5um"}, "'source_preset'")])
def test_simulated_cell_refuses_a_folder_simulated_with_other_parameters(data_dir, change, named):
    with pytest.raises(InputError, match=f"other parameters.*{named}") as e:
        simulated_cell(data_dir, 1000, 0.5, **dict(SIMULATION, **change))
    assert cell_name(1000, 0.5) in str(e.value)

