"""``bridge.jit``: compile a function with the framework's compiler (tf.function, torch.compile)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from . import _tree
from ._dispatch import current_backend
from ._plugins import backend_infos
from .errors import BridgeError
from .ops._core import backend_of, diagnose
from .tensor import Tensor
from .variable import Variable


def jit(fn: Callable | None = None, *, enabled: bool = True, **options: Any) -> Callable:
    """Compile ``fn`` on the backend of its tensor arguments (else the current one).

    Inputs and outputs may be Tensors, Variables and pytrees of them; Variables may be updated
    inside. ``enabled=False`` returns ``fn`` unchanged, for debugging. Options pass through to the
    framework; an option named after a backend (``torch={"backend": "aot_eager"}``,
    ``tensorflow={"jit_compile": True}``) applies to that backend only.

    Inside, values are symbolic: ``bool()`` of a tensor (a Python ``if`` on it) raises
    ``TracedValueError``, and out-of-range gather indices are clamped (eager code raises
    ``IndexOutOfRangeError``). An error the framework raises while running the compiled
    function comes back as a ``BackendOpError`` naming the function."""
    if fn is None:
        return functools.partial(jit, enabled=enabled, **options)
    if not enabled:
        return fn
    names = set(backend_infos())
    shared = {k: v for k, v in options.items() if k not in names}
    compiled: dict[str, Callable] = {}

    @functools.wraps(fn)
    def jitted(*args: Any, **kwargs: Any) -> Any:
        found = [x for x in _tree.leaves((args, kwargs)) if isinstance(x, Tensor)]
        backend = backend_of("jit", *found) if found else current_backend()
        if backend.name not in compiled:
            compiled[backend.name] = backend.jit(
                _on_natives(fn, backend), **shared, **options.get(backend.name, {})
            )
        natives = _tree.map_leaves(lambda x: x._native if isinstance(x, Tensor) else x, (args, kwargs))
        try:
            out = compiled[backend.name](*natives)
        except Exception as exc:
            if isinstance(exc, BridgeError) or not _from_framework(exc, backend.name):
                raise
            cause = exc
            while (cause.__cause__ or cause.__context__) is not None:  # torch.compile wraps the op's error
                cause = cause.__cause__ or cause.__context__
            raise diagnose(f"jit({getattr(fn, '__name__', 'fn')})", found, cause, None) from exc
        return _tree.map_leaves(lambda x: _wrap(x, backend), out)

    return jitted


def _from_framework(exc: Exception, backend: str) -> bool:
    """Whether the framework raised ``exc`` (a compiled graph failing at run time), not user code."""
    root = type(exc).__module__.partition(".")[0]
    return root in backend_infos()[backend].native_modules


def _wrap(x: Any, backend: Any) -> Any:
    if not backend.is_native(x):
        return x
    if backend.is_variable(x):
        return Variable._wrap(
            x, backend, trainable=bool(getattr(x, "trainable", getattr(x, "requires_grad", True))), name=None
        )
    return Tensor(x, backend)


def _on_natives(fn: Callable, backend: Any) -> Callable:
    """``fn`` as a function of native tensors, for the framework's compiler to trace."""

    def traced(args: tuple, kwargs: dict) -> Any:
        args, kwargs = _tree.map_leaves(lambda x: _wrap(x, backend), (args, kwargs))
        out = fn(*args, **kwargs)
        return _tree.map_leaves(lambda x: x._native if isinstance(x, Tensor) else x, out)

    return traced
