import json
import os

import pytest
from fsft_helpers import blob_set

from aitom.classify.deep.fsft.cli import main
from aitom.classify.deep.fsft.demo import run_demo
from aitom.io.dataset import save_two_domain

TINY = ["--epochs-stage1", "2", "--epochs-stage2-1", "1", "--epochs-stage2-2", "2", "--epochs-stage3", "1",
        "--batch-size", "8", "--coral-batch-size", "8", "--dcd-batch-size", "8", "--stage3-batch-size", "6",
        "--shots", "3"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("data") / "two")
    save_two_domain(path, blob_set(10, seed=0), blob_set(10, shift=1.0, seed=1))
    return path


def test_train_predict_evaluate_summarize(dataset, tmp_path, capsys):
    run = str(tmp_path / "run")
    assert main(["train", "--dataset", dataset, "--run-dir", run, "--quiet"] + TINY) == 0
    out = capsys.readouterr().out
    assert "target test accuracy" in out and "classifier:" in out
    model = os.path.join(run, "classifier")
    csv = str(tmp_path / "pred.csv")
    assert main(["predict", "--model", model, "--data", os.path.join(dataset, "target"), "--out", csv]) == 0
    with open(csv) as f:
        lines = f.read().splitlines()
    assert lines[0].startswith("index,class,probability,p_class0") and len(lines) == 31
    assert main(["evaluate", "--model", model, "--data", os.path.join(dataset, "target"),
                 "--out-dir", str(tmp_path), "--name", "ev"]) == 0
    assert os.path.exists(tmp_path / "ev_confusion.png")
    with open(tmp_path / "ev.json") as f:
        assert json.load(f)["n"] == 30
    capsys.readouterr()
    assert main(["summarize", run, run]) == 0
    assert "| 3 |" in capsys.readouterr().out


def test_train_with_acquisition_parameters_transfers_the_ctf(dataset, tmp_path, capsys):
    run = str(tmp_path / "run")
    ctf = ["--source-ctf", "Dz=-10,Cs=2.2,voltage=300", "--target-ctf", "Dz=-5,Cs=2.0,voltage=300,pix_size=1.0"]
    assert main(["train", "--dataset", dataset, "--run-dir", run, "--quiet", "--source-noise-share", "none",
                 "--stages", "1"] + ctf + TINY) == 0
    with open(os.path.join(run, "classifier", "classifier.json")) as f:
        meta = json.load(f)["meta"]
    assert meta["source_transfer"] == {"ctf_transfer": True, "source_noise_share": None}
    assert meta["config"]["source_noise_share"] is None
    with pytest.raises(SystemExit) as e:
        main(["train", "--dataset", dataset, "--run-dir", str(tmp_path / "r2"), "--source-ctf", "Dz=-10"])
    assert e.value.code == 2
    assert "expected Dz=UM,Cs=MM,voltage=KV" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # a misspelt boolean is an error, not a silent False
        main(["train", "--dataset", dataset, "--run-dir", str(tmp_path / "r3"), "--augment", "flase"])
    assert e.value.code == 2
    assert "expected true or false" in capsys.readouterr().err


def test_errors_are_one_line_with_exit_code_2(dataset, tmp_path, capsys):
    assert main(["train", "--run-dir", str(tmp_path / "r")]) == 2
    assert "give --dataset" in capsys.readouterr().err
    assert main(["predict", "--model", str(tmp_path / "nothing"), "--data", dataset, "--out", "x.csv"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aitom-fsft: error: ") and "classifier.json" in err
    assert not os.path.exists("x.csv")


def test_quick_demo_runs_end_to_end(tmp_path):
    summary = run_demo(str(tmp_path / "demo"), quick=True, progress=False, n_per_class=12, n_classes=3)
    assert set(summary["accuracy"]) == {"1", "2.1", "3"}
    # the ceiling trains on every labelled target subtomogram outside the test set: per class the 5 shots
    # and 3 of the other 7 (round(3.5) = 4 are the test set)
    assert 0.0 <= summary["ceiling"]["target_test_acc"] <= 1.0
    assert summary["ceiling"]["labelled_target_subtomograms"] == 3 * (5 + 3)
    assert 0.0 <= summary["joint_ceiling"]["target_test_acc"] <= 1.0  # and the labelled source beside them:
    assert summary["joint_ceiling"]["labelled_source_subtomograms"] == 3 * round(0.9 * 12)  # 10 % source validation
    for name in ("summary.json", "montage_source.png", "montage_target.png", "run/training_curves.png",
                 "run/target_test_confusion.png", "run/classifier/model.keras"):
        assert os.path.exists(tmp_path / "demo" / name), name


def _env_after_cli_help(env):
    """``TF_CPP_MIN_LOG_LEVEL`` and whether TensorFlow was loaded before ``main`` ran, in a new interpreter."""
    import subprocess
    import sys
    code = ("import json, os, sys\n"
            "from aitom.classify.deep.fsft.cli import main\n"
            "loaded = 'tensorflow' in sys.modules\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(json.dumps([os.environ.get('TF_CPP_MIN_LOG_LEVEL'), loaded]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cli_quiets_tensorflow_logs_before_loading_it_but_keeps_a_users_setting():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    assert _env_after_cli_help(env) == ["3", False]
    assert _env_after_cli_help(dict(env, TF_CPP_MIN_LOG_LEVEL="1")) == ["1", False]


def test_the_library_leaves_tensorflow_logging_alone():
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    code = "import os\nfrom aitom.classify.deep.fsft import train, predict\nprint(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip().splitlines()[-1] == "None"
