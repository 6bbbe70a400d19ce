"""What the training benchmarks share: the synthetic two-domain set, an epoch clock, medians and the
worker subprocesses that report one ``RESULT`` JSON line (per-process settings such as oneDNN, and RSS)."""
import json
import subprocess
import time


def synthetic_set(n_per_class, n_classes=10, box=28, shift=0.0, seed=0):
    """Class c: a bright cube at a class-specific place in noise; ``shift`` changes the domain."""
    import numpy as np
    from aitom.io.dataset import SubtomogramSet
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    x = rng.normal(size=(len(y), box, box, box)).astype(np.float32)
    for c in range(n_classes):
        o = 2 + (c * 5) % (box - 8)
        p = 2 + (c * 3) % (box - 8)
        x[y == c, o:o + 6, p:p + 6, 8:14] += 2.0 + shift
    x += shift * rng.normal(size=(len(y), 1, 1, 1)).astype(np.float32)
    return SubtomogramSet(x, y, tuple(f"class{c}" for c in range(n_classes)), voxel_spacing_nm=1.0)


def two_domain_data():
    """The stage functions' input: 1000 source (900 training) and 600 shifted target subtomograms, 28^3,
    10 classes, split with 5 shots per class (270 in the unlabelled pool)."""
    from aitom.classify.deep.fsft.data import few_shot_split
    from aitom.classify.deep.fsft.stages import StageData
    source = synthetic_set(100, seed=0)
    target = synthetic_set(60, shift=1.0, seed=1)
    split = few_shot_split(source.y, target.y, source.class_names, shots=5, target_test_fraction=0.5,
                           source_val_fraction=0.1, seed=0)
    return StageData(source, target, split)


class EpochClock:
    """A stand-in checkpoint store: the stage loop calls ``save`` after every epoch; the time is noted."""

    def __init__(self):
        self.t = [time.perf_counter()]

    def save(self, *args, **kwargs):
        self.t.append(time.perf_counter())

    def epochs(self, skip=0):
        """Seconds of each epoch after the first ``skip``."""
        return [b - a for a, b in zip(self.t[skip:-1], self.t[skip + 1:])]


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def emit(result):
    """Print a worker's result as the line :func:`run_worker` reads."""
    print("RESULT" + json.dumps(result), flush=True)


def run_worker(cmd, env=None, name=None):
    """Run a worker process and return the JSON of its ``RESULT`` line; its stderr if there is none."""
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT")]
    if not line:
        raise RuntimeError(f"worker {name or cmd} failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[0][len("RESULT"):])
