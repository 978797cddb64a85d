"""Products, einsum, norms and the bridge.linalg solvers against NumPy float64."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bridge as br
from bridge.testing import assert_parity

from .strategies import floats32

RNG = np.random.default_rng(0)


def _floats(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


@given(data=st.data())
def test_matmul_with_numpy_rules(data):
    n, k, m = (data.draw(st.integers(1, 4)) for _ in range(3))
    batch_a, batch_b = data.draw(
        hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3)
    ).input_shapes
    a_shape = data.draw(st.sampled_from([(k,), (*batch_a, n, k)]))
    b_shape = data.draw(st.sampled_from([(k,), (*batch_b, k, m)]))
    a = data.draw(hnp.arrays(np.float32, a_shape, elements=floats32(-3, 3)))
    b = data.draw(hnp.arrays(np.float32, b_shape, elements=floats32(-3, 3)))
    assert_parity(br.ops.matmul, a, b, reference=np.matmul, rtol=1e-5, atol=1e-5)


def test_integer_matmul_is_exact():
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    assert_parity(br.ops.matmul, a, a.T.copy(), reference=np.matmul)


PRODUCTS = {
    "dot_vectors": (lambda a, b: br.ops.dot(a[0], b[:, 0]), lambda a, b: np.dot(a[0], b[:, 0])),
    "dot_matrices": (br.ops.dot, np.dot),
    "tensordot_int": (lambda a, b: br.ops.tensordot(a, b, axes=1), lambda a, b: np.tensordot(a, b, axes=1)),
    "tensordot_axes": (
        lambda a, b: br.ops.tensordot(a, b.T, axes=([1], [1])),
        lambda a, b: np.tensordot(a, b.T, axes=([1], [1])),
    ),
    "tensordot_full": (lambda a, b: br.ops.tensordot(a, a, axes=2), lambda a, b: np.tensordot(a, a, axes=2)),
    "einsum": (lambda a, b: br.ops.einsum("ij,jk->ik", a, b), lambda a, b: np.einsum("ij,jk->ik", a, b)),
    "einsum_implicit": (lambda a, b: br.ops.einsum("ij,jk", a, b), lambda a, b: np.einsum("ij,jk", a, b)),
    "einsum_ellipsis": (
        lambda a, b: br.ops.einsum("...j,jk->...k", a, b),
        lambda a, b: np.einsum("...j,jk->...k", a, b),
    ),
    "einsum_trace": (lambda a, b: br.ops.einsum("ii", a[:, :3]), lambda a, b: np.einsum("ii", a[:, :3])),
    "outer": (br.ops.outer, np.outer),
}


@pytest.mark.parametrize("name", sorted(PRODUCTS))
def test_products_match_numpy(name):
    ours, reference = PRODUCTS[name]
    assert_parity(ours, _floats(3, 4), _floats(4, 2), reference=reference, rtol=1e-5, atol=1e-5)


def test_dot_of_higher_rank_tensors():
    assert_parity(br.ops.dot, _floats(2, 3, 4), _floats(5, 4, 2), reference=np.dot, rtol=1e-5, atol=1e-5)
    assert_parity(br.ops.dot, _floats(2, 3, 4), _floats(4), reference=np.dot, rtol=1e-5, atol=1e-5)
    assert_parity(br.ops.dot, _floats(3), np.float32(2.0) * np.ones((), np.float32), reference=np.dot)


NORMS = [
    dict(),
    dict(ord=1, axis=1),
    dict(ord=np.inf, axis=0),
    dict(ord=-np.inf, axis=1),
    dict(ord=0, axis=1),
    dict(ord=3, axis=-1),
    dict(ord=0.5, axis=1),
    dict(axis=(0, 1)),
    dict(ord="fro"),
    dict(ord=1),
    dict(ord=-1),
    dict(ord=np.inf),
    dict(ord=-np.inf),
    dict(ord="nuc"),
    dict(ord=2),
    dict(ord=-2),
    dict(axis=1, keepdims=True),
    dict(ord=2, axis=(1, 0), keepdims=True),
]


@pytest.mark.parametrize("kwargs", NORMS, ids=repr)
def test_norm_matches_numpy(kwargs):
    x = _floats(4, 3)
    assert_parity(
        lambda t: br.ops.norm(t, **kwargs),
        x,
        reference=lambda t: np.linalg.norm(t, **kwargs),
        rtol=2e-5,
        atol=1e-5,
    )


def _spd(n, batch=()):
    m = RNG.standard_normal((*batch, n, n))
    return (m @ np.swapaxes(m, -1, -2) + n * np.eye(n)).astype(np.float32)


@pytest.mark.parametrize("name", ["inv", "det", "cholesky", "svdvals"])
def test_decompositions_match_numpy(name):
    reference = {
        "inv": np.linalg.inv,
        "det": np.linalg.det,
        "cholesky": np.linalg.cholesky,
        "svdvals": lambda a: np.linalg.svd(a, compute_uv=False),
    }[name]
    for x in (_spd(3), _spd(4, batch=(2,))):
        assert_parity(getattr(br.linalg, name), x, reference=reference, rtol=1e-4, atol=1e-4)


def test_solve_vectors_and_matrices():
    a = _spd(3)
    assert_parity(br.linalg.solve, a, _floats(3), reference=np.linalg.solve, rtol=1e-4, atol=1e-5)
    assert_parity(br.linalg.solve, a, _floats(3, 2), reference=np.linalg.solve, rtol=1e-4, atol=1e-5)
    assert_parity(
        br.linalg.solve, _spd(3, (2,)), _floats(2, 3, 1), reference=np.linalg.solve, rtol=1e-4, atol=1e-5
    )


def test_linear_algebra_errors(backend):
    with pytest.raises(br.ShapeError, match=r"matmul.*\(2, 3\).*\(2, 3\).*inner dimensions 3 and 2"):
        br.ones((2, 3)) @ br.ones((2, 3))
    with pytest.raises(br.ShapeError, match=r"inv.*square.*\(2, 3\)"):
        br.linalg.inv(br.ones((2, 3)))
    with pytest.raises(br.ShapeError, match="solve"):
        br.linalg.solve(br.eye(3), br.ones((4,)))
    with pytest.raises(br.ShapeError, match="tensordot"):
        br.ops.tensordot(br.ones((2, 3)), br.ones((2, 3)), axes=1)
    with pytest.raises(br.InvalidArgumentError, match="ord"):
        br.ops.norm(br.ones((2, 2)), ord="bogus")
