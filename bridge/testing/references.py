"""NumPy references for the math that several tests check, written once: compute them in float64
(pass float64 arrays) and compare bridge's float32 results against them. NumPy only, so the
conformance kit and the project's own tests can both use them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

erf = np.vectorize(math.erf, otypes=[np.float64])


def sigmoid(x: Any) -> Any:
    return 1 / (1 + np.exp(-x))


def relu(x: Any) -> Any:
    return np.maximum(x, 0)


def gelu(x: Any) -> Any:
    """GELU with the exact Gaussian CDF."""
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


def gelu_tanh(x: Any) -> Any:
    """GELU with the tanh approximation."""
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def softmax(x: Any, axis: int = -1) -> Any:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x: Any, axis: int = -1) -> Any:
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    peak = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - peak), axis=axis, keepdims=True)) + peak
    return out if keepdims else np.squeeze(out, axis=axis)


# N-d convolution and pooling, channels_last (batch, *spatial, channels), as explicit loops over
# window offsets or output positions. Padding is given per spatial axis as (before, after).


def same_padding(size: int, span: int, stride: int) -> tuple[int, int]:
    """Keras' "same" padding of one axis for a window spanning ``span``: output ``ceil(size /
    stride)`` long, the odd extra padding after."""
    total = max((-(-size // stride) - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def conv(x: Any, kernel: Any, strides: Any, pads: Any, dilation: Any, groups: int = 1) -> Any:
    """Cross-correlation of ``x`` (N, *spatial, C) with ``kernel`` (*window, C / groups, F),
    zero-padded by ``pads``: ``out[n, o, f] = sum over a, c of x_padded[n, o * s + a * d, c] *
    kernel[a, c, f]``, channels of group ``g`` meeting only filters of group ``g``."""
    window, (per_group, filters) = kernel.shape[:-2], kernel.shape[-2:]
    xp = np.pad(x, ((0, 0), *pads, (0, 0)))
    spans = [(k - 1) * d + 1 for k, d in zip(window, dilation)]
    out_size = [(n - span) // s + 1 for n, span, s in zip(xp.shape[1:-1], spans, strides)]
    out = np.zeros((x.shape[0], *out_size, filters))
    step = filters // groups
    for offset in np.ndindex(*window):
        starts = [a * d for a, d in zip(offset, dilation)]
        taps = tuple(slice(b, b + (o - 1) * s + 1, s) for b, o, s in zip(starts, out_size, strides))
        patch = xp[(slice(None), *taps, slice(None))]  # x_padded[n, o * s + a * d, c] for every o
        for g in range(groups):
            channels = patch[..., g * per_group : (g + 1) * per_group]
            out[..., g * step : (g + 1) * step] += channels @ kernel[offset][:, g * step : (g + 1) * step]
    return out


def conv_transpose(
    x: Any, kernel: Any, strides: Any, padding: str, output_padding: Any, dilation: Any
) -> Any:
    """Keras' ``Conv*DTranspose`` of ``x`` (N, *spatial, C) with ``kernel`` (*window, F, C): every
    input position scatters ``x[n, i] @ kernel[a].T`` to ``i * s + a * d`` of the full result,
    which is then cropped (or extended with zeros after) to Keras' output length."""
    window, filters = kernel.shape[:-2], kernel.shape[-2]
    spatial = x.shape[1:-1]
    spans = [(k - 1) * d + 1 for k, d in zip(window, dilation)]
    full = np.zeros(
        (x.shape[0], *[(n - 1) * s + span for n, s, span in zip(spatial, strides, spans)], filters)
    )
    for offset in np.ndindex(*window):
        starts = [a * d for a, d in zip(offset, dilation)]
        taps = tuple(slice(b, b + (n - 1) * s + 1, s) for b, n, s in zip(starts, spatial, strides))
        full[(slice(None), *taps, slice(None))] += x @ kernel[offset].T
    crops = []
    for n, s, span, extra in zip(spatial, strides, spans, output_padding):
        if padding == "valid":
            length = (n - 1) * s + span + (max(span, s) - span if extra is None else extra)
            crops.append((0, length))
        else:
            # Keras' left padding of the stride-dilated input, hence the crop of the full result.
            total = s + span - 2 if extra is None else span + span % 2 - 2 + extra
            left = min(total // 2 + total % 2, span - 1)
            length = n * s if extra is None else (n - 1) * s + span % 2 + extra
            crops.append((span - 1 - left, length))
    grown = np.pad(
        full,
        ((0, 0), *[(0, max(b + length - m, 0)) for (b, length), m in zip(crops, full.shape[1:-1])], (0, 0)),
    )
    return grown[(slice(None), *[slice(b, b + length) for b, length in crops], slice(None))]


def pool(x: Any, window: Any, strides: Any, pads: Any, reduce: Any) -> Any:
    """``reduce`` (``np.max`` or ``np.mean``) of every window of ``x`` (N, *spatial, C) as if
    padded by ``pads``, the padded positions left out."""
    out_size = [(n + b + a - k) // s + 1 for n, (b, a), k, s in zip(x.shape[1:-1], pads, window, strides)]
    out = np.zeros((x.shape[0], *out_size, x.shape[-1]))
    axes = tuple(range(1, x.ndim - 1))
    for position in np.ndindex(*out_size):
        starts = [o * s - b for o, s, (b, _) in zip(position, strides, pads)]
        taps = tuple(slice(max(start, 0), start + k) for start, k in zip(starts, window))
        out[(slice(None), *position, slice(None))] = reduce(x[(slice(None), *taps, slice(None))], axis=axes)
    return out
