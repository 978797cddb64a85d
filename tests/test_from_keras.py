"""``bridge.interop.from_keras``: Keras 3 Sequential and functional models ported to bridge and
proven with ``assert_equivalent`` against Keras itself (outputs, gradients, 10 optimizer steps),
on both Keras backends, each in one subprocess (Keras' backend is fixed at import)."""

from __future__ import annotations

import pytest

from tests.keras_reference import keras_json

#: Keras on both its backends, each proven against the bridge backend of the same framework
pytestmark = pytest.mark.needs("keras", "tensorflow", "torch")

_PROGRAM = r"""
import json, sys
import numpy as np
import keras
import bridge as br
from bridge.interop import from_keras
from bridge.testing import assert_equivalent

backend = keras.backend.backend()  # the bridge backend matching Keras'
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
layers = keras.layers


def mlp():
    model = keras.Sequential([
        keras.Input((4,)), layers.Dense(8, activation="relu", name="hidden"),
        layers.Dropout(0.3, name="drop"), layers.BatchNormalization(name="norm"), layers.Dense(3, name="out"),
    ])
    return model, rng.standard_normal((6, 4)).astype("float32")


def cnn():
    x = keras.Input((8, 8, 3))
    h = layers.Conv2D(4, 3, padding="same", use_bias=False)(x)
    h = layers.BatchNormalization()(h)
    h = layers.ReLU()(h)  # ported as nn.Activation("relu")
    h = layers.MaxPooling2D()(h)
    h = layers.Flatten()(h)
    h = layers.Dropout(0.5)(h)
    return keras.Model(x, layers.Dense(2)(h)), rng.standard_normal((4, 8, 8, 3)).astype("float32")


def two_inputs():
    a, b = keras.Input((5,), name="a"), keras.Input((5,), name="b")
    shared = layers.Dense(4, activation="tanh", name="shared")
    joined = layers.Concatenate()([shared(a), shared(b)])
    model = keras.Model([a, b], layers.Softmax()(layers.Dense(2, name="head")(joined)))
    return model, [rng.standard_normal((3, 5)).astype("float32") for _ in range(2)]


def lstm():
    x = keras.Input((4,), dtype="int32")
    h = layers.Embedding(10, 4)(x)
    h = layers.LSTM(5)(h)
    model = keras.Model(x, layers.Dense(3)(h))
    return model, rng.integers(0, 10, (3, 4)).astype("int32")


def summary(report):
    worst = {p: report.worst(p) for p in ("eval", "training", "gradients", "steps", "final weights")}
    return {
        "passed": report.passed,
        "rows": len(report.comparisons),
        "layers": sorted({c.layer for c in report.comparisons if c.layer}),
        "worst": {p: [c.max_abs, c.max_rel] for p, c in worst.items() if c is not None},
    }


results = {}
cases = {  # Adam with a small learning rate: it scales rounding noise in tiny gradients by lr / epsilon
    "mlp": (mlp, "sgd", 0.9, 0.05), "cnn": (cnn, "adam", 0.0, 0.01),
    "two_inputs": (two_inputs, "sgd", 0.9, 0.05), "lstm": (lstm, "sgd", 0.0, 0.05),
}
for name, (make, optimizer, momentum, learning_rate) in cases.items():
    model, x = make()
    with br.use_backend(backend):
        ported = from_keras(model)
    report = assert_equivalent(
        model, ported, x, train_steps=10, optimizer=optimizer, momentum=momentum, learning_rate=learning_rate
    )
    results[name] = summary(report)
    results[name]["kind"] = type(ported).__name__
    results[name]["framework"] = ported._native_framework
    results[name]["names"] = [layer.name for layer in ported.layers]
    results[name]["keras_names"] = [
        layer.name for layer in model.layers if type(layer).__name__ != "InputLayer"
    ]

# a port is a bridge model like any other: it keeps training after the proof, on its own
model, x = mlp()
with br.use_backend(backend):
    ported = from_keras(model)
results["mlp_untouched"] = bool(np.array_equal(ported.get_weights()[0], model.get_weights()[0]))

# broken ports of a Keras model are named by the proof (Keras as the native side)
def broken(name, spoil):
    model, x = mlp()
    with br.use_backend(backend):
        ported = from_keras(model)
    spoil(ported)
    try:
        assert_equivalent(model, ported, x)
        return None
    except br.EquivalenceError as error:
        failure = error.report.failure
        return [str(error).splitlines()[0], failure.phase, failure.layer]


def wrong_kernel(ported):
    kernel = ported.layers[-1].kernel
    kernel.assign(kernel.numpy() + 0.01)


def wrong_activation(ported):
    ported.layers[0].activation = br.activations.get("tanh")


def wrong_epsilon(ported):
    ported.layers[2].epsilon = 0.1


results["broken"] = {
    "kernel": broken("kernel", wrong_kernel),
    "activation": broken("activation", wrong_activation),
    "epsilon": broken("epsilon", wrong_epsilon),
}

# a port without _native_sources: weights matched by order (Keras' layout is bridge's)
model, x = mlp()
with br.use_backend(backend):
    ported = from_keras(model)
del ported._native_sources
report = assert_equivalent(model, ported, x, train_steps=3)
results["by_order"] = [report.passed, report.notes, sorted({c.phase for c in report.comparisons})]

# an unsupported layer
x = keras.Input((4,))
model = keras.Model(x, layers.Dense(2)(layers.GaussianNoise(0.1, name="noise")(layers.Dense(3)(x))))
try:
    from_keras(model)
    results["unsupported"] = None
except br.UnsupportedConversionError as error:
    results["unsupported"] = [str(error), isinstance(error, NotImplementedError)]

# an activation layer in a form nn.Activation cannot take
model = keras.Sequential([keras.Input((4,)), layers.ReLU(max_value=6.0, name="relu6")])
try:
    from_keras(model)
    results["relu6"] = None
except br.UnsupportedConversionError as error:
    results["relu6"] = str(error)

# a meaningful argument bridge cannot honour
model = keras.Sequential([keras.Input((4,)), layers.Dense(2, activity_regularizer="l2")])
try:
    from_keras(model)
    results["constraint"] = None
except br.UnsupportedConversionError as error:
    results["constraint"] = str(error)
print(json.dumps(results))
"""


@pytest.fixture(scope="module", params=["tensorflow", "torch"])
def results(request: pytest.FixtureRequest) -> dict:
    return keras_json(_PROGRAM, backend=request.param)


CASES = ["mlp", "cnn", "two_inputs", "lstm"]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_ported_models_are_proven_equivalent_to_keras(results: dict, case: str) -> None:
    found = results[case]
    assert found["passed"], found
    assert found["framework"] == "keras"
    assert {"eval", "training", "gradients", "steps", "final weights"} <= set(found["worst"])
    for phase, (max_abs, max_rel) in found["worst"].items():
        assert max_rel <= 1e-5, (phase, max_abs, max_rel)


@pytest.mark.slow
def test_ports_keep_the_structure_and_names(results: dict) -> None:
    assert results["mlp"]["kind"] == "Sequential"
    assert results["cnn"]["kind"] == "Functional"
    for case in CASES:
        assert results[case]["names"] == results[case]["keras_names"], case
    # every weighted layer was compared layer by layer (the shared Dense among them)
    assert {"shared", "head", "concatenate"} <= set(results["two_inputs"]["layers"])
    assert {"embedding", "lstm", "dense"} <= {
        name.rstrip("_0123456789") for name in results["lstm"]["layers"]
    }


@pytest.mark.slow
def test_unsupported_layers_are_named_with_their_class_and_place(results: dict) -> None:
    message, not_implemented = results["unsupported"]
    assert not_implemented
    assert "'noise'" in message and "GaussianNoise" in message
    assert "called on the outputs of" in message and "Dense" in message  # where, and what is supported
    assert "activity_regularizer" in results["constraint"]
    assert "'relu6'" in results["relu6"] and "max_value=6.0" in results["relu6"]


@pytest.mark.slow
def test_broken_ports_of_keras_models_are_named(results: dict) -> None:
    broken = results["broken"]
    message, phase, layer = broken["kernel"]
    assert (phase, layer) == ("weights", "out") and "out/kernel" in message
    message, phase, layer = broken["activation"]
    assert (phase, layer) == ("eval", "hidden") and "layer 'hidden' (native 'hidden')" in message
    message, phase, layer = broken["epsilon"]
    assert (phase, layer) == ("eval", "norm")


@pytest.mark.slow
def test_a_port_without_sources_is_compared_by_weight_order(results: dict) -> None:
    passed, notes, phases = results["by_order"]
    assert passed
    assert any("weights matched by order" in note for note in notes)
    assert {"weights", "gradients", "final weights"} <= set(phases)


@pytest.mark.slow
def test_weights_are_copied_unchanged(results: dict) -> None:
    assert results["mlp_untouched"]
