"""A forward-only reference backend on NumPy, registered in-process by the test suite.

It proves that a third-party backend works without editing bridge: it implements the Backend
contract and runs the same op tests as the built-in plugins. NumPy has no autodiff, so it claims
only the forward ops.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bridge.backend import Backend
from bridge.dtypes import DType, as_dtype

_erf = np.frompyfunc(math.erf, 1, 1)


def _a(x: Any) -> np.ndarray:
    return np.asarray(x)


def _elementwise(fn):
    """An op returning an array (never a NumPy scalar), silent on overflow as the frameworks are."""

    def run(*args):
        with np.errstate(all="ignore"):
            return _a(fn(*args))

    return staticmethod(run)


def _binary(fn):
    """A binary op; a Python scalar operand takes the array's dtype, as in the frameworks."""
    return _elementwise(lambda a, b: fn(a, b if isinstance(b, np.ndarray) else np.asarray(b, a.dtype)))


class NumpyBackend(Backend):
    name = "numpy"
    contract_version = 1

    def version(self) -> str:
        return np.__version__

    def is_native(self, x: Any) -> bool:
        return isinstance(x, np.ndarray)

    def dtype_of(self, x):
        return as_dtype(x.dtype)

    def cast(self, x, dtype: DType):
        return x.astype(dtype.numpy)

    def shape(self, x):
        return x.shape

    def find_devices(self):
        return ["cpu"]

    def device(self, x):
        return "cpu"

    def to_device(self, x, device):
        return x

    def from_numpy(self, array, dtype, device):
        return np.array(array, dtype=dtype.numpy)

    def to_numpy(self, x):
        return x.copy()

    def to_dlpack(self, x, alignment=1):
        if x.flags.c_contiguous and x.ctypes.data % alignment == 0:
            return x
        raw = np.empty(x.nbytes + alignment, np.uint8)
        start = -raw.ctypes.data % alignment
        copy = raw[start : start + x.nbytes].view(x.dtype).reshape(x.shape)
        copy[...] = x
        return copy

    def from_dlpack(self, obj):
        return np.from_dlpack(obj).copy()

    def full(self, shape, value, dtype, device):
        return np.full(shape, value, dtype=dtype.numpy)

    def arange(self, start, stop, step, dtype, device):
        return np.arange(start, stop, step, dtype=dtype.numpy)

    negative = _elementwise(np.negative)
    abs = _elementwise(np.abs)
    sign = _elementwise(np.sign)
    exp = _elementwise(np.exp)
    expm1 = _elementwise(np.expm1)
    log = _elementwise(np.log)
    log1p = _elementwise(np.log1p)
    sqrt = _elementwise(np.sqrt)
    rsqrt = _elementwise(lambda x: 1 / np.sqrt(x))
    sin = _elementwise(np.sin)
    cos = _elementwise(np.cos)
    tan = _elementwise(np.tan)
    tanh = _elementwise(np.tanh)
    sinh = _elementwise(np.sinh)
    cosh = _elementwise(np.cosh)
    arctan = _elementwise(np.arctan)
    sigmoid = _elementwise(lambda x: np.exp(-np.logaddexp(0, -x.astype(np.float64))).astype(x.dtype))
    relu = _elementwise(lambda x: np.maximum(x, 0).astype(x.dtype))
    erf = _elementwise(lambda x: np.asarray(_erf(x), dtype=x.dtype))
    floor = _elementwise(np.floor)
    ceil = _elementwise(np.ceil)
    round = _elementwise(np.round)
    isnan = _elementwise(np.isnan)
    isinf = _elementwise(np.isinf)
    isfinite = _elementwise(np.isfinite)
    logical_not = _elementwise(np.logical_not)
    invert = _elementwise(np.invert)

    add = _binary(np.add)
    subtract = _binary(np.subtract)
    multiply = _binary(np.multiply)
    divide = _binary(np.true_divide)
    floor_divide = _binary(np.floor_divide)
    mod = _binary(np.mod)
    power = _binary(np.power)
    maximum = _binary(np.maximum)
    minimum = _binary(np.minimum)
    equal = _binary(np.equal)
    not_equal = _binary(np.not_equal)
    less = _binary(np.less)
    less_equal = _binary(np.less_equal)
    greater = _binary(np.greater)
    greater_equal = _binary(np.greater_equal)
    logical_and = _binary(np.logical_and)
    logical_or = _binary(np.logical_or)
    bitwise_and = _binary(np.bitwise_and)
    bitwise_or = _binary(np.bitwise_or)
    bitwise_xor = _binary(np.bitwise_xor)
    left_shift = _binary(np.left_shift)
    right_shift = _binary(np.right_shift)
    where = _elementwise(lambda c, x, y: np.where(c, x, y))

    sum = _elementwise(
        lambda x, axis, keepdims: np.sum(
            x, axis=axis, keepdims=keepdims, dtype=np.float64 if x.dtype == np.float32 else x.dtype
        ).astype(x.dtype)
    )
    prod = _elementwise(lambda x, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims, dtype=x.dtype))
    max = _elementwise(lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims))
    min = _elementwise(lambda x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims))
    all = _elementwise(lambda x, axis, keepdims: np.all(x, axis=axis, keepdims=keepdims))
    any = _elementwise(lambda x, axis, keepdims: np.any(x, axis=axis, keepdims=keepdims))
    argmax = _elementwise(lambda x, axis: np.argmax(x, axis=axis).astype(np.int64))
    argmin = _elementwise(lambda x, axis: np.argmin(x, axis=axis).astype(np.int64))
    cumsum = _elementwise(lambda x, axis: np.cumsum(x, axis=axis, dtype=x.dtype))
    cumprod = _elementwise(lambda x, axis: np.cumprod(x, axis=axis, dtype=x.dtype))

    matmul = _elementwise(np.matmul)
    einsum = _elementwise(np.einsum)
    inv = _elementwise(np.linalg.inv)
    solve = _elementwise(np.linalg.solve)
    det = _elementwise(np.linalg.det)

    @staticmethod
    def cholesky(a):
        """NaN factors for matrices that are not positive definite (the Backend contract)."""
        a = np.asarray(a)
        out = np.full(a.shape, np.nan, a.dtype)
        for index in np.ndindex(a.shape[:-2]):
            try:
                out[index] = np.linalg.cholesky(a[index])
            except np.linalg.LinAlgError:
                pass
        return out

    svdvals = _elementwise(lambda a: np.linalg.svd(a, compute_uv=False))

    reshape = _elementwise(np.reshape)
    transpose = _elementwise(np.transpose)
    broadcast_to = _elementwise(lambda x, shape: np.broadcast_to(x, shape).copy())
    concat = _elementwise(lambda xs, axis: np.concatenate(xs, axis))
    stack = _elementwise(lambda xs, axis: np.stack(xs, axis))
    tile = _elementwise(np.tile)
    repeat = _elementwise(lambda x, repeats, axis: np.repeat(x, repeats, axis))
    pad = _elementwise(lambda x, widths, value: np.pad(x, widths, constant_values=value))
    flip = _elementwise(lambda x, axes: np.flip(x, axes))
    slice = _elementwise(lambda x, key: x[key].copy())

    take = _elementwise(lambda x, indices, axis: np.take(x, indices, axis))
    argwhere = _elementwise(lambda x: np.argwhere(x).astype(np.int64))

    @staticmethod
    def argsort(x, axis):
        sortable = x.astype(np.float32) if x.dtype.kind == "V" else x  # bfloat16: NumPy misplaces NaN
        return np.argsort(sortable, axis, kind="stable").astype(np.int64)

    sort = _elementwise(lambda x, axis: np.take_along_axis(x, NumpyBackend.argsort(x, axis), axis))

    def scatter(self, x, indices, updates, accumulate):
        out = x.copy()
        if accumulate:
            np.add.at(out, indices, updates)
        else:
            out[indices] = updates
        return out

    def topk(self, x, k):
        keys = -x.astype(np.float64)
        nan = np.isnan(keys)  # NaN counts as the largest value
        order = np.lexsort((np.where(nan, 0.0, keys), ~nan), axis=-1)[..., :k].astype(np.int64)
        return np.take_along_axis(x, order, -1), order

    channels_last = True

    @staticmethod
    def _windows(x, spans, strides):
        """Views (n, *out, c, *spans) of the windows of ``x`` (n, *spatial, c), every ``strides``."""
        axes = tuple(range(1, len(spans) + 1))
        windows = sliding_window_view(x, spans, axis=axes)
        return windows[(slice(None), *(slice(None, None, s) for s in strides))]

    def conv(self, x, kernel, strides, padding, dilation, groups):
        rank = len(strides)
        x = np.pad(x, ((0, 0), *padding, (0, 0)))
        spans = [(k - 1) * d + 1 for k, d in zip(kernel.shape[:rank], dilation)]
        windows = self._windows(x, spans, strides)
        windows = windows[(Ellipsis, *(slice(None, None, d) for d in dilation))]  # (n, *out, c, *k)
        windows = windows.reshape(*windows.shape[: rank + 1], groups, -1, *windows.shape[rank + 2 :])
        kernel = kernel.reshape(*kernel.shape[:-1], groups, -1)  # (*k, in / groups, groups, out / groups)
        out, taps = "xyz"[:rank], "ijk"[:rank]
        y = np.einsum(f"n{out}gc{taps},{taps}cgo->n{out}go", windows, kernel)
        return y.reshape(*y.shape[:-2], -1).astype(x.dtype)

    def conv_transpose(self, x, kernel, strides, padding, output_padding, dilation):
        rank, sizes = len(strides), x.shape[1:-1]
        full = [(n - 1) * s + (k - 1) * d + 1 for n, s, k, d in zip(sizes, strides, kernel.shape, dilation)]
        y = np.zeros((x.shape[0], *full, kernel.shape[-2]), x.dtype)
        for tap in itertools.product(*(range(k) for k in kernel.shape[:rank])):
            # tap t of input position i lands on output position i * s + t * d
            where = (
                slice(t * d, t * d + (n - 1) * s + 1, s) for t, d, n, s in zip(tap, dilation, sizes, strides)
            )
            y[(slice(None), *where)] += np.einsum("...c,oc->...o", x, kernel[tap])
        y = np.pad(y, ((0, 0), *((0, max(e - a, 0)) for (_, a), e in zip(padding, output_padding)), (0, 0)))
        crop = tuple(slice(b, n - a + e) for n, (b, a), e in zip(full, padding, output_padding))
        return y[(slice(None), *crop)].astype(x.dtype)

    def _pool(self, reduce, x, window, strides):
        windows = self._windows(x, window, strides)
        return reduce(windows, axis=tuple(range(-len(window), 0))).astype(x.dtype)

    def max_pool(self, x, window, strides):
        return self._pool(np.max, x, window, strides)

    def avg_pool(self, x, window, strides):
        return self._pool(np.mean, x, window, strides)

    def variable(self, value, trainable, name):
        return value.copy()

    def is_variable(self, x):
        return False  # variables are plain arrays

    def is_trainable(self, var):
        return True  # never asked: no array is a variable (``is_variable``)

    def assign(self, var, value):
        var[...] = value

    def assign_add(self, var, value):
        var += value

    def assign_sub(self, var, value):
        var -= value

    def read(self, var):
        return var.copy()
