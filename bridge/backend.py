"""The Backend contract: the primitives a plugin implements for its framework.

Arguments and results are the framework's native tensors; ``dtype`` arguments are bridge
:class:`~bridge.dtypes.DType` objects; ``device`` arguments are canonical names (``"cpu"``,
``"gpu:0"``). Axes arrive normalized (non-negative ints, or tuples of them). Everything else
(promotion, broadcasting checks, composite ops, indexing, randomness) is written once in the core.

A backend may also set the optional fast paths listed in :data:`OPTIONAL`; the core then uses them
instead of its composite, and the parity suite checks that both agree.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from .dtypes import DType
from .errors import UnsupportedFeatureError

Native = Any

#: Primitives a backend must provide, by group. Elementwise ones take and return native tensors
#: of one dtype (binary ones may also take a Python scalar as the second argument).
UNARY = (
    "negative abs sign exp expm1 log log1p sqrt rsqrt sin cos tan tanh sinh cosh arctan "
    "sigmoid relu erf floor ceil round isnan isinf isfinite logical_not invert"
).split()
BINARY = (
    "add subtract multiply divide floor_divide mod power maximum minimum "
    "equal not_equal less less_equal greater greater_equal logical_and logical_or "
    "bitwise_and bitwise_or bitwise_xor left_shift right_shift"
).split()
REDUCTIONS = "sum prod max min all any".split()


def missing_primitives(backend: object) -> list[str]:
    """Names of elementwise and reduction primitives a backend does not bind."""
    return [n for n in (*UNARY, *BINARY, *REDUCTIONS) if not callable(getattr(backend, n, None))]


#: Optional fast paths (attribute set to None when absent): softmax(x, axis), log_softmax(x, axis),
#: sparse_cross_entropy(logits, labels) (per-sample -log_softmax(logits)[label] over the last
#: axis; labels int64 of logits.shape[:-1]).
OPTIONAL = ("softmax", "log_softmax", "sparse_cross_entropy")

#: Optional features, each a group of methods below; a backend lists those it provides in
#: ``features``, and calling into one it lacks raises UnsupportedFeatureError.
FEATURES = ("variables", "autodiff", "jit")


def _unsupported(feature: str, method: str):
    def method_of_a_missing_feature(self: Backend, *args: Any, **kwargs: Any) -> Any:
        raise UnsupportedFeatureError(
            f"{method}: backend {self.name!r} does not support {feature} "
            f"(it provides: {', '.join(sorted(self.features)) or 'no optional features'})"
        )

    method_of_a_missing_feature.__name__ = method
    return method_of_a_missing_feature


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


class Backend(ABC):
    """Base class of a backend. Subclasses also bind every name in UNARY, BINARY and REDUCTIONS
    (reductions take ``(x, axis: tuple[int, ...] | None, keepdims: bool)``, None meaning all
    axes). A float32 ``sum`` is accurate to a few float32 ulps of the sum of magnitudes over any
    axes, eager and compiled: accumulate in float64 where the framework adds linearly."""

    name: str
    features: frozenset[str] = frozenset()
    softmax = None
    log_softmax = None
    sparse_cross_entropy = None
    #: Byte alignment this backend's DLPack import needs (TensorFlow's kernels abort on less).
    dlpack_alignment: int = 1

    # --- framework facts -------------------------------------------------------------------
    @abstractmethod
    def version(self) -> str:
        """The framework's version string."""

    @abstractmethod
    def is_native(self, x: Any) -> bool:
        """Whether ``x`` is a tensor of this framework."""

    # --- dtypes, devices, conversion -------------------------------------------------------
    @abstractmethod
    def dtype_of(self, x: Native) -> DType:
        """The bridge dtype of a native tensor."""

    @abstractmethod
    def cast(self, x: Native, dtype: DType) -> Native: ...

    @abstractmethod
    def shape(self, x: Native) -> tuple[int, ...]: ...

    def ndim(self, x: Native) -> int:
        return len(self.shape(x))

    def tracing(self) -> bool:
        """Whether code runs under the framework's compiler (values are symbolic)."""
        return False

    @abstractmethod
    def devices(self) -> list[str]:
        """Canonical names of the devices present, ``"cpu"`` first."""

    @abstractmethod
    def default_device(self) -> str: ...

    @abstractmethod
    def device(self, x: Native) -> str:
        """Canonical device name of a tensor."""

    @abstractmethod
    def to_device(self, x: Native, device: str) -> Native: ...

    @abstractmethod
    def from_numpy(self, array: Any, dtype: DType, device: str) -> Native:
        """A native tensor holding a copy of a NumPy array (already of ``dtype``)."""

    @abstractmethod
    def to_numpy(self, x: Native) -> Any: ...

    @abstractmethod
    def to_dlpack(self, x: Native, alignment: int = 1) -> Any:
        """An object with ``__dlpack__`` (or a DLPack capsule) whose data is row-major contiguous
        and starts at a multiple of ``alignment`` bytes: ``x`` itself when it is, else a copy."""

    @abstractmethod
    def from_dlpack(self, obj: Any) -> Native: ...

    # --- creation --------------------------------------------------------------------------
    @abstractmethod
    def full(self, shape: tuple[int, ...], value: Any, dtype: DType, device: str) -> Native: ...

    @abstractmethod
    def arange(self, start: Any, stop: Any, step: Any, dtype: DType, device: str) -> Native: ...

    # --- elementwise selection and reductions with indices ---------------------------------
    @abstractmethod
    def where(self, cond: Native, x: Native, y: Native) -> Native: ...

    @abstractmethod
    def argmax(self, x: Native, axis: int) -> Native:
        """int64 indices; ties resolve to the first occurrence, and a NaN wins (the first NaN),
        as NumPy's ``argmax``/``argmin``."""

    @abstractmethod
    def argmin(self, x: Native, axis: int) -> Native: ...

    @abstractmethod
    def cumsum(self, x: Native, axis: int) -> Native: ...

    @abstractmethod
    def cumprod(self, x: Native, axis: int) -> Native: ...

    # --- linear algebra --------------------------------------------------------------------
    @abstractmethod
    def matmul(self, a: Native, b: Native) -> Native:
        """NumPy's matmul: 1-D operands are promoted to matrices and the added axis removed;
        batch dimensions broadcast. Operands have rank >= 1."""

    @abstractmethod
    def einsum(self, subscripts: str, *operands: Native) -> Native: ...

    @abstractmethod
    def inv(self, a: Native) -> Native: ...

    @abstractmethod
    def solve(self, a: Native, b: Native) -> Native:
        """``b`` is (..., M, K)."""

    @abstractmethod
    def det(self, a: Native) -> Native: ...

    @abstractmethod
    def cholesky(self, a: Native) -> Native:
        """Lower triangular factor; all NaN for a matrix that is not positive definite."""

    @abstractmethod
    def svdvals(self, a: Native) -> Native:
        """Singular values, descending."""

    # --- shape -----------------------------------------------------------------------------
    @abstractmethod
    def reshape(self, x: Native, shape: tuple[int, ...]) -> Native: ...

    @abstractmethod
    def transpose(self, x: Native, axes: tuple[int, ...]) -> Native: ...

    @abstractmethod
    def broadcast_to(self, x: Native, shape: tuple[int, ...]) -> Native: ...

    @abstractmethod
    def concat(self, xs: list[Native], axis: int) -> Native: ...

    @abstractmethod
    def stack(self, xs: list[Native], axis: int) -> Native: ...

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
    def flip(self, x: Native, axes: tuple[int, ...]) -> Native: ...

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

    # --- nn kernels ------------------------------------------------------------------------
    @abstractmethod
    def conv2d(
        self,
        x: Native,
        kernel: Native,
        strides: tuple[int, int],
        padding: tuple[tuple[int, int], tuple[int, int]],
        dilation: tuple[int, int],
        channels_last: bool,
    ) -> Native:
        """2-D convolution; kernel (kh, kw, in, out); explicit zero padding per spatial axis."""

    @abstractmethod
    def max_pool2d(
        self, x: Native, pool: tuple[int, int], strides: tuple[int, int], channels_last: bool
    ) -> Native:
        """Max pooling over valid windows only (the core pads for ``"same"``)."""

    @abstractmethod
    def avg_pool2d(
        self, x: Native, pool: tuple[int, int], strides: tuple[int, int], channels_last: bool
    ) -> Native:
        """Average pooling over valid windows only."""

    # --- variables (feature "variables") ---------------------------------------------------
    #: ``variable(value, trainable, name)``: a framework variable (torch.nn.Parameter,
    #: tf.Variable) holding a copy of ``value``.
    variable = _unsupported("variables", "variable")
    #: ``is_variable(x)``: whether a native is such a variable.
    is_variable = _unsupported("variables", "is_variable")
    #: ``assign(var, value)``, ``assign_add``, ``assign_sub``: in place, value of the same
    #: dtype and shape; not recorded for gradients.
    assign = _unsupported("variables", "assign")
    assign_add = _unsupported("variables", "assign_add")
    assign_sub = _unsupported("variables", "assign_sub")
    #: ``read(var)``: the current value as a (differentiable) tensor, not aliasing the variable.
    read = _unsupported("variables", "read")

    # --- autodiff (feature "autodiff") -----------------------------------------------------
    #: ``tape(persistent, watch_accessed_variables) -> Tape``: the framework's own autograd.
    tape = _unsupported("autodiff", "tape")
    #: ``stop_gradient(x)``: ``x`` with no gradient flowing back.
    stop_gradient = _unsupported("autodiff", "stop_gradient")
    #: ``custom_gradient(forward, *xs)``: ``forward(*xs)`` returns ``(y, grad_fn)``; the result is
    #: ``y``, differentiated with ``grad_fn(dy) -> list of input gradients``.
    custom_gradient = _unsupported("autodiff", "custom_gradient")

    # --- jit (feature "jit") ---------------------------------------------------------------
    #: ``jit(fn, **options)``: ``fn`` (natives in, natives out, pytrees allowed) compiled by the
    #: framework (tf.function, torch.compile), options passed through.
    jit = _unsupported("jit", "jit")
