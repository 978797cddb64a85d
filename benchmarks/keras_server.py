"""Keras 3 in a process of its own (Keras fixes its backend at import): the server builds and warms
up one Keras contender, then times one run per ``run`` line on stdin, so that its rounds
interleave with the other contenders'. ``KerasServer`` is the benchmark's end of the pipe.

    KERAS_BACKEND=torch python benchmarks/keras_server.py MODEL STEPS DEVICE [--quick]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")

HERE = Path(__file__).resolve().parent


class KerasServer:
    """A running server for one model on one Keras backend; ``run()`` returns a run's seconds."""

    def __init__(self, backend: str, model: str, steps: int, device: str, quick: bool) -> None:
        env = {**os.environ, "KERAS_BACKEND": backend}
        if device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""  # Keras uses a GPU whenever it sees one
        command = [sys.executable, str(HERE / "keras_server.py"), model, str(steps), device]
        self.process = subprocess.Popen(
            command + (["--quick"] if quick else []),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.peak_memory_mb = self._answer()["peak_memory_mb"]

    def run(self) -> float:
        assert self.process.stdin is not None
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        return self._answer()["seconds"]

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"Keras server exited with status {self.process.wait()}")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer


def serve(model: str, steps: int, device: str, quick: bool) -> None:
    """Build the contender, answer ``ready`` with its peak memory, then one answer per ``run``."""
    from contenders import all_contenders, prepare
    from memory import gpu_meter
    from rounds import seconds_of, short_error
    from workloads import workload

    backend = os.environ["KERAS_BACKEND"]
    try:
        contender = next(c for c in all_contenders() if c.keras_backend == backend)
        spec = workload(model, quick)
        meter = gpu_meter(backend) if device == "gpu" else None
        run, peak = prepare(contender, spec, spec.data(steps), device, meter)
    except Exception as exc:
        print(json.dumps({"error": short_error(exc)}), flush=True)
        return
    print(json.dumps({"peak_memory_mb": peak}), flush=True)
    for line in sys.stdin:
        if line.strip() == "run":
            print(json.dumps({"seconds": seconds_of(run)}), flush=True)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), sys.argv[3], "--quick" in sys.argv[4:])
