"""Neural-network ops: softmax, convolution, pooling (dropout is in ``ops.random``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..backend import same_padding
from ..errors import InvalidArgumentError, ShapeError
from ..tensor import Tensor
from ._core import (
    as_tensor,
    axis_index,
    floating,
    integer_arg,
    numpy_array,
    op,
    promote_natives,
    require,
    tensor_args,
    wider_float,
)
from .math import divide, exp, log, subtract, where
from .reduction import max, sum

if TYPE_CHECKING:
    from ..backend import Backend
    from ..dtypes import DType


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
    """``exp(x) / sum(exp(x))`` along ``axis``, stable for large inputs; float16 and bfloat16
    inputs are computed in float32 (the result in their dtype), as mixed precision wants."""
    return _in_float32(_softmax, "softmax", x, axis)


@op()
def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """``log(softmax(x))`` along ``axis``, computed without overflow or underflow (16-bit floats
    in float32, as ``softmax``)."""
    return _in_float32(_log_softmax, "log_softmax", x, axis)


def _in_float32(fn: Callable[[Tensor, int], Tensor], name: str, x: Any, axis: int) -> Tensor:
    """``fn(x, axis)`` with 16-bit float inputs widened to float32, the result cast back."""
    x = _float_input(name, x)
    wide = wider_float(x.dtype)
    return fn(x, axis) if wide is x.dtype else fn(x.astype(wide), axis).astype(x.dtype)


def _softmax(x: Tensor, axis: int) -> Tensor:
    if "softmax" not in x._backend.fast_paths:
        return softmax_composite(x, axis)
    return Tensor(x._backend.softmax(x._native, axis_index("softmax", axis, x.ndim)), x._backend)


def _log_softmax(x: Tensor, axis: int) -> Tensor:
    if "log_softmax" not in x._backend.fast_paths:
        return log_softmax_composite(x, axis)
    return Tensor(x._backend.log_softmax(x._native, axis_index("log_softmax", axis, x.ndim)), x._backend)


# --- convolution and pooling -------------------------------------------------------------
# Inputs are (N, *spatial, C) ("channels_last") or (N, C, *spatial) ("channels_first") with 1-3
# spatial axes; the backend gets them in the layout its kernels take (``Backend.channels_last``),
# transposed once each way.
_LAYOUTS = {"channels_last": "(batch, *spatial, channels)", "channels_first": "(batch, channels, *spatial)"}


def _channels_last(name: str, data_format: str) -> bool:
    require(
        data_format in _LAYOUTS,
        InvalidArgumentError,
        f"{name}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}",
    )
    return data_format == "channels_last"


def spatial_ints(name: str, what: str, value: Any, rank: int, minimum: int = 1) -> tuple[int, ...]:
    """An int or ``rank`` of them, each at least ``minimum`` (``2.5`` is refused, not truncated)."""
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,) * rank
    require(
        len(values) == rank,
        InvalidArgumentError,
        f"{name}: {what} must be an int or {rank} ints (one per spatial axis), got {value!r}",
    )
    return tuple(integer_arg(name, what, v, minimum) for v in values)


def _kernel_rank(name: str, x: Tensor, kernel: Tensor, data_format: str, layout: str) -> int:
    """The number of spatial axes, from the kernel ``(*window, a, b)``; the input must match it."""
    rank = kernel.ndim - 2
    require(
        1 <= rank <= 3,
        ShapeError,
        f"{name}: kernel must be 3-D to 5-D {layout}, got shape {kernel.shape}",
    )
    require(
        x.ndim == rank + 2,
        ShapeError,
        f"{name}: input must be {rank + 2}-D {_LAYOUTS[data_format]} for kernel {kernel.shape}, "
        f"got shape {x.shape}",
    )
    return rank


def _channels(x: Tensor, channels_last: bool) -> int:
    return x.shape[-1] if channels_last else x.shape[1]


def _spatial(x: Tensor, channels_last: bool) -> tuple[int, ...]:
    return x.shape[1:-1] if channels_last else x.shape[2:]


def _padding(
    name: str,
    padding: str,
    spatial: tuple[int, ...],
    windows: tuple[int, ...],
    strides: tuple[int, ...],
    dilation: tuple[int, ...],
    modes: tuple[str, ...] = ("valid", "same"),
) -> tuple[tuple[int, int], ...]:
    """Explicit (before, after) zero padding per spatial axis for a padding mode."""
    require(
        padding in modes,
        InvalidArgumentError,
        f"{name}: padding must be one of {', '.join(map(repr, modes))}, got {padding!r}",
    )
    if padding == "causal":
        require(
            len(spatial) == 1,
            InvalidArgumentError,
            f"{name}: padding 'causal' is for 1-D convolutions, got {len(spatial)} spatial axes",
        )
        return (((windows[0] - 1) * dilation[0], 0),)
    if padding == "valid":
        return ((0, 0),) * len(spatial)
    return same_padding(spatial, windows, strides, dilation)


def _require_window_fits(
    name: str,
    x: Tensor,
    spatial: tuple[int, ...],
    windows: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
    dilation: tuple[int, ...],
) -> None:
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


def _layout_axes(rank: int, channels_last: bool) -> tuple[int, ...]:
    """The permutation taking a ``rank``-D input from this layout to the other one."""
    return (0, rank + 1, *range(1, rank + 1)) if channels_last else (0, *range(2, rank + 2), 1)


def _relayout(backend: Backend, native: Any, rank: int, source_last: bool, target_last: bool) -> Any:
    if source_last == target_last:
        return native
    return backend.transpose(native, _layout_axes(rank, source_last))


def _zeros(x: Tensor, channels_last: bool, spatial: tuple[int, ...], channels: int, dtype: DType) -> Tensor:
    """The result for an input or kernel with no elements, from shapes alone: zeros (an empty sum).
    The frameworks disagree here (TensorFlow's conv ignores strides for an empty batch; torch
    refuses zero channels)."""
    shape = (x.shape[0], *spatial, channels) if channels_last else (x.shape[0], channels, *spatial)
    return Tensor(x._backend.full(shape, 0, dtype, x.device), x._backend)


def _output_size(
    spatial: tuple[int, ...],
    windows: tuple[int, ...],
    strides: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
    dilation: tuple[int, ...],
) -> tuple[int, ...]:
    return tuple(
        (n + before + after - (k - 1) * d - 1) // s + 1
        for n, k, s, (before, after), d in zip(spatial, windows, strides, pads, dilation)
    )


@op()
def conv(
    x: Any,
    kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    dilation: Any = 1,
    groups: int = 1,
    data_format: str = "channels_last",
) -> Tensor:
    """Convolution (cross-correlation, as every framework computes it) over 1-3 spatial axes.

    ``x`` is (N, *spatial, C) for channels_last or (N, C, *spatial) for channels_first; ``kernel``
    is (*window, C / groups, out_channels) as in Keras; ``padding`` "valid", "same" (output size
    ``ceil(size / strides)``, the odd extra padding after) or "causal" (1-D, all of it before)."""
    backend, (x, kernel) = tensor_args("conv", x, kernel)
    x, kernel = Tensor(x, backend), Tensor(kernel, backend)
    channels_last = _channels_last("conv", data_format)
    rank = _kernel_rank("conv", x, kernel, data_format, "(*window, in_channels / groups, out_channels)")
    groups = integer_arg("conv", "groups", groups, minimum=1)
    channels, filters = _channels(x, channels_last), kernel.shape[-1]
    require(
        channels % groups == 0 and filters % groups == 0,
        InvalidArgumentError,
        f"conv: groups={groups} must divide the input channels ({channels}) and the output channels "
        f"({filters}); input {x.shape} ({data_format}), kernel {kernel.shape}",
    )
    if channels != kernel.shape[-2] * groups:
        grouped = f" ({groups} groups)" if groups > 1 else ""
        raise ShapeError(
            f"conv: input {x.shape} has {channels} channels ({data_format}) but kernel {kernel.shape} "
            f"expects {kernel.shape[-2] * groups}{grouped}"
        )
    strides, dilation = (
        spatial_ints("conv", "strides", strides, rank),
        spatial_ints("conv", "dilation", dilation, rank),
    )
    spatial, window = _spatial(x, channels_last), kernel.shape[:rank]
    pads = _padding("conv", padding, spatial, window, strides, dilation, ("valid", "same", "causal"))
    _require_window_fits("conv", x, spatial, window, pads, dilation)
    (a, k), dtype = promote_natives(backend, [floating(backend, x._native), kernel._native])
    if 0 in x.shape or 0 in kernel.shape:  # not x.size: the batch may be unknown (None) in a trace
        return _zeros(
            x, channels_last, _output_size(spatial, window, strides, pads, dilation), filters, dtype
        )
    a = _relayout(backend, a, rank, channels_last, backend.channels_last)
    out = backend.conv(a, k, strides, pads, dilation, groups)
    return Tensor(_relayout(backend, out, rank, backend.channels_last, channels_last), backend)


def _transpose_padding(
    padding: str, window: int, stride: int, dilation: int, output_padding: int | None
) -> tuple[tuple[int, int], int]:
    """Keras' Conv*DTranspose lengths as (before, after) cropping of the full result and zeros
    added after it: "valid" is ``(n - 1) * s + max(k, s)`` long, "same" ``n * s``; with
    ``output_padding`` they are ``(n - 1) * s + k + p`` and ``(n - 1) * s + k % 2 + p``
    (``k`` the dilated window)."""
    span = (window - 1) * dilation + 1
    if padding == "valid":
        grow = stride - span if stride > span else 0  # (n - 1) * s + max(k, s) long
        return (0, 0), grow if output_padding is None else output_padding
    total = stride + span - 2 if output_padding is None else span + span % 2 - 2 + output_padding
    left = min(total // 2 + total % 2, span - 1)  # Keras' padding of the stride-dilated input
    before, after = span - 1 - left, span - 1 - (total - left)
    return (before, after if after > 0 else 0), -after if after < 0 else 0


@op()
def conv_transpose(
    x: Any,
    kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    output_padding: Any = None,
    dilation: Any = 1,
    data_format: str = "channels_last",
) -> Tensor:
    """Transposed convolution over 1-3 spatial axes (the gradient of ``conv`` with respect to its
    input), as Keras' ``Conv*DTranspose``; ``kernel`` is (*window, out_channels, in_channels).

    With "same" the output is ``size * strides`` long, with "valid" ``(size - 1) * strides +
    max(window, strides)`` (``window`` dilated); ``output_padding`` (below ``strides``) sets it to
    ``(size - 1) * strides + window + output_padding`` ("valid") or ``... + window % 2 + ...``."""
    backend, (x, kernel) = tensor_args("conv_transpose", x, kernel)
    x, kernel = Tensor(x, backend), Tensor(kernel, backend)
    channels_last = _channels_last("conv_transpose", data_format)
    rank = _kernel_rank("conv_transpose", x, kernel, data_format, "(*window, out_channels, in_channels)")
    channels = _channels(x, channels_last)
    require(
        channels == kernel.shape[-1],
        ShapeError,
        f"conv_transpose: input {x.shape} has {channels} channels ({data_format}) but kernel "
        f"{kernel.shape} expects {kernel.shape[-1]}",
    )
    strides = spatial_ints("conv_transpose", "strides", strides, rank)
    dilation = spatial_ints("conv_transpose", "dilation", dilation, rank)
    require(
        padding in ("valid", "same"),
        InvalidArgumentError,
        f"conv_transpose: padding must be 'valid' or 'same', got {padding!r}",
    )
    extras: tuple[int | None, ...] = (None,) * rank
    if output_padding is not None:
        extras = spatial_ints("conv_transpose", "output_padding", output_padding, rank, minimum=0)
        require(
            all(p < s for p, s in zip(extras, strides)),
            InvalidArgumentError,
            f"conv_transpose: output_padding {output_padding!r} must be smaller than strides {strides}",
        )
    window = kernel.shape[:rank]
    crops = [_transpose_padding(padding, *axis) for axis in zip(window, strides, dilation, extras)]
    pads, added = tuple(c for c, _ in crops), tuple(e for _, e in crops)
    (a, k), dtype = promote_natives(backend, [floating(backend, x._native), kernel._native])
    if 0 in x.shape or 0 in kernel.shape:  # not x.size: the batch may be unknown (None) in a trace
        spatial = tuple(
            (n - 1) * s + (w - 1) * d + 1 - before - after + e
            for n, s, w, d, (before, after), e in zip(
                _spatial(x, channels_last), strides, window, dilation, pads, added
            )
        )
        return _zeros(x, channels_last, spatial, kernel.shape[-2], dtype)
    a = _relayout(backend, a, rank, channels_last, backend.channels_last)
    out = backend.conv_transpose(a, k, strides, pads, added, dilation)
    return Tensor(_relayout(backend, out, rank, backend.channels_last, channels_last), backend)


def _pool(
    name: str,
    x: Any,
    pool_size: Any,
    strides: Any,
    padding: str,
    data_format: str,
    reduce: Callable[[Backend, Any, tuple[int, ...], tuple[int, ...], tuple[tuple[int, int], ...]], Any],
) -> Tensor:
    """A pooling op: checks, "same" padding and layout around ``reduce(backend, native, window,
    strides, widths)``, which pools the native (in the backend's layout) padded by ``widths``."""
    x = _float_input(name, x)
    channels_last = _channels_last(name, data_format)
    rank = x.ndim - 2
    require(
        1 <= rank <= 3,
        ShapeError,
        f"{name}: input must be 3-D to 5-D {_LAYOUTS[data_format]}, got shape {x.shape}",
    )
    window = spatial_ints(name, "pool_size", pool_size, rank)
    strides = window if strides is None else spatial_ints(name, "strides", strides, rank)
    spatial, ones = _spatial(x, channels_last), (1,) * rank
    pads = _padding(name, padding, spatial, window, strides, ones)
    _require_window_fits(name, x, spatial, window, pads, ones)
    if 0 in x.shape:
        out_size = _output_size(spatial, window, strides, pads, ones)
        return _zeros(x, channels_last, out_size, _channels(x, channels_last), x.dtype)
    backend = x._backend
    widths = ((0, 0), *pads, (0, 0)) if backend.channels_last else ((0, 0), (0, 0), *pads)
    native = _relayout(backend, x._native, rank, channels_last, backend.channels_last)
    out = reduce(backend, native, window, strides, widths)
    return Tensor(_relayout(backend, out, rank, backend.channels_last, channels_last), backend)


def _max_pool(backend: Backend, x: Any, window: Any, strides: Any, widths: Any) -> Any:
    if any(w for pair in widths for w in pair):
        x = backend.pad(x, widths, float("-inf"))
    return backend.max_pool(x, window, strides)


def _avg_pool(backend: Backend, x: Any, window: Any, strides: Any, widths: Any) -> Any:
    """Padded positions are left out of the mean: the sum over the zero-padded input divided by
    the pooled count of real positions."""
    if not any(w for pair in widths for w in pair):
        return backend.avg_pool(x, window, strides)
    shape = backend.shape(x)
    ones = backend.full(
        (1, *shape[1:-1], 1) if backend.channels_last else (1, 1, *shape[2:]),
        1,
        backend.dtype_of(x),
        backend.device(x),
    )
    total = backend.avg_pool(backend.pad(x, widths, 0), window, strides)
    count = backend.avg_pool(backend.pad(ones, widths, 0), window, strides)
    return backend.divide(total, count)


@op()
def max_pool(
    x: Any,
    pool_size: Any = 2,
    strides: Any = None,
    padding: str = "valid",
    data_format: str = "channels_last",
) -> Tensor:
    """Max over ``pool_size`` windows on 1-3 spatial axes; ``strides`` defaults to ``pool_size``;
    ``padding`` "valid" or "same" (padded positions never win)."""
    return _pool("max_pool", x, pool_size, strides, padding, data_format, _max_pool)


@op()
def avg_pool(
    x: Any,
    pool_size: Any = 2,
    strides: Any = None,
    padding: str = "valid",
    data_format: str = "channels_last",
) -> Tensor:
    """Mean over ``pool_size`` windows on 1-3 spatial axes; with "same", padded positions are left
    out of the mean."""
    return _pool("avg_pool", x, pool_size, strides, padding, data_format, _avg_pool)


def _require_2d(name: str, what: str, x: Any, layout: str) -> None:
    ndim = x.ndim if isinstance(x, Tensor) else len(numpy_array(x).shape)
    require(ndim == 4, ShapeError, f"{name}: {what} must be 4-D {layout}, got {ndim}-D")


@op()
def conv2d(
    x: Any,
    kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    data_format: str = "channels_last",
    dilation: Any = 1,
) -> Tensor:
    """2-D ``conv`` (kernel (kh, kw, in_channels, out_channels))."""
    _require_2d("conv2d", "kernel", kernel, "(kh, kw, in_channels, out_channels)")
    return conv(x, kernel, strides, padding, dilation, 1, data_format)


@op()
def max_pool2d(
    x: Any,
    pool_size: Any = 2,
    strides: Any = None,
    padding: str = "valid",
    data_format: str = "channels_last",
) -> Tensor:
    """2-D ``max_pool``."""
    _require_2d("max_pool2d", "input", x, _LAYOUTS.get(data_format, ""))
    return max_pool(x, pool_size, strides, padding, data_format)


@op()
def avg_pool2d(
    x: Any,
    pool_size: Any = 2,
    strides: Any = None,
    padding: str = "valid",
    data_format: str = "channels_last",
) -> Tensor:
    """2-D ``avg_pool``."""
    _require_2d("avg_pool2d", "input", x, _LAYOUTS.get(data_format, ""))
    return avg_pool(x, pool_size, strides, padding, data_format)


__all__ = [
    "softmax",
    "log_softmax",
    "conv",
    "conv_transpose",
    "max_pool",
    "avg_pool",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
]
