"""copick projects (aitom.io.copick_project): opening, picks in voxels, chunked zarr reads, pick-set writes.

Every test builds its project in a temporary folder; nothing needs the network. Skipped without copick.
"""
import json
import sys

import numpy as np
import pytest

from aitom.errors import InputError
from aitom.io import copick_project as cp
from aitom.picking.extract import extract_subtomograms

VOXEL = 20.0
SHAPE = (40, 30, 24)
CHUNKS = (8, 8, 8)


@pytest.fixture
def project(tmp_path):
    copick = pytest.importorskip("copick")
    config = cp.write_config(str(tmp_path / "copick.json"),
                             [{"name": name, "is_particle": True, "label": i + 1}
                              for i, name in enumerate(("ribosome", "blob", "particle"))], str(tmp_path / "p"))
    root = copick.from_file(config)
    run = root.new_run("TS-1")
    volume = np.random.default_rng(0).normal(size=SHAPE).astype(np.float32)
    cp.write_tomogram(run, VOXEL, "wbp", volume, chunks=CHUNKS)
    root.new_run("TS-2")
    picks = run.new_picks("ribosome", session_id="0", user_id="pytom")
    shift = np.eye(4)
    shift[:3, 3] = [20.0, 0.0, -10.0]  # Å, added to the location (copick's full position)
    rotation = np.eye(4)
    rotation[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
    picks.from_numpy(np.array([[100.0, 200.0, 300.0], [40.0, 60.0, 80.0]]), np.stack([shift, rotation]),
                     scores=np.array([0.25, 0.75]))
    run.new_picks("blob", session_id="1", user_id="alice").from_numpy(np.array([[0.0, 0.0, 0.0]]))
    return {"config": config, "volume": volume, "path": tmp_path}


def test_open_select_and_read_picks(project):
    root = cp.open_project(project["config"])
    assert [r.name for r in cp.select_runs(root)] == ["TS-1", "TS-2"]
    run = cp.select_runs(root, ["TS-1"])[0]
    assert cp.object_names(root) == ["blob", "particle", "ribosome"]
    picks = cp.read_picks(run, VOXEL, objects=["ribosome"])
    np.testing.assert_allclose(picks[["x_px", "y_px", "z_px"]], [[6.0, 10.0, 14.5], [2.0, 3.0, 4.0]])
    assert list(picks["copick_score"]) == [0.25, 0.75]
    assert set(picks["tomogram"]) == {"TS-1"} and set(picks["pixel_size_A"]) == {VOXEL}
    assert list(picks.loc[1, list(cp.ROTATION_COLUMNS)]) == [0, -1, 0, 1, 0, 0, 0, 0, 1]
    both = cp.PickSelection(None, None, None).read(run, VOXEL)
    assert sorted(both["object_name"]) == ["blob", "ribosome", "ribosome"]
    assert len(cp.PickSelection("blob", "alice", "2").read(run, VOXEL)) == 0
    assert list(cp.read_picks(cp.select_runs(root, ["TS-2"])[0], VOXEL).columns) == list(picks.columns)


def test_open_errors(project, tmp_path):
    with pytest.raises(InputError, match="no such copick configuration"):
        cp.open_project(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"config_type": "filesystem", "overlay_root": "x",
                               "pickable_objects": [{"name": "a_b", "is_particle": True}]}))
    with pytest.raises(InputError, match="not a valid copick configuration") as err:
        cp.open_project(bad)
    assert "\n" not in str(err.value)
    root = cp.open_project(project["config"])
    with pytest.raises(InputError, match="'TS-9' not in the project"):
        cp.select_runs(root, ["TS-9"])
    run = cp.select_runs(root, ["TS-1"])[0]
    with pytest.raises(InputError, match=r"no voxel spacing 10 Å \(it has: 20\)"):
        cp.open_zarr_tomogram(run, 10.0, "wbp")
    with pytest.raises(InputError, match=r"no tomogram of type 'denoised' .*it has: wbp"):
        cp.open_zarr_tomogram(run, VOXEL, "denoised")
    with pytest.raises(InputError, match="'virus' not among"):
        cp.check_objects(root, ["ribosome", "virus"])


def test_zarr_tomogram_reads_regions_chunk_by_chunk(project):
    run = cp.select_runs(cp.open_project(project["config"]), ["TS-1"])[0]
    volume = project["volume"]
    tomogram = cp.open_zarr_tomogram(run, VOXEL, "wbp", cache_mb=0)  # a cache of one chunk
    assert tomogram.shape == SHAPE and tomogram.chunks == CHUNKS and tomogram.voxel_size_A == VOXEL
    rng = np.random.default_rng(1)
    for _ in range(20):
        lo = rng.integers(0, SHAPE)
        hi = lo + rng.integers(1, 12, size=3)
        key = tuple(slice(a, b) for a, b in zip(lo, hi))
        np.testing.assert_array_equal(tomogram[key], volume[key])
    assert tomogram.mean() == pytest.approx(float(volume.mean(dtype=np.float64)), rel=1e-6)
    # extraction reuses aitom.picking.extract unchanged: same cubes (edges padded with the mean) as from memory
    centres = np.array([[1.0, 2.0, 3.0], [20.0, 15.0, 12.0], [39.0, 29.0, 23.0], [12.4, 7.6, 9.5]])
    for scale in (1.0, 1.5):
        got, mask, _ = extract_subtomograms(tomogram, centres, 16, scale)
        want, want_mask, _ = extract_subtomograms(volume, centres, 16, scale)
        np.testing.assert_array_equal(mask, want_mask)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    cached = cp.open_zarr_tomogram(run, VOXEL, "wbp")  # the default cache holds this whole tomogram
    cached[0:16, 0:16, 0:16]
    reads = cached.chunk_reads
    cached[2:14, 3:9, 1:15]
    assert reads == 8 and cached.chunk_reads == reads
    with pytest.raises(TypeError):
        cached[0]


def test_write_pick_set_never_overwrites(project):
    copick = pytest.importorskip("copick")
    run = cp.select_runs(cp.open_project(project["config"]), ["TS-1"])[0]
    rotation = np.array([[[0, 0, 1], [0, 1, 0], [-1, 0, 0]]], dtype=float)
    cp.write_pick_set(run, "ribosome", "fsft", "7", [[1.0, 2.0, 3.0]], [0.875], rotation, VOXEL)
    with pytest.raises(InputError, match="already has a pick set fsft_7_ribosome"):
        cp.write_pick_set(run, "ribosome", "fsft", "7", [[9.0, 9.0, 9.0]], [0.5])
    with pytest.raises(InputError, match="already has a pick set pytom_0_ribosome"):
        cp.write_pick_set(run, "ribosome", "pytom", "0", [[9.0, 9.0, 9.0]], [0.5])
    with pytest.raises(InputError, match="cannot write pick set"):
        cp.write_pick_set(run, "virus", "fsft", "7", [[9.0, 9.0, 9.0]], [0.5])
    fresh = copick.from_file(project["config"]).get_run("TS-1")
    (written,) = fresh.get_picks(object_name="ribosome", user_id="fsft", session_id="7")
    np.testing.assert_allclose(written.full_positions(), [[1.0, 2.0, 3.0]])
    assert list(written.scores()) == [0.875]
    np.testing.assert_allclose(written.numpy()[1][0, :3, :3], rotation[0])
    (original,) = fresh.get_picks(object_name="ribosome", user_id="pytom", session_id="0")
    assert list(original.scores()) == [0.25, 0.75]
    assert cp.existing_pick_sets(fresh, ["ribosome", "blob"], "fsft", "7") == ["ribosome"]


def test_without_copick_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "copick", None)  # import copick now raises ImportError
    with pytest.raises(InputError, match=r"pip install -e \.\[copick\]"):
        cp.import_copick()
    with pytest.raises(InputError, match="not installed"):
        cp.open_project("anything.json")


def test_module_loads_neither_tensorflow_nor_copick():
    import subprocess
    code = ("import json, sys\nimport aitom.io.copick_project\n"
            "print(json.dumps([m for m in ('tensorflow', 'keras', 'matplotlib.pyplot', 'copick', 'zarr') "
            "if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
