"""The Tensor: a thin wrapper over a native tensor, with NumPy-style operators and methods.

Layering. ``Tensor`` is layer 4 of the core (see ``DESIGN.md``) and the ops that implement its
operators (``bridge.ops``, layer 5) are written over it: they test ``isinstance(x, Tensor)`` and
build results with ``Tensor(native, backend)``. A class whose methods call functions that in turn
need the class can be split across modules only one way without an import cycle: the lower module
reaches the upper one through a reference the upper one hands down. So every operator and method
is declared here, in the class body, with its signature and type hints, and forwards to the op of
the same meaning in ``bridge.ops``; that module namespace is the one name this module does not
import (``_ops``): ``bridge.ops`` provides it with :func:`provide_ops` as the last line of its
``__init__``, and ``import bridge`` always imports ``bridge.ops``. The alternatives were worse:
importing ``bridge.ops`` here is a cycle (ops -> tensor -> ops); moving the ops the class calls
(elementwise promotion, reductions, reshapes, indexing: most of ``bridge.ops``) below the class
would make this thin wrapper the largest module of the core. The forwarding costs one Python
call per operator (about 0.1 us, within the noise of an op: ``x + y`` takes 2 us on torch).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from .backend import Backend
from .dtypes import DType
from .errors import ArgumentTypeError, BridgeError, ShapeError, TracedValueError

if TYPE_CHECKING:
    from . import ops as _ops

#: What an operator takes as its other operand: a Tensor, a native tensor of the same backend,
#: NumPy data, or Python numbers and (nested) lists of them (native types are the plugins' own,
#: so the core cannot name them).
TensorLike: TypeAlias = Any


class ImmutableTensorError(BridgeError, TypeError):
    """Item assignment on a Tensor (bridge tensors are immutable)."""


class Tensor:
    """An n-dimensional array living on one backend and one device."""

    #: ``_keras_mask``: the mask a masking layer attached (see ``Layer.compute_mask``), if any
    __slots__ = ("_native", "_backend", "_keras_mask")
    _keras_mask: Tensor | None
    __array_ufunc__ = None  # NumPy defers ``ndarray <op> Tensor`` to our reflected operators
    __hash__ = object.__hash__  # identity, as torch tensors; == is elementwise

    def __init__(self, native: Any, backend: Backend) -> None:
        self._native = native
        self._backend = backend

    # --- properties ------------------------------------------------------------------------
    @property
    def native(self) -> Any:
        """The framework's own tensor (``torch.Tensor``, ``tf.Tensor``, ...)."""
        return self._native

    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def dtype(self) -> DType:
        return self._backend.dtype_of(self._native)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._backend.shape(self._native)

    @property
    def ndim(self) -> int:
        return len(self._backend.shape(self._native))

    @property
    def size(self) -> int:
        """Number of elements (as ``numpy.ndarray.size``)."""
        shape = self.shape
        if None in shape:
            raise TracedValueError(
                f"size of a tensor of shape {shape}: a size is unknown (None) while tracing"
            )
        return math.prod(shape)

    @property
    def device(self) -> str:
        return self._backend.device(self._native)

    @property
    def T(self) -> Tensor:
        """All axes reversed."""
        return _ops.transpose(self)

    @property
    def at(self) -> _AtIndexer:
        """Functional updates: ``x.at[idx].set(v)`` and ``x.at[idx].add(v)`` return new tensors."""
        return _AtIndexer(self)

    # --- conversion ------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """A NumPy array with the same values (bfloat16 as ``ml_dtypes.bfloat16``); inside
        ``br.jit`` (every backend) a ``TracedValueError``, as ``item``, ``float`` and ``int``,
        which read it: the value is not known while the function compiles."""
        if self._backend.tracing():
            raise TracedValueError(
                f"the value of a tensor (shape {self.shape}, {self.dtype}) asked inside br.jit "
                "(numpy(), item(), float(), int() or np.asarray()): it is unknown while the function "
                "compiles. Return the tensor from the function and read it outside, or run it eagerly "
                "with br.jit(fn, enabled=False)"
            )
        return self._backend.to_numpy(self._native)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """A NumPy copy (``np.asarray(x, copy=False)`` is a ValueError, as NumPy 2 asks: the
        data lives in the framework's memory, so NumPy always gets a copy)."""
        if copy is False:
            raise ArgumentTypeError(
                f"np.asarray(tensor, copy=False): a bridge Tensor ({self.backend}) cannot give NumPy its "
                "memory without a copy; use copy=None or x.numpy()"
            )
        array = self.numpy()
        return array if dtype is None else array.astype(dtype, copy=False)

    def item(self) -> bool | int | float:
        if self.size != 1:
            raise ShapeError(f"item: needs a tensor of one element, got shape {self.shape}")
        value: bool | int | float = self.numpy().reshape(()).item()
        return value

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def astype(self, dtype: DType | str) -> Tensor:
        return _ops.astype(self, dtype)

    def to(self, device: str) -> Tensor:
        """This tensor on another device (``"cpu"``, ``"gpu:0"``)."""
        return _ops.to_device(self, device)

    # --- shape methods ---------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        return _ops.reshape(self, shape[0] if len(shape) == 1 else shape)

    def transpose(self, *axes: Any) -> Tensor:
        return _ops.transpose(self, (axes[0] if len(axes) == 1 else axes) or None)

    def flatten(self) -> Tensor:
        return _ops.flatten(self)

    # --- reductions ------------------------------------------------------------------------
    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.sum(self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.mean(self, axis, keepdims)

    def prod(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.prod(self, axis, keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.max(self, axis, keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.min(self, axis, keepdims)

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        return _ops.argmax(self, axis, keepdims)

    def argmin(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        return _ops.argmin(self, axis, keepdims)

    def var(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        return _ops.var(self, axis, keepdims, ddof)

    def std(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        return _ops.std(self, axis, keepdims, ddof)

    # --- arithmetic operators (``x <op> y`` and the reflected ``y <op> x``) ---------------------
    def __add__(self, other: TensorLike) -> Tensor:
        return _ops.add(self, other)

    def __radd__(self, other: TensorLike) -> Tensor:
        return _ops.add(other, self)

    def __sub__(self, other: TensorLike) -> Tensor:
        return _ops.subtract(self, other)

    def __rsub__(self, other: TensorLike) -> Tensor:
        return _ops.subtract(other, self)

    def __mul__(self, other: TensorLike) -> Tensor:
        return _ops.multiply(self, other)

    def __rmul__(self, other: TensorLike) -> Tensor:
        return _ops.multiply(other, self)

    def __truediv__(self, other: TensorLike) -> Tensor:
        return _ops.divide(self, other)

    def __rtruediv__(self, other: TensorLike) -> Tensor:
        return _ops.divide(other, self)

    def __floordiv__(self, other: TensorLike) -> Tensor:
        return _ops.floor_divide(self, other)

    def __rfloordiv__(self, other: TensorLike) -> Tensor:
        return _ops.floor_divide(other, self)

    def __mod__(self, other: TensorLike) -> Tensor:
        return _ops.mod(self, other)

    def __rmod__(self, other: TensorLike) -> Tensor:
        return _ops.mod(other, self)

    def __pow__(self, other: TensorLike) -> Tensor:
        return _ops.power(self, other)

    def __rpow__(self, other: TensorLike) -> Tensor:
        return _ops.power(other, self)

    def __matmul__(self, other: TensorLike) -> Tensor:
        return _ops.matmul(self, other)

    def __rmatmul__(self, other: TensorLike) -> Tensor:
        return _ops.matmul(other, self)

    # --- bitwise operators (ints; on bools they are logic) --------------------------------------
    def __and__(self, other: TensorLike) -> Tensor:
        return _ops.bitwise_and(self, other)

    def __rand__(self, other: TensorLike) -> Tensor:
        return _ops.bitwise_and(other, self)

    def __or__(self, other: TensorLike) -> Tensor:
        return _ops.bitwise_or(self, other)

    def __ror__(self, other: TensorLike) -> Tensor:
        return _ops.bitwise_or(other, self)

    def __xor__(self, other: TensorLike) -> Tensor:
        return _ops.bitwise_xor(self, other)

    def __rxor__(self, other: TensorLike) -> Tensor:
        return _ops.bitwise_xor(other, self)

    def __lshift__(self, other: TensorLike) -> Tensor:
        return _ops.left_shift(self, other)

    def __rlshift__(self, other: TensorLike) -> Tensor:
        return _ops.left_shift(other, self)

    def __rshift__(self, other: TensorLike) -> Tensor:
        return _ops.right_shift(self, other)

    def __rrshift__(self, other: TensorLike) -> Tensor:
        return _ops.right_shift(other, self)

    # --- comparisons: elementwise, as bool tensors ----------------------------------------------
    # ``==`` and ``!=`` return a Tensor, not the bool ``object`` promises (as NumPy and torch);
    # ``x == None`` is False and ``x != None`` True, as for torch tensors.
    def __eq__(self, other: TensorLike) -> Tensor:  # type: ignore[override]
        return NotImplemented if other is None else _ops.equal(self, other)

    def __ne__(self, other: TensorLike) -> Tensor:  # type: ignore[override]
        return NotImplemented if other is None else _ops.not_equal(self, other)

    def __lt__(self, other: TensorLike) -> Tensor:
        return _ops.less(self, other)

    def __le__(self, other: TensorLike) -> Tensor:
        return _ops.less_equal(self, other)

    def __gt__(self, other: TensorLike) -> Tensor:
        return _ops.greater(self, other)

    def __ge__(self, other: TensorLike) -> Tensor:
        return _ops.greater_equal(self, other)

    # --- unary operators -------------------------------------------------------------------
    def __abs__(self) -> Tensor:
        return _ops.abs(self)

    def __neg__(self) -> Tensor:
        return _ops.negative(self)

    def __pos__(self) -> Tensor:
        return self

    def __invert__(self) -> Tensor:
        return _ops.invert(self)

    # --- Python protocols ------------------------------------------------------------------
    def __getitem__(self, key: Any) -> Tensor:
        return _ops.getitem(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        raise ImmutableTensorError(
            "bridge tensors are immutable: use y = x.at[idx].set(value) for a functional update"
        )

    def __len__(self) -> int:
        shape = self.shape
        if not shape:
            raise TypeError("len() of a 0-d tensor")
        if shape[0] is None:
            raise TracedValueError(
                f"len() of a tensor of shape {shape}: its length is unknown (None) while tracing"
            )
        return shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        return (self[i] for i in range(len(self)))

    def __bool__(self) -> bool:
        """The truth of a one-element tensor; inside ``br.jit`` (every backend) a
        ``TracedValueError``: the value is not known while the function compiles."""
        if self._backend.tracing():
            raise TracedValueError(
                f"bool() of a tensor (shape {self.shape}, {self.dtype}) inside br.jit (a Python `if`, "
                "`while`, `and`/`or` or `assert` on a tensor): its value is unknown while the function "
                "compiles. Decide with tensors instead (ops.where, ops.maximum, ...), or run it eagerly "
                "with br.jit(fn, enabled=False)"
            )
        if self.size != 1:
            raise ShapeError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; use ops.any or ops.all"
            )
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if not self.dtype.is_integer:
            raise TypeError(f"only integer tensors can be used as an index, not {self.dtype}")
        return int(self.item())

    def __format__(self, format_spec: str) -> str:
        """As torch: a 0-d tensor formats as its Python number (``f"{loss:.4f}"``); other shapes
        take only the empty spec (``f"{x}"`` is ``str(x)``)."""
        if self.ndim == 0:
            return format(self.item(), format_spec)
        if format_spec:
            raise ArgumentTypeError(
                f"format: spec {format_spec!r} needs a 0-d tensor, got shape {self.shape}; "
                "format its values (x.numpy() or x.tolist()) or one element (x[i])"
            )
        return str(self)

    def __repr__(self) -> str:
        if self._backend.tracing():  # inside br.jit: no values yet
            return f"Tensor(<traced>, shape={self.shape}, dtype={self.dtype}, backend={self.backend})"
        values = np.array2string(self.numpy(), separator=", ", prefix="Tensor(")
        return f"Tensor({values}, dtype={self.dtype}, device={self.device}, backend={self.backend})"


class _AtIndexer:
    __slots__ = ("_tensor",)

    def __init__(self, tensor: Tensor) -> None:
        self._tensor = tensor

    def __getitem__(self, key: Any) -> _AtUpdate:
        return _AtUpdate(self._tensor, key)


class _AtUpdate:
    __slots__ = ("_tensor", "_key")

    def __init__(self, tensor: Tensor, key: Any) -> None:
        self._tensor = tensor
        self._key = key

    def set(self, value: Any) -> Tensor:
        return _ops.index_update(self._tensor, self._key, value, accumulate=False)

    def add(self, value: Any) -> Tensor:
        return _ops.index_update(self._tensor, self._key, value, accumulate=True)


def provide_ops(ops: ModuleType) -> None:
    """Give this module the ops its methods forward to (called once, by ``bridge.ops``)."""
    global _ops
    _ops = ops
