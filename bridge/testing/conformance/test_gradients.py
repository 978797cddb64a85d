"""Gradients of every differentiable op: each backend against float64 finite differences of a
NumPy reference, and the backends against each other."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bridge as br
from bridge.testing import assert_parity
from bridge.testing.references import erf, gelu_tanh, logsumexp, relu, sigmoid

from .strategies import SETTINGS
from .test_reductions import REDUCTIONS as REDUCTION_REFERENCES

pytestmark = pytest.mark.bridge_requires("autodiff")

RNG = np.random.default_rng(7)


def numeric_gradients(loss, inputs, step=1e-6):
    """Central differences of the float64 scalar ``loss(*inputs)`` for every input element."""
    grads = []
    for k, x in enumerate(inputs):
        g = np.zeros(x.shape)
        for index in np.ndindex(x.shape):
            shifted = [a.copy() for a in inputs]
            shifted[k][index] += step
            upper = loss(*shifted)
            shifted[k][index] -= 2 * step
            g[index] = (upper - loss(*shifted)) / (2 * step)
        grads.append(g)
    return tuple(grads)


def check_gradients(op, reference, *inputs, rtol=1e-5, atol=1e-7):
    """``op`` (bridge) and ``reference`` (NumPy) compute the same function; compare gradients of
    ``sum(f(*inputs) * cotangent)`` with respect to every input, in float64."""
    inputs = [np.asarray(x, dtype=np.float64) for x in inputs]
    cotangent = RNG.standard_normal(np.shape(reference(*inputs)))
    count = len(inputs)

    def ours(*tensors):
        *xs, c = tensors
        return br.grad(lambda *a: br.ops.sum(op(*a) * c), argnums=tuple(range(count)))(*xs)

    def numeric(*arrays):
        *xs, c = arrays
        return numeric_gradients(lambda *a: float(np.sum(reference(*a) * c)), xs)

    assert_parity(ours, *inputs, cotangent, reference=numeric, rtol=rtol, atol=atol, requires=("autodiff",))


def _away_from_zero(low=0.2, high=3.0):
    return st.tuples(st.sampled_from([-1.0, 1.0]), st.floats(low, high)).map(lambda t: t[0] * t[1])


UNARY = {
    "negative": (np.negative, st.floats(-3, 3)),
    "abs": (np.abs, _away_from_zero()),
    "exp": (np.exp, st.floats(-3, 3)),
    "expm1": (np.expm1, st.floats(-3, 3)),
    "log": (np.log, st.floats(0.2, 5)),
    "log1p": (np.log1p, st.floats(-0.5, 5)),
    "sqrt": (np.sqrt, st.floats(0.2, 5)),
    "rsqrt": (lambda x: 1 / np.sqrt(x), st.floats(0.2, 5)),
    "square": (np.square, st.floats(-3, 3)),
    "sin": (np.sin, st.floats(-3, 3)),
    "cos": (np.cos, st.floats(-3, 3)),
    "tan": (np.tan, st.floats(-1.2, 1.2)),
    "tanh": (np.tanh, st.floats(-3, 3)),
    "sinh": (np.sinh, st.floats(-3, 3)),
    "cosh": (np.cosh, st.floats(-3, 3)),
    "arctan": (np.arctan, st.floats(-3, 3)),
    "sigmoid": (sigmoid, st.floats(-5, 5)),
    "relu": (relu, _away_from_zero()),
    "leaky_relu": (lambda x: np.where(x >= 0, x, 0.2 * x), _away_from_zero()),
    "elu": (lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))), _away_from_zero()),
    "gelu": (gelu_tanh, st.floats(-3, 3)),
    "silu": (lambda x: x / (1 + np.exp(-x)), st.floats(-5, 5)),
    "softplus": (lambda x: np.logaddexp(x, 0), st.floats(-5, 5)),
    "erf": (erf, st.floats(-2, 2)),
    "sign": (np.sign, _away_from_zero()),
    "floor": (np.floor, st.floats(0.1, 0.9).map(lambda v: v + 2)),
    "round": (np.round, st.floats(0.1, 0.4).map(lambda v: v - 3)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@SETTINGS
@given(data=st.data())
def test_unary_gradients(name, data):
    reference, elements = UNARY[name]
    x = data.draw(
        hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=2, max_side=4), elements=elements)
    )
    check_gradients(getattr(br.ops, name), reference, x)


BINARY = {
    "add": (np.add, st.floats(-3, 3), st.floats(-3, 3)),
    "subtract": (np.subtract, st.floats(-3, 3), st.floats(-3, 3)),
    "multiply": (np.multiply, st.floats(-3, 3), st.floats(-3, 3)),
    "divide": (np.divide, st.floats(-3, 3), _away_from_zero(0.5, 3)),
    "power": (np.power, st.floats(0.5, 3), st.floats(-2, 2)),
    "maximum": (
        np.maximum,
        st.integers(-20, 20).map(lambda v: v / 4),
        st.integers(-20, 20).map(lambda v: v / 4 + 0.125),
    ),
    "minimum": (
        np.minimum,
        st.integers(-20, 20).map(lambda v: v / 4),
        st.integers(-20, 20).map(lambda v: v / 4 + 0.125),
    ),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@SETTINGS
@given(data=st.data())
def test_binary_gradients_with_broadcasting(name, data):
    reference, left, right = BINARY[name]
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3))
    a = data.draw(hnp.arrays(np.float64, shapes.input_shapes[0], elements=left))
    b = data.draw(hnp.arrays(np.float64, shapes.input_shapes[1], elements=right))
    check_gradients(getattr(br.ops, name), reference, a, b)


#: The differentiable reductions of the reduction suite (all and any give bools).
REDUCTIONS = {name: fn for name, fn in REDUCTION_REFERENCES.items() if name not in ("all", "any")}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@SETTINGS
@given(data=st.data())
def test_reduction_gradients(name, data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=3))
    x = data.draw(
        hnp.arrays(np.float64, shape, elements=st.integers(-40, 40).map(lambda v: v / 8), unique=True)
    )
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    keepdims = data.draw(st.booleans())
    reference = REDUCTIONS[name]
    check_gradients(
        lambda t: getattr(br.ops, name)(t, axis=axis, keepdims=keepdims),
        lambda a: reference(a, axis=axis, keepdims=keepdims),
        x,
    )


def _x(*shape):
    return RNG.standard_normal(shape)


def _spd(n):
    m = RNG.standard_normal((n, n))
    return m @ m.T + n * np.eye(n)


def _distinct(*shape):
    return (RNG.permutation(int(np.prod(shape))) * 0.37 - 2).reshape(shape)


def _mask_getitem(x):
    return x[x[:, 0] > 0]


def _set(a):
    out = a.copy()
    out[1:, 0] = 0.5
    return out * a


def _add_at(a, b):
    out = a.copy()
    np.add.at(out, [0, 0, 2], b)
    return out


OTHERS = {
    "cumsum": (lambda t: br.ops.cumsum(t, axis=1), lambda a: np.cumsum(a, axis=1), [_x(2, 3)]),
    "cumprod": (lambda t: br.ops.cumprod(t, axis=0), lambda a: np.cumprod(a, axis=0), [_x(3, 2)]),
    "clip": (
        lambda t: br.ops.clip(t, -0.5, 0.5),
        lambda a: np.clip(a, -0.5, 0.5),
        [_distinct(2, 5) / 2 + 0.03],
    ),
    "where": (
        lambda t, u: br.ops.where(t > 0, t * 2, u),
        lambda a, b: np.where(a > 0, a * 2, b),
        [_x(3, 4), _x(4)],
    ),
    "matmul": (br.ops.matmul, np.matmul, [_x(2, 3, 4), _x(4, 2)]),
    "matmul_vector": (br.ops.matmul, np.matmul, [_x(4), _x(4, 2)]),
    "dot": (br.ops.dot, np.dot, [_x(3, 4), _x(4)]),
    "tensordot": (
        lambda a, b: br.ops.tensordot(a, b, axes=([0, 2], [1, 0])),
        lambda a, b: np.tensordot(a, b, axes=([0, 2], [1, 0])),
        [_x(2, 3, 4), _x(4, 2, 5)],
    ),
    "einsum": (
        lambda a, b: br.ops.einsum("bij,jk->bik", a, b),
        lambda a, b: np.einsum("bij,jk->bik", a, b),
        [_x(2, 3, 4), _x(4, 2)],
    ),
    "outer": (br.ops.outer, np.outer, [_x(3), _x(4)]),
    "norm": (br.ops.norm, np.linalg.norm, [_x(3, 4)]),
    "norm_l1_axis": (
        lambda t: br.ops.norm(t, ord=3, axis=1),
        lambda a: np.linalg.norm(a, ord=3, axis=1),
        [_x(3, 4)],
    ),
    "inv": (br.linalg.inv, np.linalg.inv, [_spd(3)]),
    "solve": (br.linalg.solve, np.linalg.solve, [_spd(3), _x(3, 2)]),
    "det": (br.linalg.det, np.linalg.det, [_spd(3)]),
    "cholesky": (
        lambda a: br.linalg.cholesky((a + a.T) / 2),
        lambda a: np.linalg.cholesky((a + a.T) / 2),
        [_spd(3)],
    ),
    "reshape": (lambda t: br.ops.reshape(t, (3, -1)), lambda a: a.reshape(3, -1), [_x(2, 6)]),
    "transpose": (lambda t: br.ops.transpose(t, (2, 0, 1)), lambda a: a.transpose(2, 0, 1), [_x(2, 3, 4)]),
    "moveaxis": (lambda t: br.ops.moveaxis(t, 0, -1), lambda a: np.moveaxis(a, 0, -1), [_x(2, 3, 4)]),
    "squeeze": (br.ops.squeeze, np.squeeze, [_x(2, 1, 3)]),
    "expand_dims": (lambda t: br.ops.expand_dims(t, 1), lambda a: np.expand_dims(a, 1), [_x(2, 3)]),
    "concat": (
        lambda a, b: br.ops.concat([a, b * 2], axis=1),
        lambda a, b: np.concatenate([a, b * 2], 1),
        [_x(2, 3), _x(2, 2)],
    ),
    "stack": (
        lambda a, b: br.ops.stack([a, b], axis=1),
        lambda a, b: np.stack([a, b], 1),
        [_x(2, 3), _x(2, 3)],
    ),
    "split": (
        lambda t: br.ops.concat(br.ops.split(t, [1, 3], axis=1)[::-1], axis=1),
        lambda a: np.concatenate(np.split(a, [1, 3], axis=1)[::-1], axis=1),
        [_x(2, 5)],
    ),
    "unstack": (
        lambda t: br.ops.stack([u * (i + 1) for i, u in enumerate(br.ops.unstack(t, axis=1))], axis=1),
        lambda a: np.stack([u * (i + 1) for i, u in enumerate(np.moveaxis(a, 1, 0))], axis=1),
        [_x(2, 3, 2)],
    ),
    "tile": (lambda t: br.ops.tile(t, (2, 3)), lambda a: np.tile(a, (2, 3)), [_x(2, 3)]),
    "repeat": (lambda t: br.ops.repeat(t, 3, axis=0), lambda a: np.repeat(a, 3, axis=0), [_x(2, 3)]),
    "broadcast_to": (
        lambda t: br.ops.broadcast_to(t, (4, 2, 3)),
        lambda a: np.broadcast_to(a, (4, 2, 3)),
        [_x(2, 1)],
    ),
    "pad_constant": (
        lambda t: br.ops.pad(t, ((1, 0), (2, 1))),
        lambda a: np.pad(a, ((1, 0), (2, 1))),
        [_x(2, 3)],
    ),
    "pad_reflect": (
        lambda t: br.ops.pad(t, 2, mode="reflect"),
        lambda a: np.pad(a, 2, mode="reflect"),
        [_x(3, 4)],
    ),
    "flip": (lambda t: br.ops.flip(t, axis=0), lambda a: np.flip(a, axis=0), [_x(3, 2)]),
    "flatten": (br.ops.flatten, lambda a: a.flatten(), [_x(2, 3)]),
    "getitem": (lambda t: t[1:, ::-2, None], lambda a: a[1:, ::-2, None], [_x(3, 5)]),
    "getitem_advanced": (lambda t: t[[2, 0, 2], 1:], lambda a: a[[2, 0, 2], 1:], [_x(3, 4)]),
    "getitem_mask": (_mask_getitem, _mask_getitem, [_distinct(5, 2)]),
    "at_set": (lambda t: t.at[1:, 0].set(0.5) * t, _set, [_x(3, 3)]),
    "at_add": (lambda t, u: t.at[[0, 0, 2]].add(u), lambda a, b: _add_at(a, b), [_x(3, 2), _x(3, 2)]),
    "take": (
        lambda t: br.ops.take(t, [2, 0, 2], axis=1),
        lambda a: np.take(a, [2, 0, 2], axis=1),
        [_x(2, 3)],
    ),
    "take_along_axis": (
        lambda t: br.ops.take_along_axis(t, np.array([[1, 1, 0]]), axis=1),
        lambda a: np.take_along_axis(a, np.array([[1, 1, 0]]), axis=1),
        [_x(2, 3)],
    ),
    "sort": (lambda t: br.ops.sort(t, axis=1), lambda a: np.sort(a, axis=1), [_distinct(3, 4)]),
    "topk": (lambda t: br.ops.topk(t, 2)[0], lambda a: -np.sort(-a, axis=-1)[:, :2], [_distinct(3, 4)]),
    "softmax": (lambda t: br.ops.softmax(t, axis=0), lambda a: np.exp(a) / np.exp(a).sum(0), [_x(3, 4)]),
    "log_softmax": (br.ops.log_softmax, lambda a: a - logsumexp(a, axis=-1, keepdims=True), [_x(3, 4)]),
    "dropout": (lambda t: br.ops.dropout(t, 0.5, seed=1), None, [_x(4, 5)]),
}


@pytest.mark.parametrize("name", sorted(OTHERS))
def test_op_gradients(name):
    op, reference, inputs = OTHERS[name]
    if name == "dropout":  # the mask is fixed by the seed: read it off the forward pass
        mask = br.ops.dropout(br.ones((4, 5), dtype="float64"), 0.5, seed=1).numpy()
        reference = lambda a: a * mask  # noqa: E731
    check_gradients(op, reference, *inputs, rtol=1e-5, atol=1e-6)
