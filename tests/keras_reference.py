"""Keras 3 as the reference for Keras-shaped APIs. ``KERAS_BACKEND`` is fixed when Keras is
imported, so Keras runs in subprocesses: ``keras_json`` runs one program and returns the JSON it
prints last; ``KerasReference`` keeps one process per Keras backend, asked over JSON lines, so
that hypothesis can query it per example without paying Keras' import each time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import numpy as np

_SERVER = r"""
import json, sys
import numpy as np
import keras

def array(x):
    return None if x is None else np.asarray(x, dtype=np.float32)

def answer(request):
    op = request["op"]
    if op == "metric":
        metric = getattr(keras.metrics, request["name"])(**request.get("kwargs", {}))
        for args in request["updates"]:
            given = [array(a) for a in args[:2] if a is not None]
            metric.update_state(*given, sample_weight=array(args[2]))
        return np.asarray(metric.result()).tolist()
    if op == "loss":
        loss = getattr(keras.losses, request["name"])(**request.get("kwargs", {}))
        y_true, y_pred, weight = (array(a) for a in request["args"])
        return np.asarray(loss(y_true, y_pred, sample_weight=weight)).tolist()
    if op == "history_keys":
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(request["units"])])
        model.compile("sgd", request["loss"], metrics=request["metrics"])
        x, y = np.zeros((4, 2), np.float32), np.zeros(4, np.float32)
        return sorted(model.fit(x, y, epochs=1, verbose=0).history)
    if op == "losses":  # a batch: [{"name", "kwargs", "args", "function"?, "int_labels"?}, ...]
        out = []
        for case in request["cases"]:
            y_true, y_pred, weight = (array(a) for a in case["args"])
            if case.get("int_labels"):
                y_true = y_true.astype("int32")
            kwargs = case.get("kwargs", {})
            if case.get("function"):
                value = getattr(keras.losses, case["name"])(y_true, y_pred, **kwargs)
            else:
                value = getattr(keras.losses, case["name"])(**kwargs)(y_true, y_pred, sample_weight=weight)
            out.append(np.asarray(value).tolist())
        return out
    raise ValueError(op)

for line in sys.stdin:
    try:
        reply = {"ok": answer(json.loads(line))}
    except Exception as exc:
        reply = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(reply), flush=True)
"""


def keras_env(backend: str) -> dict[str, str]:
    return {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


def keras_json(program: str, backend: str = "tensorflow", stdin: str | None = None) -> Any:
    """Run ``program`` with Keras 3 on ``backend``; returns the JSON of its last printed line."""
    done = subprocess.run(
        [sys.executable, "-c", program],
        input=stdin,
        capture_output=True,
        text=True,
        env=keras_env(backend),
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


class KerasReference:
    """Keras 3 on one backend in a subprocess; ``ask`` sends a request and returns the answer."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self._process = subprocess.Popen(
            [sys.executable, "-c", _SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=keras_env(backend),
            text=True,
        )

    def ask(self, **request: Any) -> Any:
        self._process.stdin.write(json.dumps(request, default=_plain) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the Keras reference on {self.backend} stopped")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"Keras on {self.backend}: {reply['error']}")
        return reply["ok"]

    def close(self) -> None:
        self._process.stdin.close()
        self._process.wait(timeout=60)


def _plain(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(type(x).__name__)
