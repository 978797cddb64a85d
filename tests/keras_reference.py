"""Keras 3 as the reference for Keras-shaped APIs. ``KERAS_BACKEND`` is fixed when Keras is
imported, so Keras runs in subprocesses, never in pytest's: ``keras_json`` runs one program and
returns the JSON it prints last. The programs run in one long-lived Keras process per Keras backend
(per pytest worker, started on first use, closed at exit), each in a fresh ``__main__`` with its
own stdin and stdout, Keras' global state cleared after it: Keras' import, 4-8 s a time, is paid
once per backend, not per program. A program that crashes, times out, or leaves a setting changed
that the reset does not restore (``settings()`` in the server) ends its process: the next program
starts a new one. ``KerasReference`` asks Keras about metrics and losses, one program per request."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from typing import IO, Any

import numpy as np

#: a program's time limit
TIMEOUT_S = 300

_EXEC_SERVER = r"""
import contextlib, io, json, os, sys, traceback, types, warnings
replies = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)  # the programs' stray output at the file descriptor level goes to stderr
import numpy as np
import keras

def settings():
    config = keras.config
    state = {name: getattr(config, name)() for name in (
        "floatx", "epsilon", "image_data_format", "max_epochs", "max_steps_per_epoch",
        "is_interactive_logging_enabled", "is_traceback_filtering_enabled",
    )}
    state["dtype_policy"] = config.dtype_policy().name
    if "torch" in sys.modules:
        state["torch_dtype"] = str(sys.modules["torch"].get_default_dtype())
    return state

def run(program, stdin):
    main, environ, cwd, path = sys.modules["__main__"], dict(os.environ), os.getcwd(), list(sys.path)
    errors = np.geterr()
    module = types.ModuleType("__main__")
    out, err, error = io.StringIO(), io.StringIO(), None
    sys.modules["__main__"], sys.stdin = module, io.StringIO(stdin or "")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            exec(compile(program, "<string>", "exec"), module.__dict__)
    except SystemExit as stop:
        if stop.code not in (None, 0):
            error = f"exit status {stop.code}"
    except BaseException:
        error = traceback.format_exc()
    finally:
        sys.modules["__main__"], sys.stdin = main, sys.__stdin__
        os.environ.clear()
        os.environ.update(environ)
        os.chdir(cwd)
        sys.path[:] = path
        np.seterr(**errors)
        keras.backend.clear_session(free_memory=False)
    if error is not None:
        error = (err.getvalue() + error)[-3000:]
    return {"stdout": out.getvalue(), "error": error}

pristine = settings()
for line in sys.stdin:
    request = json.loads(line)
    reply = run(request["program"], request["stdin"])
    reply["restart"] = settings() != pristine
    print(json.dumps(reply), file=replies, flush=True)
    if reply["restart"]:
        break
"""


def keras_env(backend: str) -> dict[str, str]:
    # oneDNN (on by default only on some Intel CPUs): Keras' TensorFlow backend runs channels_first
    # convolutions on a CPU only through it
    return {
        **os.environ,
        "KERAS_BACKEND": backend,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "CUDA_VISIBLE_DEVICES": "",
        "TF_ENABLE_ONEDNN_OPTS": "1",
    }


def keras_json(program: str, backend: str = "tensorflow", stdin: str | None = None) -> Any:
    """Run ``program`` with Keras 3 on ``backend``; returns the JSON of the last line it printed."""
    return json.loads(_run_in_process(program, backend, stdin).strip().splitlines()[-1])


class _KerasProcess:
    """A Keras process on ``backend`` that runs programs in turn (see the module docstring)."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self._stderr: IO[bytes] = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [sys.executable, "-c", _EXEC_SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=keras_env(backend),
        )

    def run(self, program: str, stdin: str | None) -> dict[str, Any]:
        """The reply: the program's ``stdout``, its ``error`` (None if it ran to the end), and
        ``restart`` where it changed a setting for good. Raises where the process is lost."""
        try:
            self._process.stdin.write((json.dumps({"program": program, "stdin": stdin}) + "\n").encode())
            self._process.stdin.flush()
            return json.loads(self._read_line(time.monotonic() + TIMEOUT_S))
        except (OSError, TimeoutError, EOFError) as exc:
            raise AssertionError(f"Keras on {self.backend}: {exc}\n{self._stderr_tail()}") from None

    def _read_line(self, deadline: float) -> bytes:
        line = b""
        while not line.endswith(b"\n"):
            if not select.select([self._process.stdout], [], [], max(0.0, deadline - time.monotonic()))[0]:
                raise TimeoutError(f"no answer in {TIMEOUT_S} s")
            chunk = os.read(self._process.stdout.fileno(), 1 << 16)
            if not chunk:
                raise EOFError("the process stopped (its stderr follows)")
            line += chunk
        return line

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-3000:]

    def close(self, patience_s: float = 60) -> None:
        """End the process: let it finish within ``patience_s`` (0 where it is lost), else kill it."""
        with contextlib.suppress(OSError):
            self._process.stdin.close()
        try:
            self._process.wait(timeout=patience_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._stderr.close()


#: this pytest process's Keras processes, one per Keras backend, and a lock for each backend
_PROCESSES: dict[str, _KerasProcess] = {}
_LOCKS: dict[str, threading.Lock] = {}


def _started(backend: str) -> _KerasProcess:
    """The Keras process on ``backend``, started if there is none (the caller holds its lock)."""
    if backend not in _PROCESSES:
        _PROCESSES[backend] = _KerasProcess(backend)
    return _PROCESSES[backend]


def _run_in_process(program: str, backend: str, stdin: str | None) -> str:
    """``program``'s stdout, run by the Keras process on ``backend``; a process that crashed,
    timed out or was left changed is closed, and the next program starts a new one."""
    with _LOCKS.setdefault(backend, threading.Lock()):
        process = _started(backend)
        try:
            reply = process.run(program, stdin)
        except AssertionError:
            _PROCESSES.pop(backend).close(patience_s=0)
            raise
        if reply["restart"]:
            _PROCESSES.pop(backend).close()
    assert reply["error"] is None, reply["error"]
    return reply["stdout"]


@atexit.register
def _close_all() -> None:
    for process in _PROCESSES.values():
        process.close()


_ANSWER = r"""
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

try:
    reply = {"ok": answer(json.loads(sys.stdin.read()))}
except Exception as exc:
    reply = {"error": f"{type(exc).__name__}: {exc}"}
print(json.dumps(reply))
"""


class KerasReference:
    """Keras 3 on one backend; ``ask`` sends a request (a metric, a loss, ...) and returns the
    answer. Making one starts its Keras process, so that two made in turn import Keras side by side."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        with _LOCKS.setdefault(backend, threading.Lock()):
            _started(backend)

    def ask(self, **request: Any) -> Any:
        reply = keras_json(_ANSWER, self.backend, stdin=json.dumps(request, default=_plain))
        if "error" in reply:
            raise RuntimeError(f"Keras on {self.backend}: {reply['error']}")
        return reply["ok"]


def _plain(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(type(x).__name__)
