"""Elementwise ops against NumPy float64 and across backends, on generated shapes and values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bridge as br
from bridge.testing import assert_parity
from bridge.testing.references import erf, gelu, gelu_tanh, relu, sigmoid

from .strategies import SETTINGS, floats32


def _floats(low: float, high: float):
    return floats32(low, high)


def _quarters(low: int, high: int):
    """Floats k/4: exact, so x / y never sits on a rounding boundary of floor."""
    return st.integers(low * 4, high * 4).map(lambda k: k / 4)


def _nonzero_quarters(low: int, high: int):
    return _quarters(low, high).filter(lambda v: v != 0)


BINARY = {
    "add": (np.add, _floats(-100, 100), _floats(-100, 100)),
    "subtract": (np.subtract, _floats(-100, 100), _floats(-100, 100)),
    "multiply": (np.multiply, _floats(-100, 100), _floats(-100, 100)),
    "divide": (np.true_divide, _floats(-100, 100), _floats(0.5, 100)),
    "maximum": (np.maximum, _floats(-100, 100), _floats(-100, 100)),
    "minimum": (np.minimum, _floats(-100, 100), _floats(-100, 100)),
    "power": (np.power, _floats(0.1, 10), _floats(-3, 3)),
    "floor_divide": (np.floor_divide, _quarters(-20, 20), _nonzero_quarters(-5, 5)),
    "mod": (np.mod, _quarters(-20, 20), _nonzero_quarters(-5, 5)),
    "equal": (np.equal, _quarters(-2, 2), _quarters(-2, 2)),
    "not_equal": (np.not_equal, _quarters(-2, 2), _quarters(-2, 2)),
    "less": (np.less, _quarters(-2, 2), _quarters(-2, 2)),
    "less_equal": (np.less_equal, _quarters(-2, 2), _quarters(-2, 2)),
    "greater": (np.greater, _quarters(-2, 2), _quarters(-2, 2)),
    "greater_equal": (np.greater_equal, _quarters(-2, 2), _quarters(-2, 2)),
    "logical_and": (np.logical_and, _quarters(-1, 1), _quarters(-1, 1)),
    "logical_or": (np.logical_or, _quarters(-1, 1), _quarters(-1, 1)),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@SETTINGS
@given(data=st.data())
def test_binary_float32_with_broadcasting(name, data):
    reference, left, right = BINARY[name]
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4))
    a = data.draw(hnp.arrays(np.float32, shapes.input_shapes[0], elements=left))
    b = data.draw(hnp.arrays(np.float32, shapes.input_shapes[1], elements=right))
    assert_parity(getattr(br.ops, name), a, b, reference=reference, rtol=2e-6, atol=1e-5)


INT_BINARY = {
    "add": np.add,
    "subtract": np.subtract,
    "multiply": np.multiply,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "floor_divide": np.floor_divide,
    "mod": np.mod,
    "bitwise_and": np.bitwise_and,
    "bitwise_or": np.bitwise_or,
    "bitwise_xor": np.bitwise_xor,
    "equal": np.equal,
    "less": np.less,
}


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("name", sorted(INT_BINARY))
@SETTINGS
@given(data=st.data())
def test_binary_integers_exact(name, dtype, data):
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4))
    a = data.draw(hnp.arrays(dtype, shapes.input_shapes[0], elements=st.integers(-1000, 1000)))
    b = data.draw(
        hnp.arrays(dtype, shapes.input_shapes[1], elements=st.integers(-50, 50).filter(lambda v: v != 0))
    )
    results = assert_parity(getattr(br.ops, name), a, b, reference=INT_BINARY[name])
    assert all(r.dtype == INT_BINARY[name](a, b).dtype for r in results.values())


def test_shifts_and_integer_power_are_exact():
    a = np.array([1, 5, 1023, 7], dtype=np.int64)
    s = np.array([0, 3, 10, 1], dtype=np.int64)
    assert_parity(br.ops.left_shift, a, s, reference=np.left_shift)
    assert_parity(br.ops.right_shift, a << s, s, reference=np.right_shift)
    assert_parity(br.ops.power, a, np.array([2, 3, 1, 0]), reference=np.power)


UNARY = {
    "negative": (np.negative, _floats(-100, 100)),
    "abs": (np.abs, _floats(-100, 100)),
    "sign": (np.sign, _quarters(-3, 3)),
    "exp": (np.exp, _floats(-20, 20)),
    "expm1": (np.expm1, _floats(-20, 20)),
    "log": (np.log, _floats(1e-3, 1e3)),
    "log1p": (np.log1p, _floats(-0.9, 1e3)),
    "sqrt": (np.sqrt, _floats(0, 1e4)),
    "rsqrt": (lambda x: 1 / np.sqrt(x), _floats(1e-2, 1e4)),
    "square": (np.square, _floats(-100, 100)),
    "sin": (np.sin, _floats(-10, 10)),
    "cos": (np.cos, _floats(-10, 10)),
    "tan": (np.tan, _floats(-1.2, 1.2)),
    "tanh": (np.tanh, _floats(-10, 10)),
    "sinh": (np.sinh, _floats(-10, 10)),
    "cosh": (np.cosh, _floats(-10, 10)),
    "arctan": (np.arctan, _floats(-100, 100)),
    "sigmoid": (sigmoid, _floats(-30, 30)),
    "relu": (relu, _floats(-10, 10)),
    "leaky_relu": (lambda x: np.where(x >= 0, x, 0.2 * x), _floats(-10, 10)),
    "elu": (lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))), _floats(-10, 10)),
    "gelu": (gelu_tanh, _floats(-10, 10)),
    "silu": (lambda x: x / (1 + np.exp(-x)), _floats(-30, 30)),
    "softplus": (lambda x: np.logaddexp(x, 0), _floats(-50, 50)),
    "erf": (erf, _floats(-4, 4)),
    "floor": (np.floor, _quarters(-10, 10)),
    "ceil": (np.ceil, _quarters(-10, 10)),
    "round": (np.round, _quarters(-10, 10)),
    "logical_not": (np.logical_not, _quarters(-1, 1)),
    "isnan": (np.isnan, st.sampled_from([0.0, 1.5, np.nan, np.inf, -np.inf])),
    "isinf": (np.isinf, st.sampled_from([0.0, 1.5, np.nan, np.inf, -np.inf])),
    "isfinite": (np.isfinite, st.sampled_from([0.0, 1.5, np.nan, np.inf, -np.inf])),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@SETTINGS
@given(data=st.data())
def test_unary_float32(name, data):
    reference, elements = UNARY[name]
    x = data.draw(
        hnp.arrays(np.float32, hnp.array_shapes(min_dims=0, max_dims=3, max_side=5), elements=elements)
    )
    assert_parity(getattr(br.ops, name), x, reference=reference, rtol=1e-5, atol=1e-6)


def test_gelu_exact_form():
    x = np.linspace(-5, 5, 41, dtype=np.float32)
    assert_parity(
        lambda t: br.ops.gelu(t, approximate=False),
        x,
        reference=gelu,
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize("name", ["exp", "log1p", "sqrt", "sin", "sigmoid", "tanh", "erf"])
def test_float_functions_of_integers_give_default_float(name):
    x = np.array([0, 1, 2, 3], dtype=np.int32)
    results = assert_parity(getattr(br.ops, name), x, reference=UNARY[name][0], rtol=1e-5)
    assert all(r.dtype == np.float32 for r in results.values())


@pytest.mark.parametrize("name", ["floor", "ceil", "round", "abs", "negative", "sign"])
def test_integer_rounding_and_sign_keep_integers(name):
    x = np.array([-3, 0, 2, 7], dtype=np.int32)
    results = assert_parity(getattr(br.ops, name), x, reference=getattr(np, name))
    assert all(r.dtype == np.int32 for r in results.values())


def test_predicates_on_integers_are_constant():
    x = np.array([1, 2], dtype=np.int64)
    for name in ("isnan", "isinf", "isfinite"):
        assert_parity(getattr(br.ops, name), x, reference=getattr(np, name))


def test_activations_survive_extreme_inputs(bridge_backend):
    x = br.tensor([-1e4, -100.0, 0.0, 100.0, 1e4])
    for name in ("sigmoid", "softplus", "silu", "elu", "gelu", "tanh"):
        assert np.isfinite(getattr(br.ops, name)(x).numpy()).all(), name


def test_clip_and_where():
    x = np.linspace(-3, 3, 13, dtype=np.float32).reshape(13, 1)
    assert_parity(lambda t: br.ops.clip(t, -1.0, 2.0), x, reference=lambda v: np.clip(v, -1, 2))
    assert_parity(lambda t: br.ops.clip(t, max=0.5), x, reference=lambda v: np.minimum(v, 0.5))
    c = np.array([True, False, True])
    y = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    assert_parity(
        lambda cc, a, b: br.ops.where(cc, a, b), c, x, y, reference=lambda cc, a, b: np.where(cc, a, b)
    )
    assert_parity(lambda cc, a: br.ops.where(cc, a, 0.0), c, y, reference=lambda cc, a: np.where(cc, a, 0))
    assert_parity(lambda cc: br.ops.where(cc, 1.0, -1.0), c, reference=lambda cc: np.where(cc, 1.0, -1.0))


def test_nan_propagates_through_maximum_and_minimum():
    a = np.array([np.nan, 1.0, 2.0], dtype=np.float32)
    b = np.array([0.0, np.nan, 1.0], dtype=np.float32)
    assert_parity(br.ops.maximum, a, b, reference=np.maximum)
    assert_parity(br.ops.minimum, a, b, reference=np.minimum)
