"""The Backend contract: the primitives a plugin implements for its framework, in one place.

Arguments and results are the framework's native tensors; ``dtype`` arguments are bridge
``DType`` objects; ``device`` arguments are canonical names (``"cpu"``,
``"gpu:0"``). Axes arrive normalized (non-negative ints, or tuples of them). Everything else
(promotion, broadcasting checks, composite ops, indexing, randomness) is written once in the core.

Every abstract method is a primitive a backend must implement; its docstring is what the core
relies on. Elementwise binary primitives get two natives of one dtype (the core promotes first)
whose shapes broadcast as NumPy's, or a native and a Python scalar standing for a value of the
native's dtype; they return that dtype (comparisons return bool). Shapes that do not broadcast
may raise anything: the core turns the error into a ShapeError.

Optional methods come in two kinds, declared one way: a ``@fast_path`` is a primitive the core
also writes as a composite (it uses the backend's where the backend overrides it; the parity suite
checks both agree), and a ``@feature(name)`` method belongs to an optional feature ("variables",
"autodiff", "jit", "distribute") that a backend has when it overrides all of the feature's
methods. The base
methods raise UnsupportedFeatureError; ``Backend.features`` and ``Backend.fast_paths`` are derived
from what a subclass overrides.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from .dtypes import ALL_DTYPES, DType
from .errors import UnsupportedFeatureError

Native = Any
#: A Python scalar as the second operand of a binary primitive: a value of the first's dtype.
Scalar = bool | int | float
F = TypeVar("F", bound=Callable[..., Any])

#: The version of this contract. A backend states the one it implements (``contract_version``);
#: loading one built for another raises IncompatibleBackendError. Bumped on any change a
#: backend must follow (a new primitive, a changed signature or semantics).
CONTRACT_VERSION = 1

#: Optional methods: name -> the feature they belong to (None for a fast path).
_OPTIONAL: dict[str, str | None] = {}


def feature(name: str) -> Callable[[F], F]:
    """Mark a contract method as part of optional feature ``name``."""

    def mark(method: F) -> F:
        _OPTIONAL[method.__name__] = name
        return method

    return mark


def fast_path(method: F) -> F:
    """Mark a contract method as an optional fast path of a composite the core writes."""
    _OPTIONAL[method.__name__] = None
    return method


def dtype_tables(native: Callable[[DType], Any]) -> tuple[dict[DType, Any], dict[Any, DType]]:
    """Both directions of a backend's dtype table, from ``native(bridge_dtype) -> native dtype``."""
    to_native = {dtype: native(dtype) for dtype in ALL_DTYPES}
    return to_native, {value: dtype for dtype, value in to_native.items()}


def same_padding(
    sizes: tuple[int, ...], windows: tuple[int, ...], strides: tuple[int, ...], dilation: tuple[int, ...]
) -> tuple[tuple[int, int], ...]:
    """Keras' (and TensorFlow's) "same" padding per spatial axis: (before, after) giving outputs
    of ``ceil(size / stride)``, the odd extra one after."""
    padding = []
    for size, window, stride, rate in zip(sizes, windows, strides, dilation):
        total = max((-(-size // stride) - 1) * stride + (window - 1) * rate + 1 - size, 0)
        padding.append((total // 2, total - total // 2))
    return tuple(padding)


class Tape(ABC):
    """A backend's gradient recorder, entered as a context manager (see ``Backend.tape``)."""

    @abstractmethod
    def __enter__(self) -> Tape: ...

    @abstractmethod
    def __exit__(self, *exc_info: Any) -> None: ...

    @abstractmethod
    def watch(self, x: Native) -> Native:
        """Record operations on ``x`` from now on; returns the native to use from now on
        (torch: a leaf that requires grad; TensorFlow: ``x`` itself)."""

    @abstractmethod
    def gradient(
        self, targets: list[Native], sources: list[Native], create_graph: bool
    ) -> list[Native | None]:
        """Gradients of the sum of all elements of ``targets``; None for a source they do not
        depend on. ``create_graph``: the gradients will be differentiated (an outer tape is on)."""

    def spent(self, targets: list[Native]) -> list[Native]:
        """``targets`` after a gradient that used up their graph (torch, compiling: detached, so
        that a compiled step may return them); the same natives where nothing changes."""
        return targets


class Backend(ABC):
    """Base class of a backend: subclass it, set ``name`` and ``contract_version``, implement
    every abstract method, and any optional ones the framework offers."""

    name: str
    #: The CONTRACT_VERSION this backend implements (required: a backend states it itself).
    contract_version: ClassVar[int]
    #: Optional features this backend has, derived: those whose methods it all overrides.
    features: ClassVar[frozenset[str]] = frozenset()
    #: Fast paths this backend has, derived: the ``@fast_path`` methods it overrides.
    fast_paths: ClassVar[frozenset[str]] = frozenset()
    #: Whether ``jit="auto"`` compiles training and evaluation steps (eager ops are slow).
    prefers_jit: ClassVar[bool] = False
    #: Byte alignment this backend's DLPack import needs (TensorFlow's kernels abort on less).
    dlpack_alignment: int = 1

    def _unsupported(self, method: str) -> UnsupportedFeatureError:
        feature = _OPTIONAL[method]
        if feature is None:
            return UnsupportedFeatureError(f"{method}: backend {self.name!r} has no {method} fast path")
        return UnsupportedFeatureError(
            f"{method}: backend {self.name!r} does not support {feature} "
            f"(it provides: {', '.join(sorted(self.features)) or 'no optional features'})"
        )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        overridden = {name: getattr(cls, name) is not getattr(Backend, name) for name in _OPTIONAL}
        cls.fast_paths = frozenset(n for n, f in _OPTIONAL.items() if f is None and overridden[n])
        groups = {f for f in _OPTIONAL.values() if f is not None}
        cls.features = frozenset(
            f for f in groups if all(overridden[n] for n, g in _OPTIONAL.items() if g == f)
        )

    # --- framework facts -------------------------------------------------------------------
    @abstractmethod
    def version(self) -> str:
        """The framework's version string, as the framework itself reports it."""

    @abstractmethod
    def is_native(self, x: Any) -> bool:
        """Whether ``x`` is a tensor (or variable) of this framework."""

    def is_pipeline(self, x: Any) -> bool:
        """Whether ``x`` is this framework's input pipeline (an iterable of batches that ``fit``
        reads as such); asked only of objects whose type comes from ``native_modules``."""
        return False

    def tracing(self) -> bool:
        """Whether code runs under the framework's compiler (values are symbolic)."""
        return False

    # --- dtypes, devices, conversion -------------------------------------------------------
    @abstractmethod
    def dtype_of(self, x: Native) -> DType:
        """The bridge dtype of a native tensor."""

    @abstractmethod
    def cast(self, x: Native, dtype: DType) -> Native:
        """``x`` converted to ``dtype`` (floats to ints truncate toward zero)."""

    @abstractmethod
    def shape(self, x: Native) -> tuple[int, ...]:
        """The shape as a tuple of ints."""

    def ndim(self, x: Native) -> int:
        """The number of axes."""
        return len(self.shape(x))

    @abstractmethod
    def find_devices(self) -> list[str]:
        """Canonical names of the devices present, ``"cpu"`` first; asked once (see ``devices``)."""

    def devices(self) -> list[str]:
        """``find_devices()``, asked once per backend instance."""
        try:
            return self._devices
        except AttributeError:
            self._devices: list[str] = list(self.find_devices())
            return self._devices

    #: the GPU of this data-parallel worker (``DataParallel``: by ``LOCAL_RANK``), if it has one
    worker_device: str | None = None

    def default_device(self) -> str:
        """Where new tensors go unless told: the worker's GPU, else the first GPU, else the CPU."""
        return self.worker_device or next((d for d in self.devices() if d != "cpu"), "cpu")

    @abstractmethod
    def device(self, x: Native) -> str:
        """Canonical device name of a tensor."""

    @abstractmethod
    def to_device(self, x: Native, device: str) -> Native:
        """A copy of ``x`` on ``device`` (``x`` itself may do when it is there already)."""

    @abstractmethod
    def from_numpy(self, array: Any, dtype: DType, device: str) -> Native:
        """A native tensor holding a copy of a NumPy array (already of ``dtype``)."""

    @abstractmethod
    def to_numpy(self, x: Native) -> Any:
        """A NumPy array holding a copy of ``x`` (never a view a later in-place update changes)."""

    @abstractmethod
    def to_dlpack(self, x: Native, alignment: int = 1) -> Any:
        """An object with ``__dlpack__`` (or a DLPack capsule) whose data is row-major contiguous
        and starts at a multiple of ``alignment`` bytes: ``x`` itself when it is, else a copy."""

    @abstractmethod
    def from_dlpack(self, obj: Any) -> Native:
        """A native tensor from an object with ``__dlpack__`` (or a capsule)."""

    # --- creation --------------------------------------------------------------------------
    @abstractmethod
    def full(self, shape: tuple[int, ...], value: Any, dtype: DType, device: str) -> Native:
        """A tensor of ``shape`` filled with the Python scalar ``value``."""

    @abstractmethod
    def arange(self, start: Any, stop: Any, step: Any, dtype: DType, device: str) -> Native:
        """``start, start + step, ...`` below ``stop`` (above it for a negative step)."""

    # --- elementwise, unary: same dtype out, NaN in gives NaN out --------------------------
    @abstractmethod
    def negative(self, x: Native) -> Native:
        """``-x`` for ints and floats (unsigned ints wrap around, as NumPy)."""

    @abstractmethod
    def abs(self, x: Native) -> Native:
        """``|x|`` for ints and floats (unsigned ints unchanged)."""

    @abstractmethod
    def sign(self, x: Native) -> Native:
        """-1, 0 or 1 for ints and floats; NaN stays NaN (as NumPy)."""

    @abstractmethod
    def exp(self, x: Native) -> Native:
        """``e ** x`` for floats (the core casts ints); so are all float functions below."""

    @abstractmethod
    def expm1(self, x: Native) -> Native:
        """``exp(x) - 1``, accurate near 0."""

    @abstractmethod
    def log(self, x: Native) -> Native:
        """Natural logarithm: ``-inf`` at 0, NaN below."""

    @abstractmethod
    def log1p(self, x: Native) -> Native:
        """``log(1 + x)``, accurate near 0."""

    @abstractmethod
    def sqrt(self, x: Native) -> Native:
        """Square root, NaN below 0."""

    @abstractmethod
    def rsqrt(self, x: Native) -> Native:
        """``1 / sqrt(x)``: ``inf`` at 0."""

    @abstractmethod
    def sin(self, x: Native) -> Native:
        """Sine."""

    @abstractmethod
    def cos(self, x: Native) -> Native:
        """Cosine."""

    @abstractmethod
    def tan(self, x: Native) -> Native:
        """Tangent."""

    @abstractmethod
    def tanh(self, x: Native) -> Native:
        """Hyperbolic tangent."""

    @abstractmethod
    def sinh(self, x: Native) -> Native:
        """Hyperbolic sine."""

    @abstractmethod
    def cosh(self, x: Native) -> Native:
        """Hyperbolic cosine."""

    @abstractmethod
    def arctan(self, x: Native) -> Native:
        """Inverse tangent."""

    @abstractmethod
    def sigmoid(self, x: Native) -> Native:
        """``1 / (1 + exp(-x))``, without overflow for large ``|x|``."""

    @abstractmethod
    def relu(self, x: Native) -> Native:
        """``max(x, 0)`` for ints and floats; NaN stays NaN, compiled too."""

    @abstractmethod
    def erf(self, x: Native) -> Native:
        """Gauss error function; -1 and 1 at ``-inf`` and ``inf``."""

    @abstractmethod
    def floor(self, x: Native) -> Native:
        """Round floats toward ``-inf`` (the core returns ints unchanged)."""

    @abstractmethod
    def ceil(self, x: Native) -> Native:
        """Round floats toward ``+inf``."""

    @abstractmethod
    def round(self, x: Native) -> Native:
        """Round floats half to even, as NumPy."""

    @abstractmethod
    def isnan(self, x: Native) -> Native:
        """Bool: where a float is NaN (the core answers for ints itself; so for the two below)."""

    @abstractmethod
    def isinf(self, x: Native) -> Native:
        """Bool: where a float is ``+-inf``."""

    @abstractmethod
    def isfinite(self, x: Native) -> Native:
        """Bool: where a float is neither NaN nor infinite."""

    @abstractmethod
    def logical_not(self, x: Native) -> Native:
        """Not, of a bool tensor."""

    @abstractmethod
    def invert(self, x: Native) -> Native:
        """Bitwise not of an int tensor (two's complement)."""

    # --- elementwise, binary: operands as in the module docstring --------------------------
    @abstractmethod
    def add(self, a: Native, b: Native | Scalar) -> Native:
        """``a + b`` for ints (wrapping around) and floats; the arithmetic ops get no bools."""

    @abstractmethod
    def subtract(self, a: Native, b: Native | Scalar) -> Native:
        """``a - b``."""

    @abstractmethod
    def multiply(self, a: Native, b: Native | Scalar) -> Native:
        """``a * b``."""

    @abstractmethod
    def divide(self, a: Native, b: Native | Scalar) -> Native:
        """True division of floats (the core casts ints): ``+-inf`` or NaN for a zero ``b``."""

    @abstractmethod
    def floor_divide(self, a: Native, b: Native | Scalar) -> Native:
        """``a // b`` rounded toward ``-inf``; floats as NumPy's (``inf // 2`` is NaN)."""

    @abstractmethod
    def mod(self, a: Native, b: Native | Scalar) -> Native:
        """``a % b`` with the sign of the divisor ``b`` (NumPy's and Python's), ints and floats."""

    @abstractmethod
    def power(self, a: Native, b: Native | Scalar) -> Native:
        """``a ** b``; integer exponents are never negative (the core sees to it)."""

    @abstractmethod
    def maximum(self, a: Native, b: Native | Scalar) -> Native:
        """Elementwise maximum; a NaN on either side gives NaN."""

    @abstractmethod
    def minimum(self, a: Native, b: Native | Scalar) -> Native:
        """Elementwise minimum; a NaN on either side gives NaN."""

    @abstractmethod
    def equal(self, a: Native, b: Native | Scalar) -> Native:
        """Bool ``a == b`` (any dtype, bool included; NaN equals nothing)."""

    @abstractmethod
    def not_equal(self, a: Native, b: Native | Scalar) -> Native:
        """Bool ``a != b`` (any dtype, bool included)."""

    @abstractmethod
    def less(self, a: Native, b: Native | Scalar) -> Native:
        """Bool ``a < b`` for ints and floats (the core compares bools as uint8)."""

    @abstractmethod
    def less_equal(self, a: Native, b: Native | Scalar) -> Native:
        """Bool ``a <= b``."""

    @abstractmethod
    def greater(self, a: Native, b: Native | Scalar) -> Native:
        """Bool ``a > b``."""

    @abstractmethod
    def greater_equal(self, a: Native, b: Native | Scalar) -> Native:
        """Bool ``a >= b``."""

    @abstractmethod
    def logical_and(self, a: Native, b: Native) -> Native:
        """And, of two bool tensors (the core casts and converts scalars)."""

    @abstractmethod
    def logical_or(self, a: Native, b: Native) -> Native:
        """Or, of two bool tensors."""

    @abstractmethod
    def bitwise_and(self, a: Native, b: Native | Scalar) -> Native:
        """``a & b`` of ints (the core maps bool bitwise ops to logical ones)."""

    @abstractmethod
    def bitwise_or(self, a: Native, b: Native | Scalar) -> Native:
        """``a | b`` of ints."""

    @abstractmethod
    def bitwise_xor(self, a: Native, b: Native | Scalar) -> Native:
        """``a ^ b`` of ints."""

    @abstractmethod
    def left_shift(self, a: Native, b: Native | Scalar) -> Native:
        """``a << b`` of ints; 0 for counts outside ``[0, bits)``, as NumPy."""

    @abstractmethod
    def right_shift(self, a: Native, b: Native | Scalar) -> Native:
        """``a >> b`` of ints (arithmetic); the sign (0 or -1) for counts outside ``[0, bits)``."""

    @abstractmethod
    def where(self, cond: Native, x: Native, y: Native) -> Native:
        """``x`` where the bool ``cond`` holds, else ``y``; ``x`` and ``y`` of one dtype, all
        three broadcasting."""

    # --- reductions: axis None means all axes; never over zero elements for max and min ---
    @abstractmethod
    def sum(self, x: Native, axis: tuple[int, ...] | None, keepdims: bool) -> Native:
        """Sum in ``x``'s dtype (the core widens small ints first). A float32 sum is accurate to
        a few float32 ulps of the sum of magnitudes over any axes, eager and compiled:
        accumulate in float64 where the framework adds linearly."""

    @abstractmethod
    def prod(self, x: Native, axis: tuple[int, ...] | None, keepdims: bool) -> Native:
        """Product in ``x``'s dtype."""

    @abstractmethod
    def max(self, x: Native, axis: tuple[int, ...] | None, keepdims: bool) -> Native:
        """Maximum of ints or floats (bools go to ``any``); NaN propagates."""

    @abstractmethod
    def min(self, x: Native, axis: tuple[int, ...] | None, keepdims: bool) -> Native:
        """Minimum of ints or floats (bools go to ``all``); NaN propagates."""

    @abstractmethod
    def all(self, x: Native, axis: tuple[int, ...] | None, keepdims: bool) -> Native:
        """Whether every element of a bool tensor holds (True over zero elements)."""

    @abstractmethod
    def any(self, x: Native, axis: tuple[int, ...] | None, keepdims: bool) -> Native:
        """Whether some element of a bool tensor holds (False over zero elements)."""

    @abstractmethod
    def argmax(self, x: Native, axis: int) -> Native:
        """int64 indices; ties resolve to the first occurrence, and a NaN wins (the first NaN),
        as NumPy's ``argmax``/``argmin``."""

    @abstractmethod
    def argmin(self, x: Native, axis: int) -> Native:
        """As ``argmax``, for the minimum."""

    @abstractmethod
    def cumsum(self, x: Native, axis: int) -> Native:
        """Inclusive running sum along ``axis``, in ``x``'s dtype."""

    @abstractmethod
    def cumprod(self, x: Native, axis: int) -> Native:
        """Inclusive running product along ``axis``, in ``x``'s dtype."""

    # --- linear algebra --------------------------------------------------------------------
    @abstractmethod
    def matmul(self, a: Native, b: Native) -> Native:
        """NumPy's matmul of operands of one dtype and rank >= 2 (the core promotes 1-D ones
        and widens bool and narrow ints); batch dimensions broadcast."""

    @abstractmethod
    def einsum(self, subscripts: str, *operands: Native) -> Native:
        """NumPy's einsum (explicit or implicit output, ``...``), operands of one dtype (the core
        checks the subscripts, and widens bool and narrow ints)."""

    @abstractmethod
    def inv(self, a: Native) -> Native:
        """Inverse of each (..., M, M) matrix."""

    @abstractmethod
    def solve(self, a: Native, b: Native) -> Native:
        """``x`` with ``a @ x == b``; ``a`` is (..., M, M) and ``b`` is (..., M, K)."""

    @abstractmethod
    def det(self, a: Native) -> Native:
        """Determinant of each (..., M, M) matrix."""

    @abstractmethod
    def cholesky(self, a: Native) -> Native:
        """Lower triangular factor; all NaN for a matrix that is not positive definite."""

    @abstractmethod
    def svdvals(self, a: Native) -> Native:
        """Singular values, descending."""

    # --- shape -----------------------------------------------------------------------------
    @abstractmethod
    def reshape(self, x: Native, shape: tuple[int, ...]) -> Native:
        """``x`` in row-major order with ``shape`` (same number of elements; one entry may be -1)."""

    @abstractmethod
    def transpose(self, x: Native, axes: tuple[int, ...]) -> Native:
        """Axes permuted: result axis ``i`` is ``x``'s axis ``axes[i]``."""

    @abstractmethod
    def broadcast_to(self, x: Native, shape: tuple[int, ...]) -> Native:
        """``x`` broadcast to ``shape`` by NumPy's rules."""

    @abstractmethod
    def concat(self, xs: list[Native], axis: int) -> Native:
        """Join along an existing axis; tensors of one dtype."""

    @abstractmethod
    def stack(self, xs: list[Native], axis: int) -> Native:
        """Join along a new axis; tensors of one dtype and shape."""

    @abstractmethod
    def tile(self, x: Native, reps: tuple[int, ...]) -> Native:
        """``reps`` has one entry per axis."""

    @abstractmethod
    def repeat(self, x: Native, repeats: Any, axis: int) -> Native:
        """``repeats`` is an int or a 1-D native int64 tensor."""

    @abstractmethod
    def pad(self, x: Native, widths: tuple[tuple[int, int], ...], value: Any) -> Native:
        """Constant padding, one (before, after) pair per axis."""

    @abstractmethod
    def flip(self, x: Native, axes: tuple[int, ...]) -> Native:
        """``x`` reversed along ``axes``."""

    @abstractmethod
    def slice(self, x: Native, key: tuple) -> Native:
        """Basic indexing with a tuple of ints (negative ones count from the end), slices with
        positive steps, ``None`` and at most one ``Ellipsis``."""

    # --- gathering and scattering ----------------------------------------------------------
    @abstractmethod
    def take(self, x: Native, indices: Native, axis: int) -> Native:
        """Gather along ``axis`` with int64 indices of any shape, already checked to be in
        ``[0, size)``."""

    @abstractmethod
    def scatter(self, x: Native, indices: Native, updates: Native, accumulate: bool) -> Native:
        """A new 1-D tensor: ``x`` with ``updates`` set (or added) at 1-D ``indices``."""

    @abstractmethod
    def argwhere(self, x: Native) -> Native:
        """(n, ndim) int64 coordinates of the true elements, in row-major order."""

    @abstractmethod
    def sort(self, x: Native, axis: int) -> Native:
        """Ascending, NaN last (NumPy's order)."""

    @abstractmethod
    def argsort(self, x: Native, axis: int) -> Native:
        """Stable ascending sort indices, int64; NaN last and ``-0.0`` tied with ``0.0`` (NumPy's
        order)."""

    @abstractmethod
    def topk(self, x: Native, k: int) -> tuple[Native, Native]:
        """Largest ``k`` along the last axis, sorted descending, NaN counted as the largest;
        indices int64."""

    # --- fast paths (optional: the core has composites) ------------------------------------
    @fast_path
    def unstack(self, x: Native, axis: int) -> list[Native]:
        """``x``'s slices along ``axis`` (of known length), each without that axis, in one op
        whose gradient stacks them back (slicing each would give one full-size gradient per
        slice)."""
        raise self._unsupported("unstack")

    @fast_path
    def split(self, x: Native, sizes: list[int], axis: int) -> list[Native]:
        """``x`` cut along ``axis`` into consecutive pieces of ``sizes`` (which sum to its length;
        a size may be 0), in one op whose gradient joins the pieces' gradients."""
        raise self._unsupported("split")

    @fast_path
    def softmax(self, x: Native, axis: int) -> Native:
        """Softmax of floats along ``axis``; a row holding NaN or ``+inf`` is all NaN."""
        raise self._unsupported("softmax")

    @fast_path
    def log_softmax(self, x: Native, axis: int) -> Native:
        """``log(softmax(x))`` without overflow; NaN rows as ``softmax``."""
        raise self._unsupported("log_softmax")

    @fast_path
    def sparse_cross_entropy(self, logits: Native, labels: Native) -> Native:
        """Per sample ``-log_softmax(logits)[label]`` over the last axis; int64 ``labels`` of
        shape ``logits.shape[:-1]``, already checked to be in range."""
        raise self._unsupported("sparse_cross_entropy")

    @fast_path
    def dot_product_attention(
        self, query: Native, key: Native, value: Native, bias: Native | None, scale: float, is_causal: bool
    ) -> Native:
        """(B, T, N, Hv) attention of (B, T, N, H) ``query`` over (B, S, N, H) ``key`` and
        (B, S, N, Hv) ``value``, of one float dtype: ``softmax(query . key * scale + bias) . value``
        over S; ``bias`` (None, or the inputs' dtype) broadcasts to (B, N, T, S); ``is_causal``
        (only when ``bias`` is None): query ``t`` sees keys ``s <= t``."""
        raise self._unsupported("dot_product_attention")

    @fast_path
    def recurrent(
        self, mode: str, x: Native, states: list[Native], weights: list[Native]
    ) -> tuple[Native, list[Native]]:
        """A fused recurrence in torch's conventions: ``mode`` "RNN_TANH", "LSTM" or "GRU" (reset
        gate after the product); ``x`` (batch, time, features); ``states`` [h] ([h, c] for LSTM),
        each (batch, units); ``weights`` weight_ih (gates * units, features), weight_hh
        (gates * units, units), bias_ih, bias_hh, gate blocks in torch's order. Returns every
        step's h (batch, time, units) and the final states."""
        raise self._unsupported("recurrent")

    @fast_path
    def all_finite(self, xs: list[Native]) -> Native:
        """Whether every element of ``xs`` (natives of any dtypes and shapes) is finite, as a 0-d
        bool, without a host read: the optimizers' check of each step's gradients."""
        raise self._unsupported("all_finite")

    @fast_path
    def adam_update(
        self,
        variables: list[Native],
        grads: list[Native],
        m: list[Native],
        v: list[Native],
        v_max: list[Native] | None,
        beta_1_rate: Native | float,
        beta_2_rate: Native | float,
        alpha: Native,
        epsilon: float,
    ) -> None:
        """Adam's step (Keras' form) in place, for each ``i``: ``m += (g - m) * beta_1_rate``;
        ``v += (g * g - v) * beta_2_rate``; with ``v_max`` (AMSGrad) ``v_max = max(v_max, v)``;
        ``var -= m * alpha / (sqrt(v_max or v) + epsilon)``. ``variables``, ``m``, ``v`` and
        ``v_max`` are framework variables of one float dtype, ``grads`` natives of that dtype; the
        rates are floats or 0-d natives of that dtype, ``alpha`` a 0-d native of it."""
        raise self._unsupported("adam_update")

    # --- nn kernels ------------------------------------------------------------------------
    #: The layout the conv and pool kernels take, 1-3 spatial axes: True for channels-last
    #: ``(N, *spatial, C)``, False for channels-first ``(N, C, *spatial)``; the core transposes.
    channels_last: bool = True

    @abstractmethod
    def conv(
        self,
        x: Native,
        kernel: Native,
        strides: tuple[int, ...],
        padding: tuple[tuple[int, int], ...],
        dilation: tuple[int, ...],
        groups: int,
    ) -> Native:
        """Convolution; kernel (*window, in / groups, out); explicit (before, after) zero padding."""

    @abstractmethod
    def conv_transpose(
        self,
        x: Native,
        kernel: Native,
        strides: tuple[int, ...],
        padding: tuple[tuple[int, int], ...],
        output_padding: tuple[int, ...],
        dilation: tuple[int, ...],
    ) -> Native:
        """Transposed convolution, kernel (*window, out, in): per axis, positions ``before`` up to
        ``full - after + output_padding`` of the full result (``(n - 1) * s + (k - 1) * d + 1``
        long; zeros past it)."""

    @abstractmethod
    def max_pool(self, x: Native, window: tuple[int, ...], strides: tuple[int, ...]) -> Native:
        """Max over valid windows only (the core pads for ``"same"``); NaN where a window holds one."""

    @abstractmethod
    def avg_pool(self, x: Native, window: tuple[int, ...], strides: tuple[int, ...]) -> Native:
        """Mean over valid windows only."""

    # --- variables (feature "variables") ---------------------------------------------------
    @feature("variables")
    def variable(self, value: Native, trainable: bool, name: str | None) -> Native:
        """A framework variable (torch.nn.Parameter, tf.Variable) holding a copy of ``value``."""
        raise self._unsupported("variable")

    @feature("variables")
    def is_variable(self, x: Native) -> bool:
        """Whether a native is such a variable."""
        raise self._unsupported("is_variable")

    @feature("variables")
    def is_trainable(self, var: Native) -> bool:
        """Whether a variable (``is_variable``) is trained: gradients are taken for it."""
        raise self._unsupported("is_trainable")

    @feature("variables")
    def assign(self, var: Native, value: Native) -> None:
        """Set ``var`` in place to ``value`` (same dtype and shape); not recorded for gradients."""
        raise self._unsupported("assign")

    @feature("variables")
    def assign_add(self, var: Native, value: Native) -> None:
        """``var += value`` in place, as ``assign``."""
        raise self._unsupported("assign_add")

    @feature("variables")
    def assign_sub(self, var: Native, value: Native) -> None:
        """``var -= value`` in place, as ``assign``."""
        raise self._unsupported("assign_sub")

    @feature("variables")
    def read(self, var: Native) -> Native:
        """The current value as a (differentiable) tensor, not aliasing the variable."""
        raise self._unsupported("read")

    # --- autodiff (feature "autodiff") -----------------------------------------------------
    @feature("autodiff")
    def tape(self, persistent: bool, watch_accessed_variables: bool) -> Tape:
        """The framework's own autograd behind the Tape interface."""
        raise self._unsupported("tape")

    @feature("autodiff")
    def stop_gradient(self, x: Native) -> Native:
        """``x`` with no gradient flowing back."""
        raise self._unsupported("stop_gradient")

    @feature("autodiff")
    def custom_gradient(self, forward: Callable[..., Any], *xs: Native) -> Native:
        """``forward(*xs)`` returns ``(y, grad_fn)``; the result is ``y``, differentiated with
        ``grad_fn(dy) -> list of input gradients`` (twice too, for higher derivatives)."""
        raise self._unsupported("custom_gradient")

    # --- data-parallel workers (feature "distribute") ---------------------------------------
    @feature("distribute")
    def join_workers(self, timeout: float) -> tuple[int, int]:
        """Join the group of worker processes the environment describes (torchrun's ``RANK``,
        ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``; TensorFlow's ``TF_CONFIG``; neither: a
        group of one) with the framework's own engine, whose collectives give up after
        ``timeout`` seconds; returns this worker's rank and the number of workers."""
        raise self._unsupported("join_workers")

    @feature("distribute")
    def all_reduce(self, xs: list[Native]) -> list[Native]:
        """Each of ``xs`` summed over the workers, who all call this with natives of the same
        shapes and dtypes in the same order; eagerly or in a traced function."""
        raise self._unsupported("all_reduce")

    @feature("distribute")
    def leave_workers(self) -> None:
        """Leave the group ``join_workers`` joined (what the framework allows of it)."""
        raise self._unsupported("leave_workers")

    # --- jit (feature "jit") ---------------------------------------------------------------
    @feature("jit")
    def jit(self, fn: Callable[..., Any], jit_mode: str = "default", **options: Any) -> Callable[..., Any]:
        """``fn`` (natives in, natives out, pytrees allowed) compiled by the framework
        (tf.function, torch.compile), options passed through. ``jit_mode`` is one of
        ``bridge.jit.MODES``: a backend does what it can of "graph" (replay a CUDA graph) and
        "xla" (compile with XLA), and compiles as "default" where it cannot. (A backend whose
        ``jit`` takes no ``jit_mode`` compiles every mode as "default".)"""
        raise self._unsupported("jit")
