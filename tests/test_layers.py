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
