"""Elementwise ops: arithmetic, comparisons, logic, math functions and activations.

Binary ops promote their operands with bridge's rules (Python scalars weak) before calling the
backend primitive, so every backend sees two operands of one dtype and returns the same dtype.
"""

from __future__ import annotations

import math
from typing import Any

from ..dtypes import DType, as_dtype, bool_, default_float, result_type, uint8, weak_result_type
from ..errors import DTypeError, InvalidArgumentError
from ..tensor import Tensor
from ._core import (
    SCALARS,
    as_tensor,
    backend_of,
    broadcast_check,
    describe,
    diagnose,
    floating,
    integer_bounds,
    mismatch,
    op,
    to_native,
)

_PYTHON_TYPE = {"b": bool, "i": int, "u": int, "f": float}
_COMMUTATIVE = {
    "add",
    "multiply",
    "maximum",
    "minimum",
    "equal",
    "not_equal",
    "logical_and",
    "logical_or",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
}
_MIRRORED = {
    "less": "greater",
    "less_equal": "greater_equal",
    "greater": "less",
    "greater_equal": "less_equal",
}
#: Arithmetic and bitwise ops on two bools, where NumPy defines them, are logic.
_ON_BOOLS = {
    "add": "logical_or",
    "maximum": "logical_or",
    "multiply": "logical_and",
    "minimum": "logical_and",
    "bitwise_and": "logical_and",
    "bitwise_or": "logical_or",
    "bitwise_xor": "not_equal",
}


def _scalar_native(backend, value, dtype: DType, like) -> Any:
    return backend.full((), _PYTHON_TYPE[dtype.kind](value), dtype, backend.device(like))


def _check_weak_int(name: str, value: int, dtype: DType) -> None:
    """A Python int taking an integer tensor's dtype must fit it (NumPy 2 raises too)."""
    lowest, highest = integer_bounds(dtype)
    if not lowest <= value <= highest:
        raise InvalidArgumentError(
            f"{name}: Python integer {value} is out of bounds for {dtype} ([{lowest}, {highest}])"
        )


def _operands(name: str, x1: Any, x2: Any):
    """(backend, a, b, dtype): natives of the common dtype; ``b`` may be a Python scalar."""
    if isinstance(x1, Tensor):
        backend = x1._backend
        a = x1._native
        da = backend.dtype_of(a)
        if isinstance(x2, Tensor):
            if x2._backend is not backend:
                raise mismatch(name, [x1.backend, x2.backend])
            b = x2._native
            db = backend.dtype_of(b)
            if da is db:
                return backend, a, b, da
            dtype = result_type(da, db)
            return (
                backend,
                a if da is dtype else backend.cast(a, dtype),
                b if db is dtype else backend.cast(b, dtype),
                dtype,
            )
        if type(x2) in SCALARS:
            dtype = weak_result_type(da, x2)
            if type(x2) is int and dtype.kind in "iu":
                _check_weak_int(name, x2, dtype)
            return (
                backend,
                a if da is dtype else backend.cast(a, dtype),
                _PYTHON_TYPE[dtype.kind](x2),
                dtype,
            )
        return _operands(name, x1, Tensor(to_native(x2, backend, device=x1.device, op=name), backend))
    if isinstance(x2, Tensor):
        backend, b, a, dtype = _operands(name, x2, x1)
        if not isinstance(a, SCALARS):
            return backend, a, b, dtype
        return backend, _scalar_native(backend, a, dtype, b), b, dtype
    backend = backend_of(name, x1, x2)
    first = x1 if type(x1) not in SCALARS or type(x2) in SCALARS else x2
    converted = Tensor(to_native(first, backend), backend)
    return _operands(name, converted, x2) if first is x1 else _operands(name, x1, converted)


def _binary(name: str, kind: str, doc: str):
    """An elementwise binary op. ``kind``: arith, divide, compare, logical, bitwise."""

    plain = kind in ("arith", "compare", "divide")  # on floats: the primitive itself, no casts

    def binary_op(x1: Any, x2: Any) -> Tensor:
        if plain and type(x1) is Tensor:  # the common cases, kept cheap: floats of one dtype, and a
            backend, a = x1._backend, x1._native  # float tensor with a Python number on the right
            dtype = backend.dtype_of(a)
            if dtype.kind == "f":
                if type(x2) is Tensor and x2._backend is backend and backend.dtype_of(x2._native) is dtype:
                    b = x2._native
                elif type(x2) is float or type(x2) is int:
                    b = float(x2)
                else:
                    b = None
                if b is not None:
                    try:
                        return Tensor(getattr(backend, name)(a, b), backend)
                    except Exception as exc:
                        raise diagnose(name, (x1, x2), exc, broadcast_check) from exc
        if kind == "compare" or kind == "arith":
            # Commutative ops and comparisons keep a Python scalar on the right (torch needs it).
            if type(x1) in SCALARS and isinstance(x2, Tensor):
                if name in _COMMUTATIVE:
                    x1, x2 = x2, x1
                elif name in _MIRRORED:
                    return _BINARY[_MIRRORED[name]](x2, x1)
        backend, a, b, dtype = _operands(name, x1, x2)
        primitive = name
        if kind == "divide":
            if dtype.kind != "f":
                a, b = _as(backend, a, default_float), _as(backend, b, default_float)
        elif kind == "logical":
            if isinstance(b, SCALARS):
                b = _scalar_native(backend, b, dtype, a)
            if dtype is not bool_:
                a, b = _as(backend, a, bool_), _as(backend, b, bool_)
        elif dtype is bool_ and kind == "compare" and name not in _COMMUTATIVE:
            a, b = _as(backend, a, uint8), _as(backend, b, uint8)  # False < True (TensorFlow has no bool <)
        elif dtype is bool_ and kind != "compare":
            if name not in _ON_BOOLS:
                raise DTypeError(f"{name}: not defined for bool tensors; cast them first")
            primitive = _ON_BOOLS[name]
            if isinstance(b, SCALARS):
                b = _scalar_native(backend, b, dtype, a)
        elif kind == "bitwise" and dtype.kind == "f":
            raise DTypeError(f"{name}: needs integer or bool tensors, got {dtype}")
        try:
            out = getattr(backend, primitive)(a, b)
        except Exception as exc:
            raise diagnose(name, (x1, x2), exc, broadcast_check) from exc
        return Tensor(out, backend)

    binary_op.__name__ = binary_op.__qualname__ = name
    binary_op.__doc__ = doc
    return binary_op


def _as(backend, value: Any, dtype: DType) -> Any:
    if isinstance(value, SCALARS):
        return _PYTHON_TYPE[dtype.kind](value)
    return value if backend.dtype_of(value) is dtype else backend.cast(value, dtype)


add = _binary("add", "arith", "Elementwise ``x1 + x2``.")
subtract = _binary("subtract", "arith", "Elementwise ``x1 - x2``.")
multiply = _binary("multiply", "arith", "Elementwise ``x1 * x2``.")
divide = _binary("divide", "divide", "True division; integers give the default float.")
floor_divide = _binary("floor_divide", "arith", "Elementwise ``x1 // x2`` (rounds toward -inf).")
mod = _binary("mod", "arith", "Elementwise ``x1 % x2``, with the sign of ``x2`` (as Python).")
_power = _binary("power", "arith", "Elementwise ``x1 ** x2``.")
maximum = _binary("maximum", "arith", "Elementwise maximum (NaN propagates).")
minimum = _binary("minimum", "arith", "Elementwise minimum (NaN propagates).")
equal = _binary("equal", "compare", "Elementwise ``x1 == x2`` as a bool tensor.")
not_equal = _binary("not_equal", "compare", "Elementwise ``x1 != x2`` as a bool tensor.")
less = _binary("less", "compare", "Elementwise ``x1 < x2`` as a bool tensor.")
less_equal = _binary("less_equal", "compare", "Elementwise ``x1 <= x2`` as a bool tensor.")
greater = _binary("greater", "compare", "Elementwise ``x1 > x2`` as a bool tensor.")
greater_equal = _binary("greater_equal", "compare", "Elementwise ``x1 >= x2`` as a bool tensor.")
logical_and = _binary("logical_and", "logical", "Elementwise logical and (inputs cast to bool).")
logical_or = _binary("logical_or", "logical", "Elementwise logical or (inputs cast to bool).")
bitwise_and = _binary("bitwise_and", "bitwise", "Elementwise ``x1 & x2`` (ints and bools).")
bitwise_or = _binary("bitwise_or", "bitwise", "Elementwise ``x1 | x2`` (ints and bools).")
bitwise_xor = _binary("bitwise_xor", "bitwise", "Elementwise ``x1 ^ x2`` (ints and bools).")
left_shift = _binary("left_shift", "bitwise", "Elementwise ``x1 << x2`` (ints).")
right_shift = _binary("right_shift", "bitwise", "Elementwise ``x1 >> x2`` (ints).")
_BINARY = {f.__name__: f for f in (less, less_equal, greater, greater_equal)}


def power(x1: Any, x2: Any) -> Tensor:
    """Elementwise ``x1 ** x2``. Integers to negative integer powers are an error, as in NumPy;
    under ``br.jit``, where tensor values are unknown, such elements are ``trunc(x1 ** x2)``
    (1 for a base of 1, +-1 for -1, else 0) on every backend."""
    if isinstance(x1, Tensor) and x1.dtype.kind == "f":  # the common case: no integer rules
        return _power(x1, x2)
    backend, a, b, dtype = _operands("power", x1, x2)
    if dtype.kind != "i":  # floats, and unsigned exponents that cannot be negative
        return _power(x1, x2)
    if isinstance(b, SCALARS):
        if b < 0:
            raise InvalidArgumentError(
                f"power: integers to negative integer powers are not allowed (as NumPy), got {dtype} ** {b}"
            )
        return _power(x1, x2)
    zero = _scalar_native(backend, 0, dtype, b)
    negative = backend.less(b, zero)
    if not backend.tracing():
        if bool(backend.to_numpy(backend.any(negative, None, False))):
            raise InvalidArgumentError(
                f"power: integers to negative integer powers are not allowed (as NumPy), "
                f"got {dtype} exponents < 0 for base {describe(as_tensor('power', x1))}"
            )
        return _power(x1, x2)
    a = a if not isinstance(a, SCALARS) else _scalar_native(backend, a, dtype, b)
    base = Tensor(a, backend)
    exponent = Tensor(backend.where(negative, zero, b), backend)  # TensorFlow's Pow refuses < 0
    odd = Tensor(b, backend) % 2 != 0
    inverse = where(base == 1, 1, where(base == -1, where(odd, -1, 1), 0)).astype(dtype)
    return where(Tensor(negative, backend), inverse, _power(base, exponent))


def _unary(name: str, kind: str, doc: str):
    """An elementwise unary op. ``kind``: float (ints become the default float), numeric,
    integral (identity on ints and bools), predicate (constant on non-floats), logical."""

    def unary_op(x: Any) -> Tensor:
        backend = x._backend if isinstance(x, Tensor) else backend_of(name, x)
        a = x._native if isinstance(x, Tensor) else to_native(x, backend, op=name)
        dtype = backend.dtype_of(a)
        if kind == "logical":
            if dtype is not bool_:
                a = backend.cast(a, bool_)
        elif dtype.kind != "f":
            if kind == "float":
                a = backend.cast(a, default_float)
            elif kind == "integral":
                return Tensor(a, backend)
            elif kind == "predicate":
                constant = name == "isfinite"
                return Tensor(backend.full(backend.shape(a), constant, bool_, backend.device(a)), backend)
            elif kind == "numeric" and dtype is bool_:
                raise DTypeError(f"{name}: not defined for bool tensors; cast them first")
        try:
            return Tensor(getattr(backend, name)(a), backend)
        except Exception as exc:
            raise diagnose(name, (x,), exc, None) from exc

    unary_op.__name__ = unary_op.__qualname__ = name
    unary_op.__doc__ = doc
    return unary_op


negative = _unary("negative", "numeric", "Elementwise ``-x``.")
abs = _unary("abs", "numeric", "Elementwise absolute value.")  # noqa: A001
sign = _unary("sign", "numeric", "Elementwise sign: -1, 0 or 1.")
relu = _unary("relu", "numeric", "Rectified linear unit ``max(x, 0)``.")
exp = _unary("exp", "float", "Elementwise ``e ** x``.")
expm1 = _unary("expm1", "float", "Elementwise ``exp(x) - 1``, accurate near 0.")
log = _unary("log", "float", "Natural logarithm.")
log1p = _unary("log1p", "float", "Elementwise ``log(1 + x)``, accurate near 0.")
sqrt = _unary("sqrt", "float", "Square root.")
rsqrt = _unary("rsqrt", "float", "Reciprocal square root ``1 / sqrt(x)``.")
sin = _unary("sin", "float", "Sine.")
cos = _unary("cos", "float", "Cosine.")
tan = _unary("tan", "float", "Tangent.")
tanh = _unary("tanh", "float", "Hyperbolic tangent.")
sinh = _unary("sinh", "float", "Hyperbolic sine.")
cosh = _unary("cosh", "float", "Hyperbolic cosine.")
arctan = _unary("arctan", "float", "Inverse tangent.")
sigmoid = _unary("sigmoid", "float", "Logistic sigmoid ``1 / (1 + exp(-x))``.")
erf = _unary("erf", "float", "Gauss error function.")
floor = _unary("floor", "integral", "Round toward -inf.")
ceil = _unary("ceil", "integral", "Round toward +inf.")
round = _unary("round", "integral", "Round half to even, as NumPy.")  # noqa: A001
isnan = _unary("isnan", "predicate", "Elementwise NaN test.")
isinf = _unary("isinf", "predicate", "Elementwise infinity test.")
isfinite = _unary("isfinite", "predicate", "Elementwise finiteness test.")
logical_not = _unary("logical_not", "logical", "Elementwise logical not (input cast to bool).")


@op()
def invert(x: Any) -> Tensor:
    """``~x``: logical not for bools, bitwise not for ints."""
    backend = backend_of("invert", x)
    a = to_native(x, backend)
    dtype = backend.dtype_of(a)
    if dtype.kind == "f":
        raise DTypeError(f"invert: needs integer or bool tensors, got {dtype}")
    return Tensor(backend.logical_not(a) if dtype is bool_ else backend.invert(a), backend)


@op()
def square(x: Any) -> Tensor:
    """Elementwise ``x * x``."""
    return multiply(x, x)


@op()
def astype(x: Any, dtype: Any) -> Tensor:
    """``x`` cast to ``dtype``."""
    dtype = as_dtype(dtype)
    backend = backend_of("astype", x)
    return Tensor(to_native(x, backend, dtype=dtype), backend)


@op(check=broadcast_check)
def where(condition: Any, x1: Any, x2: Any) -> Tensor:
    """Elements of ``x1`` where ``condition`` holds, else of ``x2`` (all three broadcast)."""
    backend = backend_of("where", condition, x1, x2)  # Tensors of two backends: BackendMismatchError
    device = next((t.device for t in (condition, x1, x2) if isinstance(t, Tensor)), None)
    cond = to_native(condition, backend, device=device, op="where")
    if backend.dtype_of(cond) is not bool_:
        cond = backend.cast(cond, bool_)
    _, a, b, _ = _operands("where", *_tensorize_one(backend, x1, x2))
    if isinstance(b, SCALARS):
        b = _scalar_native(backend, b, backend.dtype_of(a), a)
    return Tensor(backend.where(cond, a, b), backend)


def _tensorize_one(backend, x1: Any, x2: Any) -> tuple[Any, Any]:
    """Make sure at least one of two operands is a Tensor (both scalars take default dtypes)."""
    if isinstance(x1, Tensor) or isinstance(x2, Tensor):
        return x1, x2
    return Tensor(to_native(x1, backend), backend), x2


@op(check=broadcast_check)
def clip(x: Any, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    """``x`` limited to ``[min, max]`` (either may be None)."""
    out = as_tensor("clip", x)
    if min is not None:
        out = maximum(out, min)
    if max is not None:
        out = minimum(out, max)
    return out


# --- activations written once over the primitives ---------------------------------------
def _float_tensor(name: str, x: Any) -> Tensor:
    x = as_tensor(name, x)
    return Tensor(floating(x._backend, x._native), x._backend)


@op()
def leaky_relu(x: Any, negative_slope: float = 0.2) -> Tensor:
    """``x`` where positive, else ``negative_slope * x`` (Keras default slope 0.2)."""
    x = _float_tensor("leaky_relu", x)
    return where(x >= 0, x, x * negative_slope)


@op()
def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """Exponential linear unit."""
    x = _float_tensor("elu", x)
    positive = x > 0
    # expm1 sees only the non-positive part: no overflow, and a gradient of 1 at 0 everywhere
    return where(positive, x, expm1(where(positive, 0.0, x)) * alpha)


@op()
def gelu(x: Any, approximate: bool = True) -> Tensor:
    """Gaussian error linear unit; ``approximate=True`` is the tanh form (Keras default)."""
    x = _float_tensor("gelu", x)
    if approximate:
        inner = (x + x * x * x * 0.044715) * math.sqrt(2.0 / math.pi)
        return x * (tanh(inner) + 1.0) * 0.5
    return x * (erf(x * (1.0 / math.sqrt(2.0))) + 1.0) * 0.5


@op()
def silu(x: Any) -> Tensor:
    """``x * sigmoid(x)`` (also called swish)."""
    x = _float_tensor("silu", x)
    return x * sigmoid(x)


@op()
def softplus(x: Any) -> Tensor:
    """``log(1 + exp(x))``, computed without overflow, with the exact gradient at 0."""
    x = _float_tensor("softplus", x)
    # log(exp(x - m) + exp(-m)) + m is the same for every m, and so is its gradient; m = 0 at +inf
    peak = where(x < math.inf, relu(x), 0.0)
    return log(exp(x - peak) + exp(-peak)) + peak


__all__ = [
    "add",
    "subtract",
    "multiply",
    "divide",
    "floor_divide",
    "mod",
    "power",
    "maximum",
    "minimum",
    "equal",
    "not_equal",
    "less",
    "less_equal",
    "greater",
    "greater_equal",
    "logical_and",
    "logical_or",
    "logical_not",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "left_shift",
    "right_shift",
    "invert",
    "negative",
    "abs",
    "sign",
    "exp",
    "expm1",
    "log",
    "log1p",
    "sqrt",
    "rsqrt",
    "square",
    "sin",
    "cos",
    "tan",
    "tanh",
    "sinh",
    "cosh",
    "arctan",
    "sigmoid",
    "relu",
    "leaky_relu",
    "elu",
    "gelu",
    "silu",
    "softplus",
    "erf",
    "floor",
    "ceil",
    "round",
    "clip",
    "where",
    "isnan",
    "isinf",
    "isfinite",
    "astype",
]
