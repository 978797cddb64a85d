"""Which backend and device are current: context values, so threads and tasks keep their own."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

from ._context import ContextValue
from ._plugins import ENTRY_POINT_GROUP, installed_backends, load_backend
from .backend import Backend
from .errors import BridgeError, DeviceError

_backend: ContextValue[Backend | None] = ContextValue("bridge_backend", None)
_device: ContextValue[str | None] = ContextValue("bridge_device", None)
_process_default: Backend | None = None


def current_backend() -> Backend:
    """The Backend that creation ops use in this context."""
    backend = _backend.get()
    if backend is None:
        backend = _process_default or _resolve_default()
    return backend


def default_backend_name(environ: Mapping[str, str] = os.environ) -> str | None:
    """The name of the backend used where none was chosen: ``BRIDGE_BACKEND`` of ``environ``
    when set, else the installed backend of highest ``BackendInfo.priority``; None when neither
    (the name is not checked: loading it may fail)."""
    name = environ.get("BRIDGE_BACKEND")
    if name:
        return name
    installed = installed_backends()  # the highest priority first
    return installed[0] if installed else None


def _resolve_default() -> Backend:
    global _process_default
    name = default_backend_name()
    if name is None:
        raise BridgeError(
            "no bridge backend is installed: install a backend plugin (a package declaring "
            f"the entry-point group '{ENTRY_POINT_GROUP}') or use bridge.register_backend()"
        )
    _process_default = load_backend(name)
    return _process_default


def set_backend(name: str) -> None:
    """Make ``name`` the backend of this context and the default of contexts that chose none."""
    global _process_default
    backend = load_backend(name)
    _process_default = backend
    _backend.set(backend)


def get_backend() -> str:
    """The name of the current backend."""
    return current_backend().name


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[str]:
    """Use ``name`` as the backend inside a ``with`` block (this thread or task only)."""
    token = _backend.set(load_backend(name))
    try:
        yield name
    finally:
        _backend.reset(token)


def canonical_device(name: str) -> str:
    """``"cpu"`` or ``"gpu:N"`` from spellings such as ``"cuda"``, ``"cuda:1"``, ``"/GPU:0"`` and
    TensorFlow's full names (``"/job:localhost/replica:0/task:0/device:GPU:0"``)."""
    if not isinstance(name, str):
        raise DeviceError(f"a device name is a string such as 'cpu' or 'gpu:0', got {name!r}")
    text = name.strip().lower().rpartition("device:")[2].lstrip("/")
    kind, _, index = text.partition(":")
    if kind == "cpu" and index in ("", "0"):
        return "cpu"
    if kind in ("gpu", "cuda") and (index == "" or index.isdigit()):
        return f"gpu:{int(index or 0)}"
    raise DeviceError(f"unknown device {name!r}; use 'cpu' or 'gpu:N'")


def resolve_device(backend: Backend, name: str | None) -> str:
    """The device a new tensor goes to: the argument, else ``with bridge.device``, else default."""
    if name is None:
        name = _device.get()
        if name is None:
            return backend.default_device()
    else:
        name = canonical_device(name)
    present = backend.devices()
    if name not in present:
        raise DeviceError(
            f"device {name!r} is not present on backend {backend.name!r} (present: {', '.join(present)})"
        )
    return name


@contextlib.contextmanager
def device(name: str) -> Iterator[str]:
    """Create new tensors on ``name`` inside a ``with`` block."""
    name = resolve_device(current_backend(), name)
    token = _device.set(name)
    try:
        yield name
    finally:
        _device.reset(token)


def devices() -> list[str]:
    """Canonical names of the current backend's devices, ``"cpu"`` first."""
    return list(current_backend().devices())
