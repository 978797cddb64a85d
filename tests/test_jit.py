"""br.jit: tf.function on TensorFlow, torch.compile on torch; same values as eager."""

from __future__ import annotations

import numpy as np
import pytest

import bridge as br
from bridge.testing.conformance.strategies import QUICK_JIT as QUICK

pytestmark = pytest.mark.bridge_requires("jit", "autodiff", "variables")

# torch.compile's default (inductor) compiles C++ and takes ~15 s per function here: the tests
# that only check jit semantics use the quick "aot_eager" compiler (QUICK); test_default_compilers
# uses the defaults.


@pytest.mark.slow  # torch's default compiler builds C++ kernels
def test_default_compilers_match_eager(backend):
    traced = []

    def f(x, w):
        if backend == "tensorflow":
            import tensorflow as tf

            traced.append(not tf.executing_eagerly())
        return br.ops.softmax(br.ops.relu(x @ w) + 1.0, axis=-1)

    x = br.random.normal((8, 4), seed=0)
    w = br.random.normal((4, 3), seed=1)
    eager = f(x, w).numpy()
    compiled = br.jit(f)
    if backend == "torch":
        from torch._dynamo.utils import counters

        before = counters["stats"]["unique_graphs"]
        out = compiled(x, w)
        assert counters["stats"]["unique_graphs"] > before  # torch.compile built a graph
    else:
        out = compiled(x, w)
        assert traced == [False, True]  # eager run, then one tf.function trace
    assert isinstance(out, br.Tensor) and out.backend == backend
    np.testing.assert_allclose(out.numpy(), eager, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(compiled(x, w).numpy(), eager, rtol=1e-6, atol=1e-7)


def test_pytrees_in_and_out(backend):
    @br.jit(**QUICK)
    def f(params, x, scale=2.0):
        y = x @ params["w"] + params["b"][0]
        return {"y": y * scale, "parts": (y, br.ops.sum(y))}

    params = {"w": br.ones((3, 2)), "b": [br.zeros((2,))]}
    out = f(params, br.ones((1, 3)), scale=3.0)
    np.testing.assert_allclose(out["y"].numpy(), [[9.0, 9.0]])
    np.testing.assert_allclose(out["parts"][1].numpy(), 6.0)


def test_training_step_with_value_and_grad_and_variable_updates(backend):
    w = br.Variable(br.random.normal((3, 1), seed=2), name="w")
    x = br.random.normal((16, 3), seed=3)
    y = x @ br.tensor([[1.0], [-2.0], [0.5]])

    def step(x, y):
        loss, g = br.value_and_grad(lambda v: br.ops.mean((x @ v - y) ** 2))(w)
        w.assign_sub(g * 0.1)
        return loss

    compiled = br.jit(step, **QUICK)
    start = w.numpy()
    eager_losses = [float(step(x, y)) for _ in range(3)]
    w.assign(start)
    jit_losses = [float(compiled(x, y)) for _ in range(3)]
    np.testing.assert_allclose(jit_losses, eager_losses, rtol=1e-6)
    assert jit_losses[2] < jit_losses[0]


def test_gradient_tape_inside_jit(backend):
    w = br.Variable(br.tensor([1.0, 2.0]))

    @br.jit(**QUICK)
    def grads(x):
        with br.GradientTape() as tape:
            loss = br.ops.sum(w * w * x)
        return tape.gradient(loss, w)

    np.testing.assert_allclose(grads(br.tensor([1.0, 3.0])).numpy(), [2.0, 12.0])


def test_variables_inside_keep_their_trainable_flag(backend):
    seen = []

    @br.jit(**QUICK)
    def f(trained, frozen):
        seen.append((type(trained), trained.trainable, type(frozen), frozen.trainable))
        return trained + frozen

    trained, frozen = br.Variable(br.ones((2,))), br.Variable(br.ones((2,)), trainable=False)
    np.testing.assert_allclose(f(trained, frozen).numpy(), [2.0, 2.0])
    assert seen[-1] == (br.Variable, True, br.Variable, False)


def test_enabled_false_returns_the_function(backend):
    def f(x):
        return x + 1

    assert br.jit(f, enabled=False) is f
    assert br.jit(enabled=False)(f) is f


def test_options_pass_through(backend):
    def f(x):
        return x * 2

    with pytest.raises(TypeError):
        br.jit(f, no_such_option=True)(br.ones((1,)))
    scoped = br.jit(f, tensorflow={"jit_compile": True}, torch={"backend": "eager"})
    np.testing.assert_allclose(scoped(br.ones((2,))).numpy(), [2.0, 2.0])
    # options for a backend that is not installed reach no framework
    elsewhere = br.jit(f, not_installed_backend={"no_such_option": True})
    np.testing.assert_allclose(elsewhere(br.ones((2,))).numpy(), [2.0, 2.0])


@pytest.mark.needs("torch")
@pytest.mark.slow
def test_every_jitted_function_compiles_past_torchs_recompile_limit():
    """torch.compile caches per code object and gives up after 8: bridge's shared wrapper must not
    make the ninth br.jit function run eagerly."""
    from torch._dynamo.utils import counters

    x = br.ones((2, 2), backend="torch")
    built = []
    for i in range(10):
        before = counters["stats"]["unique_graphs"]
        out = br.jit(lambda x, i=i: x * i + 1.0, **QUICK)(x)
        built.append(counters["stats"]["unique_graphs"] > before)
        np.testing.assert_array_equal(out.numpy(), np.full((2, 2), i + 1.0, np.float32))
    assert all(built), built


def test_a_backend_with_jit_but_no_variables_returns_tensors(scratch_registry):
    """br.jit's outputs are Tensors on a backend that compiles but has no variables."""
    from bridge.backend import Backend
    from bridge.testing.numpy_backend import NumpyBackend

    methods = ("variable", "is_variable", "is_trainable", "assign", "assign_add", "assign_sub", "read")
    compiling = type(
        "CompilesNoVariables",
        (NumpyBackend,),
        {
            "name": "jit-only",
            "jit": lambda self, fn, **options: fn,
            **{m: getattr(Backend, m) for m in methods},
        },
    )
    assert compiling.features == {"jit"}
    br.register_backend("jit-only", compiling)
    with br.use_backend("jit-only"):
        out = br.jit(lambda x: x * 2)(br.ones((2,)))
    assert isinstance(out, br.Tensor) and out.backend == "jit-only"
    np.testing.assert_array_equal(out.numpy(), [2.0, 2.0])
