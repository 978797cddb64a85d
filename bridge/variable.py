"""Variables: mutable tensors backed by the framework's own (torch.nn.Parameter, tf.Variable)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ._dispatch import resolve_device
from .dtypes import DType
from .errors import ArgumentTypeError, DTypeError, ShapeError
from .ops.creation import tensor
from .tensor import Tensor, TensorLike


class _AutocastScope(threading.local):
    dtype: DType | None = None  # what floating Variables read as (None: their own dtype)


_autocast_scope = _AutocastScope()


@contextmanager
def autocast(dtype: DType | None) -> Iterator[None]:
    """Inside, floating Variables (those made with ``autocast=True``, the default) read as
    ``dtype``, their ``dtype`` says so too, and gradients flow back through the cast: how a
    mixed-precision layer computes in float16 with float32 weights (Keras' ``AutocastScope``).
    None turns it off."""
    outer = _autocast_scope.dtype
    _autocast_scope.dtype = dtype
    try:
        yield
    finally:
        _autocast_scope.dtype = outer


def autocast_dtype() -> DType | None:
    """The dtype of the ``autocast`` scope in force, if any."""
    return _autocast_scope.dtype


class Variable(Tensor):
    """A tensor whose value changes in place; usable wherever a Tensor is. The augmented
    operators update it in place: ``v -= lr * g`` is ``v.assign(v - lr * g)``, and ``v`` stays
    this Variable.

    Trainable variables are watched by ``GradientTape`` automatically and receive gradients.
    ``constraint`` (a callable ``value -> value``, as ``bridge.constraints.MaxNorm()``, or None)
    is applied by the optimizers right after each update of the variable, as in Keras."""

    __slots__ = ("_trainable", "_name", "_autocast", "_held", "_constraint")  # _held: the framework variable

    def __init__(
        self,
        value: Any,
        trainable: bool = True,
        name: str | None = None,
        dtype: Any = None,
        autocast: bool = True,
        constraint: Callable[[Tensor], Any] | None = None,
    ) -> None:
        initial = tensor(value, dtype=dtype) if not isinstance(value, Tensor) or dtype else value
        backend = initial._backend
        super().__init__(backend.variable(initial._native, bool(trainable), name), backend)
        self._trainable = bool(trainable)
        self._name = name
        self._autocast = autocast
        self.constraint = constraint

    @property
    def _native(self) -> Any:
        """The framework variable; inside an ``autocast`` scope, its value in the scope's dtype."""
        dtype = _autocast_scope.dtype
        if dtype is None or not self._autocast:
            return self._held
        stored = self._backend.dtype_of(self._held)
        return (
            self._backend.cast(self._held, dtype)
            if stored.kind == "f" and stored is not dtype
            else self._held
        )

    @_native.setter
    def _native(self, native: Any) -> None:
        self._held = native

    @property
    def _stored(self) -> Any:
        """The framework variable itself, whatever the ``autocast`` scope."""
        return self._held

    # shape and device without a cast; the dtype is the one reads give (the scope's, as Keras)
    @property
    def dtype(self) -> DType:
        stored = self._backend.dtype_of(self._held)
        scope = _autocast_scope.dtype
        return scope if scope is not None and self._autocast and stored.kind == "f" else stored

    @property
    def shape(self) -> tuple[int, ...]:
        return self._backend.shape(self._held)

    @property
    def ndim(self) -> int:
        return len(self._backend.shape(self._held))

    @property
    def device(self) -> str:
        return self._backend.device(self._held)

    @classmethod
    def _wrap(cls, native: Any, backend: Any, trainable: bool, name: str | None) -> Variable:
        """A Variable around an existing framework variable (no copy)."""
        variable = cls.__new__(cls)
        Tensor.__init__(variable, native, backend)
        variable._trainable, variable._name, variable._autocast = trainable, name, True
        variable._constraint = None
        return variable

    @property
    def constraint(self) -> Callable[[Tensor], Any] | None:
        """What the optimizers apply to the variable after each update (None: nothing)."""
        return self._constraint

    @constraint.setter
    def constraint(self, value: Callable[[Tensor], Any] | None) -> None:
        if value is not None and not callable(value):
            raise ArgumentTypeError(
                f"Variable {self._label()}: constraint must be a callable (such as "
                f"bridge.constraints.MaxNorm()) or None, got {value!r}"
            )
        self._constraint = value

    @property
    def trainable(self) -> bool:
        return self._trainable

    @property
    def name(self) -> str | None:
        return self._name

    @property
    def value(self) -> Tensor:
        """The current value, as a Tensor that later assignments do not change."""
        return Tensor(self._backend.read(self._stored), self._backend)

    def _checked(self, op: str, value: Any) -> Any:
        if value is None:  # NumPy would read it as NaN
            raise DTypeError(f"{op}: variable {self._label()} cannot take the value None")
        dtype = self._backend.dtype_of(self._stored)
        if isinstance(value, Tensor) and value.dtype is _autocast_scope.dtype and dtype.kind == "f":
            value = value.astype(dtype)  # computed from autocast reads, inside a mixed layer's call
        if isinstance(value, Tensor):
            if value.dtype is not dtype:
                raise DTypeError(
                    f"{op}: variable {self._label()} has dtype {dtype}, value has {value.dtype}; "
                    f"cast it with .astype({str(dtype)!r})"
                )
            value = tensor(value, device=self.device)
        else:
            value = tensor(value, dtype=dtype, device=self.device, backend=self.backend)
            if value.ndim == 0 and self.ndim:
                value = Tensor(self._backend.broadcast_to(value._native, self.shape), self._backend)
        if value.backend != self.backend:
            raise DTypeError(f"{op}: value of backend {value.backend!r} for a {self.backend!r} variable")
        if value.shape != self.shape:
            raise ShapeError(
                f"{op}: variable {self._label()} has shape {self.shape}, value has {value.shape}"
            )
        return value._native

    def _relocate(self, device: str) -> None:
        """Move the value to ``device`` (a name ``resolve_device`` accepts) in place: a new framework
        variable behind this same Variable, so code holding the Variable follows it."""
        target = resolve_device(self._backend, device)
        moved = self._backend.to_device(self._backend.read(self._stored), target)
        self._native = self._backend.variable(moved, self._trainable, self._name)

    def _label(self) -> str:
        return repr(self._name) if self._name else f"of shape {self.shape}"

    def assign(self, value: Any) -> Variable:
        """Set the value in place (same shape and dtype; Python numbers and NumPy data are cast)."""
        self._backend.assign(self._stored, self._checked("assign", value))
        return self

    def assign_add(self, value: Any) -> Variable:
        self._backend.assign_add(self._stored, self._checked("assign_add", value))
        return self

    def assign_sub(self, value: Any) -> Variable:
        self._backend.assign_sub(self._stored, self._checked("assign_sub", value))
        return self

    def _update(self, symbol: str, fn: Callable[[Tensor, Any], Tensor], other: Any) -> Variable:
        """``self <symbol>= other``: the result is assigned in place (NumPy data, promoted to
        float64 by ``fn``, is cast back, as ``assign`` casts it)."""
        result = fn(self, other)
        stored = self._backend.dtype_of(self._stored)
        if result.dtype is not stored and not isinstance(other, Tensor):
            if result.dtype.kind == stored.kind:
                result = result.astype(stored)
        self._backend.assign(self._stored, self._checked(f"{symbol}=", result))
        return self

    def __repr__(self) -> str:
        name = f"name={self._name!r}, " if self._name else ""
        return f"Variable({name}{Tensor.__repr__(self.value)[len('Tensor(') :]}"

    # --- augmented operators: ``v <op>= x`` updates ``v`` in place (as ``assign``) ----------------
    def __iadd__(self, other: TensorLike) -> Variable:
        return self._update("+", Tensor.__add__, other)

    def __isub__(self, other: TensorLike) -> Variable:
        return self._update("-", Tensor.__sub__, other)

    def __imul__(self, other: TensorLike) -> Variable:
        return self._update("*", Tensor.__mul__, other)

    def __itruediv__(self, other: TensorLike) -> Variable:
        return self._update("/", Tensor.__truediv__, other)

    def __ifloordiv__(self, other: TensorLike) -> Variable:
        return self._update("//", Tensor.__floordiv__, other)

    def __imod__(self, other: TensorLike) -> Variable:
        return self._update("%", Tensor.__mod__, other)

    def __ipow__(self, other: TensorLike) -> Variable:
        return self._update("**", Tensor.__pow__, other)

    def __iand__(self, other: TensorLike) -> Variable:
        return self._update("&", Tensor.__and__, other)

    def __ior__(self, other: TensorLike) -> Variable:
        return self._update("|", Tensor.__or__, other)

    def __ixor__(self, other: TensorLike) -> Variable:
        return self._update("^", Tensor.__xor__, other)

    def __ilshift__(self, other: TensorLike) -> Variable:
        return self._update("<<", Tensor.__lshift__, other)

    def __irshift__(self, other: TensorLike) -> Variable:
        return self._update(">>", Tensor.__rshift__, other)


__all__ = ["Variable", "autocast", "autocast_dtype"]
