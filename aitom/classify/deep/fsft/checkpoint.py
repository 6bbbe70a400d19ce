"""Checkpoints: every variable of a run in one ``.npz`` plus a JSON manifest, written atomically.

A manifest records the SHA-256 of its ``.npz``; a checkpoint whose bytes do not match is reported
as corrupt (``CheckpointError`` naming the file), never loaded. ``latest.json`` is replaced last,
so a run killed at any instant leaves the previous checkpoint intact and current.
"""
import hashlib
import json
import os

import numpy as np

from aitom.io.atomic import atomic_open


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt or does not fit the networks."""


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _named_variables(objects):
    """Flatten ``{name: list of variables}`` into ``{name/i: variable}`` in a stable order."""
    return {f"{name}/{i}": v for name, variables in objects.items() for i, v in enumerate(variables)}


class CheckpointStore:
    """The checkpoints of one run, in ``<run_dir>/checkpoints``; keeps the newest ``keep``."""

    def __init__(self, run_dir, keep=2):
        self.dir = os.path.join(os.fspath(run_dir), "checkpoints")
        self.keep = keep
        os.makedirs(self.dir, exist_ok=True)

    def save(self, tag, objects, state):
        """Write all ``objects`` (``{name: list of variables}``) and the JSON-able ``state``."""
        arrays = {k: np.asarray(v.numpy() if hasattr(v, "numpy") else v) for k, v in _named_variables(objects).items()}
        bad = [k for k, a in arrays.items() if a.dtype.kind in "fc" and not np.isfinite(a).all()]
        if bad:  # e.g. BatchNorm statistics of NaN data: never replace a good checkpoint with it
            raise CheckpointError(f"{self.dir}: not saving {tag}: {bad[0]} holds NaN or infinite values "
                                  f"({len(bad)} arrays do); the last good checkpoint stays current")
        npz = os.path.join(self.dir, f"{tag}.npz")
        with atomic_open(npz) as f:
            np.savez(f, **{k.replace("/", "|"): a for k, a in arrays.items()})
        manifest = {"tag": tag, "file": os.path.basename(npz), "sha256": _sha256(npz), "state": state}
        with atomic_open(os.path.join(self.dir, f"{tag}.json"), "w") as f:
            json.dump(manifest, f)
        with atomic_open(os.path.join(self.dir, "latest.json"), "w") as f:
            json.dump({"tag": tag}, f)
        self._prune(tag)

    def _prune(self, newest):
        tags = sorted((os.path.getmtime(os.path.join(self.dir, n)), n[:-5]) for n in os.listdir(self.dir)
                      if n.endswith(".json") and n != "latest.json")
        for _, tag in tags[:-self.keep]:
            if tag != newest:
                for ext in (".json", ".npz"):
                    p = os.path.join(self.dir, tag + ext)
                    if os.path.exists(p):
                        os.remove(p)

    def latest(self):
        """The newest checkpoint's manifest, verified; None if the run has none."""
        path = os.path.join(self.dir, "latest.json")
        if not os.path.exists(path):
            return None
        try:
            with open(path) as f:
                tag = json.load(f)["tag"]
            with open(os.path.join(self.dir, f"{tag}.json")) as f:
                manifest = json.load(f)
        except (OSError, ValueError, KeyError) as e:
            raise CheckpointError(f"{path}: unreadable checkpoint manifest ({e})") from e
        npz = os.path.join(self.dir, manifest["file"])
        if not os.path.exists(npz):
            raise CheckpointError(f"{npz}: checkpoint data file is missing")
        if _sha256(npz) != manifest["sha256"]:
            raise CheckpointError(f"{npz}: checkpoint is corrupt (SHA-256 does not match its manifest)")
        return manifest

    def restore(self, manifest, objects, partial=False):
        """Assign the saved values to ``objects``; shapes and names must match exactly.

        With ``partial=True`` the checkpoint may hold more than ``objects`` (e.g. an optimizer's
        variables besides the networks); only ``objects`` are assigned.
        """
        npz = os.path.join(self.dir, manifest["file"])
        try:
            with np.load(npz) as data:
                saved = {k.replace("|", "/"): data[k] for k in data.files}
        except (OSError, ValueError) as e:
            raise CheckpointError(f"{npz}: unreadable checkpoint ({e})") from e
        named = _named_variables(objects)
        if (not set(named) <= set(saved)) if partial else set(saved) != set(named):
            missing = sorted(set(named) - set(saved))[:3]
            raise CheckpointError(f"{npz}: does not fit these networks (missing e.g. {missing})")
        for k, v in named.items():
            if tuple(saved[k].shape) != tuple(v.shape):
                raise CheckpointError(f"{npz}: {k} has shape {saved[k].shape}, expected {tuple(v.shape)}")
            v.assign(saved[k])
