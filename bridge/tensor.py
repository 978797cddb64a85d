"""The Tensor: a thin wrapper over a native tensor, with NumPy-style operators and methods.

Operators and methods are the ops of :mod:`bridge.ops`, bound at the bottom of this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backend import Backend
from .dtypes import DType
from .errors import BridgeError, ShapeError, TracedValueError


class ImmutableTensorError(BridgeError, TypeError):
    """Item assignment on a Tensor (bridge tensors are immutable)."""


class Tensor:
    """An n-dimensional array living on one backend and one device."""

    __slots__ = ("_native", "_backend")
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
        return int(np.prod(self.shape, dtype=np.int64))

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
        """A NumPy array with the same values (bfloat16 as ``ml_dtypes.bfloat16``)."""
        return self._backend.to_numpy(self._native)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        array = self.numpy()
        return array if dtype is None else array.astype(dtype, copy=False)

    def item(self) -> bool | int | float:
        if self.size != 1:
            raise ShapeError(f"item: needs a tensor of one element, got shape {self.shape}")
        return self.numpy().reshape(()).item()

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
        return shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __bool__(self) -> bool:
        """The truth of a one-element tensor; inside ``br.jit`` (every backend) a
        ``TracedValueError``: the value is not known while the function compiles."""
        if self._backend.tracing():
            raise TracedValueError(
                f"bool() of a tensor (shape {self.shape}, {self.dtype}) inside br.jit (a Python `if`, "
                "`while`, `and`/`or` or `assert` on a tensor): its value is unknown while the function "
                "compiles. Decide with tensors instead (ops.where, ops.maximum, ...), or run it eagerly with "
                "br.jit(fn, enabled=False)"
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

    def __repr__(self) -> str:
        if self._backend.tracing():  # inside br.jit: no values yet
            return f"Tensor(<traced>, shape={self.shape}, dtype={self.dtype}, backend={self.backend})"
        values = np.array2string(self.numpy(), separator=", ", prefix="Tensor(")
        return f"Tensor({values}, dtype={self.dtype}, device={self.device}, backend={self.backend})"

    def __abs__(self) -> Tensor:
        return _ops.abs(self)

    def __neg__(self) -> Tensor:
        return _ops.negative(self)

    def __pos__(self) -> Tensor:
        return self

    def __invert__(self) -> Tensor:
        return _ops.invert(self)


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


def bind_ops(ops: Any) -> None:
    """Bind operators and methods to the ops module (called once, by ``bridge.ops``)."""
    global _ops
    _ops = ops

    def reflected(fn):
        return lambda self, other: fn(other, self)

    def identity_with_none(fn):  # ``x == None`` is False, as for torch tensors
        return lambda self, other: NotImplemented if other is None else fn(self, other)

    for dunder, fn, has_reflected in [
        ("add", ops.add, True),
        ("sub", ops.subtract, True),
        ("mul", ops.multiply, True),
        ("truediv", ops.divide, True),
        ("floordiv", ops.floor_divide, True),
        ("mod", ops.mod, True),
        ("pow", ops.power, True),
        ("matmul", ops.matmul, True),
        ("and", ops.bitwise_and, True),
        ("or", ops.bitwise_or, True),
        ("xor", ops.bitwise_xor, True),
        ("lshift", ops.left_shift, True),
        ("rshift", ops.right_shift, True),
        ("eq", ops.equal, False),
        ("ne", ops.not_equal, False),
        ("lt", ops.less, False),
        ("le", ops.less_equal, False),
        ("gt", ops.greater, False),
        ("ge", ops.greater_equal, False),
    ]:
        setattr(Tensor, f"__{dunder}__", identity_with_none(fn) if dunder in ("eq", "ne") else fn)
        if has_reflected:
            setattr(Tensor, f"__r{dunder}__", reflected(fn))


_ops: Any = None  # bridge.ops, bound by bind_ops once it is imported
