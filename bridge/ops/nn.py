"""Neural-network ops: softmax, convolution, pooling, dropout."""

from __future__ import annotations

import math
from typing import Any

from ..errors import InvalidArgumentError, ShapeError
from ..tensor import Tensor
from ._core import as_tensor, axis_index, floating, op, promote_natives, require, tensor_args
from .math import divide, exp, log, subtract, where
from .reduction import max, sum
from .shape import pad


def _float_input(name: str, x: Any) -> Tensor:
    x = as_tensor(name, x)
    return Tensor(floating(x._backend, x._native), x._backend)


def softmax_composite(x: Any, axis: int = -1) -> Tensor:
    """Softmax written over primitives; the reference the fast paths are checked against."""
    x = _float_input("softmax", x)
    shifted = subtract(x, _finite_max(x, axis))
    e = exp(shifted)
    return divide(e, sum(e, axis, keepdims=True))


def log_softmax_composite(x: Any, axis: int = -1) -> Tensor:
    """Log-softmax written over primitives."""
    x = _float_input("log_softmax", x)
    shifted = subtract(x, _finite_max(x, axis))
    return subtract(shifted, log(sum(exp(shifted), axis, keepdims=True)))


def _finite_max(x: Tensor, axis: int) -> Tensor:
    peak = max(x, axis, keepdims=True)
    return where(peak == -math.inf, 0.0, peak)  # a +inf peak makes the row NaN, as NumPy and torch


@op()
def softmax(x: Any, axis: int = -1) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``axis``, stable for large inputs."""
    x = _float_input("softmax", x)
    fast = x._backend.softmax
    if fast is None:
        return softmax_composite(x, axis)
    return Tensor(fast(x._native, axis_index("softmax", axis, x.ndim)), x._backend)


@op()
def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """``log(softmax(x))`` along ``axis``, computed without overflow or underflow."""
    x = _float_input("log_softmax", x)
    fast = x._backend.log_softmax
    if fast is None:
        return log_softmax_composite(x, axis)
    return Tensor(fast(x._native, axis_index("log_softmax", axis, x.ndim)), x._backend)


# --- convolution and pooling -------------------------------------------------------------
def _pair(name: str, what: str, value: Any) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    require(
        len(pair) == 2 and all(isinstance(v, int) and v > 0 for v in pair),
        InvalidArgumentError,
        f"{name}: {what} must be a positive int or a pair of them, got {value!r}",
    )
    return pair  # type: ignore[return-value]


def _channels_last(name: str, data_format: str) -> bool:
    require(
        data_format in ("channels_last", "channels_first"),
        InvalidArgumentError,
        f"{name}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}",
    )
    return data_format == "channels_last"


def _same_padding(size: int, window: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's "same" padding: output size ceil(size / stride), extra padding after."""
    out = -(-size // stride)
    total = (out - 1) * stride + (window - 1) * dilation + 1 - size
    total = total if total > 0 else 0
    return total // 2, total - total // 2


def _padding(name: str, padding: str, spatial, windows, strides, dilation=(1, 1)):
    require(
        padding in ("valid", "same"),
        InvalidArgumentError,
        f"{name}: padding must be 'valid' or 'same', got {padding!r}",
    )
    if padding == "valid":
        return ((0, 0), (0, 0))
    return tuple(_same_padding(n, k, s, d) for n, k, s, d in zip(spatial, windows, strides, dilation))


def _spatial(x: Tensor, channels_last: bool) -> tuple[int, int]:
    return x.shape[1:3] if channels_last else x.shape[2:4]


def _no_elements_result(
    x: Tensor, channels_last, windows, strides, pads, dilation, channels, dtype
) -> Tensor:
    """The result for an input or kernel with no elements, from shapes alone: zeros (an empty sum)
    of the output shape. The frameworks disagree here (TensorFlow's conv ignores strides for an
    empty batch; torch refuses zero channels)."""
    spatial = tuple(
        (n + before + after - (k - 1) * d - 1) // s + 1
        for n, k, s, (before, after), d in zip(_spatial(x, channels_last), windows, strides, pads, dilation)
    )
    shape = (x.shape[0], *spatial, channels) if channels_last else (x.shape[0], channels, *spatial)
    return Tensor(x._backend.full(shape, 0, dtype, x.device), x._backend)


def _require_window_fits(name: str, x: Tensor, spatial, windows, pads, dilation=(1, 1)) -> None:
    """A window (dilated) larger than the padded input has no output: an error on every backend
    (torch refuses it; TensorFlow would give an empty or uninitialised result)."""
    for n, k, (before, after), d in zip(spatial, windows, pads, dilation):
        span = (k - 1) * d + 1
        require(
            span <= n + before + after,
            ShapeError,
            f"{name}: window {tuple(windows)} (dilation {tuple(dilation)}, spanning {span}) is larger "
            f"than the padded input {tuple(spatial)} of input shape {x.shape}; use padding='same' "
            f"or a smaller window",
        )


@op()
def conv2d(
    x: Any,
    kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    data_format: str = "channels_last",
    dilation: Any = 1,
) -> Tensor:
    """2-D convolution (cross-correlation, as every framework computes it).

    ``x`` is (N, H, W, C) for channels_last or (N, C, H, W) for channels_first; ``kernel`` is
    (kh, kw, in_channels, out_channels) as in Keras; ``padding`` "valid" or "same"."""
    backend, (x, kernel) = tensor_args("conv2d", x, kernel)
    x, kernel = Tensor(x, backend), Tensor(kernel, backend)
    channels_last = _channels_last("conv2d", data_format)
    require(x.ndim == 4, ShapeError, f"conv2d: input must be 4-D ({data_format}), got shape {x.shape}")
    require(
        kernel.ndim == 4,
        ShapeError,
        f"conv2d: kernel must be 4-D (kh, kw, in_channels, out_channels), got shape {kernel.shape}",
    )
    channels = x.shape[3] if channels_last else x.shape[1]
    require(
        channels == kernel.shape[2],
        ShapeError,
        f"conv2d: input {x.shape} has {channels} channels ({data_format}) but kernel "
        f"{kernel.shape} expects {kernel.shape[2]}",
    )
    strides, dilation = _pair("conv2d", "strides", strides), _pair("conv2d", "dilation", dilation)
    pads = _padding("conv2d", padding, _spatial(x, channels_last), kernel.shape[:2], strides, dilation)
    _require_window_fits("conv2d", x, _spatial(x, channels_last), kernel.shape[:2], pads, dilation)
    backend = x._backend
    (a, k), dtype = promote_natives(backend, [floating(backend, x._native), kernel._native])
    if x.size == 0 or kernel.size == 0:
        return _no_elements_result(
            x, channels_last, kernel.shape[:2], strides, pads, dilation, kernel.shape[3], dtype
        )
    return Tensor(backend.conv2d(a, k, strides, pads, dilation, channels_last), backend)


def _pool_args(name: str, x: Any, pool_size: Any, strides: Any, padding: str, data_format: str):
    x = _float_input(name, x)
    channels_last = _channels_last(name, data_format)
    require(x.ndim == 4, ShapeError, f"{name}: input must be 4-D ({data_format}), got shape {x.shape}")
    pool = _pair(name, "pool_size", pool_size)
    strides = pool if strides is None else _pair(name, "strides", strides)
    pads = _padding(name, padding, _spatial(x, channels_last), pool, strides)
    _require_window_fits(name, x, _spatial(x, channels_last), pool, pads)
    empty = None
    if x.size == 0:
        channels = x.shape[3] if channels_last else x.shape[1]
        empty = _no_elements_result(x, channels_last, pool, strides, pads, (1, 1), channels, x.dtype)
    widths = ((0, 0), *pads, (0, 0)) if channels_last else ((0, 0), (0, 0), *pads)
    return x, pool, strides, widths, channels_last, empty


@op()
def max_pool2d(
    x: Any,
    pool_size: Any = 2,
    strides: Any = None,
    padding: str = "valid",
    data_format: str = "channels_last",
) -> Tensor:
    """Max over ``pool_size`` windows; ``strides`` defaults to ``pool_size``."""
    x, pool, strides, widths, channels_last, empty = _pool_args(
        "max_pool2d", x, pool_size, strides, padding, data_format
    )
    if empty is not None:
        return empty
    if any(w for pair in widths for w in pair):
        x = pad(x, widths, constant_values=float("-inf"))
    return Tensor(x._backend.max_pool2d(x._native, pool, strides, channels_last), x._backend)


@op()
def avg_pool2d(
    x: Any,
    pool_size: Any = 2,
    strides: Any = None,
    padding: str = "valid",
    data_format: str = "channels_last",
) -> Tensor:
    """Mean over ``pool_size`` windows; with "same", padded positions are left out of the mean."""
    x, pool, strides, widths, channels_last, empty = _pool_args(
        "avg_pool2d", x, pool_size, strides, padding, data_format
    )
    if empty is not None:
        return empty
    backend = x._backend
    if not any(w for pair in widths for w in pair):
        return Tensor(backend.avg_pool2d(x._native, pool, strides, channels_last), backend)
    ones_shape = (1, *_spatial(x, channels_last), 1) if channels_last else (1, 1, *_spatial(x, channels_last))
    ones = Tensor(backend.full(ones_shape, 1, x.dtype, x.device), backend)
    total = backend.avg_pool2d(pad(x, widths)._native, pool, strides, channels_last)
    count = backend.avg_pool2d(pad(ones, widths)._native, pool, strides, channels_last)
    return divide(Tensor(total, backend), Tensor(count, backend))


@op()
def dropout(x: Any, rate: float, seed: Any = None) -> Tensor:
    """Zero elements with probability ``rate`` and scale the rest by ``1 / (1 - rate)``;
    the same ``seed`` drops the same elements on every backend."""
    from ..random import uniform

    x = _float_input("dropout", x)
    require(0 <= rate < 1, InvalidArgumentError, f"dropout: rate must be in [0, 1), got {rate}")
    if rate == 0:
        return x
    keep = uniform(x.shape, dtype=x.dtype, seed=seed, backend=x.backend, device=x.device) >= rate
    return where(keep, x / (1.0 - rate), 0.0)


__all__ = ["softmax", "log_softmax", "conv2d", "max_pool2d", "avg_pool2d", "dropout"]
