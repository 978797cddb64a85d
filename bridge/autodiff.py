"""Gradients of any bridge computation, computed by the framework's own autograd
(torch.autograd, tf.GradientTape): GradientTape, grad, value_and_grad, jacobian,
stop_gradient, custom_gradient."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from ._context import ContextValue
from ._dispatch import current_backend
from ._plugins import load_backend
from .backend import Backend, Tape
from .errors import BridgeError, DTypeError, InvalidArgumentError, ShapeError
from .ops import reshape, stack, zeros_like
from .ops._core import as_tensor, backend_of, mismatch
from .tensor import Tensor
from .tree import leaves, map_leaves, replace_leaves
from .variable import Variable

#: How many tapes are recording right now (their gradients must stay differentiable).
_recording: ContextValue[int] = ContextValue("bridge_recording_tapes", 0)


class TapeUsedError(BridgeError, RuntimeError):
    """``gradient`` called twice on a tape that is not persistent."""


def _floating_leaf(op: str, x: Any, what: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise InvalidArgumentError(f"{op}: {what} must be a Tensor or Variable, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise DTypeError(
            f"{op}: {what} has dtype {x.dtype}; gradients need floating tensors (cast with .astype)"
        )
    return x


class GradientTape:
    """Records operations for differentiation, as ``tf.GradientTape``, on every backend.

    Trainable Variables used inside are watched automatically (``watch_accessed_variables``);
    other tensors with ``watch``. On torch, ``watch(x)`` makes ``x`` a leaf that requires grad.
    The tape records on ``backend`` (default: the current backend when it is entered)."""

    def __init__(
        self, persistent: bool = False, watch_accessed_variables: bool = True, *, backend: str | None = None
    ) -> None:
        self.persistent = persistent
        self.watch_accessed_variables = watch_accessed_variables
        self._tape: Tape | None = None  # the backend's, from ``__enter__`` on
        self._backend: Backend | None = load_backend(backend) if backend is not None else None
        self._used = False
        self._token: Any = None

    def __enter__(self) -> GradientTape:
        self._backend = self._backend or current_backend()
        self._tape = self._backend.tape(self.persistent, self.watch_accessed_variables)
        self._tape.__enter__()
        self._token = _recording.set(_recording.get() + 1)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        assert self._tape is not None and self._token is not None, "__exit__ before __enter__"
        _recording.reset(self._token)
        self._tape.__exit__(*exc_info)

    @property
    def _entered_backend(self) -> Backend:
        assert self._backend is not None, "a tape's backend is known once it is entered"
        return self._backend

    def _native(self, x: Tensor) -> Any:
        if x._backend is not self._entered_backend:
            raise mismatch("GradientTape", [x.backend, self._entered_backend.name])
        return x._native

    def watch(self, tensors: Any) -> None:
        """Record operations on ``tensors`` (a Tensor or a pytree of them) from now on."""
        if self._tape is None:
            raise InvalidArgumentError("GradientTape.watch: use it inside the tape's `with` block")
        for x in leaves(tensors):
            x = _floating_leaf("GradientTape.watch", x, "a watched value")
            watched = self._tape.watch(self._native(x))
            if watched is not x._native and not isinstance(x, Variable):
                x._native = watched

    def gradient(self, target: Any, sources: Any, *, unconnected_gradients: str = "none") -> Any:
        """Gradients of ``target`` (summed over its elements and leaves if not a scalar) with
        respect to ``sources`` (a Tensor, Variable or pytree), in the structure of ``sources``.

        As TensorFlow: a source the tape did not watch, or that the target does not depend on,
        gets None; with ``unconnected_gradients="zero"``, zeros of its shape and dtype."""
        if unconnected_gradients not in ("none", "zero"):
            raise InvalidArgumentError(
                "GradientTape.gradient: unconnected_gradients must be 'none' or 'zero', "
                f"got {unconnected_gradients!r}"
            )
        if self._tape is None:
            raise InvalidArgumentError("GradientTape.gradient: the tape has not recorded anything yet")
        if self._used and not self.persistent:
            raise TapeUsedError(
                "GradientTape.gradient can only be called once on a tape that is not persistent; "
                "use GradientTape(persistent=True) to take several gradients"
            )
        self._used = True
        targets = [as_tensor("gradient", t) for t in leaves(target)]
        if not targets:
            raise InvalidArgumentError("GradientTape.gradient: the target holds no tensor")
        found = leaves(sources)
        for x in found:
            _floating_leaf("GradientTape.gradient", x, "every source")
        natives = [self._native(x) for x in found]
        create_graph = _recording.get() > 0
        grads = self._tape.gradient([self._native(t) for t in targets], natives, create_graph=create_graph)
        if not (self.persistent or create_graph):  # the targets' graph is used up: let them go
            spent = [t for t in targets if not isinstance(t, Variable)]
            for t, native in zip(spent, self._tape.spent([t._native for t in spent])):
                t._native = native

        backend = self._entered_backend

        def wrapped(grad: Any, source: Any) -> Tensor | None:
            if grad is not None:
                return Tensor(grad, backend)
            return zeros_like(Tensor(source, backend)) if unconnected_gradients == "zero" else None

        return replace_leaves(sources, [wrapped(g, n) for g, n in zip(grads, natives)])


def _argnums(op: str, argnums: int | Sequence[int], count: int) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for n in nums:
        if not -count <= n < count:
            raise InvalidArgumentError(f"{op}: argnums {argnums!r} is out of range for {count} arguments")
    return tuple(n % count for n in nums)


def _backend_of_leaves(op: str, tree: Any) -> str:
    """The backend of the tensors in ``tree`` (the current one if it holds none)."""
    return backend_of(op, *leaves(tree)).name


def _watched_copy(op: str, tape: GradientTape, tree: Any, position: int) -> Any:
    """``tree`` with each tensor replaced by a watched one (the caller's tensors are untouched)."""

    recorder = tape._tape
    assert recorder is not None, "the tape is entered before its arguments are watched"

    def watch(x: Any) -> Any:
        x = _floating_leaf(op, x, f"argument {position}")
        native = recorder.watch(tape._native(x))
        return x if isinstance(x, Variable) else Tensor(native, x._backend)

    return map_leaves(watch, tree)


def value_and_grad(fn: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """A function returning ``fn``'s value and its gradient with respect to the arguments
    ``argnums`` (Tensors, Variables or pytrees of them), as ``jax.value_and_grad``.

    With ``has_aux``, ``fn`` returns ``(value, aux)`` and the result is ``((value, aux), grads)``."""

    @functools.wraps(fn)
    def value_and_grad_fn(*args: Any, **kwargs: Any) -> Any:
        op = f"value_and_grad({getattr(fn, '__name__', 'fn')})"
        nums = _argnums(op, argnums, len(args))
        with GradientTape(backend=_backend_of_leaves(op, [args[n] for n in nums])) as tape:
            watched = list(args)
            for n in nums:
                watched[n] = _watched_copy(op, tape, args[n], n)
            out = fn(*watched, **kwargs)
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise InvalidArgumentError(f"{op}: with has_aux=True, fn must return (value, aux)")
            value, aux = out
        else:
            value = out
        if not isinstance(value, Tensor) or value.ndim != 0:
            shape = value.shape if isinstance(value, Tensor) else type(value).__name__
            raise ShapeError(
                f"{op}: fn must return a scalar tensor, got {shape}; reduce it (e.g. with ops.mean)"
            )
        grads = tape.gradient(value, [watched[n] for n in nums], unconnected_gradients="zero")
        grads = grads[0] if isinstance(argnums, int) else tuple(grads)
        return ((value, aux) if has_aux else value), grads

    return value_and_grad_fn


def grad(fn: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """A function returning the gradient of the scalar ``fn`` (with ``has_aux``: ``(grads, aux)``)."""
    differentiated = value_and_grad(fn, argnums, has_aux)

    @functools.wraps(fn)
    def grad_fn(*args: Any, **kwargs: Any) -> Any:
        value, grads = differentiated(*args, **kwargs)
        return (grads, value[1]) if has_aux else grads

    return grad_fn


def jacobian(fn: Callable, argnums: int = 0) -> Callable:
    """A function returning the Jacobian of ``fn``, shaped ``output.shape + input.shape``."""

    @functools.wraps(fn)
    def jacobian_fn(*args: Any, **kwargs: Any) -> Tensor:
        op = f"jacobian({getattr(fn, '__name__', 'fn')})"
        (n,) = _argnums(op, argnums, len(args))
        with GradientTape(persistent=True, backend=_backend_of_leaves(op, args[n])) as tape:
            watched = list(args)
            watched[n] = _watched_copy(op, tape, _floating_leaf(op, args[n], f"argument {n}"), n)
            out = as_tensor(op, fn(*watched, **kwargs))
            flat = reshape(out, (-1,))
            rows = [flat[i] for i in range(out.size)]  # sliced while recording, for TensorFlow
        grads = [tape.gradient(row, watched[n], unconnected_gradients="zero") for row in rows]
        return reshape(stack(grads), out.shape + watched[n].shape)

    return jacobian_fn


def stop_gradient(x: Any) -> Tensor:
    """``x`` as a constant for differentiation: no gradient flows back through it."""
    x = as_tensor("stop_gradient", x)
    return Tensor(x._backend.stop_gradient(x._native), x._backend)


def _require_gradient_shape(name: str, i: int, got: tuple, want: tuple) -> None:
    """A custom gradient must have its input's shape (dimensions unknown while tracing match)."""
    same = len(got) == len(want) and all(a is None or b is None or a == b for a, b in zip(got, want))
    if not same:
        raise ShapeError(
            f"custom_gradient({name}): grad_fn returned a gradient of shape {tuple(got)} for input {i} "
            f"of shape {tuple(want)}; each gradient must have its input's shape"
        )


def custom_gradient(fn: Callable) -> Callable:
    """Decorate ``fn(*xs) -> (y, grad_fn)``, where ``grad_fn(dy)`` returns the gradients of the
    inputs (one, or a sequence of them, each of its input's shape, else ``ShapeError``); ``fn``
    then returns ``y`` and is differentiated with ``grad_fn``, on every backend."""

    @functools.wraps(fn)
    def with_custom_gradient(*xs: Any) -> Tensor:
        tensors = [as_tensor("custom_gradient", x) for x in xs]
        backend = tensors[0]._backend

        def forward(*natives: Any) -> tuple[Any, Callable]:
            y, grad_fn = fn(*(Tensor(n, backend) for n in natives))

            def backward(dy: Any) -> list[Any]:
                grads = grad_fn(Tensor(dy, backend))
                grads = [grads] if isinstance(grads, Tensor) else list(grads)
                if len(grads) != len(natives):
                    raise InvalidArgumentError(
                        f"custom_gradient({fn.__name__}): grad_fn returned {len(grads)} gradients "
                        f"for {len(natives)} inputs"
                    )
                grads = [as_tensor("custom_gradient", g)._native for g in grads]
                for i, (g, x) in enumerate(zip(grads, natives)):
                    _require_gradient_shape(fn.__name__, i, backend.shape(g), backend.shape(x))
                return grads

            return as_tensor("custom_gradient", y)._native, backward

        return Tensor(backend.custom_gradient(forward, *(t._native for t in tensors)), backend)

    return with_custom_gradient


__all__ = ["GradientTape", "value_and_grad", "grad", "jacobian", "stop_gradient", "custom_gradient"]
