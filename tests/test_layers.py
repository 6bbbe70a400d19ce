"""The package's layers: io, geometry, structure, image, simulation and picking do not load TensorFlow or pyplot.

Each check runs in a fresh interpreter, so modules imported by other tests cannot hide an import.
"""
import json
import subprocess
import sys

import pytest

HEAVY = ("tensorflow", "keras", "matplotlib.pyplot")


def loaded_after(statement):
    """Which of :data:`HEAVY` are in ``sys.modules`` after running ``statement`` in a new interpreter."""
    code = f"import json, sys\n{statement}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("package", ["aitom.io", "aitom.geometry", "aitom.structure", "aitom.image",
                                     "aitom.simulation", "aitom.picking"])
def test_lower_layers_do_not_load_tensorflow_or_pyplot(package):
    assert loaded_after(f"import {package}") == []


def test_all_lower_layers_together_with_their_submodules():
    statement = ("import aitom.io, aitom.io.tomogram, aitom.simulation, aitom.simulation.dataset, "
                 "aitom.simulation.tomogram, aitom.picking, aitom.picking.extract, aitom.image.montage, "
                 "aitom.image.normalize, aitom.image.vol.wedge.util")
    assert loaded_after(statement) == []


def test_the_check_sees_tensorflow_when_it_is_loaded():
    assert "tensorflow" in loaded_after("import aitom.classify.deep.fsft.streaming")


def run_python(code, env=None):
    """Run ``code`` in a new interpreter and return its last line of standard output."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300,
                         env=env)
    return out.stdout.strip().splitlines()[-1]


def test_importing_fsft_keeps_the_matplotlib_backend():
    code = ("import json, sys, matplotlib\n"
            "matplotlib.use('svg')\n"
            "import aitom.classify.deep.fsft as fsft\n"
            "import aitom.classify.deep.fsft.plots, aitom.classify.deep.fsft.pipeline\n"
            "import aitom.classify.deep.fsft.experiment, aitom.classify.deep.fsft.picks\n"
            "fsft.train\n"
            "print(json.dumps(matplotlib.get_backend()))")
    # Keras imports pyplot itself (keras.src.visualization), so only the backend is checked here
    assert json.loads(run_python(code)) == "svg"


def test_fsft_plots_draw_without_pyplot(tmp_path):
    code = ("import json, sys\n"
            "from aitom.classify.deep.fsft.plots import save_confusion_matrix, save_training_curves\n"
            f"save_confusion_matrix([[2, 0], [1, 1]], ['a', 'b'], {str(tmp_path / 'cm.png')!r})\n"
            f"save_training_curves({{'1': {{'loss': [1.0, 0.5]}}}}, {str(tmp_path / 'c.png')!r})\n"
            "print(json.dumps('matplotlib.pyplot' in sys.modules))")
    assert json.loads(run_python(code)) is False
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_importing_the_package_loads_no_tensorflow_until_a_name_is_used():
    code = ("import json, sys\n"
            "import aitom.classify.deep.fsft as fsft\n"
            "before = 'tensorflow' in sys.modules\n"
            "fsft.SubtomogramClassifier\n"
            "print(json.dumps([before, 'tensorflow' in sys.modules]))")
    assert json.loads(run_python(code)) == [False, True]
