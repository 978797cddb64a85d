"""Reductions and scans. Result dtypes follow the Array API on every backend: sums and
products of small integers and bools give int64, means of integers the default float."""

from __future__ import annotations

import builtins
from typing import Any

from ..dtypes import ALL_DTYPES, bool_, default_float, float64, int64, uint8
from ..errors import ShapeError
from ..tensor import Tensor
from ._core import as_tensor, axes_tuple, axis_index, floating, op, wider_float
from .math import exp, isfinite, log, sqrt, subtract, where

_ACCUMULATOR = {d: int64 if d.kind in "bu" or (d.kind == "i" and d.bits < 64) else d for d in ALL_DTYPES}


_TO_BOOL = dict.fromkeys(ALL_DTYPES, bool_)


def _reduce(name: str, x: Tensor, axis: Any, keepdims: bool, dtypes: dict | None = None) -> Tensor:
    """Reduce with primitive ``name``, after casting by the ``dtypes`` map when given."""
    backend, a = x._backend, x._native
    if dtypes is not None:
        dtype = backend.dtype_of(a)
        if dtypes[dtype] is not dtype:
            a = backend.cast(a, dtypes[dtype])
    if axis is not None:
        axis = axes_tuple(name, axis, backend.ndim(a))
        if not axis:
            return Tensor(a, backend)
    return Tensor(getattr(backend, name)(a, axis, keepdims), backend)


@op()
def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (None: all; int or tuple)."""
    return _reduce("sum", as_tensor("sum", x), axis, keepdims, _ACCUMULATOR)


@op()
def prod(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Product over ``axis``."""
    return _reduce("prod", as_tensor("prod", x), axis, keepdims, _ACCUMULATOR)


def _empty_axes(x: Tensor, axis: Any, name: str) -> bool:
    """Whether the reduction over ``axis`` meets an axis of size zero."""
    shape = x.shape
    return 0 in (shape[a] for a in axes_tuple(name, axis, len(shape)))


def _require_nonempty(name: str, x: Tensor, axis: Any) -> None:
    """NumPy's rule: a max, min, argmax or argmin over no elements has no answer."""
    if _empty_axes(x, axis, name):
        raise ShapeError(f"{name}: reduction over an axis of size zero (shape {x.shape}, axis={axis!r})")


@op()
def max(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Maximum over ``axis`` (NaN propagates). Over zero elements: ``ShapeError``, as NumPy."""
    x = as_tensor("max", x)
    _require_nonempty("max", x, axis)
    return _reduce("any" if x.dtype is bool_ else "max", x, axis, keepdims)


@op()
def min(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Minimum over ``axis`` (NaN propagates). Over zero elements: ``ShapeError``, as NumPy."""
    x = as_tensor("min", x)
    _require_nonempty("min", x, axis)
    return _reduce("all" if x.dtype is bool_ else "min", x, axis, keepdims)


@op()
def all(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Whether every element over ``axis`` is true (nonzero)."""
    return _reduce("all", as_tensor("all", x), axis, keepdims, _TO_BOOL)


@op()
def any(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Whether some element over ``axis`` is true (nonzero)."""
    return _reduce("any", as_tensor("any", x), axis, keepdims, _TO_BOOL)


def _count(x: Tensor, axis: Any) -> int:
    shape = x.shape
    count = 1
    for a in axes_tuple("mean", axis, len(shape)):
        count *= shape[a]
    return count


@op()
def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Arithmetic mean over ``axis``; integers give the default float."""
    x = as_tensor("mean", x)
    if x.dtype.kind != "f":  # as NumPy, in float64: exact below 2**53 in any order, and no wrap-around
        total = _reduce("sum", x.astype(float64), axis, keepdims)
        return (total / _count(x, axis)).astype(default_float)
    dtype = x.dtype
    total = _reduce("sum", x.astype(wider_float(dtype)), axis, keepdims)
    return (total / _count(x, axis)).astype(dtype)


@op()
def var(x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Variance over ``axis`` with ``ddof`` delta degrees of freedom (NumPy default 0)."""
    x = as_tensor("var", x)
    dtype = x.dtype if x.dtype.kind == "f" else default_float
    wide = x.astype(wider_float(dtype))
    centered = wide - mean(wide, axis, keepdims=True)
    total = sum(centered * centered, axis, keepdims)
    return (total / builtins.max(_count(x, axis) - ddof, 0)).astype(dtype)


@op()
def std(x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Standard deviation over ``axis``."""
    return sqrt(var(x, axis, keepdims, ddof))


@op()
def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """``log(sum(exp(x)))`` over ``axis``, without overflow; ``-inf`` over zero elements
    (as ``scipy.special.logsumexp`` and torch)."""
    x = as_tensor("logsumexp", x)
    x = Tensor(floating(x._backend, x._native), x._backend)
    if _empty_axes(x, axis, "logsumexp"):
        return log(sum(exp(x), axis, keepdims))
    peak = max(x, axis, keepdims=True)
    peak = where(isfinite(peak), peak, 0.0)
    out = log(sum(exp(subtract(x, peak)), axis, keepdims=True)) + peak
    return out if keepdims else _drop_axes(out, axes_tuple("logsumexp", axis, x.ndim))


def _drop_axes(x: Tensor, axes: tuple[int, ...]) -> Tensor:
    shape = tuple(n for i, n in enumerate(x.shape) if i not in axes)
    return Tensor(x._backend.reshape(x._native, shape), x._backend)


def _arg(name: str, x: Any, axis: int | None, keepdims: bool) -> Tensor:
    x = as_tensor(name, x)
    _require_nonempty(name, x, axis)
    backend, a = x._backend, x._native
    if x.dtype is bool_:
        a = backend.cast(a, uint8)
    shape = backend.shape(a)
    if axis is None:
        out = getattr(backend, name)(backend.reshape(a, (-1,)), 0)
        return Tensor(backend.reshape(out, (1,) * len(shape)) if keepdims else out, backend)
    axis = axis_index(name, axis, len(shape))
    out = getattr(backend, name)(a, axis)
    if keepdims:
        out = backend.reshape(out, shape[:axis] + (1,) + shape[axis + 1 :])
    return Tensor(out, backend)


@op()
def argmax(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the (first) maximum along ``axis``, or in the flattened tensor (int64); the
    first NaN where there is one, as NumPy."""
    return _arg("argmax", x, axis, keepdims)


@op()
def argmin(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the (first) minimum along ``axis``, or in the flattened tensor (int64); the
    first NaN where there is one, as NumPy."""
    return _arg("argmin", x, axis, keepdims)


def _scan(name: str, x: Any, axis: int | None) -> Tensor:
    x = as_tensor(name, x)
    backend, a = x._backend, x._native
    dtype = _ACCUMULATOR[x.dtype]
    if backend.dtype_of(a) is not dtype:
        a = backend.cast(a, dtype)
    if axis is None:
        a, axis = backend.reshape(a, (-1,)), 0
    axis = axis_index(name, axis, len(backend.shape(a)))
    return Tensor(getattr(backend, name)(a, axis), backend)


@op()
def cumsum(x: Any, axis: int | None = None) -> Tensor:
    """Cumulative sum along ``axis`` (None: of the flattened tensor)."""
    return _scan("cumsum", x, axis)


@op()
def cumprod(x: Any, axis: int | None = None) -> Tensor:
    """Cumulative product along ``axis`` (None: of the flattened tensor)."""
    return _scan("cumprod", x, axis)


__all__ = [
    "sum",
    "prod",
    "max",
    "min",
    "all",
    "any",
    "mean",
    "var",
    "std",
    "logsumexp",
    "argmax",
    "argmin",
    "cumsum",
    "cumprod",
]
