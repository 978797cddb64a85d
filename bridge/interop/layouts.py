"""torch <-> bridge (Keras) layout conversions, one function per idea: weights (NumPy arrays in,
NumPy arrays out), activations (NCHW -> NHWC) and the arguments that differ (BatchNorm momentum,
symmetric padding). ``from_torch`` uses them; ``WeightSource.convert`` holds them."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np


def identity(w: np.ndarray) -> np.ndarray:
    """Same layout on both sides (biases, norms' scale and shift, running statistics, Embedding)."""
    return np.asarray(w)


def linear_kernel(w: np.ndarray) -> np.ndarray:
    """``Linear.weight`` ``(out, in)`` -> ``Dense.kernel`` ``(in, out)``."""
    return np.ascontiguousarray(np.asarray(w).T)


def _flat_linear_kernel(channels_first_shape: tuple[int, ...], w: np.ndarray) -> np.ndarray:
    kernel = linear_kernel(w)
    out = kernel.shape[1]
    rows = kernel.reshape(*channels_first_shape, out)  # (C, *spatial, out)
    return np.ascontiguousarray(np.moveaxis(rows, 0, -2).reshape(-1, out))  # (*spatial, C, out)


def flat_linear_kernel(channels_first_shape: tuple[int, ...]) -> Callable[[np.ndarray], np.ndarray]:
    """``Linear.weight`` ``(out, C*H*W)`` reading a torch-flattened ``(C, H, W)`` tensor ->
    ``Dense.kernel`` ``(H*W*C, out)`` reading the channels-last flattening of the same tensor:
    the input rows permuted. ``channels_first_shape``: the flattened tensor's shape, batch
    excluded."""
    return partial(_flat_linear_kernel, tuple(int(n) for n in channels_first_shape))


def conv_kernel(w: np.ndarray) -> np.ndarray:
    """A convolution kernel with the two channel axes first -> spatial axes first, channel axes
    swapped: Conv ``(out, in/groups, *k)`` -> ``(*k, in/groups, out)`` (OIHW -> HWIO), and
    ConvTranspose ``(in, out, *k)`` -> Keras' ``(*k, out, in)`` (the same permutation)."""
    w = np.asarray(w)
    return np.ascontiguousarray(np.transpose(w, (*range(2, w.ndim), 1, 0)))


def channels_last(x: np.ndarray) -> np.ndarray:
    """A channels-first activation ``(N, C, *spatial)`` -> channels-last ``(N, *spatial, C)``."""
    return np.moveaxis(np.asarray(x), 1, -1)


def _flat_channels_last(channels_first_shape: tuple[int, ...], x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    unflattened = x.reshape(x.shape[0], *channels_first_shape)
    return np.ascontiguousarray(channels_last(unflattened).reshape(x.shape[0], -1))


def flat_channels_last(channels_first_shape: tuple[int, ...]) -> Callable[[np.ndarray], np.ndarray]:
    """A torch flattening ``(N, C*H*W)`` of a channels-first ``(C, H, W)`` activation -> the
    channels-last flattening ``(N, H*W*C)`` of the same activation. ``channels_first_shape``:
    ``(C, H, W)``, batch excluded."""
    return partial(_flat_channels_last, tuple(int(n) for n in channels_first_shape))


def channels_first(x: np.ndarray) -> np.ndarray:
    """A channels-last activation ``(N, *spatial, C)`` -> channels-first ``(N, C, *spatial)``."""
    return np.moveaxis(np.asarray(x), -1, 1)


def batchnorm_momentum(torch_momentum: float) -> float:
    """torch's momentum (the weight of the new batch statistic, 0.1) -> Keras' (the weight of
    the old moving average, 0.9)."""
    return 1.0 - float(torch_momentum)


def symmetric_padding(
    padding: tuple[int, ...], kernel: tuple[int, ...], strides: tuple[int, ...], dilation: tuple[int, ...]
) -> tuple[str, tuple[tuple[int, int], ...]]:
    """torch's symmetric ``padding`` (per spatial axis) -> a Keras padding mode and the explicit
    ``(before, after)`` pads to add first. Keras' ``"same"`` pads ``d*(k-1)`` in all, the extra
    one after; it equals torch's only at stride 1 with ``padding == d*(k-1)/2``. Otherwise the pads
    are explicit (none where ``padding`` is 0) and the convolution ``"valid"``."""
    if not any(padding):
        return "valid", ()
    if all(s == 1 and 2 * p == d * (k - 1) for p, k, s, d in zip(padding, kernel, strides, dilation)):
        return "same", ()
    return "valid", tuple((p, p) for p in padding)
