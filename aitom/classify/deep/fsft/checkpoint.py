"""Checkpoints: every variable of a run in one ``.npz`` plus a JSON manifest, written atomically.

A manifest records the SHA-256 of the bytes this process wrote to its ``.npz`` (computed before the
file is renamed into place); a checkpoint whose bytes do not match is reported as corrupt
(``CheckpointError`` naming the file), never loaded. ``latest.json`` is replaced last, so a run killed
at any instant, or a write that fails (a full disk), leaves the previous checkpoint intact and current.
:func:`run_lock` keeps a second run out of a run folder while one is using it.
"""
import contextlib
import fcntl
import hashlib
import json
import os

import numpy as np

from aitom.errors import InputError
from aitom.io.atomic import atomic_open

LOCK_FILE = ".lock"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt or does not fit the networks (a ``RuntimeError``).

    The message names the checkpoint file; ``aitom-fsft`` turns it into exit code 2.

    Examples
    --------
    >>> from aitom.classify.deep.fsft import CheckpointError
    >>> try:
    ...     result = train(source, target, run_dir="runs/r1", resume=True)  # doctest: +SKIP
    ... except CheckpointError as err:
    ...     print(err)  # doctest: +SKIP
    """


def _sha256(f):
    """SHA-256 of an open binary file, read from its start."""
    f.seek(0)
    h = hashlib.sha256()
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
    return h.hexdigest()


def _sha256_of(path):
    with open(path, "rb") as f:
        return _sha256(f)


@contextlib.contextmanager
def run_lock(run_dir):
    """Hold an exclusive lock on the run folder ``run_dir`` (created if missing) for the ``with`` block.

    The lock is ``fcntl.flock`` on ``<run_dir>/.lock``: the kernel drops it when the holder exits or is
    killed, so a crashed run never leaves the folder locked.

    Raises
    ------
    InputError
        At once, if another run (this process or another) holds the lock.

    Examples
    --------
    >>> with run_lock("runs/demo/run"):  # doctest: +SKIP
    ...     pass  # nobody else trains in runs/demo/run here
    """
    run_dir = os.fspath(run_dir)
    os.makedirs(run_dir, exist_ok=True)
    f = open(os.path.join(run_dir, LOCK_FILE), "a")
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(run_dir, "another run is using this run folder (it holds .lock); wait for it to "
                                      "finish or choose another folder") from None
        yield run_dir
    finally:
        f.close()  # closing releases the lock


def _named_variables(objects):
    """Flatten ``{name: list of variables}`` into ``{name/i: variable}`` in a stable order."""
    return {f"{name}/{i}": v for name, variables in objects.items() for i, v in enumerate(variables)}


class CheckpointStore:
    """The checkpoints of one run, in ``<run_dir>/checkpoints``; keeps the newest ``keep``.

    ``write=False`` (the non-chief workers of a multi-worker run, ``distribute.is_chief``): ``save``
    reads and checks the values as the chief does, but writes nothing; ``latest`` and ``restore`` read
    the chief's checkpoints.
    """

    def __init__(self, run_dir, keep=2, write=True):
        self.dir = os.path.join(os.fspath(run_dir), "checkpoints")
        self.keep = keep
        self.write = write
        if write:
            os.makedirs(self.dir, exist_ok=True)

    def save(self, tag, objects, state):
        """Write all ``objects`` (``{name: list of variables}``) and the JSON-able ``state``.

        Raises
        ------
        CheckpointError
            A value is NaN or infinite, or a write fails (a full disk, say); the previous checkpoint
            stays current and intact.
        """
        arrays = {k: np.asarray(v.numpy() if hasattr(v, "numpy") else v) for k, v in _named_variables(objects).items()}
        bad = [k for k, a in arrays.items() if a.dtype.kind in "fc" and not np.isfinite(a).all()]
        if bad:  # e.g. BatchNorm statistics of NaN data: never replace a good checkpoint with it
            raise CheckpointError(f"{self.dir}: not saving {tag}: {bad[0]} holds NaN or infinite values "
                                  f"({len(bad)} arrays do); the last good checkpoint stays current")
        if not self.write:
            return
        npz, manifest_path = (os.path.join(self.dir, f"{tag}{ext}") for ext in (".npz", ".json"))
        previous, current = self._latest_tag(), None
        try:
            with atomic_open(npz, "w+b") as f:
                np.savez(f, **{k.replace("/", "|"): a for k, a in arrays.items()})
                f.flush()
                digest = _sha256(f)  # of the bytes written here, before the rename puts them in place
            manifest = {"tag": tag, "file": os.path.basename(npz), "sha256": digest, "state": state}
            with atomic_open(manifest_path, "w") as f:
                json.dump(manifest, f)
            with atomic_open(os.path.join(self.dir, "latest.json"), "w") as f:
                json.dump({"tag": tag}, f)
            current = tag
        except OSError as e:
            raise CheckpointError(f"{e.filename or npz}: cannot write checkpoint {tag} ({e.strerror or e}); the last "
                                  f"good checkpoint stays current") from e
        finally:
            if current is None and tag != previous:  # a failed write leaves no file of a new tag behind
                for p in (npz, manifest_path):
                    with contextlib.suppress(OSError):
                        os.remove(p)
        self._prune(tag)

    def _latest_tag(self):
        """The tag ``latest.json`` names, or None (no or unreadable latest.json)."""
        try:
            with open(os.path.join(self.dir, "latest.json")) as f:
                return json.load(f).get("tag")
        except (OSError, ValueError, AttributeError):
            return None

    def _prune(self, newest):
        tags = []
        for n in os.listdir(self.dir):
            if n.endswith(".json") and n != "latest.json":
                with contextlib.suppress(FileNotFoundError):
                    tags.append((os.path.getmtime(os.path.join(self.dir, n)), n[:-5]))
        for _, tag in sorted(tags)[:-self.keep]:
            if tag != newest:
                for ext in (".json", ".npz"):
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(os.path.join(self.dir, tag + ext))

    def latest(self):
        """The newest checkpoint's manifest, verified; None if the run has none."""
        path = os.path.join(self.dir, "latest.json")
        if not os.path.exists(path):
            return None
        try:
            with open(path) as f:
                tag = json.load(f)["tag"]
            if not isinstance(tag, str) or os.path.basename(tag) != tag or tag in ("", ".", ".."):
                raise ValueError(f"tag {tag!r} is not a checkpoint name")
            path = os.path.join(self.dir, f"{tag}.json")
            with open(path) as f:
                manifest = json.load(f)
            missing = [k for k in ("file", "sha256", "state") if k not in manifest]
            if missing:
                raise ValueError(f"no {missing[0]!r} field")
            if not isinstance(manifest["state"], dict):
                raise ValueError("'state' is not an object")
            if not isinstance(manifest["file"], str) or os.path.basename(manifest["file"]) != manifest["file"]:
                raise ValueError(f"'file' {manifest['file']!r} is not a file name in {self.dir}")
        except (OSError, ValueError, KeyError, TypeError) as e:  # TypeError: JSON that is not an object
            raise CheckpointError(f"{path}: unreadable checkpoint manifest ({type(e).__name__}: {e})") from e
        npz = os.path.join(self.dir, manifest["file"])
        if not os.path.exists(npz):
            raise CheckpointError(f"{npz}: checkpoint data file is missing")
        if _sha256_of(npz) != manifest["sha256"]:
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
