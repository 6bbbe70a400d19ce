#!/usr/bin/env python
"""Run a command as N workers of a local ``MultiWorkerMirroredStrategy`` cluster (doc/distributed.md).

Each worker is the same command with its own ``TF_CONFIG`` (``{"cluster": {"worker": [...]}, "task":
{"type": "worker", "index": i}}``) on free localhost ports; worker 0 is the chief. The chief's output is
shown; the others' goes to ``<log-dir>/worker<i>.log``. If any worker fails, the others are stopped
(a multi-worker step cannot go on without every worker) and the exit status is the first failure's.
It is the one-machine version of a real launch, where each machine runs the command with its own
``TF_CONFIG`` (or SLURM starts it, see doc/distributed.md).

Usage::

    .venv/bin/python bench/launch_local_workers.py --workers 2 -- \\
        .venv/bin/aitom-fsft train --dataset runs/demo/data --run-dir runs/two_workers --epochs-stage1 2
    # after a failure, the same command with --resume continues from the chief's last checkpoint
"""
import argparse
import os
import subprocess
import sys
import time

from aitom.classify.deep.fsft.distribute import local_tf_configs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--log-dir", default=".", help="where the non-chief workers' output goes")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the command each worker runs (after --)")
    args = p.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or args.workers < 1:
        p.error("give --workers >= 1 and a command after --")
    os.makedirs(args.log_dir, exist_ok=True)
    procs, logs = [], []
    for i, tf_config in enumerate(local_tf_configs(args.workers)):
        env = dict(os.environ, TF_CONFIG=tf_config)
        if i == 0:
            procs.append(subprocess.Popen(command, env=env))
        else:
            logs.append(open(os.path.join(args.log_dir, f"worker{i}.log"), "w"))
            procs.append(subprocess.Popen(command, env=env, stdout=logs[-1], stderr=subprocess.STDOUT))
    status = 0
    try:
        while any(proc.poll() is None for proc in procs):
            failed = [proc.returncode for proc in procs if proc.returncode not in (None, 0)]
            if failed:
                status = failed[0]
                break
            time.sleep(0.5)
        else:
            status = next((proc.returncode for proc in procs if proc.returncode), 0)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            proc.wait()
        for f in logs:
            f.close()
    if status:
        print(f"a worker exited with status {status}; the others were stopped", file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
