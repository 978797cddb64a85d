"""bridge primitives on TensorFlow."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import tensorflow as tf

from bridge.backend import Backend, Tape, dtype_tables, same_padding
from bridge.dtypes import DType, int64

_TO_TF, _FROM_TF = dtype_tables(lambda dtype: tf.as_dtype(dtype.name))
_FROM_ENUM = {v.as_datatype_enum: k for k, v in _TO_TF.items()}
_raw = tf.raw_ops


def _raw_binary(op):
    """A raw op taking (x, y): half the eager cost of its ``tf.math`` wrapper, which only adds
    dispatch machinery bridge does not need (operands already share one dtype)."""
    return staticmethod(lambda a, b: op(x=a, y=b))


def _floor_divide(a, b):
    """``a // b``; floats as NumPy's ``divmod`` (``floor((a - fmod(a, b)) / b)``, so ``inf // 2`` is
    NaN and float32 ``1 // 0.1`` is 9, where TensorFlow's FloorDiv gives ``inf`` and 10)."""
    b = tf.convert_to_tensor(b, a.dtype)  # a Python scalar too
    if not a.dtype.is_floating:
        return _raw.FloorDiv(x=a, y=b)
    if a.dtype.size < 4:  # no half kernels for TruncateMod: compute in float32, as NumPy does
        return tf.cast(_floor_divide(tf.cast(a, tf.float32), tf.cast(b, tf.float32)), a.dtype)
    a, b = tf.stop_gradient(a), tf.stop_gradient(b)  # piecewise constant: zero gradient
    mod = _raw.TruncateMod(x=a, y=b)
    div = (a - mod) / b
    div = tf.where((mod != 0) & ((b < 0) != (mod < 0)), div - 1, div)
    floor = tf.math.floor(div)
    floor = tf.where(div - floor > 0.5, floor + 1, floor)
    floor = tf.where(div == 0, 0 * (a / b), floor)  # a zero with the sign of a / b
    return tf.where(b == 0, a / b, floor)


def _shift(shift, a, b):
    """``a << b`` or ``a >> b`` with NumPy's answer for counts outside ``[0, bits)``: 0 for ``<<``,
    the sign (0 or -1) for ``>>``, where TensorFlow's kernels leave them undefined."""
    bits = a.dtype.size * 8
    b = tf.convert_to_tensor(b, a.dtype)  # a Python int count too
    inside = (b >= 0) & (b < bits)
    shifted = shift(a, tf.where(inside, b, tf.zeros_like(b)))
    if shift is tf.bitwise.left_shift:
        return tf.where(inside, shifted, tf.zeros_like(a))
    sign = tf.bitwise.right_shift(tf.bitwise.right_shift(a, tf.constant(bits - 1, a.dtype)), tf.ones_like(a))
    return tf.where(inside, shifted, sign)


def _nan_rows(fn):
    """``fn(x, axis)`` (softmax) with a NaN row wherever the input row holds a NaN or +inf, as
    NumPy's ``exp(x - max) / sum`` and torch; TensorFlow's kernel gives 0 to the other entries."""

    def wrapper(self, x, axis):
        out = fn(x, axis=axis)
        has_nan = tf.reduce_any(tf.math.is_nan(x) | (x == float("inf")), axis=axis, keepdims=True)
        return tf.where(has_nan, tf.constant(float("nan"), x.dtype), out)

    return wrapper


def _trailing(axis: tuple[int, ...] | None, rank: int | None) -> bool:
    """Whether a reduction runs over the last axes only (all of them when ``axis`` is None)."""
    if axis is None:
        return True
    return rank is not None and tuple(sorted(axis)) == tuple(range(rank - len(axis), rank))


def _sum_over_outer_axes(x, axis: tuple[int, ...], keepdims: bool):
    """A float32 sum over axes that are not the last ones. Eigen adds the rows of such a reduction
    one after another (relative error 3.5e-6 over 1e5 rows) but sums the last axes accurately:
    the reduced axes are moved last (one copy: a float64 accumulator, correctly rounded too, takes
    4x longer); a float64 accumulator where the rank is unknown."""
    rank = x.shape.rank
    if rank is None:
        return tf.cast(tf.reduce_sum(tf.cast(x, tf.float64), axis=axis, keepdims=keepdims), tf.float32)
    reduced = sorted(axis)
    kept = [a for a in range(rank) if a not in reduced]

    @tf.custom_gradient
    def summed(x):
        total = tf.reduce_sum(tf.transpose(x, [*kept, *reduced]), axis=list(range(len(kept), rank)))
        kept_dims = tf.reshape(total, [tf.shape(x)[a] if a in kept else 1 for a in range(rank)])
        # the gradient of a sum, as TensorFlow's own: the incoming one spread over the summed axes
        return (kept_dims if keepdims else total), lambda g: tf.broadcast_to(
            tf.reshape(g, tf.shape(kept_dims)), tf.shape(x)
        )

    return summed(x)


def _tf_device(name: str) -> str:
    return "/CPU:0" if name == "cpu" else f"/GPU:{name.partition(':')[2]}"


@functools.cache
def _canonical(device: str) -> str:
    kind, _, index = device.rpartition("device:")[2].partition(":")
    return "cpu" if kind.upper() != "GPU" else f"gpu:{index or 0}"


_CHANNELS_LAST = {1: "NWC", 2: "NHWC", 3: "NDHWC"}


def _dilate_kernel(kernel, dilation):
    """``kernel`` (*spatial, out, in) with ``d - 1`` zeros between its taps along each spatial axis."""
    for axis, d in enumerate(dilation):
        if d > 1:
            taps = tf.unstack(kernel, axis=axis)
            gap = [tf.zeros_like(taps[0])] * (d - 1)
            kernel = tf.stack([t for tap in taps[:-1] for t in (tap, *gap)] + taps[-1:], axis=axis)
    return kernel


def _depthwise_conv(x, kernel, strides, padding, dilation, channels):
    """A convolution with one input channel a group, kernel (*window, 1, C * M), by TensorFlow's
    depthwise kernel ((kh, kw, C, M), output channel c * M + m as the groups'), 1-D as 2-D of
    height 1: one op where a conv a group took C. Strided after the op where TensorFlow refuses
    the strides (dilated, or unequal ones)."""
    if len(strides) == 1:
        x, kernel = x[:, None], kernel[None]
        strides, padding, dilation = (1, *strides), ((0, 0), *padding), (1, *dilation)
        return _depthwise_conv(x, kernel, strides, padding, dilation, channels)[:, 0]
    if any(w for pair in padding for w in pair):
        x = tf.pad(x, [(0, 0), *padding, (0, 0)])
    kernel = tf.reshape(kernel, (*kernel.shape[:2], channels, kernel.shape[-1] // channels))
    after = strides[0] != strides[1] or (any(d > 1 for d in dilation) and any(s > 1 for s in strides))
    steps = (1, 1) if after else strides
    out = tf.nn.depthwise_conv2d(x, kernel, (1, *steps, 1), "VALID", dilations=dilation)
    return out[:, :: strides[0], :: strides[1]] if after else out


def _max_pool2d(x, window, strides):
    """2-D max pool over valid windows, NaN and -inf as NumPy and torch. TensorFlow's CPU MaxPool
    skips NaN and starts from the lowest finite float, so a window of NaN or of -inf gives that
    float: NaN where a window holds one, -inf where the result is the lowest float but no element
    is. One pool of flags finds both."""
    out = tf.nn.max_pool2d(x, window, strides, "VALID")
    lowest = tf.constant(x.dtype.min, x.dtype)
    flags = 2 * tf.cast(tf.math.is_nan(x), x.dtype) + tf.cast(tf.equal(x, lowest), x.dtype)
    flags = tf.nn.max_pool2d(flags, window, strides, "VALID")
    out = tf.where(tf.equal(out, lowest) & (flags < 1), tf.constant(-float("inf"), x.dtype), out)
    return tf.where(flags >= 2, tf.constant(float("nan"), x.dtype), out)


def _pool_nd(pool2d, x, window, strides):
    """``pool2d`` (NHWC, valid windows) over 1-3 spatial axes: a 1-D window is a 2-D one of height
    1; a 3-D one pools (h, w) and then d, exact as max and mean are separable (TensorFlow's CPU
    has no float64 or float16 3-D pooling)."""
    if len(window) == 1:
        return pool2d(x[:, None], (1, *window), (1, *strides))[:, 0]
    if len(window) == 2:
        return pool2d(x, window, strides)
    shape = tf.shape(x)
    planes = pool2d(tf.reshape(x, tf.concat([[-1], shape[2:]], 0)), window[1:], strides[1:])
    plane_shape = tf.shape(planes)[1:]
    flat = tf.reshape(planes, tf.stack([shape[0], shape[1], plane_shape[0] * plane_shape[1], shape[4]]))
    out = pool2d(flat, (window[0], 1), (strides[0], 1))
    return tf.reshape(out, tf.concat([tf.shape(out)[:2], plane_shape], 0))


_KEY_BITS = {16: (tf.int16, 0x7FFF), 32: (tf.int32, 0x7FFFFFFF), 64: (tf.int64, 0x7FFFFFFFFFFFFFFF)}


def _order_key(x):
    """``x`` itself where TensorFlow sorts it right, else integers in the order NumPy sorts it:
    bool and uint8 (no sort kernel) widened; floats as -inf < ... < -0 = 0 < ... < inf < NaN
    (TensorFlow's float sort leaves NaN anywhere), every NaN made the one positive NaN and -0
    made 0 first, so ties stay ties for stable sorting."""
    if x.dtype in (tf.bool, tf.uint8):
        return tf.cast(x, tf.int16)
    if not x.dtype.is_floating:
        return x
    itype, magnitude = _KEY_BITS[x.dtype.size * 8]
    x = tf.where(tf.math.is_nan(x), tf.constant(float("nan"), x.dtype), x + tf.zeros((), x.dtype))
    bits = tf.bitcast(x, itype)
    return tf.where(bits < 0, tf.bitwise.bitwise_xor(bits, tf.constant(magnitude, itype)), bits)


def _first_nan_or(arg_fn, x, axis):
    """``arg_fn`` (argmax/argmin) of ``x``, but the first NaN along ``axis`` where there is one."""
    if not x.dtype.is_floating:
        return arg_fn(x, axis=axis, output_type=tf.int64)
    nan = tf.math.is_nan(x)
    first_nan = tf.math.argmax(tf.cast(nan, tf.int8), axis=axis, output_type=tf.int64)
    return tf.where(tf.reduce_any(nan, axis=axis), first_nan, arg_fn(x, axis=axis, output_type=tf.int64))


class TensorFlowTape(Tape):
    """tf.GradientTape behind the Tape interface."""

    def __init__(self, persistent: bool, watch_accessed_variables: bool) -> None:
        self._tape = tf.GradientTape(persistent=persistent, watch_accessed_variables=watch_accessed_variables)

    def __enter__(self) -> TensorFlowTape:
        self._tape.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._tape.__exit__(*exc_info)

    def watch(self, x):
        self._tape.watch(x)
        return x

    def gradient(self, targets, sources, create_graph):
        grads = self._tape.gradient(targets, sources)
        # gathers give IndexedSlices (sparse rows): bridge gradients are dense tensors
        return [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]


class TensorFlowBackend(Backend):
    name = "tensorflow"
    contract_version = 1
    prefers_jit = True  # eager TensorFlow is ~10x slower per op than a tf.function

    def version(self) -> str:
        return tf.__version__

    def is_native(self, x: Any) -> bool:
        return isinstance(x, (tf.Tensor, tf.Variable))

    def is_pipeline(self, x: Any) -> bool:
        return isinstance(x, tf.data.Dataset)

    # --- dtypes, devices, conversion -----------------------------------------------------
    def dtype_of(self, x: tf.Tensor) -> DType:
        try:  # eager tensors: the enum is a C call; ``x.dtype`` builds a DType (4x slower)
            return _FROM_ENUM[x._datatype_enum()]
        except AttributeError:  # graph tensors and variables
            return _FROM_TF[x.dtype]

    def cast(self, x, dtype):
        return _raw.Cast(x=x, DstT=_TO_TF[dtype])

    def shape(self, x) -> tuple[int, ...]:
        return tuple(x.shape)

    def find_devices(self) -> list[str]:
        gpus = [d for d in tf.config.list_logical_devices() if d.device_type == "GPU"]
        return ["cpu"] + [_canonical(d.name) for d in gpus]

    def device(self, x) -> str:
        return _canonical(x.device) if x.device else self.default_device()

    def to_device(self, x, device):
        with tf.device(_tf_device(device)):
            return tf.identity(x)

    def from_numpy(self, array: np.ndarray, dtype: DType, device: str):
        with tf.device(_tf_device(device)):
            return tf.constant(array, dtype=_TO_TF[dtype])

    def to_numpy(self, x) -> np.ndarray:
        """A copy, never a view of the tensor's buffer."""
        return np.array(x.numpy())

    #: TensorFlow imports any DLPack buffer, but its kernels abort the process (a fatal CHECK)
    #: on data that is not 64-byte aligned (EIGEN_MAX_ALIGN_BYTES).
    dlpack_alignment = 64

    def to_dlpack(self, x, alignment: int = 1):
        """TensorFlow's buffers are row-major and 64-byte aligned already."""
        return tf.experimental.dlpack.to_dlpack(x)

    def from_dlpack(self, obj):
        capsule = obj.__dlpack__() if hasattr(obj, "__dlpack__") else obj
        return tf.experimental.dlpack.from_dlpack(capsule)

    # --- creation --------------------------------------------------------------------------
    def full(self, shape, value, dtype, device):
        with tf.device(_tf_device(device)):
            return tf.fill(shape, tf.constant(value, dtype=_TO_TF[dtype]))

    def arange(self, start, stop, step, dtype, device):
        with tf.device(_tf_device(device)):
            return tf.range(start, stop, step, dtype=_TO_TF[dtype])

    # --- elementwise -----------------------------------------------------------------------
    def negative(self, x):  # uint8 wraps, as NumPy and torch (TensorFlow has no uint8 kernel)
        return _raw.Sub(x=tf.zeros_like(x), y=x) if x.dtype == tf.uint8 else tf.math.negative(x)

    def abs(self, x):
        return x if x.dtype == tf.uint8 else tf.math.abs(x)

    def sign(self, x):
        return tf.cast(x > 0, x.dtype) if x.dtype == tf.uint8 else tf.math.sign(x)

    exp = staticmethod(tf.math.exp)
    expm1 = staticmethod(tf.math.expm1)
    log = staticmethod(tf.math.log)
    log1p = staticmethod(tf.math.log1p)
    sqrt = staticmethod(tf.math.sqrt)
    rsqrt = staticmethod(tf.math.rsqrt)
    sin = staticmethod(tf.math.sin)
    cos = staticmethod(tf.math.cos)
    tan = staticmethod(tf.math.tan)
    tanh = staticmethod(tf.math.tanh)
    sinh = staticmethod(tf.math.sinh)
    cosh = staticmethod(tf.math.cosh)
    arctan = staticmethod(tf.math.atan)
    sigmoid = staticmethod(tf.math.sigmoid)

    @staticmethod
    def relu(x):
        # Inside tf.function, grappler's remapper fuses MatMul/Conv2D + BiasAdd + Relu into one
        # oneDNN kernel whose relu turns NaN into 0 (eager Relu keeps NaN). Maximum(0, x) is not
        # fused, keeps NaN, and has Relu's gradient (0 at x == 0); eager keeps the faster Relu.
        if tf.executing_eagerly():
            return _raw.Relu(features=x)
        return _raw.Maximum(x=tf.zeros((), x.dtype), y=x)

    def erf(self, x):  # TensorFlow's float64 kernel gives NaN at +-inf
        return tf.where(tf.math.is_inf(x), tf.math.sign(x), tf.math.erf(x))

    floor = staticmethod(tf.math.floor)
    ceil = staticmethod(tf.math.ceil)
    round = staticmethod(tf.math.round)
    isnan = staticmethod(tf.math.is_nan)
    isinf = staticmethod(tf.math.is_inf)
    isfinite = staticmethod(tf.math.is_finite)
    logical_not = staticmethod(tf.math.logical_not)
    invert = staticmethod(tf.bitwise.invert)

    add = _raw_binary(_raw.AddV2)
    subtract = _raw_binary(_raw.Sub)
    multiply = _raw_binary(_raw.Mul)
    divide = _raw_binary(_raw.RealDiv)
    floor_divide = staticmethod(_floor_divide)
    mod = _raw_binary(_raw.FloorMod)

    def power(self, a, b):  # no uint8 kernel: int32 keeps the low 8 bits (wraps as NumPy)
        if a.dtype != tf.uint8:
            return _raw.Pow(x=a, y=b)
        return tf.cast(_raw.Pow(x=tf.cast(a, tf.int32), y=tf.cast(b, tf.int32)), tf.uint8)

    maximum = _raw_binary(_raw.Maximum)
    minimum = _raw_binary(_raw.Minimum)
    equal = _raw_binary(_raw.Equal)
    not_equal = _raw_binary(_raw.NotEqual)
    less = _raw_binary(_raw.Less)
    less_equal = _raw_binary(_raw.LessEqual)
    greater = _raw_binary(_raw.Greater)
    greater_equal = _raw_binary(_raw.GreaterEqual)
    logical_and = staticmethod(tf.math.logical_and)
    logical_or = staticmethod(tf.math.logical_or)
    bitwise_and = staticmethod(tf.bitwise.bitwise_and)
    bitwise_or = staticmethod(tf.bitwise.bitwise_or)
    bitwise_xor = staticmethod(tf.bitwise.bitwise_xor)
    left_shift = staticmethod(functools.partial(_shift, tf.bitwise.left_shift))
    right_shift = staticmethod(functools.partial(_shift, tf.bitwise.right_shift))

    def where(self, cond, x, y):
        return tf.where(cond, x, y)

    # --- reductions ------------------------------------------------------------------------
    def sum(self, x, axis, keepdims):
        if axis is None and not keepdims:
            return tf.reduce_sum(x)
        if x.dtype == tf.float32 and not _trailing(axis, x.shape.rank):
            return _sum_over_outer_axes(x, axis, keepdims)
        return tf.reduce_sum(x, axis=axis, keepdims=keepdims)

    def prod(self, x, axis, keepdims):
        return tf.reduce_prod(x, axis=axis, keepdims=keepdims)

    def max(self, x, axis, keepdims):
        return tf.reduce_max(x, axis=axis, keepdims=keepdims)

    def min(self, x, axis, keepdims):
        return tf.reduce_min(x, axis=axis, keepdims=keepdims)

    def all(self, x, axis, keepdims):
        return tf.reduce_all(x, axis=axis, keepdims=keepdims)

    def any(self, x, axis, keepdims):
        return tf.reduce_any(x, axis=axis, keepdims=keepdims)

    def argmax(self, x, axis):
        return _first_nan_or(tf.math.argmax, x, axis)

    def argmin(self, x, axis):
        return _first_nan_or(tf.math.argmin, x, axis)

    def cumsum(self, x, axis):
        return tf.math.cumsum(x, axis=axis)

    def cumprod(self, x, axis):
        return tf.math.cumprod(x, axis=axis)

    # --- linear algebra --------------------------------------------------------------------
    def matmul(self, a, b):
        if a.shape.rank == 2 and b.shape.rank == 2:  # MatMul's kernel beats BatchMatMul's on 2-D
            return _raw.MatMul(a=a, b=b)
        if b.shape.rank == 2:  # (..., k) @ (k, n), a Dense layer's: one MatMul of the rows, whose
            return tf.tensordot(a, b, 1)  # gradient is one too (BatchMatMul's sums a product a batch)
        return _raw.BatchMatMulV2(x=a, y=b)

    inv = staticmethod(tf.linalg.inv)
    solve = staticmethod(tf.linalg.solve)
    det = staticmethod(tf.linalg.det)

    def cholesky(self, a):  # TensorFlow fills only the lower triangle with NaN on failure
        factor = tf.linalg.cholesky(a)
        failed = tf.reduce_any(tf.math.is_nan(factor), axis=(-2, -1), keepdims=True)
        return tf.where(failed, tf.constant(float("nan"), factor.dtype), factor)

    def svdvals(self, a):
        return tf.linalg.svd(a, compute_uv=False)

    def einsum(self, subscripts, *operands):
        return tf.einsum(subscripts, *operands)

    # --- shape -----------------------------------------------------------------------------
    def reshape(self, x, shape):
        return tf.reshape(x, shape)

    def transpose(self, x, axes):
        return tf.transpose(x, axes)

    def broadcast_to(self, x, shape):
        return tf.broadcast_to(x, shape)

    def concat(self, xs, axis):
        return tf.concat(xs, axis)

    def stack(self, xs, axis):
        return tf.stack(xs, axis)

    def unstack(self, x, axis):
        return tf.unstack(x, axis=axis)

    def split(self, x, sizes, axis):
        return tf.split(x, sizes, axis=axis)

    def tile(self, x, reps):
        return tf.tile(x, reps)

    def repeat(self, x, repeats, axis):
        if x.shape.num_elements() == 0:  # tf.repeat fails on some empty tensors ((0, 2) along axis 1)
            length = tf.reduce_sum(repeats) if tf.is_tensor(repeats) else x.shape[axis] * repeats
            shape = tf.shape(x, out_type=tf.int64)
            shape = tf.concat([shape[:axis], [tf.cast(length, tf.int64)], shape[axis + 1 :]], 0)
            return tf.zeros(shape, x.dtype)
        return tf.repeat(x, repeats, axis=axis)

    def pad(self, x, widths, value):
        return tf.pad(x, widths, constant_values=tf.constant(value, dtype=x.dtype))

    def flip(self, x, axes):
        return tf.reverse(x, axes)

    def slice(self, x, key):
        return x[key]

    # --- gathering and scattering ----------------------------------------------------------
    def take(self, x, indices, axis):
        return tf.gather(x, indices, axis=axis)

    def scatter(self, x, indices, updates, accumulate):
        scatter = tf.tensor_scatter_nd_add if accumulate else tf.tensor_scatter_nd_update
        return scatter(x, tf.expand_dims(indices, -1), updates)

    def argwhere(self, x):
        return tf.where(x)

    def sort(self, x, axis):
        key = _order_key(x)
        if key is x:
            return tf.sort(x, axis=axis)
        order = tf.argsort(key, axis=axis, stable=True)
        return tf.experimental.numpy.take_along_axis(x, order, axis)  # differentiable, unlike the key

    def argsort(self, x, axis):
        return tf.cast(tf.argsort(_order_key(x), axis=axis, stable=True), tf.int64)

    def topk(self, x, k):
        key = _order_key(x)
        if key is x:
            values, indices = tf.math.top_k(x, k, sorted=True)
            return values, tf.cast(indices, _TO_TF[int64])
        indices = tf.math.top_k(key, k, sorted=True).indices
        values = tf.gather(x, indices, axis=-1, batch_dims=len(x.shape) - 1)
        return values, tf.cast(indices, _TO_TF[int64])

    # --- nn --------------------------------------------------------------------------------
    softmax = _nan_rows(tf.nn.softmax)
    log_softmax = _nan_rows(tf.nn.log_softmax)

    def sparse_cross_entropy(self, logits, labels):
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)

    channels_last = True  # TensorFlow's CPU conv and pool kernels take only NHWC

    def conv(self, x, kernel, strides, padding, dilation, groups):
        if groups > 1 and kernel.shape[-2] == 1 and len(strides) < 3:  # one channel a group
            return _depthwise_conv(x, kernel, strides, padding, dilation, groups)
        if groups > 1:  # no grouped-conv gradients on CPU (nor grouped 3-D convs): one conv a group
            pairs = zip(tf.split(x, groups, axis=-1), tf.split(kernel, groups, axis=-1))
            return tf.concat([self.conv(a, k, strides, padding, dilation, 1) for a, k in pairs], -1)
        # tf.nn.convolution handles dilation on CPU (space-to-batch, gradients included) but
        # takes no explicit padding and refuses strides > 1 with dilation > 1: pad first (unless
        # the padding is "SAME"'s, which the kernel does without a pass of its own), and stride
        # by slicing in that case.
        dilated = any(d > 1 for d in dilation) and any(s > 1 for s in strides)
        steps = (1,) * len(strides) if dilated else strides
        sizes = tuple(x.shape[1:-1])
        known = None not in sizes and padding == same_padding(sizes, kernel.shape[:-2], steps, dilation)
        mode = "SAME" if known else "VALID"
        if mode == "VALID" and any(w for pair in padding for w in pair):
            x = tf.pad(x, [(0, 0), *padding, (0, 0)])
        # an explicit data_format: Conv3D's gradient needs it set
        out = tf.nn.convolution(x, kernel, steps, mode, _CHANNELS_LAST[len(strides)], dilation)
        return out[(slice(None), *(slice(None, None, s) for s in strides))] if dilated else out

    def conv_transpose(self, x, kernel, strides, padding, output_padding, dilation):
        kernel = _dilate_kernel(kernel, dilation)  # no dilated transposed convs on CPU
        spans = kernel.shape[:-2]
        full = [(n - 1) * s + k for n, s, k in zip(x.shape[1:-1], strides, spans)]
        shape = tf.stack([tf.shape(x)[0], *full, kernel.shape[-2]])
        out = tf.nn.conv_transpose(x, kernel, shape, strides, "VALID")
        crop = [slice(b, n - max(a - extra, 0)) for n, (b, a), extra in zip(full, padding, output_padding)]
        out = out[(slice(None), *crop)]
        zeros = [(0, max(extra - a, 0)) for (_, a), extra in zip(padding, output_padding)]
        return tf.pad(out, [(0, 0), *zeros, (0, 0)]) if any(z for _, z in zeros) else out

    def max_pool(self, x, window, strides):
        return _pool_nd(_max_pool2d, x, window, strides)

    def avg_pool(self, x, window, strides):
        return _pool_nd(functools.partial(tf.nn.avg_pool2d, padding="VALID"), x, window, strides)

    # --- variables -------------------------------------------------------------------------
    def variable(self, value, trainable, name):
        return tf.Variable(value, trainable=trainable, name=name)

    def is_variable(self, x):
        return isinstance(x, tf.Variable)

    def is_trainable(self, var):
        return var.trainable

    def assign(self, var, value):
        var.assign(value)

    def assign_add(self, var, value):
        var.assign_add(value)

    def assign_sub(self, var, value):
        var.assign_sub(value)

    def read(self, var):
        return tf.identity(var)

    # --- autodiff --------------------------------------------------------------------------
    def tape(self, persistent, watch_accessed_variables):
        return TensorFlowTape(persistent, watch_accessed_variables)

    def stop_gradient(self, x):
        return tf.stop_gradient(x)

    def custom_gradient(self, forward, *xs):
        @tf.custom_gradient
        def differentiated(*inputs):
            y, grad_fn = forward(*inputs)
            return y, lambda dy: list(grad_fn(dy))

        return differentiated(*xs)

    # --- jit -------------------------------------------------------------------------------
    # data-parallel workers: tf.distribute (see workers.py)
    def join_workers(self, timeout):
        from .workers import Workers

        return Workers.join(timeout)

    def all_reduce(self, xs):
        from .workers import Workers

        return Workers.all_reduce(xs)

    def leave_workers(self):  # TensorFlow has no way to leave a collective group: the process ends
        pass

    def jit(self, fn, jit_mode="default", **options):
        # AutoGraph rewrites `if`/`while` on tf.Tensors; bridge code branches on bridge Tensors,
        # which it cannot see, so it is off unless asked for. ("graph": tf.function is a graph.)
        defaults = {"autograph": False, "jit_compile": True} if jit_mode == "xla" else {"autograph": False}
        return tf.function(fn, **{**defaults, **options})

    def tracing(self):
        return not tf.executing_eagerly()
