"""``bridge.jit``: compile a function with the framework's compiler (tf.function, torch.compile)."""

from __future__ import annotations

import functools
import inspect
import itertools
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

from . import tree
from ._context import compiled_scope
from ._dispatch import current_backend
from ._plugins import backend_infos
from .errors import BridgeError, InvalidArgumentError
from .ops._core import backend_of, diagnose
from .tensor import Tensor
from .variable import Variable

#: How ``jit`` compiles: with the framework's compiler; the same, then replayed as one CUDA graph
#: per input shape where the framework can (torch on a GPU); or with XLA where it has it (TensorFlow).
MODES = ("default", "graph", "xla")


def jit(
    fn: Callable | None = None, *, enabled: bool = True, mode: str = "default", **options: Any
) -> Callable:
    """Compile ``fn`` on the backend of its tensor arguments (else the current one).

    Inputs and outputs may be Tensors, Variables and pytrees of them; Variables may be updated
    inside. ``enabled=False`` returns ``fn`` unchanged, for debugging. ``mode`` (one of
    ``MODES``): ``"default"`` is tf.function or torch.compile; ``"graph"`` replays the compiled
    function as a CUDA graph on torch's GPUs (outputs are copied out of the graph's memory; the
    same as ``"default"`` elsewhere); ``"xla"`` is ``tf.function(jit_compile=True)`` on
    TensorFlow (``"default"`` elsewhere). Options pass through to the
    framework; an option whose value is a dict is named after a backend (``torch={"backend":
    "aot_eager"}``, ``tensorflow={"jit_compile": True}``) and applies to that backend only, so
    code that names a backend which is not installed still runs on the others. (A framework
    option that is itself a dict goes inside its backend's: ``torch={"options": {...}}``.)

    Inside, values are symbolic: ``bool()`` of a tensor (a Python ``if`` on it) raises
    ``TracedValueError``, and out-of-range gather indices are clamped (eager code raises
    ``IndexOutOfRangeError``). An error the framework raises while running the compiled
    function comes back as a ``BackendOpError`` naming the function."""
    if mode not in MODES:
        raise InvalidArgumentError(f"jit: mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    if fn is None:
        return functools.partial(jit, enabled=enabled, mode=mode, **options)
    if not enabled:
        return fn
    shared = {k: v for k, v in options.items() if not isinstance(v, Mapping)}
    compiled: dict[str, Callable] = {}

    @functools.wraps(fn)
    def jitted(*args: Any, **kwargs: Any) -> Any:
        found = [x for x in tree.leaves((args, kwargs)) if isinstance(x, Tensor)]
        backend = backend_of("jit", *found) if found else current_backend()
        if backend.name not in compiled:
            modal = {"jit_mode": mode} if _takes_modes(backend) else {}  # else its compiler's default
            compiled[backend.name] = backend.jit(
                _on_natives(fn, backend), **modal, **shared, **options.get(backend.name, {})
            )
        natives = tree.map_leaves(lambda x: x._native if isinstance(x, Tensor) else x, (args, kwargs))
        try:
            with compiled_scope():
                out = compiled[backend.name](*natives)
        except Exception as exc:
            if isinstance(exc, BridgeError) or not _from_framework(exc, backend.name):
                raise
            raise diagnose(f"jit({getattr(fn, '__name__', 'fn')})", found, _innermost(exc), None) from exc
        return tree.map_leaves(lambda x: _wrap(x, backend), out)

    return jitted


def _takes_modes(backend: Any) -> bool:
    """Whether ``backend.jit`` takes ``jit_mode`` (a backend written before modes does not)."""
    return "jit_mode" in inspect.signature(backend.jit).parameters


def _from_framework(exc: Exception, backend: str) -> bool:
    """Whether the framework raised ``exc`` (a compiled graph failing at run time), not user code."""
    root = type(exc).__module__.partition(".")[0]
    return root in backend_infos()[backend].native_modules


def _innermost(exc: Exception) -> Exception:
    """The error at the bottom of ``exc``'s chain (a compiler may wrap the op's own error)."""
    while isinstance(inner := exc.__cause__ or exc.__context__, Exception):
        exc = inner
    return exc


def _wrap(x: Any, backend: Any) -> Any:
    if not backend.is_native(x):
        return x
    if "variables" in backend.features and backend.is_variable(x):
        return Variable._wrap(x, backend, trainable=backend.is_trainable(x), name=None)
    return Tensor(x, backend)


_jitted_count = itertools.count()


def _on_natives(fn: Callable, backend: Any) -> Callable:
    """``fn`` as a function of native tensors, for the framework's compiler to trace; a function
    with a code object of its own, as compilers key their caches and counts on it (torch.compile
    recompiles one code object at most 8 times, then runs it eagerly; TensorFlow warns of
    "retracing" when one code object traces 5 times in 10 calls: shared by every jitted function,
    several models' steps in a row would trip both): named after ``fn`` and numbered."""

    def traced(args: tuple, kwargs: dict) -> Any:
        args, kwargs = tree.map_leaves(lambda x: _wrap(x, backend), (args, kwargs))
        out = fn(*args, **kwargs)
        return tree.map_leaves(lambda x: x._native if isinstance(x, Tensor) else x, out)

    name = f"{getattr(fn, '__name__', 'fn')}_{next(_jitted_count)}"  # unique: codes compare by value
    code = traced.__code__.replace(co_name=name)
    if sys.version_info >= (3, 11):  # co_qualname is 3.11's
        code = code.replace(co_qualname=name)
    return types.FunctionType(code, traced.__globals__, name, None, traced.__closure__)
