"""Products, einsum, norms and the bridge.linalg solvers against NumPy float64."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bridge as br
from bridge.testing import assert_parity

from .strategies import SETTINGS, floats32

RNG = np.random.default_rng(0)


def _floats(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


@SETTINGS
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


def test_linear_algebra_errors(bridge_backend):
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


# --- bad and edge input: the same answer on every backend (issue 8) -----------------------------------
@pytest.mark.parametrize("dtype", ["bool", "int8", "uint8", "int16"])
def test_narrow_int_and_bool_products_match_numpy(bridge_backend, dtype):
    """Dtypes without a matmul kernel on a backend give NumPy's result: bool stays bool, ints wrap."""
    a = np.array([[100, -3, 0], [7, 127, 1]]).astype(dtype)
    b = np.array([[90, 1], [-5, 2], [3, 0]]).astype(dtype)
    cases = [
        (br.ops.matmul(a, b), np.matmul(a, b)),
        (br.ops.matmul(a[0], b), np.matmul(a[0], b)),
        (br.ops.dot(a[0], b[:, 0]), np.dot(a[0], b[:, 0])),
        (br.ops.tensordot(a, b, axes=1), np.tensordot(a, b, axes=1)),
        (br.ops.einsum("ij,jk->ik", a, b), np.einsum("ij,jk->ik", a, b)),
    ]
    for ours, expected in cases:
        assert ours.dtype == dtype
        np.testing.assert_array_equal(ours.numpy(), expected)


@pytest.mark.parametrize(
    ("a_shape", "b_shape"),
    [((2, 2), (2, 2, 2)), ((3, 2, 2), (2,)), ((2, 1, 2, 2), (3, 2, 1)), ((1, 2, 2), (4, 2, 3))],
)
def test_solve_broadcasts_batch_axes_as_numpy(bridge_backend, a_shape, b_shape):
    """NumPy 2's rule: b is a vector only when 1-D, else (..., M, K); batch axes broadcast."""
    a = (RNG.standard_normal(a_shape) + 3 * np.eye(a_shape[-1])).astype(np.float32)
    b = RNG.standard_normal(b_shape).astype(np.float32)
    out = br.linalg.solve(a, b)
    expected = np.linalg.solve(a.astype(np.float64), b.astype(np.float64))
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(br.ShapeError, match=r"solve.*do not broadcast"):
        br.linalg.solve(np.eye(2, dtype=np.float32)[None].repeat(3, 0), np.ones((2, 2, 1), np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", ["svdvals", "cholesky", "det", "inv"])
def test_decomposition_of_a_non_finite_matrix_is_nan(bridge_backend, name, bad):
    """A matrix holding NaN or infinity decomposes to all NaN on every backend (LAPACK raises on
    one, returns garbage on another); the finite matrices of the batch are unaffected."""
    x = np.stack([_spd(2), _spd(2)]).astype(np.float32)
    x[0, 0, 0] = bad
    out = getattr(br.linalg, name)(x).numpy()
    assert np.isnan(out[0]).all()
    reference = {
        "cholesky": np.linalg.cholesky,
        "svdvals": lambda m: np.linalg.svd(m, compute_uv=False),
        "det": np.linalg.det,
        "inv": np.linalg.inv,
    }[name]
    np.testing.assert_allclose(out[1], reference(x[1].astype(np.float64)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("a_shape", "b_shape", "axes"),
    [
        ((2, 3), (3, 2), 1.5),
        ((2, 3), (3, 2), 3),
        ((2,), (2,), ((1,), (0,))),
        ((2,), (2,), ((0, 0), (0, 0))),
        ((2, 2), (2, 2), ((0, 1), (0,))),
        ((2, 3), (2, 3), ((0,), (1,))),
    ],
)
def test_tensordot_rejects_bad_axes_as_numpy(bridge_backend, a_shape, b_shape, axes):
    """Bad axes raise a bridge error that is also the builtin NumPy raises, never wrap around."""
    a, b = np.ones(a_shape, np.float32), np.ones(b_shape, np.float32)
    with pytest.raises(Exception) as numpy_error:
        np.tensordot(a, b, axes=axes)
    builtin = next(c for c in (IndexError, TypeError, ValueError) if isinstance(numpy_error.value, c))
    with pytest.raises(br.BridgeError, match="tensordot") as ours:
        br.ops.tensordot(a, b, axes=axes)
    assert isinstance(ours.value, builtin)


@pytest.mark.parametrize(
    ("subscripts", "shapes"),
    [
        ("ij->ji", [(2, 2), (2, 2)]),
        ("i,i->", [(2,)]),
        ("1", [(2,), (2,)]),
        ("ab,bc->ad", [(2, 2), (2, 2)]),
        ("ij,jk->ik,", [(2, 3), (3, 2)]),
        ("ij,jk->ik", [(2, 3), (2, 2)]),
        ("ii->i", [(2, 3)]),
        ("ij,jk", [(2,), (2, 2)]),
    ],
)
def test_einsum_rejects_what_numpy_rejects(bridge_backend, subscripts, shapes):
    """Wrong operand counts, labels or sizes: one InvalidArgumentError (a ValueError) everywhere."""
    operands = [np.ones(s, np.float32) for s in shapes]
    with pytest.raises((ValueError, KeyError)):
        np.einsum(subscripts, *operands)
    with pytest.raises(br.InvalidArgumentError, match="einsum"):
        br.ops.einsum(subscripts, *operands)


@pytest.mark.parametrize(
    "a", [np.zeros((2, 2)), np.array([[1.0, 2.0], [2.0, 4.0]]), np.stack([np.eye(2), np.zeros((2, 2))])]
)
def test_singular_matrices_raise_a_value_error_as_numpy(bridge_backend, a):
    """NumPy raises LinAlgError (a ValueError); bridge one InvalidArgumentError on every backend."""
    a = a.astype(np.float32)
    b = np.ones(a.shape[:-1], np.float32)
    for name, args in (("solve", (a, b)), ("inv", (a,))):
        with pytest.raises(np.linalg.LinAlgError):
            getattr(np.linalg, name)(*(x.astype(np.float64) for x in args))
        with pytest.raises(br.InvalidArgumentError, match=rf"{name}: singular matrix.*{a.shape}"):
            getattr(br.linalg, name)(*args)
