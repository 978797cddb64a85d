"""Weight constraints on layers (``kernel_constraint=`` and kin), applied by the optimizers after
each update, against Keras 3 on both its backends: the same small models, from the same initial
weights, trained a few SGD and Adam steps by ``fit`` (eager, and compiled where the backend
compiles: tf.function on TensorFlow), end with Keras' weights; configs round-trip, also through a
saved model."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import bridge as br
from bridge import constraints, nn, optim
from bridge.errors import BridgeError
from tests.keras_reference import keras_json

pytestmark = pytest.mark.bridge_requires("autodiff", "variables")

KERAS_BACKENDS = ("tensorflow", "torch")

#: model -> (input shape, input kind, [(layer class, arguments)]); a constraint argument is
#: ``[class name, arguments]`` in bridge.constraints / keras.constraints
MODELS: dict[str, tuple[list[int], str, list[list]]] = {
    "dense": (
        [4],
        "float",
        [
            [
                "Dense",
                {
                    "units": 3,
                    "kernel_constraint": ["MaxNorm", {"max_value": 0.5}],
                    "bias_constraint": ["NonNeg", {}],
                },
            ],
            ["Dense", {"units": 2, "kernel_constraint": ["UnitNorm", {"axis": 0}]}],
        ],
    ),
    "conv": (
        [5, 5, 2],
        "float",
        [
            [
                "Conv2D",
                {
                    "filters": 3,
                    "kernel_size": 3,
                    "kernel_constraint": [
                        "MinMaxNorm",
                        {"min_value": 0.2, "max_value": 0.6, "rate": 0.7, "axis": [0, 1, 2]},
                    ],
                    "bias_constraint": ["NonNeg", {}],
                },
            ],
            ["Flatten", {}],
            ["Dense", {"units": 2}],
        ],
    ),
    "embedding": (
        [3],
        "int",
        [
            [
                "Embedding",
                {
                    "input_dim": 12,
                    "output_dim": 4,
                    "embeddings_constraint": ["MaxNorm", {"max_value": 0.3, "axis": 1}],
                },
            ],
            ["Flatten", {}],
            ["Dense", {"units": 2, "kernel_constraint": ["NonNeg", {}]}],
        ],
    ),
    "batchnorm": (
        [4],
        "float",
        [
            ["Dense", {"units": 4, "use_bias": False}],  # a bias before it has no gradient
            [
                "BatchNormalization",
                {"gamma_constraint": ["NonNeg", {}], "beta_constraint": ["MaxNorm", {"max_value": 0.05}]},
            ],
            ["Dense", {"units": 2}],
        ],
    ),
    "lstm": (
        [3, 2],
        "float",
        [
            [
                "LSTM",
                {
                    "units": 3,
                    "kernel_constraint": ["MaxNorm", {"max_value": 0.4}],
                    "recurrent_constraint": ["UnitNorm", {"axis": 1}],
                    "bias_constraint": ["NonNeg", {}],
                },
            ],
            ["Dense", {"units": 2}],
        ],
    ),
}

OPTIMIZERS = {
    "sgd": ["SGD", {"learning_rate": 0.1, "momentum": 0.9}],
    "adam": ["Adam", {"learning_rate": 0.2}],
}
#: the other layers that take constraints: their constraint configs against Keras'
LAYERS: dict[str, tuple[str, dict]] = {
    "conv1d": ("Conv1D", {"filters": 2, "kernel_size": 3, "bias_constraint": ["NonNeg", {}]}),
    "conv2d_transpose": (
        "Conv2DTranspose",
        {"filters": 2, "kernel_size": 3, "kernel_constraint": ["UnitNorm", {"axis": 2}]},
    ),
    "depthwise": (
        "DepthwiseConv2D",
        {
            "kernel_size": 3,
            "depthwise_constraint": ["MaxNorm", {"max_value": 1.5}],
            "bias_constraint": ["NonNeg", {}],
        },
    ),
    "separable": (
        "SeparableConv1D",
        {
            "filters": 2,
            "kernel_size": 3,
            "depthwise_constraint": ["NonNeg", {}],
            "pointwise_constraint": ["UnitNorm", {}],
        },
    ),
    "layer_norm": (
        "LayerNormalization",
        {"beta_constraint": ["MaxNorm", {"max_value": 1.0}], "gamma_constraint": ["NonNeg", {}]},
    ),
    "group_norm": ("GroupNormalization", {"groups": 2, "gamma_constraint": ["MinMaxNorm", {"rate": 0.5}]}),
    "simple_rnn": ("SimpleRNN", {"units": 2, "recurrent_constraint": ["UnitNorm", {"axis": 1}]}),
    "attention": (
        "MultiHeadAttention",
        {
            "num_heads": 2,
            "key_dim": 2,
            "kernel_constraint": ["NonNeg", {}],
            "bias_constraint": ["MaxNorm", {"max_value": 1.0}],
        },
    ),
    "gru": (
        "GRU",
        {"units": 2, "kernel_constraint": ["NonNeg", {}], "bias_constraint": ["MaxNorm", {"max_value": 3.0}]},
    ),
}

#: the weight each constraint argument goes to (a separable layer's depthwise one: depthwise_kernel)
WEIGHTS = {
    "kernel_constraint": "kernel",
    "bias_constraint": "bias",
    "recurrent_constraint": "recurrent_kernel",
    "depthwise_constraint": "kernel",
    "pointwise_constraint": "pointwise_kernel",
    "beta_constraint": "beta",
    "gamma_constraint": "gamma",
}

SAMPLES, BATCH, EPOCHS = 8, 4, 2  # four steps


def data(model: str) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets for ``model``. Embedding ids are distinct within a batch: Keras on
    TensorFlow hands Adam an embedding's gradient as IndexedSlices and squares the slices of an
    id found twice apart (bridge and Keras on torch square their sum), with or without a
    constraint."""
    shape, kind, _ = MODELS[model]
    rng = np.random.default_rng(len(model))
    if kind == "int":  # each batch holds every id once
        x = np.concatenate([rng.permutation(12) for _ in range(SAMPLES // BATCH)]).reshape(SAMPLES, *shape)
    else:
        x = rng.normal(size=(SAMPLES, *shape))
    return x.astype("int32" if kind == "int" else "float32"), rng.normal(size=(SAMPLES, 2)).astype("float32")


_PROGRAM = """
import json, sys
import numpy as np
import keras

request = json.loads(sys.stdin.read())

def arguments(kwargs):
    return {
        k: getattr(keras.constraints, v[0])(**v[1]) if k.endswith("_constraint") else v
        for k, v in kwargs.items()
    }

answers = {}
for name, (shape, kind, layers) in request["models"].items():
    dtype = "int32" if kind == "int" else "float32"
    x, y = np.asarray(request["data"][name][0], dtype), np.asarray(request["data"][name][1], "float32")
    for opt_name, (opt_class, opt_kwargs) in request["optimizers"].items():
        keras.utils.set_random_seed(1)
        inputs = keras.Input(tuple(shape), dtype="int32" if kind == "int" else "float32")
        model = keras.Sequential([inputs] + [getattr(keras.layers, c)(**arguments(k)) for c, k in layers])
        model.compile(getattr(keras.optimizers, opt_class)(**opt_kwargs), "mse", jit_compile=False)
        start = [w.tolist() for w in model.get_weights()]
        model.fit(x, y, batch_size=request["batch"], epochs=request["epochs"], shuffle=False, verbose=0)
        configs = [
            {k: v for k, v in layer.get_config().items() if k.endswith("_constraint")}
            for layer in model.layers
        ]
        final = [w.tolist() for w in model.get_weights()]
        answers[f"{name}/{opt_name}"] = {"start": start, "final": final, "configs": configs}
layer_configs = {}
for case, (cls, kwargs) in request["layers"].items():
    config = getattr(keras.layers, cls)(**arguments(kwargs)).get_config()
    layer_configs[case] = {k: v for k, v in config.items() if k.endswith("_constraint")}
print(json.dumps({"training": answers, "layers": layer_configs}))
"""


@pytest.fixture(scope="module")
def keras_by_backend() -> dict:
    """Keras' initial and final weights and constraint configs, per model, optimizer and Keras
    backend (one process per Keras backend, both at once)."""
    query = json.dumps(
        {
            "models": MODELS,
            "optimizers": OPTIMIZERS,
            "data": {name: [a.tolist() for a in data(name)] for name in MODELS},
            "batch": BATCH,
            "epochs": EPOCHS,
            "layers": LAYERS,
        }
    )
    with ThreadPoolExecutor(len(KERAS_BACKENDS)) as pool:
        answers = pool.map(lambda b: keras_json(_PROGRAM, backend=b, stdin=query), KERAS_BACKENDS)
        return dict(zip(KERAS_BACKENDS, answers, strict=True))


def arguments(kwargs: dict) -> dict:
    """Layer arguments with each constraint ``[class name, arguments]`` made."""
    return {
        k: getattr(constraints, v[0])(**v[1]) if k.endswith("_constraint") else v for k, v in kwargs.items()
    }


def bridge_model(name: str) -> nn.Sequential:
    shape, kind, layers = MODELS[name]
    inputs = nn.Input(tuple(shape), dtype="int32" if kind == "int" else "float32")
    return nn.Sequential([inputs] + [getattr(nn, c)(**arguments(k)) for c, k in layers])


NEEDS_KERAS = pytest.mark.needs("keras", "tensorflow", "torch")


@NEEDS_KERAS
@pytest.mark.slow  # the first test pays for the Keras processes; the fits take a few seconds
@pytest.mark.parametrize("keras_backend", KERAS_BACKENDS)
@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("name", sorted(MODELS))
def test_constrained_training_matches_keras(name, opt_name, keras_backend, keras_by_backend, backend):
    """Eager on torch; on TensorFlow, fit compiles its step with tf.function."""
    answer = keras_by_backend[keras_backend]["training"][f"{name}/{opt_name}"]
    model = bridge_model(name)
    model.set_weights([np.asarray(w, "float32") for w in answer["start"]])
    opt_class, opt_kwargs = OPTIMIZERS[opt_name]
    model.compile(getattr(optim, opt_class)(**opt_kwargs), "mse")
    x, y = data(name)
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0)
    final = model.get_weights()
    assert len(final) == len(answer["final"])
    for ours, theirs in zip(final, answer["final"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    if backend == "tensorflow":
        assert model._compiled_steps, "fit's step was expected to be compiled on TensorFlow"


@NEEDS_KERAS
@pytest.mark.slow
@pytest.mark.parametrize("keras_backend", KERAS_BACKENDS)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_constraint_configs_are_keras_and_round_trip(name, keras_backend, keras_by_backend, backend):
    theirs = keras_by_backend[keras_backend]["training"][f"{name}/sgd"]["configs"]
    for layer, keras_config in zip(bridge_model(name).layers, theirs, strict=True):
        assert_constraint_config(layer, keras_config)


@NEEDS_KERAS
@pytest.mark.slow
@pytest.mark.parametrize("keras_backend", KERAS_BACKENDS)
@pytest.mark.parametrize("case", sorted(LAYERS))
def test_other_layers_take_constraints_as_keras(case, keras_backend, keras_by_backend, backend):
    cls, kwargs = LAYERS[case]
    layer = getattr(nn, cls)(**arguments(kwargs))
    assert_constraint_config(layer, keras_by_backend[keras_backend]["layers"][case])
    x = np.ones((2, 4, 4, 4) if "2D" in cls else (2, 4, 4), "float32")
    if cls == "MultiHeadAttention":  # every projection's kernel and bias take them
        layer(x, x)
        for weight in layer.weights:
            argument = "kernel_constraint" if weight.name.endswith("kernel") else "bias_constraint"
            assert isinstance(weight.constraint, getattr(constraints, kwargs[argument][0])), weight.name
        return
    layer(x)
    for argument, (name, _) in ((a, v) for a, v in kwargs.items() if a in WEIGHTS):
        weight = (
            "depthwise_kernel"
            if cls.startswith("Separable") and argument == "depthwise_constraint"
            else WEIGHTS[argument]
        )
        assert isinstance(getattr(layer, weight).constraint, getattr(constraints, name)), argument


def assert_constraint_config(layer: nn.Layer, keras_config: dict) -> None:
    """``layer``'s constraint arguments in its config are Keras' (less Keras' "module" and
    "registered_name"), and its config rebuilds it."""
    config = layer.get_config()
    ours = {k: v for k, v in config.items() if k.endswith("_constraint")}
    assert set(ours) == set(keras_config)
    for key, value in ours.items():
        expected = keras_config[key]
        assert value == (None if expected is None else {k: expected[k] for k in ("class_name", "config")})
    assert type(layer).from_config(config).get_config() == config


@pytest.mark.needs("torch", "tensorflow")  # saved on one backend, loaded on the other
def test_constraints_survive_saving_the_whole_model(backend, tmp_path):
    model = bridge_model("lstm")
    path = tmp_path / "model.keras"
    model.save(path)
    other = "torch" if backend == "tensorflow" else "tensorflow"
    with br.use_backend(other):
        loaded = nn.load_model(path)
    lstm = loaded.layers[0]
    assert isinstance(lstm.kernel_constraint, constraints.MaxNorm) and lstm.kernel_constraint.max_value == 0.4
    assert isinstance(lstm.recurrent_constraint, constraints.UnitNorm) and lstm.recurrent_constraint.axis == 1
    assert lstm.kernel.constraint is lstm.kernel_constraint
    assert isinstance(lstm.bias.constraint, constraints.NonNeg)


def clip_to_unit(weight):
    """A constraint of one's own: any callable ``weight -> weight``."""
    return br.ops.clip(weight, -0.1, 0.1)


def test_a_callable_constraint_is_applied_eagerly_and_compiled(backend, tmp_path):
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    for jit in (False, "auto"):
        model = nn.Sequential(
            [nn.Input((3,)), nn.Dense(4, kernel_constraint=clip_to_unit, bias_constraint=clip_to_unit)]
        )
        model.compile(optim.SGD(1.0), "mse", jit=jit)
        model.fit(x, x @ np.full((3, 4), 5.0, "float32"), batch_size=4, epochs=1, shuffle=False, verbose=0)
        kernel, bias = model.get_weights()
        assert np.abs(kernel).max() == pytest.approx(0.1) and np.abs(bias).max() == pytest.approx(0.1)
        config = model.layers[0].get_config()
        assert config["kernel_constraint"] == {"class_name": "function", "config": "clip_to_unit"}
    model.save(tmp_path / "model.keras")
    loaded = nn.load_model(tmp_path / "model.keras", custom_objects={"clip_to_unit": clip_to_unit})
    assert loaded.layers[0].kernel.constraint is clip_to_unit


@pytest.mark.slow  # br.jit is torch.compile on torch
def test_optimizer_applies_a_variable_constraint_after_its_update(backend):
    """On a plain Variable: after the update and the moving average, skipped on a non-finite step."""
    v = br.Variable(br.tensor([3.0, -4.0]), constraint=constraints.NonNeg())
    opt = optim.SGD(1.0, use_ema=True, ema_momentum=0.5)
    opt.apply([br.tensor([1.0, 1.0])], [v])
    np.testing.assert_allclose(v.numpy(), [2.0, 0.0])
    np.testing.assert_allclose(opt.slot(v, "average").numpy(), [2.0, -5.0])  # Keras: EMA before
    opt.apply([br.tensor([float("nan"), 0.0])], [v])
    np.testing.assert_allclose(v.numpy(), [2.0, 0.0])
    jitted = br.jit(lambda g: opt.apply([g], [v]))
    opt.reset_nonfinite()
    jitted(br.tensor([5.0, 5.0]))
    np.testing.assert_allclose(v.numpy(), [0.0, 0.0])


@pytest.mark.parametrize(
    "cls, args, argument, value",
    [
        ("Dense", (2,), "kernel_constraint", 3),
        ("Dense", (2,), "bias_constraint", "no_such"),
        ("Conv2D", (2, 3), "kernel_constraint", [1]),
        ("SeparableConv2D", (2, 3), "pointwise_constraint", "x"),
        ("DepthwiseConv2D", (3,), "depthwise_constraint", 1.0),
        ("Embedding", (4, 2), "embeddings_constraint", 0),
        ("BatchNormalization", (), "gamma_constraint", "x"),
        ("LayerNormalization", (), "beta_constraint", 2),
        ("GroupNormalization", (2,), "beta_constraint", {"class_name": "NoSuch", "config": {}}),
        ("GRU", (2,), "recurrent_constraint", 2),
        ("SimpleRNN", (2,), "bias_constraint", "x"),
    ],
)
def test_bad_constraint_arguments_name_the_layer_and_argument(cls, args, argument, value, backend):
    """A bridge error that is a ValueError (as Keras raises), naming the class and argument."""
    with pytest.raises(BridgeError, match=f"^{cls} '.*': {argument}: ") as info:
        getattr(nn, cls)(*args, **{argument: value})
    assert isinstance(info.value, ValueError)


def test_variable_constraint_must_be_callable(backend):
    with pytest.raises(BridgeError, match="constraint must be a callable") as info:
        br.Variable(br.tensor([1.0]), name="w", constraint=3)
    assert isinstance(info.value, TypeError)
