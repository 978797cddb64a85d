"""Gathering and sorting against NumPy and across backends."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bridge as br
from bridge.testing import assert_parity

from .strategies import SETTINGS, floats32

A = np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 1.5


def test_take():
    assert_parity(
        lambda x: br.ops.take(x, [2, 0, -1], axis=2), A, reference=lambda x: np.take(x, [2, 0, -1], axis=2)
    )
    assert_parity(
        lambda x: br.ops.take(x, [[5, 0], [23, 7]]), A, reference=lambda x: np.take(x, [[5, 0], [23, 7]])
    )
    assert_parity(
        lambda x: br.ops.take(x, np.array([1, 0]), axis=0), A, reference=lambda x: np.take(x, [1, 0], axis=0)
    )


@SETTINGS
@given(data=st.data())
def test_take_along_axis_matches_numpy(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    array = data.draw(hnp.arrays(np.float32, shape, elements=floats32(-5, 5)))
    index_shape = tuple(
        data.draw(st.sampled_from([1, n])) if i != axis % len(shape) else data.draw(st.integers(1, 4))
        for i, n in enumerate(shape)
    )
    indices = data.draw(
        hnp.arrays(np.int64, index_shape, elements=st.integers(-shape[axis], shape[axis] - 1))
    )
    assert_parity(
        lambda x, i: br.ops.take_along_axis(x, i, axis),
        array,
        indices,
        reference=lambda x, i: np.take_along_axis(x, i, axis),
    )


def test_one_hot():
    labels = np.array([[0, 2], [1, 5]])
    results = assert_parity(
        lambda y: br.ops.one_hot(y, 3),
        labels,
        reference=lambda y: (y[..., None] == np.arange(3)).astype(np.float32),
    )
    assert all(r.dtype == np.float32 for r in results.values())
    assert_parity(
        lambda y: br.ops.one_hot(y, 4, dtype="int32"),
        labels,
        reference=lambda y: (y[..., None] == np.arange(4)).astype(np.int32),
    )


@SETTINGS
@given(
    array=hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
        elements=st.sampled_from([-1.0, 0.0, 0.5, 2.0, 3.0]),
    ),
    data=st.data(),
)
def test_sort_and_stable_argsort(array, data):
    axis = data.draw(st.integers(-array.ndim, array.ndim - 1))
    assert_parity(lambda x: br.ops.sort(x, axis), array, reference=lambda x: np.sort(x, axis))
    assert_parity(
        lambda x: br.ops.argsort(x, axis), array, reference=lambda x: np.argsort(x, axis, kind="stable")
    )


@SETTINGS
@given(
    array=hnp.arrays(
        np.float32, st.tuples(st.integers(1, 3), st.integers(1, 6)), elements=floats32(-10, 10), unique=True
    ),
    data=st.data(),
)
def test_topk(array, data):
    k = data.draw(st.integers(0, array.shape[-1]))

    def reference(x):
        order = np.argsort(-x, axis=-1, kind="stable")[:, :k]
        return np.take_along_axis(x, order, -1), order

    assert_parity(lambda x: br.ops.topk(x, k), array, reference=reference)


@SETTINGS
@given(
    array=hnp.arrays(np.int32, st.tuples(st.integers(1, 3), st.integers(1, 40)), elements=st.integers(0, 3)),
    data=st.data(),
)
def test_topk_puts_the_lower_index_first_among_equal_values(bridge_backend, array, data):
    """As TensorFlow's ``top_k`` documents (torch's topk leaves ties in its kernel's order)."""
    k = data.draw(st.integers(0, array.shape[-1]))
    order = np.argsort(-array, axis=-1, kind="stable")[:, :k]
    values, indices = br.ops.topk(br.tensor(array.astype(np.float32)), k)
    np.testing.assert_array_equal(indices.numpy(), order)
    np.testing.assert_array_equal(values.numpy(), np.take_along_axis(array, order, -1))


def test_gather_errors(bridge_backend):
    with pytest.raises(br.DTypeError, match="integers"):
        br.ops.take(br.ones((3,)), br.tensor([0.5]))
    with pytest.raises(br.InvalidArgumentError, match="topk"):
        br.ops.topk(br.ones((2, 3)), 4)
    with pytest.raises(br.ShapeError, match="take_along_axis"):
        br.ops.take_along_axis(br.ones((2, 3)), br.tensor([0]), 1)
