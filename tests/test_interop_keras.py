"""bridge inside Keras 3 (``bridge.interop.keras.BridgeLayer``, ``to_keras``) and Keras inside
bridge (``nn.KerasLayer``), on Keras' torch and TensorFlow backends.

``KERAS_BACKEND`` is fixed when Keras is imported, so one program per Keras backend runs every
case once (a module-scoped fixture) and prints what it measured as JSON: the references are the
bridge layer alone (same weights, same batches, bridge's SGD) for ``BridgeLayer``, and Keras alone
(same weights, Keras' SGD and ``fit``) for ``nn.KerasLayer``."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from typing import Any

import pytest

from tests.keras_reference import keras_env

BACKENDS = ("torch", "tensorflow")

PROGRAM = r"""
import json, os, sys, tempfile
import numpy as np
import keras
from keras.src.utils import module_utils

if keras.backend.backend() == "torch":  # Keras' saving would import TensorFlow (seconds) only
    module_utils.tensorflow._available = False  # to test for tf.TensorShape: as without TF
import bridge as br
from bridge import nn
from bridge.interop.keras import BridgeLayer, to_keras

KB = keras.backend.backend()
from bridge.testing.numpy_backend import NumpyBackend

# bridge's NumPy reference backend stands for "another backend than Keras'" (importing the other
# framework would cost seconds)
br.register_backend("numpy", NumpyBackend, framework="numpy")
OTHER = "numpy"
br.set_backend(KB)
tmp = tempfile.mkdtemp()
rs = np.random.RandomState(0)
out = {}

def npy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))

def diff(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))

def weights_diff(a, b):
    return max(diff(x, y) for x, y in zip(a, b))

def shared(bridge_layer, keras_layer):
    return all(v._stored is k.value for v, k in zip(bridge_layer.weights, keras_layer.weights))

def mlp(seed):
    br.random.seed(seed)
    return nn.Sequential([nn.Input((4,)), nn.Dense(5, activation="tanh"), nn.Dense(2)])

def error(fn):
    try:
        fn()
    except Exception as exc:
        return [type(exc).__name__, [c.__name__ for c in type(exc).__mro__], str(exc)]
    return None

x = rs.randn(8, 4).astype("float32")
y = rs.randn(8, 2).astype("float32")

# --- BridgeLayer in keras.Sequential: forward, sharing, fit against bridge's own fit ---------
inner, twin = mlp(1), mlp(1)
expected = inner(x).numpy()
wrapped = BridgeLayer(inner)
model = keras.Sequential([keras.Input((4,)), wrapped])
out["sequential_forward"] = diff(npy(model(x)), expected)
out["sequential_shared"] = shared(inner, wrapped) and len(wrapped.weights) == len(inner.weights) == 4
model.compile(keras.optimizers.SGD(0.1), "mse")
keras_losses = model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0).history["loss"]
twin.compile(br.optim.SGD(0.1), "mse")
bridge_losses = twin.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0).history["loss"]
out["fit_losses"] = [keras_losses, bridge_losses]
out["fit_weights"] = weights_diff(inner.get_weights(), twin.get_weights())
out["fit_moved"] = weights_diff(inner.get_weights(), mlp(1).get_weights())
out["fit_shared"] = shared(inner, wrapped) and weights_diff(inner.get_weights(), model.get_weights()) == 0

# save .keras, load with safe_mode=True; load_weights writes into the shared variables in place
path = os.path.join(tmp, "model.keras")
model.save(path)
loaded = keras.saving.load_model(path, safe_mode=True)
out["load_model"] = diff(npy(loaded(x)), npy(model(x)))
out["load_model_class"] = type(loaded.layers[0]).__name__
saved = model.get_weights()
model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
natives = [v._stored for v in inner.weights]
out["load_weights_moved"] = weights_diff(inner.get_weights(), saved)
model.load_weights(path)
out["load_weights"] = weights_diff(inner.get_weights(), saved)
out["load_weights_same_natives"] = all(v._stored is n for v, n in zip(inner.weights, natives)) and shared(
    inner, wrapped
)

# --- BridgeLayer in a functional model, between Keras Dense layers ------------------------
br.random.seed(2)
middle = nn.Dense(3, activation="relu")
first, last = keras.layers.Dense(6), keras.layers.Dense(1)
inputs = keras.Input((4,))
functional = keras.Model(inputs, last(BridgeLayer(middle)(first(inputs))))
by_hand = npy(last(middle(npy(first(x))).native))
out["functional_forward"] = diff(npy(functional(x)), by_hand)
out["functional_output_shape"] = list(functional.output.shape)
functional.compile(keras.optimizers.SGD(0.05), "mse")
before = middle.get_weights()
functional.fit(x, y[:, :1], batch_size=4, epochs=1, shuffle=False, verbose=0)
out["functional_trained"] = weights_diff(middle.get_weights(), before)

# --- BatchNormalization (non-trainable moving statistics) in training mode -----------------
br.random.seed(3)
bn, bn_alone = nn.BatchNormalization(), nn.BatchNormalization()
xb = (rs.randn(8, 4) * 2 + 1).astype("float32")
bn_model = keras.Sequential([keras.Input((4,)), BridgeLayer(bn)])
bn_model.compile(keras.optimizers.SGD(0.1), "mse")
bn_model.fit(xb, xb, batch_size=4, epochs=1, shuffle=False, verbose=0)
for start in (0, 4):
    bn_alone(xb[start : start + 4], training=True)
bn_layer = bn_model.layers[0]
out["bn_trainable"] = [len(bn_layer.trainable_weights), len(bn_layer.non_trainable_weights)]
out["bn_moving"] = [
    diff(bn.moving_mean.numpy(), bn_alone.moving_mean.numpy()),
    diff(bn.moving_variance.numpy(), bn_alone.moving_variance.numpy()),
    diff(bn.moving_mean.numpy(), np.zeros(4)),
]

# a last batch of another size: an open batch size inside TensorFlow's compiled step
bn_open = keras.Sequential([keras.Input((4,)), BridgeLayer(nn.BatchNormalization())])
bn_open.compile(keras.optimizers.SGD(0.1), "mse")
out["open_batch"] = error(lambda: bn_open.fit(xb, xb, batch_size=3, epochs=1, verbose=0))

# --- to_keras: functional bridge model, weights shared; a Sequential on the other backend ---
br.random.seed(4)
a = nn.Input((4,), name="features")
b_model = nn.Model(a, nn.Dense(2)(nn.Dense(3, activation="tanh")(a)))
k_model = to_keras(b_model)
out["to_keras_forward"] = diff(npy(k_model(x)), b_model(x).numpy())
out["to_keras_inputs"] = [list(t.shape) for t in k_model.inputs]
k_model.compile(keras.optimizers.SGD(0.1), "mse")
k_model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
out["to_keras_shared"] = weights_diff(b_model.get_weights(), k_model.get_weights())
k_path = os.path.join(tmp, "to_keras.keras")
k_model.save(k_path)
out["to_keras_load"] = diff(npy(keras.saving.load_model(k_path, safe_mode=True)(x)), b_model(x).numpy())
with br.use_backend(OTHER):
    br.random.seed(5)
    elsewhere = nn.Sequential([nn.Dense(3)])
    elsewhere_out = elsewhere(x).numpy()
copied = to_keras(elsewhere)
out["to_keras_copy"] = [
    diff(npy(copied(x)), elsewhere_out),
    copied.layers[-1].bridge_layer is elsewhere,
    copied.layers[-1].bridge_layer.weights[0].backend,
]
ia, ib = nn.Input((3,), name="a"), nn.Input((2,), name="b")
two = nn.Model({"a": ia, "b": ib}, nn.Dense(2)(nn.Concatenate()([ia, ib])))
pair = {"a": x[:, :3], "b": x[:, 2:]}
out["to_keras_dict"] = diff(npy(to_keras(two)(pair)), two(pair).numpy())
out["to_keras_no_shape"] = error(lambda: to_keras(nn.Sequential([nn.Dense(2)])))

# --- nn.KerasLayer: Keras LSTM + Dense inside nn.Sequential, trained by bridge fit ----------
keras.utils.set_random_seed(6)
xs = rs.randn(8, 5, 3).astype("float32")
lstm, dense = keras.layers.LSTM(4), keras.layers.Dense(2)
hosted = nn.Sequential([nn.KerasLayer(lstm), nn.KerasLayer(dense)])
hosted_out = hosted(xs).numpy()
native = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4), keras.layers.Dense(2)])
native.set_weights(hosted.get_weights())
out["keras_layer_forward"] = diff(hosted_out, npy(native(xs)))
out["keras_layer_weights"] = [len(hosted.weights), len(hosted.trainable_weights)]
hosted.compile(br.optim.SGD(0.1), "mse")
bridge_losses = hosted.fit(xs, y, batch_size=4, epochs=3, shuffle=False, verbose=0).history["loss"]
native.compile(keras.optimizers.SGD(0.1), "mse")
keras_losses = native.fit(xs, y, batch_size=4, epochs=3, shuffle=False, verbose=0).history["loss"]
out["keras_layer_losses"] = [bridge_losses, keras_losses]
out["keras_layer_fit_weights"] = weights_diff(hosted.get_weights(), native.get_weights())
out["keras_layer_shared"] = weights_diff(hosted.get_weights(), [npy(w) for w in lstm.weights + dense.weights])
b_path = os.path.join(tmp, "hosted.bridge")
hosted.save(b_path)
out["keras_layer_load"] = diff(nn.load_model(b_path)(xs).numpy(), hosted(xs).numpy())

# training reaches Keras' layer: Dropout active only with training=True; BatchNormalization stats
drop = nn.KerasLayer(keras.layers.Dropout(0.5))
ones = np.ones((4, 6), "float32")
out["keras_layer_training"] = [
    diff(drop(ones, training=False).numpy(), ones),
    diff(drop(ones, training=True).numpy(), ones),
]

# a Keras layer of your own: found when registered with Keras, refused when not
@keras.saving.register_keras_serializable(package="tests")
class Twice(keras.layers.Layer):
    def call(self, x):
        return x * 2

class Thrice(keras.layers.Layer):
    def call(self, x):
        return x * 3

again = nn.KerasLayer.from_config(nn.KerasLayer(Twice()).get_config())
out["keras_layer_registered"] = [type(again.keras_layer).__name__, diff(again(ones).numpy(), 2 * ones)]
unregistered = nn.KerasLayer(Thrice()).get_config()
out["keras_layer_unregistered"] = error(lambda: nn.KerasLayer.from_config(unregistered))

# refused: a module other than Keras' own named in a config, and the other bridge backend
foreign = {"module": "os", "class_name": "system", "config": {}, "registered_name": None}
out["keras_layer_foreign"] = error(lambda: nn.KerasLayer.from_config({"layer": foreign}))
with br.use_backend(OTHER):
    other_input = br.zeros((2, 3))
out["keras_layer_wrong_backend"] = error(lambda: nn.KerasLayer(keras.layers.Dense(2))(other_input))
out["keras_layer_not_keras"] = error(lambda: nn.KerasLayer(nn.Dense(2)))

# Keras on a backend bridge does not run on
keras.backend.backend = lambda: "jax"
out["unknown_backend"] = error(lambda: BridgeLayer(nn.Dense(2)))
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    """What ``PROGRAM`` measured, per Keras backend (both programs run at once)."""
    runs = {
        backend: subprocess.Popen(
            [sys.executable, "-c", PROGRAM],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=keras_env(backend),
        )
        for backend in BACKENDS
        if importlib.util.find_spec(backend) and importlib.util.find_spec("keras")
    }
    found = {}
    for backend, run in runs.items():
        stdout, stderr = run.communicate(timeout=300)
        assert run.returncode == 0, f"Keras on {backend}:\n{stderr[-4000:]}"
        found[backend] = json.loads(stdout.strip().splitlines()[-1])
    return found


def on_each(test: Any) -> Any:
    """Run ``test`` per Keras backend (it needs Keras and that framework)."""
    params = [pytest.param(b, marks=[pytest.mark.needs("keras", b), pytest.mark.slow]) for b in BACKENDS]
    return pytest.mark.parametrize("kb", params)(test)


TIGHT = 1e-6  # float32, the same ops in the same order on one framework: equal up to rounding


@on_each
def test_bridge_layer_in_sequential_gives_the_bridge_layers_outputs(results: dict[str, Any], kb: str) -> None:
    found = results[kb]
    assert found["sequential_forward"] <= TIGHT
    assert found["sequential_shared"] is True


@on_each
def test_keras_fit_trains_the_bridge_weights_as_bridge_fit_does(results: dict[str, Any], kb: str) -> None:
    found = results[kb]
    keras_losses, bridge_losses = found["fit_losses"]
    assert keras_losses == pytest.approx(bridge_losses, rel=1e-6, abs=1e-7)
    assert found["fit_moved"] > 0.01  # the weights did change
    assert found["fit_weights"] <= 1e-6
    assert found["fit_shared"] is True  # Keras' variables and bridge's are still the same ones


@on_each
def test_save_and_load_with_safe_mode(results: dict[str, Any], kb: str) -> None:
    found = results[kb]
    assert found["load_model_class"] == "BridgeLayer"
    assert found["load_model"] <= TIGHT


@on_each
def test_load_weights_writes_into_the_shared_variables(results: dict[str, Any], kb: str) -> None:
    """Keras' assign (``_direct_assign``: ``copy_`` on torch, ``tf.Variable.assign`` on TF) keeps
    the framework variable, so loading keeps the sharing."""
    found = results[kb]
    assert found["load_weights_moved"] > 0
    assert found["load_weights"] == 0
    assert found["load_weights_same_natives"] is True


@on_each
def test_bridge_layer_in_a_functional_model_between_keras_layers(results: dict[str, Any], kb: str) -> None:
    found = results[kb]
    assert found["functional_forward"] <= TIGHT
    assert found["functional_output_shape"] == [None, 1]
    assert found["functional_trained"] > 0  # gradients reached the bridge weights through Keras


@on_each
def test_batch_normalization_updates_its_moving_statistics(results: dict[str, Any], kb: str) -> None:
    found = results[kb]
    assert found["bn_trainable"] == [2, 2]
    mean, variance, moved = found["bn_moving"]
    assert mean <= TIGHT and variance <= TIGHT
    assert moved > 0


@on_each
def test_to_keras_shares_the_weights(results: dict[str, Any], kb: str) -> None:
    found = results[kb]
    assert found["to_keras_forward"] <= TIGHT
    assert found["to_keras_inputs"] == [[None, 4]]
    assert found["to_keras_shared"] == 0
    assert found["to_keras_load"] <= TIGHT


@on_each
def test_to_keras_copies_a_model_of_the_other_backend(results: dict[str, Any], kb: str) -> None:
    output, same_object, backend = results[kb]["to_keras_copy"]
    assert output <= TIGHT and same_object is False and backend == kb
    name, bases, message = results[kb]["to_keras_no_shape"]
    assert "InvalidArgumentError" in bases and "input_shape" in message


@on_each
def test_keras_layer_trained_by_bridge_equals_keras_by_keras(results: dict[str, Any], kb: str) -> None:
    found = results[kb]
    assert found["keras_layer_forward"] <= TIGHT
    assert found["keras_layer_weights"] == [5, 5]  # LSTM kernel, recurrent kernel, bias; Dense's two
    bridge_losses, keras_losses = found["keras_layer_losses"]
    assert bridge_losses == pytest.approx(keras_losses, rel=1e-5)
    assert found["keras_layer_fit_weights"] <= 1e-5
    assert found["keras_layer_shared"] == 0
    assert found["keras_layer_load"] <= TIGHT


@on_each
def test_keras_layer_passes_training_on(results: dict[str, Any], kb: str) -> None:
    inference, training = results[kb]["keras_layer_training"]
    assert inference == 0 and training > 0


@on_each
def test_keras_layer_refuses_foreign_modules_and_other_backends(results: dict[str, Any], kb: str) -> None:
    found = results[kb]
    name, bases, message = found["keras_layer_foreign"]
    assert name == "SerializationError" and "'os'" in message
    name, bases, message = found["keras_layer_wrong_backend"]
    assert name == "BackendMismatchError" and "TypeError" in bases
    assert repr(kb) in message and "'numpy'" in message
    name, bases, message = found["keras_layer_not_keras"]
    assert "InvalidArgumentError" in bases and "keras.Layer" in message


@on_each
def test_an_unknown_keras_backend_is_named(results: dict[str, Any], kb: str) -> None:
    name, bases, message = results[kb]["unknown_backend"]
    assert "BridgeError" in bases and "'jax'" in message


def test_importing_bridge_does_not_import_keras() -> None:
    program = "import sys, bridge, bridge.nn, bridge.interop; print('keras' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


@on_each
def test_to_keras_takes_a_functional_models_dict_of_inputs(results: dict[str, Any], kb: str) -> None:
    assert results[kb]["to_keras_dict"] <= TIGHT


@on_each
def test_keras_layer_finds_only_registered_keras_classes(results: dict[str, Any], kb: str) -> None:
    name, output = results[kb]["keras_layer_registered"]
    assert name == "Twice" and output == 0
    name, bases, message = results[kb]["keras_layer_unregistered"]
    assert name == "SerializationError" and "Thrice" in message


@on_each
def test_an_open_batch_size_in_compiled_tensorflow_is_explained(results: dict[str, Any], kb: str) -> None:
    """Keras' torch backend runs eagerly; TensorFlow's compiled step sees a last batch of 2 of 8
    samples as an open batch size, which bridge's static sizes cannot follow: the error says what
    to do."""
    found = results[kb]["open_batch"]
    if kb == "torch":
        assert found is None
    else:
        name, bases, message = found
        assert "BridgeError" in bases and "run_eagerly=True" in message and "drop_remainder" in message
