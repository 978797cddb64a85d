"""Creating tensors, and moving them between dtypes, devices and backends."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._dispatch import current_backend, resolve_device
from .._plugins import load_backend, native_backend_name
from ..dtypes import DType, as_dtype, default_float, default_int, python_scalar_dtype
from ..errors import InvalidArgumentError
from ..tensor import Tensor
from ._core import (
    SCALARS,
    as_tensor,
    convert_native,
    integer_arg,
    known_shape,
    numpy_array,
    op,
    python_scalar,
    require,
    size_tuple,
    to_native,
)
from .math import where


def _backend(backend: str | None):
    return current_backend() if backend is None else load_backend(backend)


@op()
def tensor(data: Any, dtype: Any = None, device: str | None = None, backend: str | None = None) -> Tensor:
    """A new tensor from Python data, NumPy arrays, or tensors of any backend.

    Python floats give float32 and ints int64 by default; NumPy arrays keep their dtype."""
    dtype = None if dtype is None else as_dtype(dtype)
    if isinstance(data, Tensor) and backend is not None and data.backend != backend:
        data = convert(data, backend)
    if isinstance(data, Tensor):
        return Tensor(to_native(data, data._backend, dtype, device), data._backend)
    if backend is None:
        owner = native_backend_name(data) if not isinstance(data, (*SCALARS, list, tuple)) else None
        target = load_backend(owner) if owner else current_backend()
    else:
        target = load_backend(backend)
    return Tensor(to_native(data, target, dtype, device), target)


asarray = tensor


@op()
def convert(x: Any, backend: str) -> Tensor:
    """``x`` as a tensor of another backend, on the same device (DLPack where possible)."""
    target = load_backend(backend)
    x = as_tensor("convert", x)
    return Tensor(convert_native(x._native, x._backend, target), target)


@op()
def to_device(x: Any, device: str) -> Tensor:
    """``x`` on ``device`` (``"cpu"``, ``"gpu:0"``)."""
    x = as_tensor("to", x)
    target = resolve_device(x._backend, device)
    if x._backend.device(x._native) == target:
        return x
    return Tensor(x._backend.to_device(x._native, target), x._backend)


def _fill_dtype(value: Any, dtype: Any) -> DType:
    if dtype is not None:
        return as_dtype(dtype)
    return python_scalar_dtype(value) if isinstance(value, SCALARS) else as_dtype(np.asarray(value).dtype)


@op()
def full(
    shape: Any, fill_value: Any, dtype: Any = None, device: str | None = None, backend: str | None = None
) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value``."""
    target = _backend(backend)
    dtype = _fill_dtype(fill_value, dtype)
    value = (  # a Python scalar of the dtype's kind
        python_scalar(fill_value, dtype, "full")
        if isinstance(fill_value, SCALARS)
        else numpy_array(fill_value, dtype, "full").item()
    )
    shape = size_tuple("full", shape)
    return Tensor(target.full(shape, value, dtype, resolve_device(target, device)), target)


@op()
def tensor_like(data: Any, like: Any, dtype: Any = None) -> Tensor:
    """``data`` as a tensor on ``like``'s backend and device, of ``dtype`` (default: the data's
    own, as ``tensor`` gives it). A Python scalar is a fill, not a copy from the host."""
    like = as_tensor("tensor_like", like)
    if isinstance(data, SCALARS):
        return full((), data, dtype, like.device, like.backend)
    return tensor(data, dtype, device=like.device, backend=like.backend)


@op()
def zeros(shape: Any, dtype: Any = None, device: str | None = None, backend: str | None = None) -> Tensor:
    """A tensor of zeros (default float32)."""
    return full(shape, 0, dtype or default_float, device, backend)


@op()
def ones(shape: Any, dtype: Any = None, device: str | None = None, backend: str | None = None) -> Tensor:
    """A tensor of ones (default float32)."""
    return full(shape, 1, dtype or default_float, device, backend)


@op()
def full_like(x: Any, fill_value: Any, dtype: Any = None, device: str | None = None) -> Tensor:
    """A tensor like ``x`` (shape, dtype, device, backend) filled with ``fill_value``."""
    x = as_tensor("full_like", x)
    if known_shape(x.shape):
        return full(x.shape, fill_value, dtype or x.dtype, device or x.device, x.backend)
    # a size unknown while tracing: the fill broadcast by a condition that has x's shape
    fill = full((), fill_value, dtype or x.dtype, device or x.device, x.backend)
    return where((x == x) | (x != x), fill, fill)  # True everywhere, NaN included


@op()
def zeros_like(x: Any, dtype: Any = None, device: str | None = None) -> Tensor:
    """Zeros shaped like ``x``."""
    return full_like(x, 0, dtype, device)


@op()
def ones_like(x: Any, dtype: Any = None, device: str | None = None) -> Tensor:
    """Ones shaped like ``x``."""
    return full_like(x, 1, dtype, device)


@op()
def arange(
    start: Any,
    stop: Any = None,
    step: Any = 1,
    dtype: Any = None,
    device: str | None = None,
    backend: str | None = None,
) -> Tensor:
    """Evenly spaced values in ``[start, stop)``, as ``numpy.arange`` (int64 for ints)."""
    if stop is None:
        start, stop = 0, start
    require(step != 0, InvalidArgumentError, "arange: step must not be zero")
    floats = any(isinstance(v, float) for v in (start, stop, step))
    dtype = as_dtype(dtype) if dtype is not None else (default_float if floats else default_int)
    target = _backend(backend)
    device = resolve_device(target, device)
    count = max(math.ceil((stop - start) / step), 0)
    if dtype.kind == "f" or floats:
        # start + i * step in float64, as NumPy does, so every backend gives the same values.
        values = np.arange(count, dtype=np.float64) * step + start
        return Tensor(target.from_numpy(values.astype(dtype.numpy), dtype, device), target)
    return Tensor(target.arange(int(start), int(start) + count * int(step), int(step), dtype, device), target)


@op()
def linspace(
    start: float,
    stop: float,
    num: int = 50,
    endpoint: bool = True,
    dtype: Any = None,
    device: str | None = None,
    backend: str | None = None,
) -> Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop``, as ``numpy.linspace``."""
    dtype = as_dtype(dtype) if dtype is not None else default_float
    num = integer_arg("linspace", "num", num)
    values = np.linspace(start, stop, num, endpoint=endpoint, dtype=np.float64)
    target = _backend(backend)
    return Tensor(
        target.from_numpy(values.astype(dtype.numpy), dtype, resolve_device(target, device)), target
    )


@op()
def eye(
    n: int,
    m: int | None = None,
    k: int = 0,
    dtype: Any = None,
    device: str | None = None,
    backend: str | None = None,
) -> Tensor:
    """A 2-D tensor with ones on the ``k``-th diagonal and zeros elsewhere."""
    dtype = as_dtype(dtype) if dtype is not None else default_float
    target = _backend(backend)
    device = resolve_device(target, device)
    n = integer_arg("eye", "n", n)
    m = n if m is None else integer_arg("eye", "m", m)
    k = integer_arg("eye", "k", k, minimum=None)
    rows = target.reshape(target.arange(k, n + k, 1, default_int, device), (n, 1))
    cols = target.reshape(target.arange(0, m, 1, default_int, device), (1, m))
    return Tensor(target.cast(target.equal(rows, cols), dtype), target)


__all__ = [
    "tensor",
    "asarray",
    "convert",
    "full",
    "tensor_like",
    "zeros",
    "ones",
    "full_like",
    "zeros_like",
    "ones_like",
    "arange",
    "linspace",
    "eye",
]
