"""Importing ``aitom`` turns TensorFlow's oneDNN kernels on unless the user said otherwise.

Each case runs in a fresh interpreter: TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` once, when it is
first imported, so only a new process shows what a user's session gets.
"""
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))

PROBE = r"""
import json, os, sys
import {first}
import tensorflow as tf
from tensorflow.python.util import _pywrap_util_port
print("RESULT" + json.dumps({{"env": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
                              "onednn": bool(_pywrap_util_port.IsMklEnabled())}}))
"""


def _probe(user_setting, first="aitom"):
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", PYTHONPATH=HERE)
    if user_setting is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = user_setting
    proc = subprocess.run([sys.executable, "-c", PROBE.format(first=first)], capture_output=True, text=True, env=env,
                          timeout=300, cwd=os.path.dirname(HERE))
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT")]
    assert line, proc.stderr[-3000:]
    return json.loads(line[0][len("RESULT"):])


@pytest.mark.parametrize("first", ["aitom", "aitom.classify.deep.fsft.cli", "conftest"])
def test_unset_becomes_on(first):
    """The package, the CLI's module and the tests' conftest.py (imported before every test module)."""
    assert _probe(None, first) == {"env": "1", "onednn": True}


def test_explicit_off_is_kept():
    assert _probe("0") == {"env": "0", "onednn": False}

