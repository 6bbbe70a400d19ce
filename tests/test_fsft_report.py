"""The experiment report: one test per table or figure, on hand-written runs."""
import json
import os

import numpy as np
import pytest

from aitom.classify.deep.fsft import plots, report
from aitom.classify.deep.fsft.experiment import _write_runs
from aitom.classify.deep.fsft.report import (accuracy_table, confusion_matrices, cost_table, heatmaps, index_runs,
                                             paired_tables, results_table, stage_bars, write_report)
from aitom.errors import InputError

SHREC = ("shrec", 1000.0, 0.1)


def run(method, seed, accuracy, structures="shrec", source="1000", target="0.1", shots=5, stages=None, val="",
        wall=10.0, rss=1000, load=1.0, confusion=((1, 0), (0, 1))):
    return {"structures": structures, "source_snr": source, "target_snr": target, "shots": str(shots),
            "seed": str(seed), "method": method, "accuracy": f"{accuracy:.6f}",
            "stage_accuracy": json.dumps(stages or {"1": accuracy}), "target_val_acc": val, "wall_s": str(wall),
            "peak_rss_mb": str(rss), "load1": str(load), "class_names": json.dumps(["a", "b"]),
            "confusion": json.dumps([list(r) for r in confusion])}


def grid():
    """fsft and coral over two seeds, the ceiling over one, in the shrec cell; coral alone at another SNR
    and in the assemblies set."""
    return [run("fsft", 0, 0.6, stages={"1": 0.3, "2.1": 0.4, "3": 0.6}, val="0.5"),
            run("fsft", 1, 0.8, stages={"1": 0.5, "2.1": 0.6, "3": 0.8}, val="0.7"),
            run("coral", 0, 0.7, stages={"1": 0.3, "2.1": 0.7}, wall=4.0, rss=900, load=3.0),
            run("coral", 1, 0.5, stages={"1": 0.5, "2.1": 0.5}, wall=6.0, rss=1100, load=1.0),
            run("target_oracle", 0, 0.9),
            run("coral", 0, 0.4, target="0.03"),
            run("coral", 0, 0.2, structures="assemblies", confusion=((2, 1), (1, 0)))]


def table_row(lines, method):
    return next(line for line in lines if line.startswith(f"| {method} |"))


def test_index_runs_orders_methods_and_cells_and_reads_old_rows_as_shrec():
    rows = grid() + [dict(run("adabn", 0, 0.1), structures="")]
    runs = index_runs(rows, methods=["fsft", "absent"])
    assert runs.methods == ["fsft", "adabn", "coral", "target_oracle"]
    assert runs.cells == [SHREC, ("shrec", 1000.0, 0.03), ("assemblies", 1000.0, 0.1)]
    assert runs.shots == [5]
    assert [r["seed"] for r in runs.by[SHREC + (5, "fsft")]] == ["0", "1"]
    assert len(runs.by[SHREC + (5, "adabn")]) == 1


def test_accuracy_table_gives_mean_std_ratio_to_ceiling_and_validation_and_bolds_the_best():
    lines = accuracy_table(index_runs(grid(), methods=["fsft", "coral"]), 5)
    assert lines[0] == "## 5 shots per class"
    assert lines[2] == "| method | 1000 → 0.1 | 1000 → 0.03 | assemblies: 1000 → 0.1 |"
    std = np.std([0.6, 0.8], ddof=1)
    fsft = f"| fsft | **0.700 ± {std:.3f} (2) [{0.7 / 0.9:.2f}×], val 0.600** | – | – |"
    assert table_row(lines, "fsft") == fsft
    assert table_row(lines, "coral") == (f"| coral | 0.600 ± {std:.3f} (2) [{0.6 / 0.9:.2f}×] "
                                         "| **0.400 ± 0.000 (1)** | **0.200 ± 0.000 (1)** |")
    assert table_row(lines, "target_oracle").startswith("| target_oracle | 0.900 ± 0.000 (1) |")  # no ratio, not bold
    assert accuracy_table(index_runs(grid()), 3)[2] == "| method |  |"  # no runs with 3 shots: no columns


def test_paired_tables_give_seeds_stages_and_the_difference_to_fsft():
    runs = index_runs(grid(), methods=["fsft", "coral"])
    lines = paired_tables(runs, SHREC, 5)
    assert lines[0] == "## 1000 → 0.1, 5 shots: per seed, per stage, paired with fsft"
    assert table_row(lines, "fsft") == "| fsft | 0.600 | 0.800 | 0.400 | 0.500 | 0.700 | – | – |"
    # fsft − coral: seed 0 −0.1, seed 1 +0.3; coral's last stage is 2.1
    assert table_row(lines, "coral") == "| coral | 0.700 | 0.500 | 0.400 | 0.600 | 0.600 | +0.100 | 1/0/1 |"
    assert table_row(lines, "target_oracle") == "| target_oracle | 0.900 | – | 0.900 | – | 0.900 | -0.300 | 0/0/1 |"
    without_fsft = paired_tables(runs, ("shrec", 1000.0, 0.03), 5)
    assert table_row(without_fsft, "coral").endswith("| – | – |")
    assert paired_tables(runs, SHREC, 7) == []


def test_cost_table_gives_wall_time_largest_memory_and_load_per_method():
    lines = cost_table(index_runs(grid(), methods=["coral"]))
    assert lines[0] == "## Cost per method"
    wall = [4.0, 6.0, 10.0, 10.0]
    assert table_row(lines, "coral") == f"| coral | 4 | 8 ± {np.std(wall, ddof=1):.0f} | 1100 | 1.5 |"
    assert len([line for line in lines if line.startswith("| ") and "runs" not in line]) == 3


def test_results_table_composes_the_tables_in_order():
    runs = index_runs(grid(), methods=["fsft", "coral"])
    text = results_table(runs)
    assert text.startswith("# FSFT experiment: target test accuracy\n") and text.endswith("|\n")
    order = [text.index(s) for s in ("## 5 shots per class", "## 1000 → 0.1, 5 shots", "## 1000 → 0.03, 5 shots",
                                     "## assemblies: 1000 → 0.1, 5 shots", "## Cost per method")]
    assert order == sorted(order)
    assert "\n".join(cost_table(runs)) in text


def test_heatmaps_average_seeds_per_structure_set(tmp_path, monkeypatch):
    drawn = {}
    monkeypatch.setattr(report, "_heatmap_figure",
                        lambda grids, rows, cols, path, title: drawn.setdefault(os.path.basename(path),
                                                                                 (grids, rows, cols, title)))
    paths = heatmaps(index_runs(grid(), methods=["fsft", "coral"]), str(tmp_path))
    assert [os.path.basename(p) for p in paths] == ["heatmap_assemblies_shots5.png", "heatmap_shots5.png"]
    grids, rows, cols, title = drawn["heatmap_shots5.png"]
    assert (rows, cols, title) == (["1000"], ["0.1", "0.03"], "shrec: target test accuracy, 5 shots")
    assert list(grids) == ["fsft", "coral", "target_oracle"]
    np.testing.assert_allclose(grids["coral"], [[0.6, 0.4]])
    np.testing.assert_allclose(grids["fsft"], [[0.7, np.nan]])
    assert list(drawn["heatmap_assemblies_shots5.png"][0]) == ["coral"]


def test_heatmaps_write_png_files(tmp_path):
    for path in heatmaps(index_runs(grid()), str(tmp_path)):
        assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_stage_bars_give_mean_and_std_after_each_stage(tmp_path, monkeypatch):
    drawn = {}
    monkeypatch.setattr(report, "_stage_bars_figure",
                        lambda means, path, title: drawn.setdefault(os.path.basename(path), (means, title)))
    paths = stage_bars(index_runs(grid(), methods=["fsft", "coral"]), str(tmp_path))
    assert [os.path.basename(p) for p in paths] == [
        "stages_src1000_tgt0.1_shots5.png", "stages_src1000_tgt0.03_shots5.png",
        "stages_assemblies_src1000_tgt0.1_shots5.png"]
    means, title = drawn["stages_src1000_tgt0.1_shots5.png"]
    assert title == "1000 → 0.1, 5 shots: accuracy after each stage"
    assert list(means) == ["fsft", "coral", "target_oracle"]
    assert means["fsft"]["3"] == pytest.approx((0.7, np.std([0.6, 0.8], ddof=1)))
    assert means["coral"]["2.1"] == pytest.approx((0.6, np.std([0.7, 0.5], ddof=1)))
    assert means["target_oracle"] == {"1": pytest.approx((0.9, 0.0))}
    monkeypatch.undo()
    stage_bars(index_runs(grid()), str(tmp_path / "real"))
    assert os.path.getsize(tmp_path / "real" / "stages_src1000_tgt0.1_shots5.png") > 0


def test_confusion_matrices_show_each_methods_lowest_seed(tmp_path, monkeypatch):
    drawn = {}
    monkeypatch.setattr(plots, "save_confusion_matrix", lambda cm, names, path, title: drawn.setdefault(
        os.path.relpath(path, tmp_path), (cm.tolist(), names, title)))
    rows = grid()
    rows[0]["confusion"], rows[0]["seed"] = json.dumps([[0, 1], [1, 0]]), "3"  # fsft seed 3, listed first
    paths = confusion_matrices(index_runs(rows, methods=["fsft[coral_alpha=5]"]), str(tmp_path))
    assert len(paths) == 5
    assert drawn[os.path.join("confusion", "src1000_tgt0.1_shots5_fsft_seed1.png")] == (
        [[1, 0], [0, 1]], ["a", "b"], "fsft, 1000 → 0.1, 5 shots, seed 1: 1.000")
    assert drawn[os.path.join("confusion", "assemblies_src1000_tgt0.1_shots5_coral_seed0.png")][2] == (
        "coral, assemblies: 1000 → 0.1, 5 shots, seed 0: 0.500")
    monkeypatch.undo()
    renamed = [dict(r, method="fsft[coral_alpha=5]") for r in grid()[:1]]
    path, = confusion_matrices(index_runs(renamed), str(tmp_path / "real"))
    assert path.endswith(os.path.join("confusion", "src1000_tgt0.1_shots5_fsft-coral_alpha-5_seed0.png"))
    assert os.path.getsize(path) > 0


def test_write_report_writes_the_table_and_every_figure(tmp_path):
    with pytest.raises(InputError, match="no runs to report"):
        write_report(str(tmp_path))
    _write_runs(grid(), tmp_path / "runs.csv")
    text = write_report(str(tmp_path), methods=["fsft"])
    assert (tmp_path / "results_table.md").read_text() == text == results_table(index_runs(grid(), ["fsft"]))
    written = {os.path.relpath(os.path.join(d, f), tmp_path) for d, _, files in os.walk(tmp_path) for f in files}
    assert written == {"runs.csv", "results_table.md", "heatmap_shots5.png", "heatmap_assemblies_shots5.png",
                       "stages_src1000_tgt0.1_shots5.png", "stages_src1000_tgt0.03_shots5.png",
                       "stages_assemblies_src1000_tgt0.1_shots5.png"} | {
        os.path.join("confusion", n) for n in ("src1000_tgt0.1_shots5_fsft_seed0.png",
                                               "src1000_tgt0.1_shots5_coral_seed0.png",
                                               "src1000_tgt0.1_shots5_target_oracle_seed0.png",
                                               "src1000_tgt0.03_shots5_coral_seed0.png",
                                               "assemblies_src1000_tgt0.1_shots5_coral_seed0.png")}
    other = tmp_path / "elsewhere"
    assert write_report(str(other), csv_path=str(tmp_path / "runs.csv")) == results_table(index_runs(grid()))
