"""Whole-step compilation: on torch a compiled train/test/predict step is ONE graph (forward,
backward, optimizer update; ``fullgraph=True`` holds), compiles no more once its input shapes have
been seen, prints no warning, and gives eager's numbers; ``jit="graph"`` and ``jit="xla"``."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

import bridge as br
import bridge.nn.model as model_module
from bridge import losses, nn, optim
from bridge._context import compiled_scope
from bridge.ops._core import numpy_array, python_scalar
from bridge.testing.conformance.strategies import QUICK_JIT

pytestmark = pytest.mark.bridge_requires("jit", "autodiff", "variables")


def _transformer_block() -> nn.Model:
    inputs = nn.Input((6, 8))
    attended = nn.MultiHeadAttention(2, 4)(inputs, inputs)
    h = nn.LayerNormalization()(nn.Add()([inputs, attended]))
    feed = nn.Dense(8)(nn.Dense(16, activation="relu")(h))
    h = nn.LayerNormalization()(nn.Add()([h, feed]))
    return nn.Model(inputs, nn.Dense(3)(nn.GlobalAveragePooling1D()(h)))


MODELS = {
    "mlp_batchnorm_dropout": (
        (20,),
        lambda: nn.Sequential(
            [nn.Dense(16, activation="relu"), nn.BatchNormalization(), nn.Dropout(0.2), nn.Dense(3)]
        ),
    ),
    "cnn": (
        (8, 8, 3),
        lambda: nn.Sequential(
            [
                nn.Conv2D(4, 3, padding="same"),
                nn.BatchNormalization(),
                nn.Activation("relu"),
                nn.GlobalAveragePooling2D(),
                nn.Dense(3),
            ]
        ),
    ),
    "lstm": ((5, 4), lambda: nn.Sequential([nn.LSTM(8), nn.Dense(3)])),
    "transformer": ((6, 8), _transformer_block),
}


def _data(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((80, *shape)).astype(np.float32), rng.integers(0, 3, 80)


def _trained(make, shape, jit, epochs=2):
    """History, weights, evaluation and predictions of a fresh seeded model trained with ``jit``."""
    x, y = _data(shape)
    br.random.seed(0)
    model = make()
    model.compile(
        optimizer=optim.Adam(1e-2),
        loss=losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit=jit,
    )
    history = model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, shuffle=False, validation_split=0.25)
    evaluated = model.evaluate(x, y, batch_size=32, verbose=0)
    predicted = model.predict(x, batch_size=32, verbose=0)
    return model, history.history, evaluated, predicted


@pytest.fixture
def fullgraph_steps(monkeypatch):
    """Model steps compiled with ``fullgraph=True`` (a graph break raises) by the quick compiler."""
    torch_options = {**QUICK_JIT["torch"], "fullgraph": True}
    monkeypatch.setattr(model_module, "compile_function", functools.partial(br.jit, torch=torch_options))


@pytest.mark.slow  # each model compiles three steps, twice for the last partial batch
@pytest.mark.needs("torch")
@pytest.mark.parametrize("name", sorted(MODELS))
def test_torch_steps_compile_as_one_graph_with_eagers_numbers(name, fullgraph_steps):
    import torch

    shape, make = MODELS[name]
    with br.use_backend("torch"):
        _, eager_history, eager_eval, eager_pred = _trained(make, shape, jit=False)
        before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
        model, history, evaluated, predicted = _trained(make, shape, jit=True)
        assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > before  # compiled, not eager
    # the compiler decomposes ops (BatchNorm's sums) in another order: float32 rounding, grown
    # over a few Adam steps; a step that skipped an update would be off by ~1e-2
    for key, values in eager_history.items():
        np.testing.assert_allclose(history[key], values, rtol=1e-4, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(evaluated, eager_eval, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(predicted, eager_pred, rtol=1e-3, atol=2e-4)


@pytest.mark.slow
@pytest.mark.needs("torch")
def test_torch_steps_compile_no_more_once_shapes_are_seen_and_warn_nothing(fullgraph_steps):
    import torch

    shape, make = MODELS["mlp_batchnorm_dropout"]
    x, y = _data(shape)
    with br.use_backend("torch"):
        model, *_ = _trained(make, shape, jit=True)  # full and last partial batches seen, compiled
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with torch._dynamo.config.patch(error_on_recompile=True):
                model.fit(x, y, batch_size=32, epochs=2, verbose=0, shuffle=False, validation_split=0.25)
                model.evaluate(x, y, batch_size=32, verbose=0)
                model.predict(x, batch_size=32, verbose=0)
    # torch's own modules may deprecate their internals; nothing else may warn
    shown = [w for w in caught if not (issubclass(w.category, DeprecationWarning) and "torch" in w.filename)]
    assert not shown, [str(w.message) for w in shown]


@pytest.mark.slow  # inductor builds C++ kernels for each step: a minute or more here
@pytest.mark.needs("torch")
def test_fit_compiles_its_steps_with_inductor_by_default(monkeypatch):
    import torch

    monkeypatch.setattr(
        model_module, "compile_function", functools.partial(br.jit, torch={"fullgraph": True})
    )
    shape, make = MODELS["mlp_batchnorm_dropout"]
    with br.use_backend("torch"):
        _, eager_history, _, eager_pred = _trained(make, shape, jit=False, epochs=1)
        before = torch._dynamo.utils.counters["inductor"]["fxgraph_cache_miss"]
        before += torch._dynamo.utils.counters["inductor"]["fxgraph_cache_hit"]
        _, history, _, predicted = _trained(make, shape, jit=True, epochs=1)
        after = torch._dynamo.utils.counters["inductor"]["fxgraph_cache_miss"]
        after += torch._dynamo.utils.counters["inductor"]["fxgraph_cache_hit"]
    assert after > before  # inductor compiled (or found in its cache) the steps' graphs
    for key, values in eager_history.items():
        np.testing.assert_allclose(history[key], values, rtol=1e-4, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(predicted, eager_pred, rtol=1e-3, atol=2e-4)


@pytest.mark.slow
@pytest.mark.needs("torch")
def test_a_custom_loop_returning_its_loss_compiles_as_one_graph():
    with br.use_backend("torch"):
        x = br.random.normal((16, 4), seed=0)
        y = br.random.uniform((16,), maxval=3, seed=1).astype("int64")
        results = []
        for jit in (False, True):
            br.random.seed(0)
            model = nn.Sequential([nn.Dense(8, activation="relu"), nn.Dense(3)])
            model(x)
            loss_fn = losses.SparseCategoricalCrossentropy(from_logits=True)
            optimizer = optim.Adam(1e-2)
            optimizer.build(model.trainable_weights)  # its slots are made eagerly, not in the graph

            def step(xb, yb, model=model, loss_fn=loss_fn, optimizer=optimizer):
                with br.GradientTape() as tape:
                    loss = loss_fn(yb, model(xb, training=True))
                optimizer.apply(tape.gradient(loss, model.trainable_weights), model.trainable_weights)
                return loss  # its graph is used up: returned detached while compiling

            step = br.jit(step, enabled=jit, torch={**QUICK_JIT["torch"], "fullgraph": True})
            results.append([float(step(x, y)) for _ in range(4)])
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5)
    assert results[0][-1] < results[0][0]


@pytest.mark.slow
def test_graph_and_xla_modes_give_eagers_numbers(backend, monkeypatch):
    """``jit="graph"`` (CUDA graphs where torch has a GPU, else as True) and ``jit="xla"`` (XLA on
    TensorFlow, else as True) train as eager code does."""
    monkeypatch.setattr(model_module, "compile_function", functools.partial(br.jit, **QUICK_JIT))
    shape, make = MODELS["mlp_batchnorm_dropout"]
    _, eager, *_ = _trained(make, shape, jit=False, epochs=1)
    for mode in ("graph", "xla"):
        _, history, *_ = _trained(make, shape, jit=mode, epochs=1)
        for key, values in eager.items():
            np.testing.assert_allclose(history[key], values, rtol=2e-5, atol=1e-6, err_msg=f"{mode} {key}")


def test_unknown_modes_are_refused(backend):
    model = nn.Sequential([nn.Dense(1)])
    expected = "compile: jit must be 'auto', True, False, 'graph' or 'xla'"
    with pytest.raises(br.InvalidArgumentError, match=expected):
        model.compile("sgd", "mse", jit="cuda")
    with pytest.raises(br.InvalidArgumentError, match="jit: mode must be one of 'default', 'graph', 'xla'"):
        br.jit(lambda x: x, mode="fast")


@pytest.mark.needs("torch")
def test_torchs_own_mode_reaches_torch_compile_and_graph_mode_asks_for_cuda_graphs(monkeypatch):
    import torch

    asked = []
    monkeypatch.setattr(torch, "compile", lambda fn, **options: asked.append(options) or fn)
    x = br.ones((2,), backend="torch")
    br.jit(lambda t: t + 1, torch={"mode": "max-autotune"})(x)
    br.jit(lambda t: t + 1, mode="graph")(x)
    br.jit(lambda t: t + 1, mode="graph", torch={"mode": "max-autotune"})(x)
    assert asked == [{"mode": "max-autotune"}, {"mode": "reduce-overhead"}, {"mode": "max-autotune"}]


def test_compiled_code_sees_the_weights_and_layers_as_they_are_now(backend):
    """What a layer found of its weights is kept for compiled code, and forgotten whenever a
    weight or sublayer comes or goes."""
    x = br.ones((1, 3))
    dense = nn.Dense(2)
    assert dense.trainable_weights == []  # looked at before it is built
    dense(x)
    with compiled_scope():
        assert len(dense.trainable_weights) == 2
    model = nn.Sequential([nn.Dense(2)])
    model(x)
    assert len(model.trainable_weights) == 2
    model.add(nn.Dense(3))
    model(x)
    with compiled_scope():
        assert len(model.trainable_weights) == 4
        model.layers.pop()  # a copy: the layers stay
        assert len(model.layers) == 2


VALUES = [0, 1, -1, True, 0.5, -0.5, 255, 256, -129, 2**31, -(2**31) - 1, 2**63 - 1, 2**63, -(2**63), 2**70]
VALUES += [65504.0, 65520.0, 3.4028235677973366e38, 1e39, -1e39, 1e300, float("nan"), float("inf")]


@pytest.mark.parametrize("dtype", [str(d) for d in br.dtypes.ALL_DTYPES])
def test_python_scalars_convert_as_numpy_converts_them(dtype):
    """The plain-Python conversion that compiled code runs gives NumPy's values (once the
    backend rounds them to the dtype) and refuses what NumPy's conversion refuses."""
    dtype = br.dtypes.as_dtype(dtype)
    for value in VALUES:
        try:
            expected = numpy_array(value, dtype, "t")
        except br.BridgeError as error:
            with pytest.raises(type(error)):
                python_scalar(value, dtype, "t")
            continue
        with np.errstate(over="ignore"):  # NumPy's own rounding of the value, to infinity too
            got = np.asarray(python_scalar(value, dtype, "t")).astype(dtype.numpy)
        wide = np.float64 if dtype.kind == "f" else np.int64  # (bfloat16's NaN compares as float64)
        np.testing.assert_array_equal(
            got.astype(wide), expected.astype(wide), err_msg=f"{value!r} as {dtype}"
        )
