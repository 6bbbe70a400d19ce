"""FSFT on copick projects (aitom.classify.deep.fsft.copick_jobs) and the copick commands.

Projects are built in temporary folders (tomograms from the tomogram simulator or with bright blobs, picks
at known positions), results are read back with copick's own API. Tests needing copick skip without it.
"""
import json
import sys

import numpy as np
import pandas as pd
import pytest

from aitom.classify.deep.fsft import SubtomogramClassifier, copick_jobs
from aitom.classify.deep.fsft.cli import main as aitom_fsft
from aitom.errors import InputError
from aitom.io import copick_project as cp
from aitom.io.dataset import SubtomogramSet, load_dataset, save_subtomogram_set
from aitom.io.particles import COORDINATE_COLUMNS
from aitom.picking import extract_background, extract_subtomograms
from aitom.simulation.tomogram import simulate_tomogram
from aitom.structure import load_default_densities
from picks_helpers import BOX, blob_classifier, blob_tomogram

VOXEL = 20.0  # Å; the classifiers here work at 2 nm, so no resampling
BLOBS = [(12, 12, 10), (30, 24, 14), (20, 30, 22)]
DARK = [(36, 10, 20), (8, 30, 8)]
TINY = {"epochs_stage1": 1, "epochs_stage2_1": 1, "epochs_stage2_2": 1, "epochs_stage3": 1, "widths": (4, 4, 4, 8),
        "dcd_hidden": 8, "batch_size": 8, "coral_batch_size": 8, "dcd_batch_size": 8, "stage3_batch_size": 8}


def _project(path, objects):
    copick = pytest.importorskip("copick")
    config = cp.write_config(str(path / "copick.json"), [{"name": n, "is_particle": True, "label": i + 1}
                                                          for i, n in enumerate(objects)], str(path / "project"))
    return config, copick.from_file(config)


@pytest.fixture
def blobs(tmp_path):
    """Three runs with bright blobs and dark spots, all picked by 'pytom' (object 'particle')."""
    config, root = _project(tmp_path, ("blob", "junk", "particle"))
    for i in range(3):
        run = root.new_run(f"TS-{i + 1}")
        cp.write_tomogram(run, VOXEL, "wbp", blob_tomogram((48, 40, 32), BLOBS, DARK, seed=i), chunks=(16, 16, 16))
        run.new_picks("particle", session_id="0", user_id="pytom").from_numpy(
            np.array(BLOBS + DARK, dtype=float) * VOXEL, scores=np.linspace(0.1, 0.5, 5))
    model = tmp_path / "model"
    blob_classifier().save(str(model))
    return {"config": config, "model": str(model), "dir": tmp_path,
            "picks": cp.PickSelection(("particle",), "pytom", "0")}


def _written(config, run_name, user="fsft", session="1"):
    """Pick sets of ``user``/``session`` in a run, read with copick's own API: object -> (positions in voxels,
    scores)."""
    import copick
    run = copick.from_file(config).get_run(run_name)
    return {p.pickable_object_name: (p.full_positions() / VOXEL, p.scores())
            for p in run.get_picks(user_id=user, session_id=session)}


def test_classify_project_writes_one_pick_set_per_class(blobs):
    out = blobs["dir"] / "job"
    table = copick_jobs.classify_copick_project(blobs["config"], blobs["model"], out, VOXEL, "wbp", blobs["picks"],
                                                "fsft", "1", progress=False)
    assert table.to_dict("list") == {"tomogram": ["TS-1", "TS-2", "TS-3", "total"], "picks": [5, 5, 5, 15],
                                     "blob": [3, 3, 3, 9], "background": [2, 2, 2, 6]}
    for run in ("TS-1", "TS-2", "TS-3"):
        written = _written(blobs["config"], run)
        assert list(written) == ["blob"]  # background is left out by default
        positions, scores = written["blob"]
        np.testing.assert_allclose(positions, BLOBS)
        csv = pd.read_csv(out / "tomograms" / f"{run}.csv")
        assert list(csv["fsft_class"]) == ["blob"] * 3 + ["background"] * 2
        np.testing.assert_allclose(scores, csv["fsft_p_blob"][:3])  # score = class probability
        assert (scores > 0.99).all()
        assert list(csv["copick_object"].fillna("")) == ["blob"] * 3 + [""] * 2
        assert list(csv["copick_score"]) == pytest.approx(list(np.linspace(0.1, 0.5, 5)))
    assert (out / "summary.png").exists() and pd.read_csv(out / "summary.csv").equals(table)
    # the input pick sets are untouched
    import copick
    (original,) = copick.from_file(blobs["config"]).get_run("TS-1").get_picks(user_id="pytom")
    np.testing.assert_allclose(original.scores(), np.linspace(0.1, 0.5, 5))


def test_rejected_picks_and_threshold_go_to_their_own_set(blobs):
    copick_jobs.classify_copick_project(blobs["config"], blobs["model"], blobs["dir"] / "job", VOXEL, "wbp",
                                        blobs["picks"], "fsft", "2", runs=["TS-2"], threshold=0.999999,
                                        rejected_object="junk", progress=False)
    written = _written(blobs["config"], "TS-2", session="2")
    assert list(written) == ["junk"]  # every pick is below the threshold: all rejected, none left out
    np.testing.assert_allclose(written["junk"][0], BLOBS + DARK)
    assert _written(blobs["config"], "TS-1", session="2") == {}


def test_existing_pick_sets_are_never_overwritten(blobs):
    import copick
    run = copick.from_file(blobs["config"]).get_run("TS-3")
    run.new_picks("blob", session_id="1", user_id="fsft").from_numpy(np.zeros((1, 3)), scores=np.array([0.5]))
    with pytest.raises(InputError, match="run TS-3: already has pick set.* blob of user 'fsft', session '1'"):
        copick_jobs.classify_copick_project(blobs["config"], blobs["model"], blobs["dir"] / "job", VOXEL, "wbp",
                                            blobs["picks"], "fsft", "1", progress=False)
    assert _written(blobs["config"], "TS-1") == {}  # refused before anything was written
    assert not (blobs["dir"] / "job" / "tomograms" / "TS-1.csv").exists()
    assert list(_written(blobs["config"], "TS-3")["blob"][1]) == [0.5]
    with pytest.raises(InputError, match="not a valid copick id"):
        copick_jobs.classify_copick_project(blobs["config"], blobs["model"], blobs["dir"] / "job2", VOXEL, "wbp",
                                            blobs["picks"], "fs_ft", "1", progress=False)
    with pytest.raises(InputError, match="'background-class' not among"):
        copick_jobs.classify_copick_project(blobs["config"], blobs["model"], blobs["dir"] / "job3", VOXEL, "wbp",
                                            blobs["picks"], "fsft", "1", object_classes={"background-class": "blob"},
                                            progress=False)


def test_killed_job_resumes_at_the_unfinished_run(blobs, monkeypatch):
    out = blobs["dir"] / "job"
    calls = []

    def dies_in_the_second_run(run, *args, **kwargs):
        calls.append(run.name)
        if run.name == "TS-2":
            raise KeyboardInterrupt  # killed after the CSV and the pending record, before the pick set
        return cp.write_pick_set(run, *args, **kwargs)

    monkeypatch.setattr(copick_jobs, "write_pick_set", dies_in_the_second_run)
    with pytest.raises(KeyboardInterrupt):
        copick_jobs.classify_copick_project(blobs["config"], blobs["model"], out, VOXEL, "wbp", blobs["picks"],
                                            "fsft", "1", progress=False)
    # simulate the kill landing mid-write too: a half-written pick set of the second run
    import copick
    run2 = copick.from_file(blobs["config"]).get_run("TS-2")
    run2.new_picks("blob", session_id="1", user_id="fsft")
    assert (out / "tomograms" / "TS-1.done").exists() and not (out / "tomograms" / "TS-2.done").exists()
    (out / "tomograms" / "TS-2.csv").write_text("x_px,y_")
    done_before = (out / "tomograms" / "TS-1.done").stat().st_mtime_ns
    monkeypatch.setattr(copick_jobs, "write_pick_set", cp.write_pick_set)
    with pytest.raises(InputError, match="already holds a job"):
        copick_jobs.classify_copick_project(blobs["config"], blobs["model"], out, VOXEL, "wbp", blobs["picks"],
                                            "fsft", "1", progress=False)
    table = copick_jobs.classify_copick_project(blobs["config"], blobs["model"], out, VOXEL, "wbp", blobs["picks"],
                                                "fsft", "1", resume=True, progress=False)
    assert calls == ["TS-1", "TS-2"] and (out / "tomograms" / "TS-1.done").stat().st_mtime_ns == done_before
    assert table["picks"].tolist() == [5, 5, 5, 15]
    for run in ("TS-1", "TS-2", "TS-3"):
        positions, scores = _written(blobs["config"], run)["blob"]
        np.testing.assert_allclose(positions, BLOBS)
        assert len(scores) == 3
    assert list(pd.read_csv(out / "tomograms" / "TS-2.csv")["fsft_class"])[:3] == ["blob"] * 3


def test_full_loop_annotate_train_classify_write_back(tmp_path):
    """A few annotations per class in a simulated copick project -> aitom-fsft copick-train (1 epoch per stage) ->
    classify every pick -> new pick sets read back with copick; checks plumbing (positions, classes,
    scores), not accuracy."""
    classes = ("1bxn", "3gl1")
    config, root = _project(tmp_path, classes + ("particle",))
    densities = load_default_densities(voxel_spacing_nm=2.0, box_size=BOX, ids=classes)
    rng = np.random.default_rng(0)
    acquisitions = {"source": {"snr": 2.0, "defocus_um": -3.0, "tilt_range_deg": 70.0},
                    "target": {"snr": 0.5, "defocus_um": -6.0, "tilt_range_deg": 55.0}}
    sim = simulate_tomogram(densities, (56, 56, 32), 8, rng, voxel_spacing_nm=2.0, **acquisitions["source"])
    centres = sim.particles[list(COORDINATE_COLUMNS)].to_numpy()
    cubes, _, _ = extract_subtomograms(sim.tomogram, centres, BOX)
    negatives, _ = extract_background(sim.tomogram, centres, 4, BOX, rng, min_distance=BOX / 2)
    names = ("1bxn", "3gl1", "background")
    source = SubtomogramSet(np.concatenate([cubes, negatives]),
                            [names.index(c) for c in sim.particles["class_name"]] + [2] * 4, names, voxel_spacing_nm=2.0)
    truth = {}
    for r in ("TS-1", "TS-2"):
        sim = simulate_tomogram(densities, (56, 56, 32), 8, rng, voxel_spacing_nm=2.0, name=r, **acquisitions["target"])
        run = root.new_run(r)
        cp.write_tomogram(run, VOXEL, "wbp", sim.tomogram, chunks=(32, 32, 32))
        xyz = sim.particles[list(COORDINATE_COLUMNS)].to_numpy()
        truth[r] = (sim.tomogram, xyz, sim.particles["class_name"].to_numpy())
        run.new_picks("particle", session_id="0", user_id="pytom").from_numpy(xyz * VOXEL)
        for c in classes:  # the user annotates up to two particles per class
            picked = xyz[truth[r][2] == c][:2]
            if len(picked):
                run.new_picks(c, session_id="1", user_id="alice").from_numpy(picked * VOXEL)
    run_dir = tmp_path / "fsft"
    annotations = cp.PickSelection(None, "alice", "1")
    pool = cp.PickSelection(("particle",), "pytom", "0")
    save_subtomogram_set(source, tmp_path / "source")
    tiny = [a for k, v in TINY.items() for a in ("--" + k.replace("_", "-"), ",".join(map(str, v))
                                                 if isinstance(v, tuple) else str(v))]
    assert aitom_fsft(["copick-train", "--source", str(tmp_path / "source"), "--copick", config, "--run-dir",
                       str(run_dir), "--voxel-size", str(VOXEL), "--tomo-type", "wbp", "--annotation-user", "alice",
                       "--annotation-session", "1", "--picks-object", "particle", "--picks-user", "pytom",
                       "--picks-session", "0", "--background-per-run", "2", "--quiet", *tiny,
                       "--source-ctf", "Dz=-3,Cs=2.0,voltage=300", "--target-ctf", "Dz=-6,Cs=2.0,voltage=300"]) == 0
    target = load_dataset(str(run_dir) + "_target")
    n_annotated = {c: sum(min(2, int((truth[r][2] == c).sum())) for r in truth) for c in classes}
    assert target.counts() == {**n_annotated, "background": 4}
    assert (target.y == -1).sum() == 16  # every pool pick, unlabelled
    tomogram, xyz, labels = truth["TS-1"]  # the first row is TS-1's first annotation of class 1bxn
    first = xyz[labels == "1bxn"][0]
    np.testing.assert_allclose(target.x[0], extract_subtomograms(tomogram, first[None], BOX)[0][0], rtol=1e-5)
    classifier = SubtomogramClassifier.load(str(run_dir / "classifier"))
    assert classifier.class_names == names
    assert classifier.meta["source_transfer"]["ctf_transfer"]  # both acquisitions given: the source was transferred
    shots = min(target.counts().values())  # default: every annotation of the least annotated class is a shot
    assert json.loads((run_dir / "config.json").read_text())["shots"] == shots
    assert len(json.loads((run_dir / "split.json").read_text())["target_shots"]) == 3 * shots

    out = tmp_path / "job"
    table = copick_jobs.classify_copick_project(config, run_dir / "classifier", out, VOXEL, "wbp", pool, "fsft", "1",
                                                progress=False)
    assert table["picks"].tolist() == [8, 8, 16]
    for r in ("TS-1", "TS-2"):
        csv = pd.read_csv(out / "tomograms" / f"{r}.csv")
        written = _written(config, r)
        assert set(written) <= set(classes)
        for c in classes:
            rows = csv[csv["fsft_class"] == c]
            positions, scores = written.get(c, (np.zeros((0, 3)), np.zeros(0)))
            np.testing.assert_allclose(positions, rows[list(COORDINATE_COLUMNS)].to_numpy(), atol=1e-9)
            np.testing.assert_allclose(scores, rows[f"fsft_p_{c}"])
            np.testing.assert_allclose(scores, rows["fsft_probability"])
        kept = csv["fsft_class"].isin(classes)
        assert sum(len(s) for _, s in written.values()) == kept.sum()
        np.testing.assert_allclose(csv[list(COORDINATE_COLUMNS)], truth[r][1])  # every pool pick, in order

    with pytest.raises(InputError, match="already holds a target set"):
        copick_jobs.train_from_copick(source, config, run_dir, VOXEL, "wbp", annotations, pool, progress=False)


def test_unknown_object_names_are_one_line_errors(tmp_path):
    assert copick_jobs.object_classes_for(["ribosome"], ["4v4r"], {"ribosome": "4v4r"}) == {"ribosome": "4v4r"}
    with pytest.raises(InputError, match=r"object 'ribosome' matches no class .*\(1bxn, 3gl1\); map it with --map"):
        copick_jobs.object_classes_for(["ribosome"], ["1bxn", "3gl1"])
    config, root = _project(tmp_path, ("ribosome", "particle"))
    run = root.new_run("TS-1")
    cp.write_tomogram(run, VOXEL, "wbp", np.zeros((32, 32, 32), np.float32), chunks=(16, 16, 16))
    run.new_picks("ribosome", session_id="1", user_id="alice").from_numpy(np.full((1, 3), 16 * VOXEL))
    with pytest.raises(InputError, match="object 'ribosome' matches no class") as err:
        copick_jobs.build_target_set(root, [run], VOXEL, "wbp", cp.PickSelection(None, "alice", "1"),
                                     cp.PickSelection("particle"), ("1bxn", "3gl1"), BOX, str(tmp_path / "t"))
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="no annotated pick .* for class\\(es\\) 3gl1"):
        copick_jobs.build_target_set(root, [run], VOXEL, "wbp", cp.PickSelection(None, "alice", "1"),
                                     cp.PickSelection("particle"), ("1bxn", "3gl1"), BOX, str(tmp_path / "t"),
                                     object_classes={"ribosome": "1bxn"})


def test_copick_commands(blobs, capsys):
    out = blobs["dir"] / "cli"
    status = aitom_fsft(["copick-classify", "--copick", blobs["config"], "--model", blobs["model"], "--out-dir",
                         str(out), "--voxel-size", "20", "--tomo-type", "wbp", "--picks-object", "particle",
                         "--picks-user", "pytom", "--picks-session", "0", "--out-user", "fsft", "--out-session", "3",
                         "--write-rejected", "junk", "--no-progress"])
    assert status == 0
    assert "15 picks in 3 tomogram(s); per class: blob=9, background=6" in capsys.readouterr().out
    written = _written(blobs["config"], "TS-1", session="3")
    np.testing.assert_allclose(written["junk"][0], DARK)
    status = aitom_fsft(["copick-classify", "--copick", blobs["config"], "--model", blobs["model"], "--out-dir",
                         str(blobs["dir"] / "cli2"), "--voxel-size", "20", "--tomo-type", "wbp", "--out-user", "fsft",
                         "--out-session", "3", "--no-progress"])
    assert status == 2 and "never overwritten" in capsys.readouterr().err


@pytest.mark.parametrize("verb", ["copick-classify", "copick-train"])
def test_copick_commands_without_copick(verb, monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "copick", None)  # as if copick were not installed
    common = ["--copick", "c.json", "--voxel-size", "10", "--tomo-type", "wbp"]
    extra = (["--model", "m", "--out-dir", str(tmp_path), "--out-user", "u", "--out-session", "1"]
             if verb == "copick-classify" else ["--source", "s", "--run-dir", str(tmp_path), "--annotation-user", "u"])
    assert aitom_fsft([verb, *common, *extra]) == 2
    err = capsys.readouterr().err
    assert "pip install -e .[copick]" in err and err.count("\n") == 1
