"""Importing ``aitom`` turns TensorFlow's oneDNN kernels on unless the user said otherwise.

Each case runs in a fresh interpreter: TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` once, when it is
first imported, so only a new process shows what a user's session gets.
"""
import os

import pytest
from worker_helpers import python_result

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
    env.update(PYTHONPATH=HERE)
    if user_setting is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = user_setting
    return python_result(["-c", PROBE.format(first=first)], env=env, cwd=os.path.dirname(HERE))


@pytest.mark.parametrize("first", ["aitom", "aitom.classify.deep.fsft.cli", "conftest"])
def test_unset_becomes_on(first):
    """The package, the CLI's module and the tests' conftest.py (imported before every test module)."""
    assert _probe(None, first) == {"env": "1", "onednn": True}


def test_explicit_off_is_kept():
    assert _probe("0") == {"env": "0", "onednn": False}

