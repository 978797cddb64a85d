"""Bad and edge input behaves the same on both backends (issue 8, item 11).

Every generated case runs on torch and on tensorflow from the same NumPy data. Its outcome is an
error or a value. An error must be a bridge error that is also a builtin (never a raw framework
error) and of the same class on both backends; values must be equal on both (NaN-aware, same dtype
and shape). Where NumPy defines the answer, returned values must match NumPy in float64, and where
NumPy rejects the input, bridge must reject it too. An int argument given as a float or a string
is a TypeError. Optimizer and schedule arguments are checked against Keras 3 (run once in a
subprocess). Compiled code (br.jit) is left to tests/test_jit.py: compiling per example is too slow.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bridge as br
from bridge.testing import to_numpy_tree
from bridge.testing.references import erf, relu, sigmoid

from .keras_reference import keras_json

BACKENDS = ("torch", "tensorflow")
# Every case compares the two backends (and some ask Keras on torch).
pytestmark = pytest.mark.needs("torch", "tensorflow", "keras")
BUILTINS = (ValueError, TypeError, IndexError, LookupError, RuntimeError, ArithmeticError, ImportError)
NAN, INF = float("nan"), float("inf")


# --- inputs: the same NumPy data, made on each backend ---------------------------------------------
@dataclass(frozen=True)
class Other:
    """A tensor made on the other backend than the one the case runs on (mixed backends)."""

    array: np.ndarray


@dataclass(frozen=True)
class Raw:
    """An argument passed as it is: a Python scalar or list, a string, None, a NumPy array."""

    value: Any


def _other(backend: str) -> str:
    return BACKENDS[1 - BACKENDS.index(backend)]


def _build(spec: Any, backend: str) -> Any:
    """The argument ``spec`` stands for on ``backend``: NumPy arrays become its tensors."""
    if isinstance(spec, np.ndarray):
        return br.tensor(spec, backend=backend)
    if isinstance(spec, Other):
        return br.tensor(spec.array, backend=_other(backend))
    if isinstance(spec, Raw):
        return spec.value
    if isinstance(spec, list):
        return [_build(s, backend) for s in spec]
    if isinstance(spec, tuple):
        return tuple(_build(s, backend) for s in spec)
    return spec


def _for_numpy(spec: Any) -> Any:
    """The argument as NumPy's reference sees it: float tensors in float64."""
    if isinstance(spec, np.ndarray):
        return spec.astype(np.float64) if spec.dtype.kind == "f" else spec
    if isinstance(spec, Raw):
        return spec.value
    if isinstance(spec, list):
        return [_for_numpy(s) for s in spec]
    if isinstance(spec, tuple):
        return tuple(_for_numpy(s) for s in spec)
    return spec


def _flat(spec: Any) -> list[Any]:
    if isinstance(spec, (list, tuple)):
        return [leaf for s in spec for leaf in _flat(s)]
    return [spec]


def _describe(spec: Any) -> str:
    if isinstance(spec, np.ndarray):
        values = np.array2string(spec, threshold=8, separator=",").replace("\n", "")
        return f"{spec.dtype}{spec.shape}={values}"
    if isinstance(spec, Other):
        return f"other-backend {_describe(spec.array)}"
    if isinstance(spec, Raw):
        return f"numpy {_describe(spec.value)}" if isinstance(spec.value, np.ndarray) else repr(spec.value)
    if isinstance(spec, list):
        return "[" + ", ".join(_describe(s) for s in spec) + "]"
    if isinstance(spec, tuple):
        return "(" + ", ".join(_describe(s) for s in spec) + ")"
    return repr(spec)


# --- outcomes ---------------------------------------------------------------------------------------
@dataclass
class Outcome:
    """What one call did: raised ``error`` or returned ``value`` (NumPy leaves)."""

    error: BaseException | None = None
    value: Any = None

    def __str__(self) -> str:
        if self.error is not None:
            return f"raised {type(self.error).__name__}: {str(self.error)[:300]}"
        return f"returned {_show(self.value)}"


def _show(tree: Any) -> str:
    if isinstance(tree, np.ndarray):
        values = np.array2string(tree, threshold=8, separator=",").replace("\n", "")
        return f"{tree.dtype}{tree.shape}={values}"
    if isinstance(tree, (list, tuple)):
        return "[" + ", ".join(_show(t) for t in tree) + "]"
    if isinstance(tree, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in tree.items()) + "}"
    return repr(tree)


def _numpy_leaves(tree: Any) -> Any:
    tree = to_numpy_tree(tree)
    if isinstance(tree, (list, tuple)):
        return [_numpy_leaves(t) for t in tree]
    if isinstance(tree, dict):
        return {k: _numpy_leaves(v) for k, v in tree.items()}
    return np.asarray(tree)


def _run(backend: str, fn: Callable[..., Any], specs: tuple[Any, ...]) -> Outcome:
    """Build the inputs on ``backend`` and call ``fn``; any exception is the outcome, checked later."""
    with br.use_backend(backend), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            args = [_build(s, backend) for s in specs]
            return Outcome(value=_numpy_leaves(fn(*args)))
        except Exception as error:  # every exception is judged by _check_error
            return Outcome(error=error)


def _numpy_run(reference: Callable[..., Any], specs: tuple[Any, ...]) -> Outcome:
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return Outcome(value=_numpy_leaves(reference(*[_for_numpy(s) for s in specs])))
        except Exception as error:  # NumPy rejecting the input is a valid reference outcome
            return Outcome(error=error)


def _check_error(label: str, backend: str, error: BaseException) -> None:
    if not (isinstance(error, br.BridgeError) and isinstance(error, BUILTINS)):
        kind = f"{type(error).__module__}.{type(error).__qualname__}"
        raise AssertionError(f"{label} on {backend}: raw {kind} escaped: {error}") from error


FLOAT32 = (1e-5, 1e-6)  # float32 work returned as Python floats (fit histories)
LINALG = (1e-3, 1e-4)  # float32 linear algebra against float64: the condition number counts


class NoReference(Exception):
    """Raised by a NumPy reference where NumPy's answer is an accident (LAPACK on NaN input)."""


def _tolerances(dtype: np.dtype) -> tuple[float, float]:
    return (1e-10, 1e-12) if dtype == np.float64 else (1e-5, 1e-6) if dtype == np.float32 else (1e-3, 1e-3)


def _assert_equal_leaves(
    where: str, actual: Any, expected: Any, same_dtype: bool, tolerance: tuple[float, float] | None = None
) -> None:
    """Equal trees: same structure and shapes; same dtypes when ``same_dtype``; values NaN-aware
    (floats to the tolerance of ``actual``'s dtype, after rounding ``expected`` to it)."""
    if isinstance(expected, dict) or isinstance(actual, dict):
        assert isinstance(actual, dict) and isinstance(expected, dict), f"{where}: {_show(actual)}"
        assert sorted(actual) == sorted(expected), f"{where}: keys {sorted(actual)} vs {sorted(expected)}"
        for key in expected:
            _assert_equal_leaves(f"{where}[{key!r}]", actual[key], expected[key], same_dtype, tolerance)
        return
    if isinstance(expected, list) or isinstance(actual, list):
        assert isinstance(actual, list) and isinstance(expected, list), f"{where}: structure differs"
        assert len(actual) == len(expected), f"{where}: {len(actual)} results against {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            _assert_equal_leaves(f"{where}[{i}]", a, e, same_dtype, tolerance)
        return
    a, e = np.asarray(actual), np.asarray(expected)
    assert a.shape == e.shape, f"{where}: shape {a.shape} against {e.shape}"
    if same_dtype:
        assert a.dtype == e.dtype, f"{where}: dtype {a.dtype} against {e.dtype}"
    assert e.dtype.kind in "biuf", f"{where}: expected {e.dtype} values {e!r}"
    assert a.dtype.kind in "biuf", f"{where}: got {a.dtype} values {a!r}"
    if a.dtype.kind in "biu" and e.dtype.kind in "biu":
        np.testing.assert_array_equal(a, e, err_msg=where)
        return
    with np.errstate(all="ignore"):
        rounded = e.astype(a.dtype) if a.dtype.kind == "f" else e
    rtol, atol = tolerance or _tolerances(a.dtype)
    np.testing.assert_allclose(
        a.astype(np.float64), rounded.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True, err_msg=where
    )


def check(
    label: str,
    fn: Callable[..., Any],
    *specs: Any,
    reference: Callable[..., Any] | None = None,
    tolerance: tuple[float, float] | None = None,
) -> dict[str, Outcome]:
    """Run ``fn`` on both backends and assert the contract of this file (see the module docstring).
    ``tolerance``: (rtol, atol) for floats instead of the dtype's own (for float32 work returned as
    Python floats, and for ill-conditioned linear algebra). A reference raising NoReference gives none."""
    label = f"{label}({', '.join(_describe(s) for s in specs)})"
    outcomes = {b: _run(b, fn, specs) for b in BACKENDS}
    for backend, outcome in outcomes.items():
        if outcome.error is not None:
            _check_error(label, backend, outcome.error)
    first, second = (outcomes[b] for b in BACKENDS)
    summary = f"{label}: torch {first}; tensorflow {second}"
    assert (first.error is None) == (second.error is None), summary
    if first.error is not None:
        assert type(first.error).__name__ == type(second.error).__name__, summary
    else:
        _assert_equal_leaves(summary, second.value, first.value, True, tolerance)
    leaves = _flat(list(specs))
    if any(isinstance(s, Other) for s in leaves):  # NumPy cannot take these: no reference
        if any(isinstance(s, np.ndarray) for s in leaves):
            assert first.error is not None, f"{summary}: mixed backends must raise"
        return outcomes
    if reference is None:
        return outcomes
    expected = _numpy_run(reference, specs)
    if isinstance(expected.error, NoReference):
        return outcomes
    if expected.error is not None:
        numeric = all(isinstance(s, (np.ndarray, int, float)) for s in leaves)
        if numeric and type(expected.error).__name__ in ("_UFuncNoLoopError", "UFuncTypeError"):
            return outcomes  # NumPy has no loop for this dtype; bridge may define one
        assert first.error is not None, f"{summary}; NumPy {expected}"
    elif first.error is None:
        _assert_equal_leaves(f"{summary}; NumPy {expected}", first.value, expected.value, False, tolerance)
    return outcomes


# --- strategies -------------------------------------------------------------------------------------
DTYPES = ["float32", "float64", "int32", "int64", "int8", "uint8", "bool"]
SPECIAL_FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 7.0, -100.0, 1e4, NAN, INF, -INF]
SCALARS = [0, 1, 2, 3, 0.5, -2.5, NAN, INF, True, False]


def elements(dtype: str, floats: list[float] = SPECIAL_FLOATS, extremes: bool = True) -> st.SearchStrategy:  # noqa: B006
    """Edge values of ``dtype``: zeros of both signs, NaN and infinities, the integer extremes."""
    if dtype == "bool":
        return st.booleans()
    if dtype.startswith("float"):
        return st.sampled_from(floats)
    info = np.iinfo(dtype)
    ends = (info.min, info.max) if extremes else ()
    return st.sampled_from(sorted({v for v in (0, 1, 2, 5, -1, -3, *ends) if info.min <= v}))


def shapes(min_dims: int = 0, max_dims: int = 3) -> st.SearchStrategy:
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=3)


@st.composite
def arrays(
    draw,
    dtypes: list[str] = DTYPES,
    shape: Any = None,
    min_dims: int = 0,
    max_dims: int = 3,
    floats: list[float] = SPECIAL_FLOATS,
    extremes: bool = True,
):
    """An array of edge values: any dtype of ``dtypes``, empty and 0-d shapes included."""
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(shapes(min_dims, max_dims)) if shape is None else shape
    return draw(hnp.arrays(np.dtype(dtype), shape, elements=elements(dtype, floats, extremes)))


@st.composite
def operands(draw, shape: tuple[int, ...]):
    """Mostly a tensor of ``shape``; sometimes a Python scalar, a tensor of the other backend, a
    NumPy array, a list, a ragged list, a string or None."""
    kind = draw(
        st.sampled_from(["tensor"] * 6 + ["scalar", "other", "numpy", "list", "ragged", "str", "none"])
    )
    if kind == "scalar":
        return draw(st.sampled_from(SCALARS))
    if kind == "str":
        return Raw("a")
    if kind == "none":
        return Raw(None)
    if kind == "ragged":
        return Raw([[1.0], [1.0, 2.0]])
    array = draw(arrays(shape=shape))
    if kind == "other":
        return Other(array)
    if kind == "numpy":
        return Raw(array)
    if kind == "list":
        return Raw(array.tolist())
    return array


@st.composite
def shape_pairs(draw, count: int = 2):
    """Shapes that broadcast together, or (sometimes) any shapes at all."""
    if draw(st.integers(0, 3)) == 0:
        return [draw(shapes()) for _ in range(count)]
    return list(
        draw(
            hnp.mutually_broadcastable_shapes(num_shapes=count, max_dims=3, min_side=0, max_side=3)
        ).input_shapes
    )


def axes(rank: int) -> st.SearchStrategy:
    """Valid and invalid axes: None, in and out of range, negative, tuples with repeats, non-ints."""
    index = st.integers(-rank - 2, rank + 1)
    return st.one_of(
        st.none(),
        index,
        st.tuples(index, index),
        st.tuples(index),
        st.just(()),
        st.sampled_from([1.0, "0"]),
    )


def sizes() -> st.SearchStrategy:
    """Size-like arguments: small ints (negative too), tuples of them, floats, strings, None."""
    size = st.integers(-2, 4)
    return st.one_of(
        st.tuples(size),
        st.tuples(size, size),
        st.just(()),
        size,
        st.sampled_from([(2.0,), (-1, -1), (2, -1), "3", None]),
    )


def dtype_args() -> st.SearchStrategy:
    return st.sampled_from(
        [None, "float32", "float64", "int32", "int64", "int8", "uint8", "bool", "float16", "float8", "x", 3]
    )


# --- elementwise ------------------------------------------------------------------------------------
def _f64(fn: Callable[[np.ndarray], Any]) -> Callable[[Any], Any]:
    """A float math function of NumPy, applied to the input taken as float64 (other input as it is).
    Integers and bools become the default float, float32, first, as they do in bridge."""

    def call(x: Any) -> Any:
        array = np.asarray(x)
        if array.dtype.kind in "biu":
            array = array.astype(np.float32)
        return fn(array.astype(np.float64) if array.dtype.kind == "f" else x)

    return call


UNARY: dict[str, Callable[..., Any] | None] = {
    "negative": np.negative,
    "abs": np.abs,
    "sign": np.sign,
    "square": np.square,
    "exp": _f64(np.exp),
    "expm1": _f64(np.expm1),
    "log": _f64(np.log),
    "log1p": _f64(np.log1p),
    "sqrt": _f64(np.sqrt),
    "rsqrt": _f64(lambda x: 1 / np.sqrt(x)),
    "sin": _f64(np.sin),
    "cos": _f64(np.cos),
    "tan": _f64(np.tan),
    "tanh": _f64(np.tanh),
    "sinh": _f64(np.sinh),
    "cosh": _f64(np.cosh),
    "arctan": _f64(np.arctan),
    "erf": _f64(erf),
    "sigmoid": _f64(sigmoid),
    "softplus": _f64(lambda x: np.logaddexp(0, x)),
    "relu": relu,
    "leaky_relu": _f64(lambda x: np.where(x >= 0, x, 0.2 * x)),
    "elu": _f64(lambda x: np.where(x > 0, x, np.expm1(x))),
    "gelu": None,
    "silu": None,
    "floor": np.floor,
    "ceil": np.ceil,
    "round": np.round,
    "isnan": np.isnan,
    "isinf": np.isinf,
    "isfinite": np.isfinite,
    "logical_not": np.logical_not,
    "invert": np.invert,
    "flatten": np.ravel,
}


@st.composite
def unary_operands(draw):
    return draw(operands(draw(shapes())))


@pytest.mark.parametrize("name", sorted(UNARY))
@given(x=unary_operands())
def test_unary_ops(name, x):
    check(name, getattr(br.ops, name), x, reference=UNARY[name])


def _power(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.power, where bridge's promotion keeps integers exact: an int beside a float becomes
    float32 in bridge (Array API), so an integer beyond 2**24 has no exact NumPy counterpart."""
    a, b = np.asarray(a), np.asarray(b)
    kinds = {a.dtype.kind, b.dtype.kind}
    if "f" in kinds and kinds & set("iu"):
        ints = a if a.dtype.kind in "iu" else b
        if ints.size and np.abs(ints.astype(np.float64)).max() > 2**24:
            raise NoReference("the integer rounds to float32 in bridge")
    return np.power(a, b)


BINARY: dict[str, Callable[..., Any]] = {
    "add": np.add,
    "subtract": np.subtract,
    "multiply": np.multiply,
    "divide": np.true_divide,
    "floor_divide": np.floor_divide,
    "mod": np.mod,
    "power": _power,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "equal": np.equal,
    "not_equal": np.not_equal,
    "less": np.less,
    "less_equal": np.less_equal,
    "greater": np.greater,
    "greater_equal": np.greater_equal,
    "logical_and": np.logical_and,
    "logical_or": np.logical_or,
    "bitwise_and": np.bitwise_and,
    "bitwise_or": np.bitwise_or,
    "bitwise_xor": np.bitwise_xor,
    "left_shift": np.left_shift,
    "right_shift": np.right_shift,
}


@st.composite
def binary_operands(draw, count: int = 2):
    return [draw(operands(shape)) for shape in draw(shape_pairs(count))]


@pytest.mark.parametrize("name", sorted(BINARY))
@given(xs=binary_operands())
def test_binary_ops(name, xs):
    check(name, getattr(br.ops, name), *xs, reference=BINARY[name])


@given(xs=binary_operands(3))
def test_where(xs):
    check("where", br.ops.where, *xs, reference=np.where)


@given(
    x=unary_operands(),
    bounds=st.tuples(st.sampled_from([None, 0, -1.0, 2.5, NAN]), st.sampled_from([None, 1, 0.5, -INF])),
)
def test_clip(x, bounds):
    low, high = bounds

    def reference(x):
        if low is None and high is None:
            raise ValueError("clip: no bound")
        return np.clip(x, low, high)

    check(
        "clip",
        lambda x: br.ops.clip(x, low, high),
        x,
        reference=None if low is None and high is None else reference,
    )


@given(x=arrays(), dtype=dtype_args())
def test_astype(x, dtype):
    check(f"astype[{dtype!r}]", lambda x: br.ops.astype(x, dtype), x)


# --- reductions and other ops with an axis ----------------------------------------------------------
def _as_default_float(x: Any) -> Any:
    """Integers and bools as bridge's float functions see them: float32 values (in float64)."""
    array = np.asarray(x)
    return array.astype(np.float32).astype(np.float64) if array.dtype.kind in "biu" else x


def _norm(x: Any, axis: Any, keepdims: bool) -> Any:
    x = _as_default_float(x)
    if np.asarray(x).dtype.kind == "f" and np.nanmax(np.abs(x), initial=0.0) > 1e18:
        raise NoReference("float32 squares overflow here, in NumPy as well")
    return np.linalg.norm(x, axis=axis, keepdims=keepdims)


def _logsumexp(x: Any, axis: Any, keepdims: bool) -> np.ndarray:
    x = np.asarray(_as_default_float(x)).astype(np.float64)
    if axis is None:
        return np.logaddexp.reduce(x.reshape(-1), keepdims=False).reshape((1,) * x.ndim if keepdims else ())
    return np.logaddexp.reduce(x, axis=axis, keepdims=keepdims)


AXIS_OPS: dict[str, tuple[Callable[..., Any], Callable[..., Any] | None]] = {
    "sum": (lambda x, a, k: br.ops.sum(x, axis=a, keepdims=k), lambda x, a, k: np.sum(x, axis=a, keepdims=k)),
    "prod": (
        lambda x, a, k: br.ops.prod(x, axis=a, keepdims=k),
        lambda x, a, k: np.prod(x, axis=a, keepdims=k),
    ),
    "max": (lambda x, a, k: br.ops.max(x, axis=a, keepdims=k), lambda x, a, k: np.max(x, axis=a, keepdims=k)),
    "min": (lambda x, a, k: br.ops.min(x, axis=a, keepdims=k), lambda x, a, k: np.min(x, axis=a, keepdims=k)),
    "all": (lambda x, a, k: br.ops.all(x, axis=a, keepdims=k), lambda x, a, k: np.all(x, axis=a, keepdims=k)),
    "any": (lambda x, a, k: br.ops.any(x, axis=a, keepdims=k), lambda x, a, k: np.any(x, axis=a, keepdims=k)),
    "mean": (
        lambda x, a, k: br.ops.mean(x, axis=a, keepdims=k),
        lambda x, a, k: np.mean(_as_default_float(x), axis=a, keepdims=k),
    ),
    "var": (
        lambda x, a, k: br.ops.var(x, axis=a, keepdims=k),
        lambda x, a, k: np.var(_as_default_float(x), axis=a, keepdims=k),
    ),
    "std": (
        lambda x, a, k: br.ops.std(x, axis=a, keepdims=k),
        lambda x, a, k: np.std(_as_default_float(x), axis=a, keepdims=k),
    ),
    "logsumexp": (lambda x, a, k: br.ops.logsumexp(x, axis=a, keepdims=k), _logsumexp),
    "argmax": (
        lambda x, a, k: br.ops.argmax(x, axis=a, keepdims=k),
        lambda x, a, k: np.argmax(x, axis=a, keepdims=k),
    ),
    "argmin": (
        lambda x, a, k: br.ops.argmin(x, axis=a, keepdims=k),
        lambda x, a, k: np.argmin(x, axis=a, keepdims=k),
    ),
    "cumsum": (lambda x, a, k: br.ops.cumsum(x, axis=a), lambda x, a, k: np.cumsum(x, axis=a)),
    "cumprod": (lambda x, a, k: br.ops.cumprod(x, axis=a), lambda x, a, k: np.cumprod(x, axis=a)),
    "sort": (lambda x, a, k: br.ops.sort(x, axis=a), lambda x, a, k: np.sort(x, axis=a)),
    "argsort": (
        lambda x, a, k: br.ops.argsort(x, axis=a),
        lambda x, a, k: np.argsort(x, axis=a, kind="stable"),
    ),
    "flip": (lambda x, a, k: br.ops.flip(x, axis=a), lambda x, a, k: np.flip(x, axis=a)),
    "squeeze": (lambda x, a, k: br.ops.squeeze(x, axis=a), lambda x, a, k: np.squeeze(x, axis=a)),
    "expand_dims": (lambda x, a, k: br.ops.expand_dims(x, a), lambda x, a, k: np.expand_dims(x, a)),
    "softmax": (lambda x, a, k: br.ops.softmax(x, axis=a), None),
    "log_softmax": (lambda x, a, k: br.ops.log_softmax(x, axis=a), None),
    "norm": (
        lambda x, a, k: br.ops.norm(x, axis=a, keepdims=k),
        _norm,
    ),
}


@st.composite
def with_axis(draw):
    x = draw(arrays())
    return x, draw(axes(x.ndim)), draw(st.booleans())


@pytest.mark.parametrize("name", sorted(AXIS_OPS))
@given(case=with_axis())
def test_axis_ops(name, case):
    x, axis, keepdims = case
    ours, reference = AXIS_OPS[name]
    numpy_fn = None if reference is None else (lambda x: reference(x, axis, keepdims))
    check(
        f"{name}[axis={axis!r}, keepdims={keepdims}]",
        lambda x: ours(x, axis, keepdims),
        x,
        reference=numpy_fn,
    )


@pytest.mark.parametrize("name", ["var", "std"])
@given(
    x=arrays(dtypes=["float32", "int32", "bool"]),
    axis=st.sampled_from([None, 0, -1, 5]),
    ddof=st.sampled_from([0, 1, 4, -1, 1.5]),
)
def test_var_std_ddof(name, x, axis, ddof):
    check(
        f"{name}[axis={axis}, ddof={ddof!r}]",
        lambda x: getattr(br.ops, name)(x, axis=axis, ddof=ddof),
        x,
        reference=lambda x: getattr(np, name)(_as_default_float(x), axis=axis, ddof=ddof),
    )


# --- int arguments of the wrong Python type ---------------------------------------------------------
INT_ARGUMENTS: dict[str, Callable[[Any, Any], Any]] = {
    "sum(axis)": lambda x, v: br.ops.sum(x, axis=v),
    "max(axis)": lambda x, v: br.ops.max(x, axis=v),
    "argmax(axis)": lambda x, v: br.ops.argmax(x, axis=v),
    "cumsum(axis)": lambda x, v: br.ops.cumsum(x, axis=v),
    "softmax(axis)": lambda x, v: br.ops.softmax(x, axis=v),
    "sort(axis)": lambda x, v: br.ops.sort(x, axis=v),
    "flip(axis)": lambda x, v: br.ops.flip(x, axis=v),
    "squeeze(axis)": lambda x, v: br.ops.squeeze(x, axis=v),
    "expand_dims(axis)": lambda x, v: br.ops.expand_dims(x, v),
    "moveaxis(source)": lambda x, v: br.ops.moveaxis(x, v, 0),
    "concat(axis)": lambda x, v: br.ops.concat([x, x], axis=v),
    "stack(axis)": lambda x, v: br.ops.stack([x, x], axis=v),
    "split(axis)": lambda x, v: br.ops.split(x, 1, axis=v),
    "take(axis)": lambda x, v: br.ops.take(x, br.tensor([0]), axis=v),
    "repeat(repeats)": lambda x, v: br.ops.repeat(x, v),
    "tile(reps)": lambda x, v: br.ops.tile(x, (v, 1)),
    "reshape(shape)": lambda x, v: br.ops.reshape(x, (v, -1)),
    "broadcast_to(shape)": lambda x, v: br.ops.broadcast_to(x, (v, 2, 3)),
    "transpose(axes)": lambda x, v: br.ops.transpose(x, (v, 0)),
    "pad(pad_width)": lambda x, v: br.ops.pad(x, v),
    "topk(k)": lambda x, v: br.ops.topk(x, v),
    "one_hot(num_classes)": lambda x, v: br.ops.one_hot(br.tensor([0, 1]), v),
    "zeros(shape)": lambda x, v: br.ops.zeros((v, 2)),
    "full(shape)": lambda x, v: br.ops.full(v, 1.0),
    "eye(n)": lambda x, v: br.ops.eye(v),
    "linspace(num)": lambda x, v: br.ops.linspace(0.0, 1.0, v),
    "random.uniform(shape)": lambda x, v: br.random.uniform((v, 2), seed=1),
    "random.randint(shape)": lambda x, v: br.random.randint((2, v), 0, 5, seed=1),
}


@pytest.mark.parametrize("name", sorted(INT_ARGUMENTS))
@given(x=arrays(dtypes=["float32", "int32"], shape=(2, 3)), value=st.sampled_from([1.0, 2.5, "1"]))
def test_int_arguments_of_another_type_raise_type_errors(name, x, value):
    """An int argument given as a float or a string is a TypeError, as in Python, NumPy and torch;
    never silently truncated."""
    outcomes = check(f"{name}[{value!r}]", INT_ARGUMENTS[name], x, value)
    assert isinstance(outcomes["torch"].error, TypeError), f"{name}[{value!r}]: {outcomes['torch']}"


# --- shape ops --------------------------------------------------------------------------------------
SHAPE_OPS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "reshape": (br.ops.reshape, np.reshape),
    "broadcast_to": (br.ops.broadcast_to, np.broadcast_to),
    "tile": (br.ops.tile, np.tile),
    "transpose": (br.ops.transpose, np.transpose),
}


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
@given(x=arrays(), size=sizes())
def test_shape_arguments(name, x, size):
    ours, reference = SHAPE_OPS[name]
    check(
        f"{name}[{size!r}]",
        lambda x: ours(x, size),
        x,
        reference=lambda x: reference(x, size),
    )


@given(x=arrays(), source=axes(3), destination=axes(3))
def test_moveaxis(x, source, destination):
    check(
        f"moveaxis[{source!r}, {destination!r}]",
        lambda x: br.ops.moveaxis(x, source, destination),
        x,
        reference=lambda x: np.moveaxis(x, source, destination),
    )


@given(
    x=arrays(),
    repeats=st.one_of(st.integers(-1, 3), st.sampled_from([1.5, (1, 2), (2, 0, 1), None])),
    axis=st.sampled_from([None, 0, -1, 3, 1.0]),
)
def test_repeat(x, repeats, axis):
    check(
        f"repeat[{repeats!r}, axis={axis!r}]",
        lambda x: br.ops.repeat(x, repeats, axis=axis),
        x,
        reference=lambda x: np.repeat(x, repeats, axis=axis),
    )


@given(
    x=arrays(),
    sections=st.one_of(st.integers(-1, 4), st.sampled_from([(1,), (1, 1), (2, 1), (), 1.5])),
    axis=st.sampled_from([0, -1, 3, 1.0]),
)
def test_split(x, sections, axis):
    check(
        f"split[{sections!r}, axis={axis!r}]",
        lambda x: br.ops.split(x, sections, axis=axis),
        x,
        reference=lambda x: np.split(x, sections, axis=axis),
    )


PAD_WIDTHS = [
    0,
    1,
    -1,
    (1, 2),
    ((1, 0),),
    ((1, 0), (0, 1)),
    ((0, 1), (1, 0), (2, 2)),
    ((1, -1), (0, 0)),
    1.5,
    "x",
]


@given(
    x=arrays(),
    pad_width=st.sampled_from(PAD_WIDTHS),
    mode=st.sampled_from(["constant", "reflect", "symmetric", "edge", "wrap", "bogus"]),
    value=st.sampled_from([0, 1.5, NAN]),
)
def test_pad(x, pad_width, mode, value):
    def ours(x):
        return br.ops.pad(x, pad_width, mode=mode, constant_values=value)

    def reference(x):
        extra = {"constant_values": value} if mode == "constant" else {}
        return np.pad(x, pad_width, mode=mode, **extra)

    check(f"pad[{pad_width!r}, {mode}, {value}]", ours, x, reference=reference)


@st.composite
def array_lists(draw):
    count = draw(st.integers(0, 3))
    first = draw(shapes(max_dims=2))
    same = draw(st.booleans())
    return [draw(arrays(shape=first if same else None, max_dims=2)) for _ in range(count)]


@pytest.mark.parametrize("name", ["concat", "stack"])
@given(xs=array_lists(), axis=st.sampled_from([0, 1, -1, 2, -3, 1.0]), other=st.booleans())
def test_concat_stack(name, xs, axis, other):
    if other and xs:
        xs = [*xs[:-1], Other(xs[-1])]
    reference = np.concatenate if name == "concat" else np.stack
    check(
        f"{name}[axis={axis!r}]",
        lambda xs: getattr(br.ops, name)(xs, axis=axis),
        xs,
        reference=lambda xs: reference(xs, axis=axis),
    )


# --- indexing ---------------------------------------------------------------------------------------
def _indices(shape: Any = None) -> st.SearchStrategy:
    return st.one_of(
        arrays(dtypes=["int64", "int32"], shape=shape, max_dims=2).map(
            lambda a: np.clip(a, -5, 5).astype(a.dtype)
        ),
        arrays(dtypes=["float32", "bool"], shape=shape, max_dims=2),
    )


@given(x=arrays(), indices=_indices(), axis=st.sampled_from([None, 0, -1, 2, 1.0]))
def test_take(x, indices, axis):
    check(
        f"take[axis={axis!r}]",
        lambda x, i: br.ops.take(x, i, axis=axis),
        x,
        indices,
        reference=lambda x, i: np.take(x, i, axis=axis),
    )


@given(x=arrays(min_dims=1), indices=_indices(), axis=st.sampled_from([0, -1, 1, 3]))
def test_take_along_axis(x, indices, axis):
    check(
        f"take_along_axis[axis={axis}]",
        lambda x, i: br.ops.take_along_axis(x, i, axis=axis),
        x,
        indices,
        reference=lambda x, i: np.take_along_axis(x, i, axis=axis),
    )


KEYS = [
    0,
    -1,
    3,
    -4,
    1.0,
    slice(None),
    slice(1, None),
    slice(None, None, -1),
    slice(None, None, 0),
    None,
    Ellipsis,
    (0, 0),
    (slice(None), 1),
    (Ellipsis, 0),
    (0, 0, 0, 0),
    "a",
    [0, 1],
    [0, 5],
    True,
]


@given(x=arrays(), key=st.sampled_from(KEYS))
def test_getitem(x, key):
    check(f"getitem[{key!r}]", lambda x: br.ops.getitem(x, key), x, reference=lambda x: x[key])


@given(
    x=arrays(dtypes=["float32", "int32"]),
    key=st.sampled_from(KEYS),
    value=st.sampled_from([1, 2.5, NAN, "a"]),
    accumulate=st.booleans(),
)
def test_index_update(x, key, value, accumulate):
    def reference(x):
        out = np.array(x, copy=True)
        update = np.asarray(value).astype(out.dtype)  # takes x's dtype first, as in torch and Keras
        if accumulate:
            np.add.at(out, key, update)
        else:
            out[key] = update
        return out

    check(
        f"index_update[{key!r}, {value!r}, accumulate={accumulate}]",
        lambda x: br.ops.index_update(x, key, value, accumulate=accumulate),
        x,
        reference=reference,
    )


@given(
    x=_indices(), num_classes=st.sampled_from([3, 0, -1, 2.5]), dtype=st.sampled_from([None, "int32", "bool"])
)
def test_one_hot(x, num_classes, dtype):
    check(f"one_hot[{num_classes!r}, {dtype}]", lambda x: br.ops.one_hot(x, num_classes, dtype=dtype), x)


@given(x=arrays(), k=st.sampled_from([0, 1, 2, 3, 4, -1, 1.5]))
def test_topk(x, k):
    check(f"topk[{k!r}]", lambda x: br.ops.topk(x, k), x)


# --- linear algebra ---------------------------------------------------------------------------------
MATRIX_SHAPES = [(), (2,), (3,), (0,), (2, 2), (3, 3), (2, 3), (3, 2), (0, 0), (0, 3), (2, 2, 2), (1, 3, 3)]


MATRIX_FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 7.0, NAN, INF, -INF]  # small: no cancellation


def matrices(dtypes: list[str] = DTYPES) -> st.SearchStrategy:  # noqa: B006
    return st.sampled_from(MATRIX_SHAPES).flatmap(
        lambda shape: arrays(dtypes=dtypes, shape=shape, floats=MATRIX_FLOATS, extremes=False)
    )


def _finite_only(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A LAPACK-backed NumPy reference, given only where every input is finite."""

    def call(*args: Any) -> Any:
        for arg in args:
            array = np.asarray(arg)
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                raise NoReference(fn)
        return fn(*args)

    return call


# np.dot with a 0-d operand scales through BLAS, which skips the product when the scalar is 0
# (0 * NaN gives 0 there): IEEE multiplication is the reference for that case
LINALG_BINARY: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "matmul": (br.ops.matmul, np.matmul),
    "dot": (br.ops.dot, lambda a, b: a * b if a.ndim == 0 or b.ndim == 0 else np.dot(a, b)),
    "outer": (br.ops.outer, np.outer),
    "solve": (br.linalg.solve, _finite_only(np.linalg.solve)),
}


def _square_batch(x: np.ndarray) -> bool:
    return x.ndim >= 2 and x.shape[-1] == x.shape[-2] and x.size > 0


def _ill_conditioned(x: np.ndarray) -> bool:
    """Whether a finite square matrix of the batch is singular up to rounding but not all zeros:
    whether float32 finds it singular is an accident of rounding, so neither outcome is wrong."""
    if not _square_batch(x) or x.dtype.kind == "b":
        return False
    for matrix in x.astype(np.float64).reshape(-1, *x.shape[-2:]):
        if np.isfinite(matrix).all() and matrix.any():
            with np.errstate(all="ignore"):
                if not np.linalg.cond(matrix) < 1e3:
                    return True
    return False


@st.composite
def positive_or_negative_definite(draw, x: np.ndarray):
    """Each finite matrix of a square float or int batch becomes m @ m.T + n*I (positive definite)
    or its negative (not positive definite at all), so Cholesky's verdict does not hang on
    rounding; matrices holding NaN or infinities stay as they are."""
    if not _square_batch(x) or x.dtype.kind not in "iuf":
        return x
    n = x.shape[-1]
    out = x.reshape(-1, n, n).copy()
    for i, matrix in enumerate(out):
        if x.dtype.kind == "f" and not np.isfinite(matrix).all():
            continue
        base = np.clip(matrix.astype(np.int64) if x.dtype.kind != "f" else matrix, -7, 7)
        spd = base @ base.T + n * np.eye(n, dtype=base.dtype)
        out[i] = spd if draw(st.booleans()) else -spd
    return out.reshape(x.shape)


@pytest.mark.parametrize("name", sorted(LINALG_BINARY))
@given(a=matrices(), b=matrices(), other=st.booleans())
def test_linalg_binary(name, a, b, other):
    assume(name != "solve" or not _ill_conditioned(a))
    ours, reference = LINALG_BINARY[name]
    check(name, ours, a, Other(b) if other else b, reference=reference, tolerance=LINALG)


def _svdvals(x: np.ndarray) -> np.ndarray:
    return np.linalg.svd(x, compute_uv=False)


LINALG_UNARY: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "inv": (br.linalg.inv, _finite_only(np.linalg.inv)),
    "det": (br.linalg.det, _finite_only(np.linalg.det)),
    "cholesky": (br.linalg.cholesky, _finite_only(np.linalg.cholesky)),
    "svdvals": (br.linalg.svdvals, _finite_only(_svdvals)),
}


@pytest.mark.parametrize("name", sorted(LINALG_UNARY))
@given(data=st.data())
def test_linalg_unary(name, data):
    x = data.draw(matrices())
    if name == "cholesky":
        x = data.draw(positive_or_negative_definite(x))
    assume(not _ill_conditioned(x))
    ours, reference = LINALG_UNARY[name]
    check(name, ours, x, reference=reference, tolerance=LINALG)


@given(
    a=matrices(),
    b=matrices(),
    axes_=st.sampled_from([0, 1, 2, 3, -1, ((0,), (0,)), ((1,), (0,)), ((0, 1), (0,)), 1.5]),
)
def test_tensordot(a, b, axes_):
    check(
        f"tensordot[{axes_!r}]",
        lambda a, b: br.ops.tensordot(a, b, axes=axes_),
        a,
        b,
        reference=lambda a, b: _tensordot_ieee(a, b, axes_),
    )


def _tensordot_ieee(a: np.ndarray, b: np.ndarray, axes: Any) -> np.ndarray:
    """``np.tensordot``, with its errors, but summed by einsum: BLAS skips the zeros of an operand,
    so NumPy's ``tensordot(0., [nan, nan], 0)`` is ``[0, 0]`` where IEEE (and bridge) give NaN."""
    shape = np.tensordot(a, b, axes=axes).shape
    if isinstance(axes, int):
        summed_a, summed_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        summed_a, summed_b = ([i % n for i in side] for side, n in zip(axes, (a.ndim, b.ndim)))
    letters = iter("abcdefghij")
    a_axes = [next(letters) for _ in range(a.ndim)]
    b_axes = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(summed_a, summed_b):
        b_axes[j] = a_axes[i]
    kept = [x for i, x in enumerate(a_axes) if i not in summed_a] + [
        x for j, x in enumerate(b_axes) if j not in summed_b
    ]
    return np.einsum(f"{''.join(a_axes)},{''.join(b_axes)}->{''.join(kept)}", a, b).reshape(shape)


@given(
    a=matrices(),
    b=matrices(),
    subscripts=st.sampled_from(
        ["ij,jk->ik", "i,i->", "ij->ji", "ii->i", "ij,jk", "ab,bc->ad", "i,j->ij", "->", "ij,jk->ik,", "1"]
    ),
)
def test_einsum(a, b, subscripts):
    check(
        f"einsum[{subscripts!r}]",
        lambda a, b: br.ops.einsum(subscripts, a, b),
        a,
        b,
        reference=lambda a, b: np.einsum(subscripts, a, b),
    )


# --- nn ops -----------------------------------------------------------------------------------------
IMAGE_SHAPES = [(1, 4, 4, 1), (2, 3, 3, 2), (1, 2, 2, 1), (1, 0, 4, 1), (4, 4, 1), (1, 4, 4, 0), (0, 4, 4, 1)]
WINDOWS = [1, 2, 3, 5, 0, -1, (2, 1), (2, 2, 2), 1.5]


def images(dtypes: list[str] = ["float32", "float64", "int32", "bool"]) -> st.SearchStrategy:  # noqa: B006
    return st.sampled_from(IMAGE_SHAPES).flatmap(lambda shape: arrays(dtypes=dtypes, shape=shape))


@given(
    x=images(),
    kernel=st.sampled_from(
        [(1, 1, 1, 2), (3, 3, 1, 1), (2, 2, 2, 1), (5, 5, 1, 1), (3, 3), (2, 2, 1, 0)]
    ).flatmap(lambda shape: arrays(dtypes=["float32", "int32"], shape=shape)),
    strides=st.sampled_from([1, 2, 0, -1, (1, 2), 1.5]),
    padding=st.sampled_from(["valid", "same", "full"]),
    data_format=st.sampled_from(["channels_last", "channels_first", "nhwc"]),
    dilation=st.sampled_from([1, 2, 0]),
)
def test_conv2d(x, kernel, strides, padding, data_format, dilation):
    check(
        f"conv2d[strides={strides!r}, {padding}, {data_format}, dilation={dilation}]",
        lambda x, k: br.ops.conv2d(
            x, k, strides=strides, padding=padding, data_format=data_format, dilation=dilation
        ),
        x,
        kernel,
    )


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
@given(
    x=images(),
    pool_size=st.sampled_from(WINDOWS),
    strides=st.sampled_from([None, *WINDOWS]),
    padding=st.sampled_from(["valid", "same", "full"]),
    data_format=st.sampled_from(["channels_last", "channels_first", "nhwc"]),
)
def test_pooling(name, x, pool_size, strides, padding, data_format):
    check(
        f"{name}[{pool_size!r}, strides={strides!r}, {padding}, {data_format}]",
        lambda x: getattr(br.ops, name)(
            x, pool_size=pool_size, strides=strides, padding=padding, data_format=data_format
        ),
        x,
    )


@given(x=arrays(), rate=st.sampled_from([0.0, 0.5, 0.99, 1.0, 1.5, -0.1, NAN, "0.5"]))
def test_dropout(x, rate):
    check(f"dropout[{rate!r}]", lambda x: br.ops.dropout(x, rate, seed=7), x)


# --- creation and random ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["zeros", "ones"])
@given(shape=sizes(), dtype=dtype_args())
def test_zeros_ones(name, shape, dtype):
    check(
        f"{name}[{shape!r}, {dtype!r}]",
        lambda: getattr(br.ops, name)(shape, dtype=dtype),
        reference=lambda: getattr(np, name)(shape, dtype=dtype),
    )


@given(shape=sizes(), value=st.sampled_from([0, 1.5, -1, 300, NAN, INF, True, "a", None]), dtype=dtype_args())
def test_full(shape, value, dtype):
    check(
        f"full[{shape!r}, {value!r}, {dtype!r}]",
        lambda: br.ops.full(shape, value, dtype=dtype),
        reference=lambda: np.full(shape, value, dtype=dtype),
    )


RANGE_NUMBERS = [0, 1, 3, -2, 0.5, 2.5, NAN, INF, None, "1"]


@given(
    start=st.sampled_from(RANGE_NUMBERS),
    stop=st.sampled_from(RANGE_NUMBERS),
    step=st.sampled_from([1, 2, -1, 0, 0.5, NAN]),
)
def test_arange(start, stop, step):
    check(
        f"arange[{start!r}, {stop!r}, {step!r}]",
        lambda: br.ops.arange(start, stop, step),
        reference=lambda: np.arange(start, stop, step),
    )


@given(
    start=st.sampled_from([0, 1.5, NAN, INF, "a"]),
    stop=st.sampled_from([1, -2.5, INF]),
    num=st.sampled_from([0, 1, 5, -1, 2.5, None]),
    endpoint=st.booleans(),
)
def test_linspace(start, stop, num, endpoint):
    check(
        f"linspace[{start!r}, {stop!r}, {num!r}, {endpoint}]",
        lambda: br.ops.linspace(start, stop, num, endpoint=endpoint),
        reference=lambda: np.linspace(start, stop, num, endpoint=endpoint),
    )


@given(
    n=st.sampled_from([0, 1, 3, -1, 2.5, None]),
    m=st.sampled_from([None, 0, 2, -1]),
    k=st.sampled_from([0, 1, -2, 5, 1.5]),
)
def test_eye(n, m, k):
    check(
        f"eye[{n!r}, {m!r}, {k!r}]",
        lambda: br.ops.eye(n, m, k),
        reference=lambda: np.eye(n, m, k),
    )


DATA = [
    [1, 2],
    [[1], [1, 2]],
    [1.5, 300],
    [NAN, 1],
    ["a"],
    [None],
    [True, 2.5],
    [],
    [[]],
    7,
    -1,
    1.5,
    NAN,
    [[1, 2], [3]],
    [1, [2]],
]


@given(data=st.sampled_from(DATA), dtype=dtype_args())
def test_tensor_from_python_data(data, dtype):
    check(
        f"tensor[{data!r}, {dtype!r}]",
        lambda: br.tensor(data, dtype=dtype),
        reference=lambda: np.asarray(data, dtype=dtype),
    )


@pytest.mark.parametrize("name", ["zeros_like", "ones_like", "full_like"])
@given(x=unary_operands(), dtype=dtype_args(), value=st.sampled_from([1.5, -1, 300, NAN, "a"]))
def test_like(name, x, dtype, value):
    fill = (value,) if name == "full_like" else ()
    check(f"{name}[{fill}, {dtype!r}]", lambda x: getattr(br.ops, name)(x, *fill, dtype=dtype), x)


@given(x=unary_operands(), target=st.sampled_from(["torch", "tensorflow", "nope", None, 3]))
def test_convert(x, target):
    check(f"convert[{target!r}]", lambda x: br.convert(x, target), x)


RANDOM_SHAPES = [(2, 3), (0,), (), (-1,), (2.0,), 3, None, "3"]


@given(
    name=st.sampled_from(["uniform", "normal", "truncated_normal"]),
    shape=st.sampled_from(RANDOM_SHAPES),
    low=st.sampled_from([0.0, -1.0, 2.0, NAN, INF, "0"]),
    high=st.sampled_from([1.0, 0.0, -1.0, NAN, INF]),
    dtype=dtype_args(),
)
def test_random_floats(name, shape, low, high, dtype):
    fn = getattr(br.random, name)
    names = ("minval", "maxval") if name == "uniform" else ("mean", "stddev")
    kwargs = {names[0]: low, names[1]: high, "dtype": dtype}
    check(f"random.{name}[{shape!r}, {kwargs}]", lambda: fn(shape, seed=3, **kwargs))


@given(
    shape=st.sampled_from(RANDOM_SHAPES),
    low=st.sampled_from([0, -5, 3, 1.5, None]),
    high=st.sampled_from([5, 0, 3, 2**40, NAN]),
    dtype=st.sampled_from(["int64", "int32", "int8", "uint8", "float32", "bool"]),
)
def test_randint(shape, low, high, dtype):
    check(
        f"random.randint[{shape!r}, {low!r}, {high!r}, {dtype}]",
        lambda: br.random.randint(shape, low, high, dtype=dtype, seed=3),
    )


@given(x=st.one_of(st.sampled_from([5, 0, -1, 2.5, "a"]), arrays(max_dims=2)))
def test_permutation(x):
    check("random.permutation", lambda x: br.random.permutation(x, seed=3), x)


@given(
    p=st.one_of(
        st.sampled_from([0.5, 0.0, 1.0, -0.1, 1.5, NAN, "a"]),
        arrays(dtypes=["float32", "int32", "bool"], max_dims=2),
    ),
    shape=st.sampled_from([None, (3,), (0,), (-1,), (2, 2)]),
)
def test_bernoulli(p, shape):
    check(f"random.bernoulli[{shape!r}]", lambda p: br.random.bernoulli(p, shape, seed=3), p)


# --- layers -----------------------------------------------------------------------------------------
LAYER_ARGS: dict[str, tuple[dict[str, list[Any]], st.SearchStrategy]] = {
    "Dense": ({"units": [3, 0, -1, 1.5, None, "3"], "activation": [None, "relu", "nope"]}, arrays()),
    "Conv2D": (
        {
            "filters": [2, 0, -1, 1.5],
            "kernel_size": [1, 3, 5, 0, (2, -1)],
            "strides": [1, 2, 0],
            "padding": ["valid", "same", "bogus"],
        },
        images(),
    ),
    "MaxPooling2D": (
        {"pool_size": WINDOWS, "strides": [None, 1, 0], "padding": ["valid", "same", "bogus"]},
        images(),
    ),
    "AveragePooling2D": (
        {"pool_size": WINDOWS, "strides": [None, 1, 0], "padding": ["valid", "same", "bogus"]},
        images(),
    ),
    "GlobalAveragePooling2D": (
        {"keepdims": [False, True], "data_format": ["channels_last", "channels_first", "bogus"]},
        images(),
    ),
    "Dropout": ({"rate": [0.0, 0.5, 1.0, 1.5, -0.1, NAN, "x"], "seed": [1]}, arrays()),
    "Embedding": ({"input_dim": [5, 0, -1, 2.5], "output_dim": [2, 0, -1]}, _indices()),
    "BatchNormalization": (
        {"axis": [-1, 1, 3, -5, 1.0], "momentum": [0.99, 1.5, -1.0], "epsilon": [1e-3, 0.0, -1.0]},
        arrays(),
    ),
    "LayerNormalization": ({"axis": [-1, (0, 1), 5, (1, 1)], "epsilon": [1e-3, -1.0, NAN]}, arrays()),
    "Flatten": ({}, arrays()),
    "Reshape": ({"target_shape": [(6,), (-1,), (4,), (-1, -1), (0,), (2.0,), 3]}, arrays()),
    "Activation": ({"activation": ["relu", "softmax", "nope", None, 3]}, arrays()),
}


@st.composite
def layer_cases(draw, name: str):
    pools, inputs = LAYER_ARGS[name]
    kwargs = {key: draw(st.sampled_from(values)) for key, values in pools.items()}
    return kwargs, draw(inputs), draw(st.booleans())


@pytest.mark.parametrize("name", sorted(LAYER_ARGS))
@given(data=st.data())
def test_layers(name, data):
    kwargs, x, training = data.draw(layer_cases(name))

    def build_and_call(x):
        br.random.seed(0)
        return getattr(br.nn, name)(**kwargs)(x, training=training)

    check(f"{name}({kwargs}) training={training}", build_and_call, x)


# --- losses and metrics -----------------------------------------------------------------------------
TARGET_SHAPES = [(4, 3), (4,), (4, 1), (3, 3), (0, 3), (), (4, 3, 1)]


def targets(dtypes: list[str]) -> st.SearchStrategy:
    return st.sampled_from(TARGET_SHAPES).flatmap(lambda shape: arrays(dtypes=dtypes, shape=shape))


LOSS_ARGS: dict[str, dict[str, list[Any]]] = {
    "BinaryCrossentropy": {"from_logits": [False, True], "label_smoothing": [0.0, 0.1, 1.5, -0.1]},
    "CategoricalCrossentropy": {"from_logits": [False, True], "label_smoothing": [0.0, 0.1, 1.5, -0.1]},
    "SparseCategoricalCrossentropy": {"from_logits": [False, True]},
    "MeanSquaredError": {},
    "MeanAbsoluteError": {},
    "Huber": {"delta": [1.0, 0.0, -1.0, NAN]},
}
REDUCTIONS = ["sum_over_batch_size", "sum", "none", None, "bogus"]


@pytest.mark.parametrize("name", sorted(LOSS_ARGS))
@given(
    data=st.data(),
    y_true=targets(["float32", "int32", "int64", "bool"]),
    y_pred=targets(["float32", "float64", "int32"]),
    weight=st.sampled_from(
        [None, np.ones(4, np.float32), np.ones(3, np.float32), np.full(4, NAN, np.float32)]
    ),
)
def test_losses(name, data, y_true, y_pred, weight):
    kwargs = {key: data.draw(st.sampled_from(values)) for key, values in LOSS_ARGS[name].items()}
    kwargs["reduction"] = data.draw(st.sampled_from(REDUCTIONS))

    def loss(y_true, y_pred, weight):
        return getattr(br.losses, name)(**kwargs)(y_true, y_pred, sample_weight=weight)

    check(f"{name}({kwargs})", loss, y_true, y_pred, weight)


METRIC_ARGS: dict[str, dict[str, list[Any]]] = {
    "Accuracy": {},
    "BinaryAccuracy": {"threshold": [0.5, 1.5, NAN]},
    "CategoricalAccuracy": {},
    "SparseCategoricalAccuracy": {},
    "TopKCategoricalAccuracy": {"k": [1, 5, 0, -1]},
    "Precision": {"thresholds": [0.5, -1.0]},
    "Recall": {"thresholds": [0.5, -1.0]},
    "MeanAbsoluteError": {},
    "MeanSquaredError": {},
}


@pytest.mark.parametrize("name", sorted(METRIC_ARGS))
@given(
    data=st.data(),
    y_true=targets(["float32", "int32", "int64", "bool"]),
    y_pred=targets(["float32", "float64", "int32"]),
)
def test_metrics(name, data, y_true, y_pred):
    kwargs = {key: data.draw(st.sampled_from(values)) for key, values in METRIC_ARGS[name].items()}

    def update_and_result(y_true, y_pred):
        metric = getattr(br.metrics, name)(**kwargs)
        metric.update_state(y_true, y_pred)
        return metric.result()

    check(f"{name}({kwargs})", update_and_result, y_true, y_pred)


@given(
    values=st.one_of(arrays(), st.sampled_from([Raw("a"), Raw(None), 3, NAN])),
    weight=st.sampled_from([None, 2.0, -1.0, NAN]),
)
def test_mean_metric(values, weight):
    def update_and_result(values):
        metric = br.metrics.Mean()
        metric.update_state(values, sample_weight=weight)
        return metric.result()

    check(f"Mean[sample_weight={weight!r}]", update_and_result, values)


# --- autodiff ---------------------------------------------------------------------------------------
def _square_with_gradient_of_shape(shape: tuple[int, ...]) -> Callable[[Any], Any]:
    @br.custom_gradient
    def square(x: Any) -> Any:
        return br.ops.sum(x * x), lambda dy: br.ops.ones(shape, dtype=x.dtype)

    return square


GRAD_CASES: dict[str, Callable[[Any], Any]] = {
    "grad(sum)": lambda x: br.grad(lambda v: br.ops.sum(v * v))(x),
    "grad(non-scalar)": lambda x: br.grad(lambda v: v * v)(x),
    "grad(argnums=1)": lambda x: br.grad(lambda v: br.ops.sum(v), argnums=1)(x),
    "grad(argnums=-2)": lambda x: br.grad(lambda v: br.ops.sum(v), argnums=-2)(x),
    "grad(returns None)": lambda x: br.grad(lambda v: None)(x),
    "value_and_grad(has_aux, no aux)": lambda x: br.value_and_grad(lambda v: br.ops.sum(v), has_aux=True)(x),
    "jacobian": lambda x: br.jacobian(lambda v: v * 2.0)(x),
    "custom_gradient(right shape)": lambda x: br.grad(lambda v: _square_with_gradient_of_shape(v.shape)(v))(
        x
    ),
    "custom_gradient(wrong shape)": lambda x: br.grad(lambda v: _square_with_gradient_of_shape((7,))(v))(x),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
@given(x=st.one_of(arrays(max_dims=2), st.sampled_from([2.0, Raw("a"), Raw(None)])))
def test_autodiff(name, x):
    check(name, GRAD_CASES[name], x)


# --- optimizers and schedules: argument checks against Keras 3 ---------------------------------------
FLOAT_VALUES = [-1.0, 0.0, 0.5, 1.0, 1.5, NAN, INF, None, "x"]
OPTIMIZER_PARAMS = {
    "SGD": ["learning_rate", "momentum", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm"],
    "Adam": ["learning_rate", "beta_1", "beta_2", "epsilon"],
    "AdamW": ["weight_decay", "beta_1"],
    "RMSprop": ["rho", "momentum", "epsilon"],
    "Adagrad": ["initial_accumulator_value", "epsilon"],
}
OPTIMIZER_CASES = [
    (name, {param: value})
    for name, params in OPTIMIZER_PARAMS.items()
    for param in params
    for value in FLOAT_VALUES
]
SCHEDULE_CASES = (
    [
        ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": steps, "decay_rate": rate})
        for steps in (10, 0, -5, 2.5)
        for rate in (0.5, -0.5, NAN)
    ]
    + [
        ("CosineDecay", {"initial_learning_rate": lr, "decay_steps": steps, "alpha": alpha})
        for lr in (0.1, -1.0)
        for steps in (10, 0)
        for alpha in (0.0, 0.5, -1.0)
    ]
    + [
        ("PiecewiseConstantDecay", {"boundaries": boundaries, "values": values})
        for boundaries, values in (
            ([5, 10], [0.1, 0.01, 0.001]),
            ([5], [0.1]),
            ([10, 5], [0.1, 0.01, 0.001]),
            ([], [0.1]),
        )
    ]
)
SCHEDULE_STEPS = [0, 3, 7, 12]

_KERAS_SCRIPT = """
import json, sys
import keras
cases, steps = json.load(sys.stdin)
out = []
for kind, name, kwargs in cases:
    try:
        if kind == "optimizer":
            getattr(keras.optimizers, name)(**kwargs)
            out.append(None)
        else:
            schedule = getattr(keras.optimizers.schedules, name)(**kwargs)
            out.append([float(schedule(step)) for step in steps])
    except Exception as error:
        out.append({"error": [c.__name__ for c in type(error).__mro__]})
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def keras_outcomes() -> dict[str, Any]:
    """Keras 3's outcome for every optimizer and schedule case. Argument checks live in Keras'
    backend-independent optimizer code, so one Keras backend (torch, the quicker to import) answers."""
    cases = [("optimizer", n, k) for n, k in OPTIMIZER_CASES] + [
        ("schedule", n, k) for n, k in SCHEDULE_CASES
    ]
    outcomes = keras_json(_KERAS_SCRIPT, backend="torch", stdin=json.dumps([cases, SCHEDULE_STEPS]))
    return {repr(case): outcome for case, outcome in zip(cases, outcomes)}


def _assert_follows_keras(label: str, outcomes: dict[str, Outcome], keras: Any) -> None:
    """Where Keras rejects the arguments, bridge rejects them too, with an error of Keras' builtin."""
    builtins = [
        b for b in (ValueError, TypeError) if isinstance(keras, dict) and b.__name__ in keras["error"]
    ]
    if builtins:  # Keras' other errors (an IndexError deep inside) are no argument checks
        ours = outcomes["torch"]
        assert isinstance(ours.error, builtins[0]), (
            f"{label}: Keras raises {keras['error'][0]}, bridge {ours}"
        )


@pytest.mark.slow
@pytest.mark.parametrize("name, kwargs", OPTIMIZER_CASES, ids=[f"{n}-{k}" for n, k in OPTIMIZER_CASES])
def test_optimizer_arguments_follow_keras(name, kwargs, keras_outcomes):
    outcomes = check(f"optim.{name}({kwargs})", lambda: getattr(br.optim, name)(**kwargs).learning_rate)
    _assert_follows_keras(
        f"optim.{name}({kwargs})", outcomes, keras_outcomes[repr(("optimizer", name, kwargs))]
    )


@pytest.mark.slow
@pytest.mark.parametrize("name, kwargs", SCHEDULE_CASES, ids=[f"{n}-{k}" for n, k in SCHEDULE_CASES])
def test_schedules_follow_keras(name, kwargs, keras_outcomes):
    label = f"optim.{name}({kwargs})"
    keras = keras_outcomes[repr(("schedule", name, kwargs))]
    outcomes = check(label, lambda: [getattr(br.optim, name)(**kwargs)(step) for step in SCHEDULE_STEPS])
    _assert_follows_keras(label, outcomes, keras)
    meaningful = name != "PiecewiseConstantDecay" or kwargs["boundaries"] == sorted(kwargs["boundaries"])
    if not isinstance(keras, dict) and outcomes["torch"].error is None and meaningful:
        _assert_equal_leaves(
            f"{label}: against Keras {keras}",
            outcomes["torch"].value,
            list(map(np.float32, keras)),
            same_dtype=False,
        )


def test_keras_compatible_checks_named_in_the_issue():
    for make in (lambda: br.optim.SGD(momentum=-1), lambda: br.optim.AdamW(weight_decay=None)):
        outcomes = check("optimizer", make)
        assert isinstance(outcomes["torch"].error, ValueError), outcomes["torch"]
    outcomes = check("ExponentialDecay(0.1, 10, 0.5)(3)", lambda: br.optim.ExponentialDecay(0.1, 10, 0.5)(3))
    _assert_equal_leaves(
        "schedule at a Python int step", outcomes["torch"].value, np.float32(0.1 * 0.5**0.3), same_dtype=False
    )


@given(
    name=st.sampled_from(sorted(OPTIMIZER_PARAMS)),
    grad=st.one_of(arrays(), st.sampled_from([Raw(None), Raw("a"), 1.0])),
    variable_dtype=st.sampled_from(["float32", "float64", "int32"]),
)
def test_optimizer_apply(name, grad, variable_dtype):
    def step(grad):
        variable = br.Variable(np.array([1.0, -2.0, 3.0], dtype=variable_dtype))
        getattr(br.optim, name)(learning_rate=0.1).apply([grad], [variable])
        return variable.numpy()

    check(f"optim.{name}.apply[{variable_dtype}]", step, grad)


# --- fit / evaluate / predict arguments -------------------------------------------------------------
FIT_ARGS: dict[str, list[Any]] = {
    "batch_size": [4, 0, -1, 2.5, None, "4", 100],
    "epochs": [1, 0, -1, 1.5, 2],
    "validation_split": [0.0, 0.25, 1.0, 1.5, -0.1],
    "shuffle": [True, False, "yes"],
    "initial_epoch": [0, 1, 5, -1],
    "verbose": [0, "auto", 5, "loud"],
    "callbacks": [None, [], "x", [1]],
}
DATA_X = [(8, 3), (0, 3), (8,), (7, 3), (8, 3, 1)]
DATA_Y = [(8, 1), (7, 1), (8,), (8, 2), (0, 1)]


@st.composite
def fit_cases(draw):
    """One or two fit arguments changed from good ones, and data of edge shapes and values."""
    kwargs = {
        key: draw(st.sampled_from(FIT_ARGS[key]))
        for key in draw(st.sets(st.sampled_from(sorted(FIT_ARGS)), max_size=2))
    }
    x = draw(st.sampled_from(DATA_X).flatmap(lambda s: arrays(dtypes=["float32", "int32", "bool"], shape=s)))
    y = draw(st.sampled_from(DATA_Y).flatmap(lambda s: arrays(dtypes=["float32", "int64"], shape=s)))
    weight = draw(
        st.sampled_from([None, np.ones(8, np.float32), np.ones(5, np.float32), np.full(8, NAN, np.float32)])
    )
    return kwargs, x, y, weight


def _model() -> Any:
    br.random.seed(0)
    model = br.nn.Sequential([br.nn.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", jit=False)
    return model


@settings(max_examples=15)
@given(case=fit_cases())
def test_fit_arguments(case):
    kwargs, x, y, weight = case

    def fit(x, y, weight):
        return _model().fit(x, y, sample_weight=weight, seed=0, **kwargs).history

    check(f"fit({kwargs})", fit, Raw(x), Raw(y), Raw(weight), tolerance=FLOAT32)


@settings(max_examples=15)
@given(case=fit_cases(), batch_size=st.sampled_from(FIT_ARGS["batch_size"]))
def test_evaluate_and_predict_arguments(case, batch_size):
    _, x, y, weight = case
    check(
        f"evaluate[batch_size={batch_size!r}]",
        lambda x, y, w: _model().evaluate(x, y, batch_size=batch_size, sample_weight=w),
        Raw(x),
        Raw(y),
        Raw(weight),
        tolerance=FLOAT32,
    )
    check(f"predict[batch_size={batch_size!r}]", lambda x: _model().predict(x, batch_size=batch_size), Raw(x))
