"""Many-tomogram jobs (aitom.classify.deep.fsft.jobs): particle lists one per tomogram, resume, summary."""
import os

import numpy as np
import pandas as pd
import pytest

from aitom.classify.deep.fsft import jobs
from aitom.classify.deep.fsft.cli import main as aitom_fsft
from aitom.errors import InputError
from aitom.io.file import put_mrc
from aitom.io.particles import read_particles, write_particles
from picks_helpers import blob_classifier, blob_tomogram

BLOBS = [(12, 12, 10), (30, 24, 14)]
DARK = [(36, 10, 20)]


@pytest.fixture(scope="module")
def lists(tmp_path_factory):
    d = tmp_path_factory.mktemp("lists")
    tomograms, star = [], []
    for i, name in enumerate(("TS_01", "TS_02")):
        put_mrc(blob_tomogram((48, 40, 32), BLOBS, DARK, seed=i), d / f"{name}.mrc", voxel_spacing=20.0)
        tomograms.append(str(d / f"{name}.mrc"))
        picks = pd.DataFrame(BLOBS + DARK, columns=["x_px", "y_px", "z_px"], dtype=float)
        picks["tomogram"], picks["pixel_size_A"], picks["ptmLCCmax"] = name, 20.0, [0.3, 0.2, 0.1]
        write_particles(picks, d / f"{name}_particles.star", fmt="pytom")
        star.append(str(d / f"{name}_particles.star"))
    model = d / "model"
    blob_classifier().save(str(model))
    return {"dir": d, "tomograms": tomograms, "star": star, "model": str(model)}


def test_particle_lists_job_resumes_and_summarises(lists, tmp_path, monkeypatch):
    out = tmp_path / "job"
    table = jobs.classify_particle_lists(lists["star"], lists["tomograms"], lists["model"], out, progress=False)
    assert table.to_dict("list") == {"tomogram": ["TS_01_particles", "TS_02_particles", "total"],
                                     "picks": [3, 3, 6], "background": [1, 1, 2], "blob": [2, 2, 4]}
    pd.testing.assert_frame_equal(pd.read_csv(out / "summary.csv"), table)
    assert (out / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = read_particles(out / "tomograms" / "TS_02_particles.star")
    assert list(result["fsft_class"]) == ["blob", "blob", "background"]
    assert list(result["ptmLCCmax"]) == [0.3, 0.2, 0.1] and list(result["tomogram"]) == ["TS_02"] * 3
    np.testing.assert_allclose(result[["x_px", "y_px", "z_px"]], BLOBS + DARK)

    with pytest.raises(InputError, match="already holds a job"):
        jobs.classify_particle_lists(lists["star"], lists["tomograms"], lists["model"], out, progress=False)
    with pytest.raises(InputError, match="threshold differ"):
        jobs.classify_particle_lists(lists["star"], lists["tomograms"], lists["model"], out, threshold=0.9,
                                     resume=True, progress=False)
    # a killed job: the second list has a half-written output and no .done record; only it is redone
    (out / "tomograms" / "TS_02_particles.done").unlink()
    (out / "tomograms" / "TS_02_particles.star").write_text("data_particles\nloop_\n_ptmCoord")
    done_before = (out / "tomograms" / "TS_01_particles.done").stat().st_mtime_ns
    calls = []
    real = jobs.classify_picks
    monkeypatch.setattr(jobs, "classify_picks", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    again = jobs.classify_particle_lists(lists["star"], lists["tomograms"], lists["model"], out, resume=True,
                                         progress=False)
    assert len(calls) == 1 and list(calls[0]["tomogram"]) == ["TS_02"] * 3
    assert (out / "tomograms" / "TS_01_particles.done").stat().st_mtime_ns == done_before
    pd.testing.assert_frame_equal(again, table)
    assert list(read_particles(out / "tomograms" / "TS_02_particles.star")["fsft_class"]) == \
        ["blob", "blob", "background"]


def test_particle_lists_command(lists, tmp_path, capsys):
    out = tmp_path / "cli_job"
    status = aitom_fsft(["classify-lists", "--picks", *lists["star"], "--tomogram", *lists["tomograms"],
                         "--model", lists["model"], "--out-dir", str(out), "--threshold", "0.9", "--no-progress"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "6 picks in 2 tomogram(s); per class: blob=4, background=2" in printed
    assert os.path.exists(out / "summary.png")
    status = aitom_fsft(["classify-lists", "--picks", lists["star"][0], lists["star"][0], "--tomogram",
                         *lists["tomograms"], "--model", lists["model"], "--out-dir", str(tmp_path / "x")])
    assert status == 2 and "names must differ" in capsys.readouterr().err


def test_summary_table_orders_classes_then_rejections():
    table = jobs.summary_table({"a": {"skipped": 1, "x": 2, "background": 3}, "b": {"unassigned": 1}}, ["x", "y"])
    assert list(table.columns) == ["tomogram", "picks", "x", "y", "background", "unassigned", "skipped"]
    assert table.iloc[-1].tolist() == ["total", 7, 2, 0, 3, 1, 1]


def test_job_names_must_be_file_names(tmp_path):
    job = jobs.TomogramJob(tmp_path / "j", {"a": 1})
    for bad in ("../x", ".hidden", "a/b", ""):
        with pytest.raises(InputError, match="cannot be used as a file name"):
            job.path(bad, ".csv")
