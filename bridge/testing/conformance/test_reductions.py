"""Reductions and scans against NumPy float64 and across backends."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bridge as br
from bridge.testing import assert_parity
from bridge.testing.references import logsumexp

from .strategies import SETTINGS, floats32

REDUCTIONS = {
    "sum": np.sum,
    "mean": np.mean,
    "prod": np.prod,
    "max": np.max,
    "min": np.min,
    "var": np.var,
    "std": np.std,
    "all": np.all,
    "any": np.any,
    "logsumexp": logsumexp,
}


@st.composite
def array_and_axis(draw, dtype=np.float32, elements=None):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    array = draw(hnp.arrays(dtype, shape, elements=floats32(-2, 2) if elements is None else elements))
    axis = draw(
        st.one_of(
            st.none(),
            st.integers(-len(shape), len(shape) - 1),
            st.lists(st.integers(0, len(shape) - 1), unique=True, max_size=len(shape)).map(tuple),
        )
    )
    return array, axis, draw(st.booleans())


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@SETTINGS
@given(case=array_and_axis())
def test_reductions_match_numpy(name, case):
    array, axis, keepdims = case
    reference = REDUCTIONS[name]
    assert_parity(
        lambda x: getattr(br.ops, name)(x, axis=axis, keepdims=keepdims),
        array,
        reference=lambda x: reference(x, axis=axis, keepdims=keepdims),
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "all", "any"])
@SETTINGS
@given(case=array_and_axis(np.int32, st.integers(-3, 3)))
def test_integer_reductions_are_exact(name, case):
    array, axis, keepdims = case
    reference = REDUCTIONS[name]
    assert_parity(
        lambda x: getattr(br.ops, name)(x, axis=axis, keepdims=keepdims),
        array,
        reference=lambda x: reference(x, axis=axis, keepdims=keepdims),
    )


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@SETTINGS
@given(data=st.data())
def test_argmax_argmin_first_occurrence(name, data):
    array = data.draw(
        hnp.arrays(
            np.float32,
            hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
            elements=st.sampled_from([0.0, 1.0, 2.0]),
        )
    )
    axis = data.draw(st.one_of(st.none(), st.integers(-array.ndim, array.ndim - 1)))
    keepdims = data.draw(st.booleans())
    assert_parity(
        lambda x: getattr(br.ops, name)(x, axis=axis, keepdims=keepdims),
        array,
        reference=lambda x: getattr(np, name)(x, axis=axis, keepdims=keepdims),
    )


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
@SETTINGS
@given(case=array_and_axis(elements=floats32(0.5, 1.5)))
def test_scans_match_numpy(name, case):
    array, axis, _ = case
    axis = axis if isinstance(axis, int) else None
    assert_parity(
        lambda x: getattr(br.ops, name)(x, axis=axis),
        array,
        reference=lambda x: getattr(np, name)(x, axis=axis),
        rtol=1e-5,
    )


def test_var_std_ddof_and_logsumexp_overflow():
    x = np.array([[1.0, 2.0, 4.0], [3.0, 5.0, 9.0]], dtype=np.float32)
    assert_parity(lambda t: br.ops.var(t, axis=1, ddof=1), x, reference=lambda t: np.var(t, axis=1, ddof=1))
    assert_parity(lambda t: br.ops.std(t, ddof=1), x, reference=lambda t: np.std(t, ddof=1))
    big = np.array([1000.0, 1000.0, -np.inf], dtype=np.float32)
    assert_parity(br.ops.logsumexp, big, reference=lambda t: 1000.0 + np.log(2.0))
    assert_parity(br.ops.logsumexp, np.full(3, -np.inf, np.float32), reference=lambda t: -np.inf)


def test_reductions_of_bools(bridge_backend):
    m = br.tensor([[True, False], [True, True]])
    assert br.ops.sum(m).dtype == br.int64 and br.ops.sum(m).item() == 3
    assert br.ops.max(m, axis=1).tolist() == [True, True]
    assert br.ops.min(m, axis=1).tolist() == [False, True]
    assert br.ops.argmax(m, axis=1).tolist() == [0, 0]


def test_half_precision_mean_accumulates_in_float32(bridge_backend):
    x = br.full((4096,), 60000.0, dtype="float16")  # the float16 sum overflows
    mean = br.ops.mean(x)
    assert mean.dtype == br.float16
    assert mean.item() == 60000.0


def test_bad_axis_is_an_axis_error(bridge_backend):
    x = br.zeros((2, 3))
    for op in (br.ops.sum, br.ops.mean, br.ops.argmax, br.ops.cumsum):
        with pytest.raises(br.AxisError, match="axis 2 is out of bounds for a tensor of rank 2") as info:
            op(x, axis=2)
        assert isinstance(info.value, ValueError) and isinstance(info.value, IndexError)
    with pytest.raises(br.AxisError, match="repeated axis"):
        br.ops.sum(x, axis=(0, -2))
