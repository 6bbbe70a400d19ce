"""Tests that run Python in a fresh process (per-process TensorFlow settings, logical devices, workers)
read its result from one printed line: ``RESULT`` followed by JSON."""
import json
import os
import subprocess
import sys


def read_result(returncode, stdout, stderr):
    """The JSON of the ``RESULT`` line of a finished process; fails the test with its stderr if there is none."""
    line = [l for l in stdout.splitlines() if l.startswith("RESULT")]
    assert returncode == 0 and line, f"worker failed (exit {returncode}):\n{stderr[-4000:]}"
    return json.loads(line[0][len("RESULT"):])


def python_result(args, env=None, timeout=300, cwd=None):
    """Run ``python *args`` (CPU only, TensorFlow's log quiet unless ``env`` says otherwise) and read its result."""
    env = dict(os.environ if env is None else env)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("CUDA_VISIBLE_DEVICES", "")
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd)
    return read_result(proc.returncode, proc.stdout, proc.stderr)
