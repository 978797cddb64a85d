"""Mixed precision (dtype policies, autocast variables, loss scaling) against Keras 3, and
16-bit models on the lab's digits problem against the same models in float32."""

from __future__ import annotations

import json

import numpy as np
import pytest

import bridge as br
from bridge import losses, nn, optim
from bridge.demo import load

from .keras_reference import keras_json

pytestmark = pytest.mark.bridge_requires("autodiff", "variables")

#: gradients applied in turn (the loss scale is 8 at first: the inner optimizer sees them / 8)
GRADIENTS = [[4.0, -8.0], [2.0, 2.0], [np.inf, 1.0], [4.0, 4.0], [1.0, 1.0], [np.nan, 0.0], [8.0, 8.0]]

_KERAS_PROGRAM = r"""
import json, sys
import numpy as np
import keras
from keras import layers
given = json.loads(sys.stdin.read())
out = {}
for name in ("mixed_float16", "mixed_bfloat16", "float64"):
    policy = keras.DTypePolicy(name)
    out[name] = [policy.variable_dtype, policy.compute_dtype]
keras.config.set_dtype_policy("mixed_float16")
cases = {
    "Dense": (layers.Dense(3), np.ones((2, 4), np.float32)),
    "Conv2D": (layers.Conv2D(2, 3), np.ones((1, 5, 5, 1), np.float32)),
    "BatchNormalization": (layers.BatchNormalization(), np.ones((2, 4), np.float32)),
    "LayerNormalization": (layers.LayerNormalization(), np.ones((2, 4), np.float32)),
    "Embedding": (layers.Embedding(5, 3), np.ones((2, 4), np.int32)),
    "Softmax": (layers.Activation("softmax"), np.ones((2, 4), np.float32)),
    "Float32Dense": (layers.Dense(3, dtype="float32"), np.ones((2, 4), np.float32)),
}
out["layers"] = {}
for key, (layer, x) in cases.items():
    y = layer(x)
    out["layers"][key] = {
        "output": keras.backend.standardize_dtype(y.dtype),
        "variables": sorted({keras.backend.standardize_dtype(w.dtype) for w in layer.weights}),
        "compute": layer.compute_dtype,
    }
model = keras.Sequential([keras.Input((4,)), layers.Dense(1)])
model.compile(keras.optimizers.SGD(0.1), "mse")
out["compiled"] = type(model.optimizer).__name__
keras.config.set_dtype_policy("float32")
v = keras.Variable(np.array([1.0, 2.0], np.float32))
opt = keras.optimizers.LossScaleOptimizer(
    keras.optimizers.SGD(0.5), initial_scale=8.0, dynamic_growth_steps=2
)
trace = []
for g in given["gradients"]:
    opt.apply([keras.ops.convert_to_tensor(np.array([float(e) for e in g], np.float32))], [v])
    trace.append({
        "value": np.asarray(v).tolist(),
        "scale": float(opt.dynamic_scale),
        "counter": int(opt.step_counter),
        "iterations": int(opt.iterations),
    })
out["trace"] = trace
out["scaled_loss"] = float(opt.scale_loss(keras.ops.convert_to_tensor(3.0)))
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def keras_mixed():
    gradients = [[float(g) if np.isfinite(g) else str(g) for g in step] for step in GRADIENTS]  # JSON
    return keras_json(_KERAS_PROGRAM, stdin=json.dumps({"gradients": gradients}))


@pytest.fixture
def mixed_float16():
    nn.set_dtype_policy("mixed_float16")
    yield
    nn.set_dtype_policy(None)


def _layer(key: str) -> tuple[nn.Layer, np.ndarray]:
    return {
        "Dense": (nn.Dense(3), np.ones((2, 4), np.float32)),
        "Conv2D": (nn.Conv2D(2, 3), np.ones((1, 5, 5, 1), np.float32)),
        "BatchNormalization": (nn.BatchNormalization(), np.ones((2, 4), np.float32)),
        "LayerNormalization": (nn.LayerNormalization(), np.ones((2, 4), np.float32)),
        "Embedding": (nn.Embedding(5, 3), np.ones((2, 4), np.int32)),
        "Softmax": (nn.Activation("softmax"), np.ones((2, 4), np.float32)),
        "Float32Dense": (nn.Dense(3, dtype="float32"), np.ones((2, 4), np.float32)),
    }[key]


@pytest.mark.needs("keras", "tensorflow")
def test_policies_give_keras_dtypes(backend, keras_mixed, mixed_float16):
    for name in ("mixed_float16", "mixed_bfloat16", "float64"):
        policy = nn.DTypePolicy(name)
        assert [policy.variable_dtype.name, policy.compute_dtype.name] == keras_mixed[name]
    for key, expected in keras_mixed["layers"].items():
        layer, x = _layer(key)
        y = layer(x)
        found = {
            "output": y.dtype.name,
            "variables": sorted({w.dtype.name for w in layer.weights}),
            "compute": layer.compute_dtype.name,
        }
        assert found == expected, key


@pytest.mark.needs("keras", "tensorflow")
def test_compile_wraps_the_optimizer_under_mixed_float16_as_keras(backend, keras_mixed, mixed_float16):
    model = nn.Sequential([nn.Input((4,)), nn.Dense(1)])
    model.compile(optim.SGD(0.1), "mse")
    assert type(model.optimizer).__name__ == keras_mixed["compiled"] == "LossScaleOptimizer"
    nn.set_dtype_policy("mixed_bfloat16")  # bfloat16 has float32's range: no scaling needed
    model = nn.Sequential([nn.Input((4,)), nn.Dense(1)])
    model.compile(optim.SGD(0.1), "mse")
    assert type(model.optimizer) is optim.SGD


def _check_loss_scaling(keras_mixed, jit: bool) -> None:
    v = br.Variable(np.array([1.0, 2.0], np.float32))
    opt = optim.LossScaleOptimizer(optim.SGD(0.5), initial_scale=8.0, dynamic_growth_steps=2)
    step = br.jit(lambda g: opt.apply([g], [v])) if jit else (lambda g: opt.apply([g], [v]))
    for gradient, expected in zip(GRADIENTS, keras_mixed["trace"]):
        step(br.tensor(np.array(gradient, np.float32)))
        assert v.numpy().tolist() == expected["value"]
        assert float(opt.dynamic_scale.numpy()) == expected["scale"]
        assert int(opt.step_counter.numpy()) == expected["counter"]
        assert int(opt.iterations.numpy()) == expected["iterations"]
    assert float(opt.scale_loss(br.tensor(3.0)).numpy()) == keras_mixed["scaled_loss"]
    assert opt.nonfinite_step is None  # overflow is expected under scaling: not an error


@pytest.mark.needs("keras", "tensorflow")
def test_loss_scaling_steps_as_keras(backend, keras_mixed):
    _check_loss_scaling(keras_mixed, jit=False)


@pytest.mark.needs("keras", "tensorflow")
@pytest.mark.bridge_requires("jit")
def test_loss_scaling_steps_as_keras_under_jit(backend, keras_mixed):
    _check_loss_scaling(keras_mixed, jit=True)


def test_variables_read_in_the_compute_dtype_and_get_float32_gradients(backend):
    layer = nn.Dense(2, dtype="mixed_float16")
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    layer(x)
    assert layer.kernel.dtype == br.float32 and layer.compute_dtype == br.float16
    with br.GradientTape() as tape:
        y = layer(x)
        loss = br.ops.sum(y.astype("float32"))
    assert y.dtype == br.float16
    grads = tape.gradient(loss, layer.trainable_weights)
    assert [g.dtype for g in grads] == [br.float32, br.float32]
    np.testing.assert_array_equal(grads[0].numpy(), np.repeat(x.T, 2, axis=1))
    expected = x.astype(np.float16) @ layer.kernel.numpy().astype(np.float16)
    np.testing.assert_allclose(y.numpy(), expected + layer.bias.numpy().astype(np.float16), rtol=2e-3)
    with br.variable.autocast(br.bfloat16):  # the scope alone: variables read (and say) bfloat16
        assert layer.kernel.dtype == br.bfloat16 and (layer.kernel * 1).dtype == br.bfloat16
    assert layer.kernel.dtype == br.float32


def test_policy_errors_and_round_trips(backend, tmp_path):
    with pytest.raises(br.InvalidArgumentError, match="unknown policy 'mixed_float8'"):
        nn.DTypePolicy("mixed_float8")
    with pytest.raises(br.ArgumentTypeError, match="name must be a string"):
        nn.DTypePolicy(16)
    with pytest.raises(br.InvalidArgumentError, match="dynamic_growth_steps must be an int >= 1"):
        optim.LossScaleOptimizer(optim.SGD(), dynamic_growth_steps=0)
    with pytest.raises(br.InvalidArgumentError, match="already scales the loss"):
        optim.LossScaleOptimizer(optim.LossScaleOptimizer(optim.SGD()))
    layer = nn.Dense(2, dtype="mixed_bfloat16")
    assert layer.get_config()["dtype"] == "mixed_bfloat16"
    assert nn.Dense.from_config(layer.get_config()).dtype_policy == nn.DTypePolicy("mixed_bfloat16")
    br.random.seed(0)
    model = nn.Sequential([nn.Input((3,)), nn.Dense(2, dtype="mixed_float16")], dtype="mixed_float16")
    model.compile(optim.Adam(0.01), "mse")
    x, y = np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32)
    model.fit(x, y, epochs=2, batch_size=2, verbose=0)
    model.save(tmp_path / "mixed.bridge")
    loaded = nn.load_model(tmp_path / "mixed.bridge")
    assert type(loaded.optimizer) is optim.LossScaleOptimizer
    assert float(loaded.optimizer.dynamic_scale.numpy()) == float(model.optimizer.dynamic_scale.numpy())
    assert int(loaded.optimizer.step_counter.numpy()) == int(model.optimizer.step_counter.numpy())
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


# --- 16-bit models on the lab's digits problem -------------------------------------------------
def _digits_model(kind: str, policy: str) -> nn.Model:
    nn.set_dtype_policy(policy)
    try:
        if kind == "mlp":
            layers = [nn.Input((64,)), nn.Dense(64, activation="relu"), nn.Dense(32, activation="relu")]
        else:
            layers = [
                nn.Input((8, 8, 1)),
                nn.Conv2D(16, 3, padding="same", activation="relu"),
                nn.MaxPool2D(),
                nn.BatchNormalization(),
                nn.Flatten(),
            ]
        model = nn.Sequential([*layers, nn.Dense(10, dtype="float32")])  # float32 logits, as Keras advises
    finally:
        nn.set_dtype_policy(None)
    model.compile(
        optim.Adam(3e-3), losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    return model


def _train(kind: str, policy: str, backend: str) -> tuple[float, np.ndarray]:
    """Test accuracy and per-epoch losses of ``kind`` trained under ``policy`` on 600 digits."""
    x_train, x_test, y_train, y_test = load("digits")
    x_train, y_train = x_train[:600], y_train[:600]
    if kind == "cnn":
        x_train, x_test = x_train.reshape(-1, 8, 8, 1), x_test.reshape(-1, 8, 8, 1)
    with br.use_backend(backend):
        br.random.seed(0)
        model = _digits_model(kind, policy)
        history = model.fit(x_train, y_train, epochs=5, batch_size=32, seed=0, verbose=0)
        return float(model.evaluate(x_test, y_test, return_dict=True)["accuracy"]), np.array(
            history.history["loss"]
        )


@pytest.mark.needs("torch", "tensorflow")
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_16_bit_models_reach_float32_accuracy_and_agree_across_backends(kind):
    """Measured (5 epochs, 360 test digits): accuracies equal to float32's or one sample below
    (MLP float16 0.9611 against 0.9639); per-epoch losses of torch and TensorFlow within 1.5e-4
    to 7.5e-3 relative (float32: 1e-6)."""
    reference, _ = _train(kind, "float32", "torch")
    for policy in ("mixed_float16", "mixed_bfloat16"):
        (torch_accuracy, torch_losses), (tf_accuracy, tf_losses) = (
            _train(kind, policy, backend) for backend in ("torch", "tensorflow")
        )
        print(
            f"{kind} {policy}: accuracy torch {torch_accuracy:.4f} tensorflow {tf_accuracy:.4f} (float32 "
            f"{reference:.4f}); losses differ by {np.max(np.abs(tf_losses / torch_losses - 1)):.2e} relative"
        )
        assert min(torch_accuracy, tf_accuracy) >= reference - 0.02, (policy, torch_accuracy, tf_accuracy)
        np.testing.assert_allclose(tf_losses, torch_losses, rtol=2e-2)  # 16-bit rounding, not float32's
