"""bridge owns dtype promotion: the same result dtype on every backend, by the documented rules."""

from __future__ import annotations

import itertools

import ml_dtypes
import numpy as np
import pytest

import bridge as br
from bridge.dtypes import ALL_DTYPES, as_dtype

NAMES = [d.name for d in ALL_DTYPES]


def expected_promotion(a: str, b: str) -> str:
    """The rules, stated independently of bridge: NumPy's table within a kind (it follows the
    Array API there), the float with an integer, float32 for float16 with bfloat16."""
    if a == b:
        return a
    floats = {"float16", "bfloat16", "float32", "float64"}
    if {a, b} == {"float16", "bfloat16"}:
        return "float32"
    if "bfloat16" in (a, b):
        other = b if a == "bfloat16" else a
        return other if other in {"float32", "float64"} else "bfloat16"
    if (a in floats) != (b in floats) and "bool" not in (a, b):
        return a if a in floats else b
    return np.result_type(np.dtype(a), np.dtype(b)).name


@pytest.mark.parametrize("a, b", list(itertools.product(NAMES, NAMES)))
def test_binary_promotion_is_the_same_on_every_backend(a, b, bridge_backend):
    expected = expected_promotion(a, b)
    x, y = br.ones((2,), dtype=a), br.ones((2,), dtype=b)
    op = br.ops.logical_or if expected == "bool" else br.ops.add
    assert op(x, y).dtype == expected
    assert br.ops.maximum(x, y).dtype == expected
    assert (x == y).dtype == br.bool


@pytest.mark.parametrize("name", NAMES)
def test_python_scalars_are_weak(name, bridge_backend):
    x = br.ones((3,), dtype=name)
    kind = as_dtype(name).kind
    int_result = "int64" if kind == "b" else name
    float_result = name if kind == "f" else "float32"
    if kind != "b":
        assert (x + 1).dtype == int_result
        assert (2 * x).dtype == int_result
    assert (x * 2.5).dtype == float_result
    assert (1.5 - x.astype("float32" if kind == "b" else name)).dtype == float_result


@pytest.mark.parametrize("name", ["int8", "int16", "int32", "int64", "uint8", "bool"])
def test_true_division_of_integers_gives_default_float(name, bridge_backend):
    x = br.tensor(np.array([1, 0, 1], dtype=name))
    y = br.tensor(np.array([2, 1, 4], dtype="int32"))
    assert (x / y).dtype == br.float32
    np.testing.assert_allclose((x / y).numpy(), np.array([1, 0, 1]) / np.array([2, 1, 4]), rtol=1e-7)


def test_int32_plus_float32_is_float32_everywhere(bridge_backend):
    x = br.tensor(np.array([1, 2], dtype=np.int32))
    y = br.tensor(np.array([0.5, 0.25], dtype=np.float32))
    out = x + y
    assert out.dtype == br.float32
    np.testing.assert_array_equal(out.numpy(), [1.5, 2.25])


def test_defaults_for_python_data(bridge_backend):
    assert br.tensor(1.0).dtype == br.float32
    assert br.tensor([1, 2]).dtype == br.int64
    assert br.tensor([True]).dtype == br.bool
    assert br.tensor(np.zeros(2)).dtype == br.float64  # NumPy arrays keep their dtype
    assert br.zeros((2,)).dtype == br.float32
    assert br.arange(3).dtype == br.int64
    assert br.arange(0.0, 1.0, 0.5).dtype == br.float32


@pytest.mark.parametrize("name", NAMES)
def test_every_dtype_round_trips_through_numpy(name, bridge_backend):
    values = np.array([0, 1, 1, 0], dtype=ml_dtypes.bfloat16 if name == "bfloat16" else name)
    t = br.tensor(values)
    assert t.dtype == name
    out = t.numpy()
    assert out.dtype == values.dtype
    np.testing.assert_array_equal(out.astype(np.float64), values.astype(np.float64))


@pytest.mark.parametrize(
    "op, dtype",
    [
        ("sum", "int64"),
        ("prod", "int64"),
        ("cumsum", "int64"),
        ("mean", "float32"),
        ("max", "int32"),
        ("argmax", "int64"),
        ("var", "float32"),
    ],
)
def test_reduction_dtypes_of_int32(op, dtype, bridge_backend):
    x = br.tensor(np.arange(6, dtype=np.int32).reshape(2, 3))
    assert getattr(br.ops, op)(x).dtype == dtype
    assert getattr(br.ops, op)(x, axis=0).dtype == dtype
