"""Every layer on every backend: same initial weights, outputs and gradients (inputs and
weights), against NumPy references and their finite differences."""

from __future__ import annotations

import builtins
import collections
import functools
import json

import numpy as np
import pytest

import bridge as br
from bridge import nn
from bridge.testing import assert_layer_parity
from bridge.testing.references import gelu_tanh, relu

from .keras_reference import keras_json
from .test_nn_ops import conv2d_loop, pool_loop

RNG = np.random.default_rng(3)
F64 = {"dtype": "float64"}


def _x(*shape):
    return RNG.standard_normal(shape)


class Scale(nn.Layer):
    """A custom low-level layer written only with bridge ops."""

    def build(self, input_shape):
        self.alpha = self.add_weight("alpha", shape=(input_shape[-1],), initializer="random_normal")

    def call(self, x, training=False):
        return x * self.alpha + br.ops.tanh(x)


def _batch_norm(x, weights, training):
    gamma, beta, moving_mean, moving_variance = weights
    if training:
        mean, variance = x.mean(axis=0), x.var(axis=0)
    else:
        mean, variance = moving_mean, moving_variance
    return (x - mean) / np.sqrt(variance + 1e-3) * gamma + beta


def _layer_norm(x, weights, training):
    gamma, beta = weights
    mean, variance = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + 1e-3) * gamma + beta


CASES = {
    "dense": (
        lambda: nn.Dense(3, activation="tanh", **F64),
        _x(2, 4),
        lambda x, w, t: np.tanh(x @ w[0] + w[1]),
    ),
    "dense_no_bias_3d": (
        lambda: nn.Dense(2, use_bias=False, kernel_initializer="he_normal", **F64),
        _x(2, 3, 4),
        lambda x, w, t: x @ w[0],
    ),
    "custom_scale": (lambda: Scale(**F64), _x(3, 4), lambda x, w, t: x * w[0] + np.tanh(x)),
    "activation": (
        lambda: nn.Activation("gelu", **F64),
        _x(2, 3),
        lambda x, w, t: gelu_tanh(x),
    ),
    "flatten": (lambda: nn.Flatten(**F64), _x(2, 3, 2), lambda x, w, t: x.reshape(2, -1)),
    "reshape": (lambda: nn.Reshape((3, 2), **F64), _x(2, 6), lambda x, w, t: x.reshape(2, 3, 2)),
    "conv2d": (
        lambda: nn.Conv2D(3, 2, strides=(2, 1), padding="same", activation="relu", **F64),
        _x(2, 5, 4, 2),
        lambda x, w, t: relu(conv2d_loop(x, w[0], (2, 1), "same", (1, 1)) + w[1]),
    ),
    "conv2d_channels_first": (
        lambda: nn.Conv2D(2, (2, 3), data_format="channels_first", **F64),
        _x(1, 2, 4, 5),
        lambda x, w, t: (
            conv2d_loop(x.transpose(0, 2, 3, 1), w[0], (1, 1), "valid", (1, 1)) + w[1]
        ).transpose(0, 3, 1, 2),
    ),
    "max_pool2d": (
        lambda: nn.MaxPool2D(2, **F64),
        _x(2, 4, 4, 3),
        lambda x, w, t: pool_loop(x, (2, 2), (2, 2), "valid", np.max),
    ),
    "avg_pool2d": (
        lambda: nn.AvgPool2D(3, strides=1, padding="same", **F64),
        _x(1, 4, 5, 2),
        lambda x, w, t: pool_loop(x, (3, 3), (1, 1), "same", np.mean),
    ),
    "global_average_pooling2d": (
        lambda: nn.GlobalAveragePooling2D(**F64),
        _x(2, 3, 4, 5),
        lambda x, w, t: x.mean(axis=(1, 2)),
    ),
    "batch_normalization_training": (lambda: nn.BatchNormalization(**F64), _x(6, 3), _batch_norm),
    "batch_normalization_inference": (lambda: nn.BatchNormalization(**F64), _x(6, 3), _batch_norm),
    "layer_normalization": (lambda: nn.LayerNormalization(**F64), _x(4, 5), _layer_norm),
    "sequential": (
        lambda: nn.Sequential([nn.Dense(4, activation="relu", **F64), nn.Dense(2, **F64)], **F64),
        _x(3, 5),
        lambda x, w, t: relu(x @ w[0] + w[1]) @ w[2] + w[3],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_parity(name):
    make, x, reference = CASES[name]
    training = name.endswith("_training")
    assert_layer_parity(make, x, reference=reference, training=training, rtol=1e-6, atol=1e-7)


@pytest.mark.needs("torch", "tensorflow")
def test_embedding_and_dropout_parity():
    ids = np.array([[0, 3, 3], [1, 2, 0]])
    results = assert_layer_parity(lambda: nn.Embedding(4, 2, **F64), ids, reference=lambda x, w, t: w[0][x])
    assert results["torch"]["input_grad"] is None
    out = assert_layer_parity(lambda: nn.Dropout(0.5, seed=3), np.ones((8, 8), np.float32), training=True)
    mask = out["torch"]["output"]
    assert set(np.unique(mask)) == {0.0, 2.0}
    np.testing.assert_array_equal(out["torch"]["input_grad"] != 0, mask != 0)


@pytest.mark.needs("torch", "tensorflow")
def test_the_same_seed_gives_the_same_initial_weights_everywhere():
    weights = {}
    for backend in ("torch", "tensorflow"):
        with br.use_backend(backend):
            br.random.seed(42)
            net = nn.Sequential(
                [
                    nn.Conv2D(4, 3, kernel_initializer="glorot_normal", bias_initializer="random_uniform"),
                    nn.Flatten(),
                    nn.Dense(8, kernel_initializer="orthogonal"),
                    nn.Dense(3, kernel_initializer="lecun_normal"),
                    nn.Dense(2, kernel_initializer="he_uniform"),
                ]
            )
            net(np.ones((1, 5, 5, 2), np.float32))
            weights[backend] = net.get_weights()
    assert len(weights["torch"]) == 8
    for a, b in zip(weights["torch"], weights["tensorflow"]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "name, stats",
    [
        (
            "glorot_uniform",
            lambda w, fi, fo: (np.abs(w).max() <= np.sqrt(6 / (fi + fo)), w.std(), np.sqrt(2 / (fi + fo))),
        ),
        (
            "glorot_normal",
            lambda w, fi, fo: (
                np.abs(w).max() <= 2 * np.sqrt(2 / (fi + fo)) / 0.8796 + 1e-6,
                w.std(),
                np.sqrt(2 / (fi + fo)),
            ),
        ),
        ("he_uniform", lambda w, fi, fo: (np.abs(w).max() <= np.sqrt(6 / fi), w.std(), np.sqrt(2 / fi))),
        ("he_normal", lambda w, fi, fo: (True, w.std(), np.sqrt(2 / fi))),
        ("lecun_normal", lambda w, fi, fo: (True, w.std(), np.sqrt(1 / fi))),
        ("random_normal", lambda w, fi, fo: (True, w.std(), 0.05)),
        ("random_uniform", lambda w, fi, fo: (np.abs(w).max() <= 0.05, w.std(), 0.1 / np.sqrt(12))),
    ],
)
def test_initializer_distributions(name, stats, backend):
    fan_in, fan_out = 300, 200
    w = br.initializers.get(name)((fan_in, fan_out)).numpy().astype(np.float64)
    bounded, std, expected = stats(w, fan_in, fan_out)
    assert bounded and abs(std / expected - 1) < 0.03, (std, expected)
    assert abs(w.mean()) < 0.01


def test_constant_zeros_ones_orthogonal(backend):
    assert (br.initializers.get("zeros")((2, 3)).numpy() == 0).all()
    assert (br.initializers.get("ones")((2,)).numpy() == 1).all()
    assert (br.initializers.Constant(0.5)((2,)).numpy() == 0.5).all()
    q = br.initializers.Orthogonal(gain=2.0, seed=1)((5, 3)).numpy().astype(np.float64)
    np.testing.assert_allclose(q.T @ q, 4 * np.eye(3), atol=1e-5)
    assert br.initializers.get({"class_name": "RandomNormal", "config": {"stddev": 2.0}}).stddev == 2.0


def test_tracking_weights_freezing_and_counts(backend):
    class Block(nn.Layer):
        def __init__(self):
            super().__init__()
            self.inner = [nn.Dense(3), {"norm": nn.BatchNormalization()}]
            self.extra = br.Variable(br.zeros((2,)), name="extra")

        def call(self, x, training=False):
            return self.inner[1]["norm"](self.inner[0](x), training=training)

    block = Block()
    with pytest.raises(nn.NotBuiltError, match="not built"):
        block.count_params()
    block(np.ones((2, 4), np.float32))
    names = [w.name.split("/")[-1] for w in block.weights]
    assert names == ["extra", "kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance"]
    assert len(block.trainable_weights) == 5 and len(block.non_trainable_weights) == 2
    assert block.count_params() == 2 + 12 + 3 + 3 * 4
    block.inner[0].trainable = False
    assert len(block.trainable_weights) == 3 and len(block.non_trainable_weights) == 4
    block.trainable = False
    assert block.trainable_weights == [] and len(block.weights) == 7
    assert block.layers[0] is block.inner[0] and len(block.layers) == 2


def test_get_and_set_weights(backend):
    layer = nn.Dense(2)
    layer(np.ones((1, 3), np.float32))
    values = [np.arange(6, dtype=np.float32).reshape(3, 2), np.array([1.0, -1.0], np.float32)]
    layer.set_weights(values)
    np.testing.assert_array_equal(layer(np.ones((1, 3), np.float32)).numpy(), [[7.0, 8.0]])
    with pytest.raises(br.InvalidArgumentError, match="2 weights, got 1"):
        layer.set_weights(values[:1])
    with pytest.raises(br.ShapeError, match=r"\(3, 2\), value has \(2, 3\)"):
        layer.set_weights([values[0].T, values[1]])
    np.testing.assert_array_equal(layer.get_weights()[0], values[0])  # unchanged by the failed call


def test_config_round_trip(backend):
    net = nn.Sequential(
        [
            nn.Dense(4, activation="relu", kernel_regularizer="l2"),
            nn.Dropout(0.2, seed=1),
            nn.LayerNormalization(),
            Scale(),
            nn.Dense(1),
        ]
    )
    config = nn.serialize(net)
    clone = nn.deserialize(config, custom_objects={"Scale": Scale})
    assert nn.serialize(clone) == config
    assert isinstance(clone.layers[3], Scale) and clone.layers[0].activation is br.ops.relu


def test_regularization_losses(backend):
    layer = nn.Dense(2, kernel_regularizer=br.regularizers.L1L2(l1=0.1, l2=0.5), bias_regularizer="l2")
    layer(np.ones((1, 3), np.float32))
    kernel, bias = layer.get_weights()
    expected = 0.1 * np.abs(kernel).sum() + 0.5 * (kernel**2).sum() + 0.01 * (bias**2).sum()
    np.testing.assert_allclose(float(sum(layer.losses)), expected, rtol=1e-6)
    outer = nn.Sequential([layer])
    assert len(outer.losses) == 2


def test_batch_normalization_moving_statistics(backend):
    layer = nn.BatchNormalization(momentum=0.5)
    x = RNG.standard_normal((8, 3)).astype(np.float32) * 3 + 1
    layer(x, training=True)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.5 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.5 + 0.5 * x.var(0), rtol=1e-5)
    before = layer.get_weights()
    layer(x, training=False)  # inference uses, and does not move, the averages
    for a, b in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_layer_errors(backend):
    dense = nn.Dense(3)
    dense(np.ones((2, 4), np.float32))
    with pytest.raises(br.ShapeError, match=r"built for inputs with 4 features.*\(2, 5\)"):
        dense(np.ones((2, 5), np.float32))
    with pytest.raises(br.ShapeError, match=r"Conv2D needs 4-D inputs.*\(5, 5, 3\)"):
        nn.Conv2D(2, 3)(np.ones((5, 5, 3), np.float32))
    with pytest.raises(br.InvalidArgumentError, match="unknown activation 'rellu'; known: elu, gelu"):
        nn.Dense(2, activation="rellu")
    with pytest.raises(br.InvalidArgumentError, match="unknown initializer 'glorot'.*glorot_normal"):
        nn.Dense(2, kernel_initializer="glorot")
    with pytest.raises(br.InvalidArgumentError, match="unknown regularizer"):
        nn.Dense(2, kernel_regularizer="l3")


def test_layer_to_device_keeps_the_variables(backend):
    layer = nn.Dense(2)
    layer(np.ones((1, 3), np.float32))
    kernel = layer.kernel
    layer.to("cpu")
    assert layer.kernel is kernel and kernel.device == "cpu"
    assert layer(np.ones((1, 3), np.float32)).shape == (1, 2)


# --- bad arguments and edge inputs against Keras 3 (issue 8) ----------------------------------------
LAYER_EDGE_CASES = [  # (layer, kwargs, input shape, training)
    ("Activation", {"activation": 3}, (2, 3), False),
    ("Activation", {"activation": "nope"}, (2, 3), False),
    ("Dropout", {"rate": 1.5}, (2, 3), True),
    ("Dropout", {"rate": -0.1}, (2, 3), True),
    ("Dropout", {"rate": float("nan")}, (2, 3), True),
    ("Dropout", {"rate": "x"}, (2, 3), True),
    ("Dropout", {"rate": 1.0, "seed": 1}, (2, 3), True),
    ("Flatten", {}, (), False),
    ("Flatten", {}, (0,), False),
    ("Flatten", {}, (0, 3, 0), False),
    ("Reshape", {"target_shape": (6,)}, (), False),
    ("Reshape", {"target_shape": (6,)}, (2, 3), False),
    ("Reshape", {"target_shape": (-1, -1)}, (2, 3), False),
    ("Reshape", {"target_shape": 3}, (2, 3), False),
    ("Reshape", {"target_shape": (-1,)}, (0,), False),
    ("Reshape", {"target_shape": (0,)}, (2, 0), False),
    ("Reshape", {"target_shape": (-1, 3)}, (2, 3, 2), False),
    ("GlobalAveragePooling2D", {"data_format": "bogus"}, (1, 4, 4, 1), False),
    ("GlobalAveragePooling2D", {}, (4, 4, 1), False),
]

_KERAS_LAYER_RUNNER = """
import json, sys
import numpy as np
import keras

results = []
for name, kwargs, shape, training in json.load(sys.stdin):
    if isinstance(kwargs.get("target_shape"), list):
        kwargs["target_shape"] = tuple(kwargs["target_shape"])
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    try:
        y = np.asarray(getattr(keras.layers, name)(**kwargs)(x, training=training))
        results.append({"shape": list(y.shape), "values": y.ravel().tolist()})
    except Exception as error:
        builtin = next(c for c in (TypeError, ValueError, IndexError) if isinstance(error, c))
        results.append({"error": builtin.__name__})
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def keras_layer_outcomes():
    cases = [
        [
            name,
            {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()},
            list(shape),
            training,
        ]
        for name, kwargs, shape, training in LAYER_EDGE_CASES
    ]
    return keras_json(_KERAS_LAYER_RUNNER, backend="tensorflow", stdin=json.dumps(cases))


@pytest.mark.needs("keras", "tensorflow")
@pytest.mark.slow
@pytest.mark.parametrize("case", range(len(LAYER_EDGE_CASES)))
def test_layer_bad_arguments_and_edge_inputs_match_keras(backend, keras_layer_outcomes, case):
    """Keras' builtin error class (ours a bridge error too) or Keras' output, on every backend."""
    name, kwargs, shape, training = LAYER_EDGE_CASES[case]
    expected = keras_layer_outcomes[case]
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    if "error" in expected:
        with pytest.raises(br.BridgeError) as error:
            getattr(nn, name)(**kwargs)(x, training=training)
        assert isinstance(error.value, getattr(builtins, expected["error"]))
    else:
        y = getattr(nn, name)(**kwargs)(x, training=training).numpy()
        assert list(y.shape) == expected["shape"]
        np.testing.assert_array_equal(y.ravel(), expected["values"])


def test_global_average_pooling_of_integers_is_exact_on_every_backend(backend):
    """Integer inputs are summed exactly (int64), then divided: NumPy's mean, whatever the order."""
    x = np.full((1, 3, 3, 2), -3, np.int32)
    x[0, 0, :2, 0] = [np.iinfo(np.int32).min, np.iinfo(np.int32).max]
    out = nn.GlobalAveragePooling2D()(x)
    assert out.dtype == "float32"
    np.testing.assert_allclose(out.numpy(), x.astype(np.float64).mean(axis=(1, 2)), rtol=1e-6)


# --- pytrees of inputs ------------------------------------------------------------------------
Pair = collections.namedtuple("Pair", "x y")


class DictMix(nn.Layer):
    """Takes ``{"a": (n, 3), "b": (n, 2)}``: ``tanh(a @ wa + b @ wb)``."""

    def build(self, input_shape):
        self.seen_shape = input_shape
        self.wa = self.add_weight("wa", (input_shape["a"][-1], 4), "random_normal")
        self.wb = self.add_weight("wb", (input_shape["b"][-1], 4), "random_normal")

    def call(self, inputs):
        return br.ops.tanh(inputs["a"] @ self.wa + inputs["b"] @ self.wb)


class PairSine(nn.Layer):
    """Takes ``Pair(x=(n, 3), y=scalar)``: ``sin(x * w) + y``."""

    def build(self, input_shape):
        self.seen_shape = input_shape
        self.w = self.add_weight("w", (input_shape.x[-1],), "random_normal")

    def call(self, pair, training=False):
        return br.ops.sin(pair.x * self.w) + pair.y


class Holder(nn.Model):
    def __init__(self, inner):
        super().__init__(dtype="float64")
        self.inner = inner

    def call(self, inputs):
        return self.inner(inputs)


def _dict_case():
    a, b, weight = _x(5, 3), _x(5, 2), _x(5, 4)  # weight: of each output in the loss

    def reference(wa, wb):
        t = np.tanh(a @ wa + b @ wb)
        dz = weight * (1 - t**2)
        return t, {"a": dz @ wa.T, "b": dz @ wb.T}

    shapes = {"a": (5, 3), "b": (5, 2)}
    return DictMix(dtype="float64"), {"b": b, "a": a}, shapes, weight, reference


def _pair_case():
    x, weight = _x(5, 3), _x(5, 3)

    def reference(w):
        return np.sin(x * w) + 0.5, Pair(x=weight * np.cos(x * w) * w, y=weight.sum())

    return PairSine(dtype="float64"), Pair(x=x, y=0.5), Pair(x=(5, 3), y=()), weight, reference


@pytest.mark.bridge_requires("autodiff", "jit")
@pytest.mark.parametrize("case", [_dict_case, _pair_case], ids=["dict", "namedtuple"])
def test_models_take_pytrees_of_inputs_under_grad_and_jit(backend, case):
    layer, inputs, shapes, weight, reference = case()
    model = Holder(layer)
    out = model(inputs)  # NumPy arrays and Python numbers become Tensors of the current backend
    assert layer.seen_shape == shapes and type(layer.seen_shape) is type(shapes)
    expected, expected_grads = reference(*model.get_weights())
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)

    tensors = br.tree.map_leaves(lambda leaf: br.tensor(leaf, dtype="float64"), inputs)
    weight = br.tensor(weight)

    def loss(tree):
        return br.ops.sum(model(tree) * weight)

    for grads in (br.grad(loss)(tensors), br.jit(br.grad(loss))(tensors)):
        assert type(grads) is type(inputs) and br.tree.leaves_with_paths(grads)[0][0] in ("['b']", ".x")
        want = dict(br.tree.leaves_with_paths(expected_grads))
        for path, got in br.tree.leaves_with_paths(grads):
            np.testing.assert_allclose(got.numpy(), want[path], rtol=1e-10, err_msg=path)
    np.testing.assert_allclose(br.jit(model)(tensors).numpy(), expected, rtol=1e-12)


def test_layer_inputs_without_a_tensor_are_refused(backend):
    with pytest.raises(br.InvalidArgumentError, match=r"the inputs hold no tensor, got \{'a': None"):
        DictMix()({"a": None, "b": None})


# --- nn.Input builds a Sequential at construction -----------------------------------------------
_KERAS_INPUT_PROGRAM = r"""
import json, keras
model = keras.Sequential(
    [keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dropout(0.5),
     keras.layers.Dense(2)]
)
print(json.dumps({
    "built": model.built,
    "layers": [type(layer).__name__ for layer in model.layers],
    "weights": [list(w.shape) for w in model.weights],
    "params": model.count_params(),
    "output_shapes": [str(tuple(layer.output.shape)) for layer in model.layers],
    "input_config": model.get_config()["layers"][0],
}))
"""


@pytest.mark.needs("keras", "tensorflow")
@pytest.mark.slow
def test_sequential_with_an_input_is_built_at_construction_as_keras(backend, capsys):
    keras = keras_json(_KERAS_INPUT_PROGRAM)
    model = nn.Sequential([nn.Input((4,)), nn.Dense(3, activation="relu"), nn.Dropout(0.5), nn.Dense(2)])
    assert model.built == keras["built"] is True
    assert [type(layer).__name__ for layer in model.layers] == keras["layers"]
    assert [list(w.shape) for w in model.weights] == keras["weights"]
    assert {w.backend for w in model.weights} == {backend}
    assert model.count_params() == keras["params"]
    model.summary()
    rows = capsys.readouterr().out.splitlines()
    for layer, shape in zip(model.layers, keras["output_shapes"]):
        assert any(row.startswith(f"{layer.name} (") and shape in row for row in rows), (shape, rows)
    assert f"Total params: {keras['params']:,}" in "\n".join(rows)
    input_config = model.get_config()["layers"][0]
    assert input_config["class_name"] == keras["input_config"]["class_name"] == "InputLayer"
    for key in ("batch_shape", "dtype"):
        assert input_config["config"][key] == keras["input_config"]["config"][key]


def test_sequential_input_builds_later_layers_and_round_trips(backend):
    model = nn.Sequential([nn.Input((2, 3), dtype="float64", name="pixels")])
    model.add(nn.Flatten())
    model.add(nn.Dense(5, dtype="float64"))
    assert [w.shape for w in model.weights] == [(6, 5), (5,)] and model.weights[0].dtype == br.float64
    clone = nn.Sequential.from_config(model.get_config())
    assert clone.built and [w.shape for w in clone.weights] == [(6, 5), (5,)]
    assert clone.get_config() == model.get_config()
    assert nn.Input((None, 8)).shape == (None, None, 8)  # as Keras: the batch axis first


def test_input_errors(backend):
    with pytest.raises(br.InvalidArgumentError, match="an Input can only come first"):
        nn.Sequential([nn.Dense(2), nn.Input((3,))])
    with pytest.raises(br.ArgumentTypeError, match=r"Input: shape must be a tuple such as \(4,\), got 4"):
        nn.Input(4)
    with pytest.raises(br.InvalidArgumentError, match="Input: shape must be >= 0, got -1"):
        nn.Input((2, -1))
    with pytest.raises(br.ShapeError, match=r"built for inputs with 4 features"):
        nn.Sequential([nn.Input((4,)), nn.Dense(3)])(np.ones((2, 5), np.float32))


def test_layer_state_is_declared_at_construction(backend):
    layer = nn.Dense(3)
    assert layer._own_weights == [] and layer._output_shape is None
    layer(np.zeros((2, 4), np.float32))
    assert layer._own_weights == [layer.kernel, layer.bias] and layer._output_shape == (2, 3)


def test_sublayers_assigned_before_layer_init_are_tracked(backend):
    class Early(nn.Layer):
        def __init__(self):
            self.inner = nn.Dense(2)
            super().__init__()

        def call(self, x):
            return self.inner(x)

    layer = Early()
    layer(np.zeros((1, 3), np.float32))
    assert [w.shape for w in layer.weights] == [(3, 2), (2,)]


def test_inner_layers_take_the_training_flag_of_the_enclosing_call(backend):
    # Keras 3's rule: an inner layer called without `training` inherits the outer call's value;
    # an explicit value wins; a layer called alone defaults to inference.
    class Outer(nn.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dropout = nn.Dropout(0.5, seed=1)

        def call(self, x):
            return self.dropout(x), self.dropout(x, training=False)

    model, x = Outer(), br.ones((4, 16))
    inherited, explicit = model(x, training=True)
    assert (inherited.numpy() == 0).any() and (explicit.numpy() == 1).all()
    inherited, _ = model(x)
    assert (inherited.numpy() == 1).all()
    assert (model.dropout(x).numpy() == 1).all()  # the flag of a finished call does not linger


# Run with `layers` and `Model` from Keras, or from bridge.nn; `seen` collects (layer, training).
_TRAINING_FLAG_PROGRAM = """
seen = []

class Spy(layers.Layer):
    def __init__(self, tag, **kwargs):
        super().__init__(**kwargs)
        self.tag = tag
    def call(self, x, training=None):
        seen.append([self.tag, training])
        return x

class TrainsByDefault(Spy):
    def call(self, x, training=True):
        seen.append([self.tag, training])
        return x

class Outer(Model):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = Spy("a"), Spy("b"), TrainsByDefault("c")
    def call(self, x, training=None):
        seen.append(["outer", training])
        return self.b(self.c(self.a(x)), training=False)

outer, x = Outer(), np.ones((2, 3), "float32")
outer(x)  # Keras runs call twice on the first call (building, then calling)
seen.clear()
for training in (None, True, False):
    outer(x, training=training)
outer.a(x)
outer.c(x)
"""


@functools.cache
def _keras_training_flags() -> list:
    prelude = "import json\nimport numpy as np\nimport keras\nlayers, Model = keras.layers, keras.Model\n"
    return keras_json(prelude + _TRAINING_FLAG_PROGRAM + "print(json.dumps(seen))")


@pytest.mark.slow
@pytest.mark.needs("keras")
def test_the_training_flag_resolves_as_in_keras(backend):
    # Keras' order: the value given, else the enclosing call's, else the call signature's default
    keras = _keras_training_flags()
    ours: dict = {"np": np, "layers": nn, "Model": nn.Model}
    exec(_TRAINING_FLAG_PROGRAM, ours)
    assert ours["seen"] == keras, (ours["seen"], keras)


def test_an_explicit_training_flag_holds_for_that_call_only(backend):
    # On purpose unlike Keras 3, whose call context keeps the last explicit value for the rest of
    # the outer call: there `c` below would see False (docs/guides/custom-layers.md says so).
    seen = []

    class Spy(nn.Layer):
        def call(self, x, training=None):
            seen.append(training)
            return x

    class Outer(nn.Model):
        def __init__(self) -> None:
            super().__init__()
            self.b, self.c = Spy(), Spy()

        def call(self, x):
            return self.c(self.b(x, training=False))

    Outer()(br.ones((1, 2)), training=True)
    assert seen == [False, True]
