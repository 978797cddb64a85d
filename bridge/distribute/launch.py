"""Run a script as ``--nproc`` local data-parallel workers, on either backend:

    python -m bridge.distribute.launch --nproc 2 train.py [its arguments]

Each worker is ``python train.py ...`` with the environment both engines read: torchrun's
variables (``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
``LOCAL_WORLD_SIZE``) and TensorFlow's ``TF_CONFIG`` (every worker at a free local port), plus
``BRIDGE_BACKEND`` with ``--backend``. ``DataParallel()`` in the script joins the others. If a
worker fails, the others are stopped; the exit code is the first failure's (0 when all succeed).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

HOST = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on this machine now (each bound, then released)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def worker_environments(nproc: int, backend: str | None = None) -> list[dict[str, str]]:
    """The variables each of ``nproc`` local workers gets (added to this process's environment)."""
    if nproc < 1:
        raise ValueError(f"launch: --nproc must be >= 1, got {nproc}")
    ports = free_ports(nproc + 1)  # one for torch's rendezvous, one per TensorFlow worker
    cluster = {"worker": [f"{HOST}:{port}" for port in ports[1:]]}
    environments = []
    for rank in range(nproc):
        env = {
            "MASTER_ADDR": HOST,
            "MASTER_PORT": str(ports[0]),
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": str(nproc),
            "LOCAL_WORLD_SIZE": str(nproc),
            "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": rank}}),
        }
        if backend is not None:
            env["BRIDGE_BACKEND"] = backend
        environments.append(env)
    return environments


def run_workers(
    command: Sequence[str], environments: list[dict[str, str]], timeout: float | None = None
) -> int:
    """Run ``command`` once per environment; wait for all (at most ``timeout`` seconds); stop the
    rest when one fails or time runs out. The first failure's exit code, else 0."""
    workers = [subprocess.Popen(list(command), env={**os.environ, **env}) for env in environments]
    deadline = None if timeout is None else time.monotonic() + timeout
    failure = 0
    try:
        while True:
            codes = [w.poll() for w in workers]
            if all(code is not None for code in codes):
                break
            failed = [code for code in codes if code not in (None, 0)]
            if failed or (deadline is not None and time.monotonic() > deadline):
                failure = failed[0] if failed else 124
                break
            time.sleep(0.05)
    finally:
        for w in workers:
            if w.poll() is None:
                w.terminate()
        for w in workers:
            try:
                w.wait(timeout=10)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()
    return failure or next((w.returncode for w in workers if w.returncode), 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bridge.distribute.launch", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--nproc", type=int, required=True, help="number of local workers")
    parser.add_argument("--backend", help="the workers' bridge backend (BRIDGE_BACKEND)")
    parser.add_argument("--timeout", type=float, help="stop every worker after this many seconds")
    parser.add_argument("script", help="the Python script each worker runs")
    parser.add_argument("arguments", nargs=argparse.REMAINDER, help="the script's arguments")
    args = parser.parse_args(argv)
    environments = worker_environments(args.nproc, args.backend)
    return run_workers([sys.executable, args.script, *args.arguments], environments, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
