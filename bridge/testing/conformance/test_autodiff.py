"""Variables, GradientTape, grad / value_and_grad / jacobian, stop_gradient, custom_gradient."""

from __future__ import annotations

import operator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bridge as br

from .strategies import QUICK_JIT, SETTINGS, floats32

pytestmark = pytest.mark.bridge_requires("autodiff", "variables")


def _close(actual, expected, rtol=1e-6):
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=rtol, atol=1e-7)


# --- Variable ------------------------------------------------------------------------------
def test_variable_reads_and_updates_in_place(bridge_backend):
    v = br.Variable(br.tensor([1.0, 2.0]), name="v")
    assert v.trainable and v.name == "v" and v.dtype == br.float32 and v.shape == (2,)
    snapshot = v.value
    native = v.native
    v.assign(br.tensor([3.0, 4.0]))
    v.assign_add(br.tensor([1.0, 1.0]))
    v.assign_sub(0.5)
    assert v.native is native  # in place
    _close(v.numpy(), [3.5, 4.5])
    _close(snapshot.numpy(), [1.0, 2.0])  # .value does not follow later assignments
    _close((v * 2).numpy(), [7.0, 9.0])  # usable wherever a tensor is
    _close(br.ops.sum(v).numpy(), 8.0)
    assert "Variable(name='v'" in repr(v)


def test_variable_assign_checks_shape_and_dtype(bridge_backend):
    v = br.Variable(br.zeros((2, 3)), name="kernel")
    with pytest.raises(
        br.ShapeError, match=r"assign: variable 'kernel' has shape \(2, 3\), value has \(3, 2\)"
    ):
        v.assign(br.zeros((3, 2)))
    with pytest.raises(br.DTypeError, match="has dtype float32, value has float64"):
        v.assign_add(br.zeros((2, 3), dtype="float64"))
    v.assign(np.ones((2, 3)))  # data (not tensors) is cast to the variable's dtype
    assert v.dtype == br.float32 and v.numpy().sum() == 6.0


def test_augmented_operators_update_a_variable_in_place(bridge_backend):
    w = br.Variable(br.tensor([1.0, -2.0]), name="w")
    native = w.native
    x, y = np.array([1.0, 3.0]), np.array([2.0, 1.0])
    expected = np.array([1.0, -2.0])  # gradient descent on sum((w * x - y) ** 2), in float64
    for _ in range(3):
        with br.GradientTape() as tape:
            loss = br.ops.sum((w * br.tensor(x, dtype="float32") - br.tensor(y, dtype="float32")) ** 2)
        w -= 0.05 * tape.gradient(loss, w)
        expected -= 0.05 * 2 * (expected * x - y) * x
    assert isinstance(w, br.Variable) and w.native is native and w.trainable
    _close(w.numpy(), expected, rtol=1e-5)
    w += 1.0
    w *= br.tensor([2.0, 3.0])
    w /= 2
    w **= 2
    w -= np.array([0.5, 0.5])  # NumPy data is cast to the variable's dtype, as assign does
    expected = ((expected + 1.0) * [2.0, 3.0] / 2) ** 2 - 0.5
    assert w.native is native and w.dtype == br.float32
    _close(w.numpy(), expected, rtol=1e-5)
    step = br.Variable(7, trainable=False)
    step //= 2
    step %= 2
    step <<= 3
    assert isinstance(step, br.Variable) and step.numpy() == 8 and step.dtype == br.int64
    with pytest.raises(br.DTypeError, match="/=: variable of shape \\(\\) has dtype int64, value has float"):
        step /= 2
    with pytest.raises(br.DTypeError, match="value has float64"):
        w += br.ones((2,), dtype="float64")
    with pytest.raises(br.ShapeError, match=r"\+=: variable 'w' has shape \(2,\), value has \(3, 2\)"):
        w += br.ones((3, 2))


@SETTINGS
@given(
    start=hnp.arrays(np.float32, (2, 3), elements=floats32(-10, 10)),
    other=hnp.arrays(np.float32, st.sampled_from([(), (3,), (2, 3)]), elements=floats32(0.5, 10)),
    symbol=st.sampled_from(["+", "-", "*", "/"]),
)
def test_augmented_operators_match_numpy(bridge_backend, start, other, symbol):
    fn = {"+": operator.iadd, "-": operator.isub, "*": operator.imul, "/": operator.itruediv}[symbol]
    v = br.Variable(start)
    native = v.native
    assert fn(v, br.tensor(other)) is v and v.native is native  # broadcast operands are fine
    expected = fn(start.astype(np.float64), other.astype(np.float64))
    np.testing.assert_allclose(v.numpy(), expected, rtol=1e-6, atol=1e-6)


def test_augmented_operators_inside_jit(bridge_backend):
    w = br.Variable(br.tensor([1.0, -2.0]))
    x, y = br.tensor([1.0, 3.0]), br.tensor([2.0, 1.0])

    @br.jit(**QUICK_JIT)
    def step(x, y):
        v = w
        with br.GradientTape() as tape:
            loss = br.ops.sum((v * x - y) ** 2)
        v -= 0.05 * tape.gradient(loss, v)
        return loss

    for _ in range(3):
        step(x, y)
    _close(w.numpy(), [1.271, 0.331], rtol=1e-5)  # by hand: w -= 0.05 * 2 * (w * x - y) * x


def test_non_trainable_and_integer_variables(bridge_backend):
    step = br.Variable(0, trainable=False, name="step")
    assert step.dtype == br.int64 and not step.trainable
    step.assign_add(1)
    assert step.numpy() == 1
    frozen = br.Variable(br.ones((2,)), trainable=False)
    with br.GradientTape() as tape:
        y = br.ops.sum(frozen * 3)
    assert tape.gradient(y, frozen) is None  # not watched: no gradient, as TensorFlow


# --- GradientTape --------------------------------------------------------------------------
def test_tape_watches_trainable_variables_and_sums_non_scalar_targets(bridge_backend):
    w = br.Variable(br.tensor([[1.0, 2.0], [3.0, 4.0]]))
    x = br.tensor([[1.0, -1.0]])
    with br.GradientTape() as tape:
        y = x @ w  # shape (1, 2): the gradient is that of its sum
    grad = tape.gradient(y, w)
    _close(grad.numpy(), [[1.0, 1.0], [-1.0, -1.0]])
    assert grad.device == w.device and grad.dtype == w.dtype


def test_tape_watch_and_pytrees(bridge_backend):
    x = br.tensor([1.0, 2.0, 3.0])
    b = br.tensor(0.5)
    with br.GradientTape() as tape:
        tape.watch({"x": x, "b": [b]})
        y = br.ops.sum(x**2) * b
    grads = tape.gradient(y, {"x": x, "b": [b]})
    _close(grads["x"].numpy(), [1.0, 2.0, 3.0])
    _close(grads["b"][0].numpy(), 14.0)


def test_non_persistent_tape_refuses_a_second_gradient(bridge_backend):
    x = br.tensor(3.0)
    with br.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    _close(tape.gradient(y, x).numpy(), 6.0)
    with pytest.raises(br.BridgeError, match="persistent=True") as info:
        tape.gradient(y, x)
    assert isinstance(info.value, RuntimeError)


def test_persistent_tape_gives_several_gradients(bridge_backend):
    x = br.tensor(3.0)
    with br.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        z = y * x
    _close(tape.gradient(y, x).numpy(), 6.0)
    _close(tape.gradient(z, x).numpy(), 27.0)


def test_nested_tapes_give_second_derivatives(bridge_backend):
    x = br.tensor(2.0)
    with br.GradientTape() as outer:
        outer.watch(x)
        with br.GradientTape() as inner:
            inner.watch(x)
            y = x**3
        dy = inner.gradient(y, x)
    _close(dy.numpy(), 12.0)
    _close(outer.gradient(dy, x).numpy(), 12.0)


def test_unwatched_sources_and_watch_accessed_variables(bridge_backend):
    w = br.Variable(br.tensor(2.0))
    c = br.tensor(5.0)  # never watched
    with br.GradientTape(watch_accessed_variables=False) as tape:
        y = w * c
    assert tape.gradient(y, [w, c]) == [None, None]  # TensorFlow's meaning, on every backend
    with br.GradientTape(watch_accessed_variables=False, persistent=True) as tape:
        y = w * c
    zeros = tape.gradient(y, {"w": w, "c": [c]}, unconnected_gradients="zero")
    assert zeros["w"].shape == () and zeros["c"][0].dtype == br.float32
    _close(zeros["w"].numpy(), 0.0)
    _close(zeros["c"][0].numpy(), 0.0)
    with pytest.raises(br.InvalidArgumentError, match="'none' or 'zero', got 'zeros'"):
        tape.gradient(y, w, unconnected_gradients="zeros")
    with br.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(w)
        y = w * c
    _close(tape.gradient(y, w).numpy(), 5.0)


def test_watched_or_accessed_but_unused_sources_get_none(bridge_backend):
    w, unused = br.Variable(br.tensor(2.0)), br.Variable(br.ones((2,)))
    x = br.tensor([1.0, 2.0])
    with br.GradientTape() as tape:
        tape.watch(x)
        _ = unused * 2.0  # accessed, not in the target
        y = w * 3.0
    grads = tape.gradient(y, [w, unused, x])
    _close(grads[0].numpy(), 3.0)
    assert grads[1:] == [None, None]


def test_integer_sources_are_a_clear_error(bridge_backend):
    with br.GradientTape() as tape:
        with pytest.raises(br.DTypeError, match="floating"):
            tape.watch(br.tensor([1, 2]))


# --- grad, value_and_grad, jacobian --------------------------------------------------------
def test_value_and_grad_over_pytrees_with_aux(bridge_backend):
    params = {"w": br.tensor([1.0, 2.0]), "b": br.tensor(0.5)}
    x = br.tensor([3.0, 4.0])

    def loss(p, x):
        pred = br.ops.sum(p["w"] * x) + p["b"]
        return pred**2, {"pred": pred}

    (value, aux), grads = br.value_and_grad(loss, has_aux=True)(params, x)
    _close(value.numpy(), 11.5**2)
    _close(aux["pred"].numpy(), 11.5)
    _close(grads["w"].numpy(), [2 * 11.5 * 3, 2 * 11.5 * 4])
    _close(grads["b"].numpy(), 2 * 11.5)
    assert set(grads) == {"w", "b"}
    g, aux2 = br.grad(loss, has_aux=True)(params, x)
    _close(g["b"].numpy(), 23.0)
    assert float(aux2["pred"]) == pytest.approx(11.5)


def test_argnums_and_unused_inputs_get_zero_gradients(bridge_backend):
    def f(a, b, c):
        return br.ops.sum(a * 2.0) + 0 * br.ops.sum(c)

    ga, gb = br.grad(f, argnums=(0, 1))(br.ones((2,)), br.ones((3,)), br.ones((1,)))
    _close(ga.numpy(), [2.0, 2.0])
    _close(gb.numpy(), [0.0, 0.0, 0.0])
    assert gb.shape == (3,) and gb.dtype == br.float32
    assert br.grad(f, argnums=-1)(br.ones((2,)), br.ones((3,)), br.ones((1,))).shape == (1,)


def test_grad_does_not_touch_the_callers_tensors(bridge_backend):
    x = br.tensor([1.0, 2.0])
    native = x.native
    br.grad(lambda t: br.ops.sum(t * t))(x)
    assert x.native is native


def test_grad_errors(bridge_backend):
    with pytest.raises(br.ShapeError, match=r"scalar.*\(2,\)"):
        br.grad(lambda t: t * 2)(br.ones((2,)))
    with pytest.raises(br.DTypeError, match="int64"):
        br.grad(lambda t: br.ops.sum(t))(br.tensor([1, 2]))
    with pytest.raises(br.InvalidArgumentError, match="argnums"):
        br.grad(lambda t: br.ops.sum(t), argnums=3)(br.ones((2,)))


def test_higher_order_gradients(bridge_backend):
    x = br.tensor(2.0)
    _close(br.grad(br.grad(lambda t: t**3))(x).numpy(), 12.0)
    _close(br.grad(br.grad(br.grad(lambda t: t**3)))(x).numpy(), 6.0)

    def gradient_norm(w):  # a value_and_grad inside another gradient
        _, g = br.value_and_grad(lambda v: br.ops.sum(br.ops.sin(v) * v))(w)
        return br.ops.sum(g * g)

    w = np.array([0.3, -1.2, 2.0])
    dg = np.cos(w) * w + np.sin(w)  # d/dw of sum(sin(w) w)
    analytic = 2 * dg * (-np.sin(w) * w + 2 * np.cos(w))
    _close(br.grad(gradient_norm)(br.tensor(w)).numpy(), analytic, rtol=1e-5)


def test_jacobian(bridge_backend):
    x = br.tensor([1.0, 2.0, 3.0])
    jac = br.jacobian(lambda t: br.ops.stack([t[0] * t[1], br.ops.sum(t**2)]))(x)
    _close(jac.numpy(), [[2.0, 1.0, 0.0], [2.0, 4.0, 6.0]])
    square = br.jacobian(lambda m: m @ m)(br.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert square.shape == (2, 2, 2, 2)
    _close(square.numpy()[0, 0], [[2.0, 3.0], [2.0, 0.0]])


# --- stop_gradient and custom_gradient -----------------------------------------------------
def test_stop_gradient(bridge_backend):
    g = br.grad(lambda t: br.ops.sum(t * br.stop_gradient(t)))(br.tensor([1.0, 3.0]))
    _close(g.numpy(), [1.0, 3.0])


def test_custom_gradient(bridge_backend):
    @br.custom_gradient
    def clip_gradient(x):
        return x * 1.0, lambda dy: br.ops.clip(dy, -0.5, 0.5)

    g = br.grad(lambda t: br.ops.sum(clip_gradient(t) * br.tensor([2.0, 0.1])))(br.tensor([1.0, 1.0]))
    _close(g.numpy(), [0.5, 0.1])

    @br.custom_gradient
    def log1pexp(x):  # the classic: a numerically stable gradient for log(1 + e^x)
        e = br.ops.exp(x)
        return br.ops.log1p(e), lambda dy: dy * (1 - 1 / (1 + e))

    _close(br.grad(lambda t: br.ops.sum(log1pexp(t)))(br.tensor([0.0, 100.0])).numpy(), [0.5, 1.0])

    @br.custom_gradient
    def two_inputs(a, b):
        return a * b, lambda dy: (dy * b, dy * a * 10)

    ga, gb = br.grad(lambda a, b: br.ops.sum(two_inputs(a, b)), argnums=(0, 1))(
        br.tensor(2.0), br.tensor(3.0)
    )
    _close(ga.numpy(), 3.0)
    _close(gb.numpy(), 20.0)


def test_custom_gradient_differentiates_twice(bridge_backend):
    @br.custom_gradient
    def cube(x):
        return x**3, lambda dy: dy * 3 * x**2

    _close(br.grad(br.grad(lambda t: cube(t)))(br.tensor(2.0)).numpy(), 12.0)


def test_numpy_of_a_variable_is_a_snapshot(bridge_backend):
    v = br.Variable(br.tensor([1.0, 2.0]))
    before = v.numpy()
    v.assign_add(br.tensor([1.0, 1.0]))
    np.testing.assert_array_equal(before, [1.0, 2.0])
    t = br.tensor([5.0])
    array = t.numpy()
    array[0] = 6.0  # writing to the array never changes the tensor
    assert t.numpy()[0] == 5.0
