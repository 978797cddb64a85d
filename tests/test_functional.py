"""The functional API (``nn.Input``, layers called on symbolic tensors, ``nn.Model(inputs,
outputs)``) and masks carried between layers, checked against Keras 3's functional models."""

from __future__ import annotations

import json

import numpy as np
import pytest

import bridge as br
from bridge import nn

from .keras_reference import keras_json

pytestmark = pytest.mark.bridge_requires("autodiff", "variables")

RNG = np.random.default_rng(0)
XA = RNG.standard_normal((6, 4)).astype(np.float32)
XB = RNG.standard_normal((6, 4)).astype(np.float32)


def two_tower_model() -> nn.Model:
    """Two inputs, a layer shared between them, a merge, two outputs (a dict)."""
    a, b = nn.Input((4,), name="a"), nn.Input((4,), name="b")
    shared = nn.Dense(5, activation="tanh", name="shared")
    ha, hb = shared(a), shared(b)
    out1 = nn.Dense(2, name="out1")(nn.Concatenate(name="merge")([ha, hb]))
    out2 = nn.Dense(1, activation="sigmoid", name="out2")(nn.Add(name="add")([ha, hb]))
    return nn.Model([a, b], {"out1": out1, "out2": out2}, name="towers")


_KERAS_TOWERS = r"""
import json, sys
import numpy as np
import keras
from keras import layers
given = json.loads(sys.stdin.read())
a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
shared = layers.Dense(5, activation="tanh", name="shared")
ha, hb = shared(a), shared(b)
out1 = layers.Dense(2, name="out1")(layers.Concatenate(name="merge")([ha, hb]))
out2 = layers.Dense(1, activation="sigmoid", name="out2")(layers.Add(name="add")([ha, hb]))
model = keras.Model([a, b], {"out1": out1, "out2": out2}, name="towers")
shapes = [list(w.shape) for w in model.weights]
model.set_weights([np.asarray(w, np.float32) for w in given["weights"]])
outputs = model.predict([np.asarray(given["xa"], np.float32), np.asarray(given["xb"], np.float32)], verbose=0)
inner = keras.Input((3,), name="x")
tower = keras.Model(inner, layers.Dense(2, name="d")(inner), name="tower")
x = keras.Input((3,), name="outer_x")
nested = keras.Model(x, layers.Dense(1, name="head")(tower(x)), name="nested")
masked = keras.Sequential([
    keras.Input((5,), dtype="int32"),
    layers.Embedding(6, 3, mask_zero=True),
    layers.Dense(4),
    layers.LSTM(2),
])
masked.set_weights([np.asarray(w, np.float32) for w in given["masked_weights"]])
z = keras.Input((3,), name="z")
heads = {"zeta": layers.Dense(1, name="zeta")(z), "alpha": layers.Dense(2, name="alpha")(z)}
unsorted = keras.Model(z, heads)
print(json.dumps({
    "unsorted": [[l.name for l in unsorted.layers], [list(w.shape) for w in unsorted.weights]],
    "masked": np.asarray(masked.predict(np.asarray(given["ids"]), verbose=0)).tolist(),
    "layers": [l.name for l in model.layers],
    "shapes": shapes,
    "outputs": {k: np.asarray(v).tolist() for k, v in outputs.items()},
    "nested_layers": [l.name for l in nested.layers],
    "nested_shapes": [list(w.shape) for w in nested.weights],
    "output_shapes": {k: list(v.shape) for k, v in model.output.items()},
}))
"""


IDS = np.array([[3, 1, 4, 0, 0], [5, 0, 0, 0, 0], [2, 2, 2, 2, 1]])


def masked_model() -> nn.Model:
    """A mask from Embedding through Dense (which passes it on, as Keras') to an LSTM."""
    return nn.Sequential(
        [nn.Input((5,), dtype="int32"), nn.Embedding(6, 3, mask_zero=True), nn.Dense(4), nn.LSTM(2)]
    )


@pytest.fixture(scope="module")
def keras_towers():
    model, masked = two_tower_model(), masked_model()
    weights = [w.tolist() for w in model.get_weights()]
    given = {
        "weights": weights,
        "xa": XA.tolist(),
        "xb": XB.tolist(),
        "masked_weights": [w.tolist() for w in masked.get_weights()],
        "ids": IDS.tolist(),
    }
    return (weights, given["masked_weights"]), keras_json(_KERAS_TOWERS, stdin=json.dumps(given))


@pytest.mark.needs("keras", "tensorflow")
@pytest.mark.slow
def test_a_shared_layer_two_inputs_and_two_outputs_match_keras(backend, keras_towers):
    (weights, _), keras = keras_towers
    model = two_tower_model()
    model.set_weights([np.asarray(w, np.float32) for w in weights])
    assert [layer.name for layer in model.layers] == [n for n in keras["layers"] if n not in ("a", "b")]
    assert [list(w.shape) for w in model.weights] == keras["shapes"]
    assert {k: list(t.shape) for k, t in model._outputs.items()} == {
        k: [None, *v[1:]] for k, v in keras["output_shapes"].items()
    }
    outputs = model([XA, XB])
    assert set(outputs) == {"out1", "out2"}
    for key, expected in keras["outputs"].items():
        np.testing.assert_allclose(outputs[key].numpy(), expected, rtol=1e-5, atol=1e-6)
    by_name = model({"a": XA, "b": XB})  # a dict of data for a list of inputs: matched by name
    np.testing.assert_array_equal(by_name["out1"].numpy(), outputs["out1"].numpy())


@pytest.mark.needs("keras", "tensorflow")
@pytest.mark.slow
def test_dict_outputs_are_ordered_by_key_as_in_keras(backend, keras_towers):
    _, keras = keras_towers
    z = nn.Input((3,), name="z")
    model = nn.Model(z, {"zeta": nn.Dense(1, name="zeta")(z), "alpha": nn.Dense(2, name="alpha")(z)})
    assert [[layer.name for layer in model.layers], [list(w.shape) for w in model.weights]] == [
        [n for n in keras["unsorted"][0] if n != "z"],
        keras["unsorted"][1],
    ]
    assert model.output_names == ["alpha", "zeta"] and list(model.output) == ["zeta", "alpha"]


@pytest.mark.needs("keras", "tensorflow")
@pytest.mark.slow
def test_nested_models_are_layers_in_keras_order(backend, keras_towers):
    _, keras = keras_towers
    inner = nn.Input((3,), name="x")
    tower = nn.Model(inner, nn.Dense(2, name="d")(inner), name="tower")
    x = nn.Input((3,), name="outer_x")
    nested = nn.Model(x, nn.Dense(1, name="head")(tower(x)), name="nested")
    assert [layer.name for layer in nested.layers] == [n for n in keras["nested_layers"] if n != "outer_x"]
    assert [list(w.shape) for w in nested.weights] == keras["nested_shapes"]
    data = RNG.standard_normal((5, 3)).astype(np.float32)
    kernel, bias, head_kernel, head_bias = (w.numpy() for w in nested.weights)
    expected = (data @ kernel + bias) @ head_kernel + head_bias
    np.testing.assert_allclose(nested(data).numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.needs("keras", "tensorflow")
@pytest.mark.slow
def test_a_mask_flows_through_dense_into_an_lstm_as_in_keras(backend, keras_towers):
    (_, weights), keras = keras_towers
    model = masked_model()
    model.set_weights([np.asarray(w, np.float32) for w in weights])
    np.testing.assert_allclose(model(IDS).numpy(), keras["masked"], rtol=1e-5, atol=1e-6)


def test_a_shared_layer_is_one_set_of_weights_and_gets_both_gradients(backend):
    model = two_tower_model()
    shared = model.layers[0]
    assert shared.name == "shared" and len(model.weights) == 6
    with br.GradientTape() as tape:
        outputs = model([XA, XB])
        loss = br.ops.sum(outputs["out2"])
    kernel_grad = tape.gradient(loss, shared.kernel).numpy()
    # by hand: out2 = sigmoid((tanh(a W + c) + tanh(b W + c)) V + d)
    w, c = shared.kernel.numpy(), shared.bias.numpy()
    v, d = model.get_layer("out2").get_weights()
    ha, hb = np.tanh(XA @ w + c), np.tanh(XB @ w + c)
    s = 1 / (1 + np.exp(-((ha + hb) @ v + d)))
    upstream = s * (1 - s) @ v.T
    expected = XA.T @ (upstream * (1 - ha**2)) + XB.T @ (upstream * (1 - hb**2))
    np.testing.assert_allclose(kernel_grad, expected, rtol=1e-4, atol=1e-5)


def test_inputs_take_a_batch_size_or_a_batch_shape_as_keras(backend):
    assert nn.Input((4,), batch_size=8).shape == (8, 4)  # keras.Input((4,), batch_size=8).shape
    fixed = nn.Input(batch_shape=(2, 3), name="fixed")
    assert fixed.shape == (2, 3) and nn.Input.from_config(fixed.get_config()).shape == (2, 3)
    model = nn.Model(fixed, nn.Dense(1)(fixed))
    assert model.outputs[0].shape == (2, 1)
    with pytest.raises(
        br.ShapeError, match=r"input 'fixed' takes shape \(2, 3\), got an input of shape \(4, 3\)"
    ):
        model(np.ones((4, 3), np.float32))
    with pytest.raises(br.InvalidArgumentError, match="give shape .* or batch_shape, one of them"):
        nn.Input((3,), batch_shape=(None, 3))


def test_sizes_known_only_from_data_stay_unknown(backend):
    x = nn.Input((None, 3))
    y = nn.Dense(5)(x)
    assert y.shape == (None, None, 5) and y.dtype == br.float32
    model = nn.Model(x, nn.Flatten()(nn.Dense(2)(x)))
    assert model.outputs[0].shape == (None, None)
    assert model(np.ones((2, 7, 3), np.float32)).shape == (2, 14)


def test_config_round_trip_and_save_load_keep_the_graph(backend, tmp_path):
    model = two_tower_model()
    clone = nn.Model.from_config(model.get_config())  # a functional config gives a functional model
    assert clone.get_config() == model.get_config()
    clone.set_weights(model.get_weights())
    for key, value in model([XA, XB]).items():
        np.testing.assert_array_equal(clone([XA, XB])[key].numpy(), value.numpy())
    model.save(tmp_path / "towers.bridge")
    loaded = nn.load_model(tmp_path / "towers.bridge")
    assert type(loaded) is nn.Functional and [layer.name for layer in loaded.layers] == [
        layer.name for layer in model.layers
    ]
    np.testing.assert_array_equal(loaded({"a": XA, "b": XB})["out1"].numpy(), model([XA, XB])["out1"].numpy())


def test_damaged_functional_configs_are_clear_errors(backend):
    config = two_tower_model().get_config()
    bad_reference = json.loads(json.dumps(config).replace('["shared", 1, 0]', '["shared", 1, 7]'))
    with pytest.raises(br.InvalidArgumentError, match=r"\['shared', 1, 7\] names no tensor"):
        nn.Model.from_config(bad_reference)
    no_arguments = json.loads(json.dumps(config))
    no_arguments["layers"][3]["inbound_nodes"][0]["args"] = []
    with pytest.raises(br.InvalidArgumentError, match="functional config: a call of"):
        nn.Model.from_config(no_arguments)


@pytest.mark.needs("torch", "tensorflow")
def test_a_functional_model_saved_on_one_backend_loads_on_the_other(tmp_path):
    for source, target in (("torch", "tensorflow"), ("tensorflow", "torch")):
        with br.use_backend(source):
            model = two_tower_model()
            expected = model([XA, XB])["out2"].numpy()
            model.save(tmp_path / f"{source}.bridge")
        with br.use_backend(target):
            loaded = nn.load_model(tmp_path / f"{source}.bridge")
            assert loaded.weights[0].backend == target
            np.testing.assert_allclose(loaded([XA, XB])["out2"].numpy(), expected, rtol=1e-6, atol=1e-6)


def test_summary_shows_the_connections(backend):
    lines = []
    two_tower_model().summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Connected to" in text
    row = next(line for line in lines if line.startswith("merge (Concatenate)"))
    assert "(None, 10)" in row and row.endswith("shared[0][0], shared[1][0]")
    assert next(line for line in lines if line.startswith("a (InputLayer)")).split()[-1] == "-"
    assert "Total params: 53" in text  # 4*5+5 + 10*2+2 + 5*1+1


def test_a_functional_model_trains_with_fit_and_jit(backend):
    br.random.seed(0)
    x = nn.Input((4,))
    model = nn.Model(x, nn.Dense(1)(nn.Dense(8, activation="relu")(x)))
    model.compile(br.optim.SGD(0.05), "mse", jit=True)
    y = XA.sum(axis=1, keepdims=True)
    before = model.evaluate(XA, y)
    model.fit(XA, y, epochs=20, batch_size=3, verbose=0)
    assert model.evaluate(XA, y) < before / 2


def test_functional_errors(backend):
    a, b = nn.Input((4,), name="a"), nn.Input((4,), name="b")
    h = nn.Dense(2)(a)
    with pytest.raises(
        br.InvalidArgumentError, match=r"depend on <Input .*'a'>, which is not among the inputs"
    ):
        nn.Model(b, h)
    with pytest.raises(br.InvalidArgumentError, match="inputs must be nn.Input tensors"):
        nn.Model(h, h)
    with pytest.raises(br.InvalidArgumentError, match="outputs must be what layers"):
        nn.Model(a, np.zeros(3))
    with pytest.raises(br.InvalidArgumentError, match=r"unique names; \['same'\] repeat"):
        nn.Model(a, nn.Dense(1, name="same")(nn.Dense(2, name="same")(a)))
    with pytest.raises(br.SymbolicTensorError, match="only layers can be called on it"):
        h + 1
    with pytest.raises(br.SymbolicTensorError, match="only layers can be called on it"):
        br.ops.relu(h)  # ops are not recorded (Keras records them): a Lambda layer does it
    with pytest.raises(
        br.ArgumentTypeError, match=r"LayerNormalization: unknown argument\(s\) \['rms_scaling'\]"
    ):
        nn.LayerNormalization(rms_scaling=True)

    class Subclassed(nn.Model):
        def __init__(self):
            x = nn.Input((2,))
            super().__init__(inputs=x, outputs=nn.Dense(1)(x))

    with pytest.raises(br.InvalidArgumentError, match="subclass nn.Functional"):
        Subclassed()

    class Encoder(nn.Functional):  # the way to a functional model of one's own class
        def __init__(self):
            x = nn.Input((2,))
            super().__init__(x, nn.Dense(3)(x))

    assert Encoder()(np.ones((4, 2), np.float32)).shape == (4, 3)
    model = nn.Model([a, b], nn.Add()([nn.Dense(2)(a), nn.Dense(2)(b)]))
    with pytest.raises(
        br.InvalidArgumentError, match=r"takes 2 input\(s\) \('a' \(None, 4\), 'b' \(None, 4\)\).*one tensor"
    ):
        model(XA)
    with pytest.raises(br.InvalidArgumentError, match=r"takes inputs \['a', 'b'\], got a dict of \['a'\]"):
        model({"a": XA})
    with pytest.raises(
        br.ShapeError, match=r"input 'b' takes shape \(None, 4\), got an input of shape \(6, 3\)"
    ):
        model([XA, XA[:, :3]])


class RecordsMask(nn.Layer):
    """Passes its input on, recording the mask ``__call__`` gave it."""

    supports_masking = True

    def call(self, x, mask=None):
        self.seen = None if mask is None else mask.numpy()
        return x


class Summed(nn.Layer):
    """Sums over time the steps its mask keeps (a layer that consumes the mask)."""

    def call(self, x, mask=None):
        if mask is not None:
            x = x * br.ops.expand_dims(mask.astype(x.dtype), -1)
        return br.ops.sum(x, axis=1)


def test_masks_flow_from_embedding_through_layers_that_support_them(backend):
    ids = np.array([[3, 1, 0, 0], [2, 0, 0, 0]])
    embed = nn.Embedding(5, 2, mask_zero=True)
    recorder = RecordsMask()
    model = nn.Sequential([embed, recorder, Summed()])
    out = model(ids).numpy()
    np.testing.assert_array_equal(recorder.seen, ids != 0)
    table = embed.embeddings.numpy()
    np.testing.assert_allclose(out, [table[3] + table[1], table[2]], rtol=1e-6)
    x = nn.Input((4,), dtype="int32")
    functional = nn.Model(x, Summed()(RecordsMask()(nn.Embedding(5, 2, mask_zero=True)(x))))
    assert functional(ids).shape == (2, 2)
    for layer in (nn.Dense(2), nn.Dropout(0.5), nn.LayerNormalization(), nn.Activation("relu")):
        passed = layer(embed(ids), training=True)  # these support masking, as in Keras
        np.testing.assert_array_equal(passed._keras_mask.numpy(), ids != 0)
    dropped = nn.Flatten()(embed(ids))  # a layer without mask support drops the mask (as Keras')
    assert getattr(dropped, "_keras_mask", None) is None


def test_an_explicit_mask_wins_over_the_attached_one(backend):
    x = br.tensor(np.ones((1, 3, 2), np.float32))
    x._keras_mask = br.tensor(np.array([[True, True, False]]))
    np.testing.assert_array_equal(Summed()(x).numpy(), [[2.0, 2.0]])
    mask = br.tensor(np.array([[True, False, False]]))
    np.testing.assert_array_equal(Summed()(x, mask=mask).numpy(), [[1.0, 1.0]])


def test_stateful_layers_start_real_data_from_zero_states(backend):
    """The one-sample example a functional model is built with leaves no state behind."""
    x = nn.Input((5, 3))
    model = nn.Model(x, nn.LSTM(4, stateful=True)(x))
    data = np.ones((8, 5, 3), np.float32)
    first, second = model(data).numpy(), model(data).numpy()
    assert np.abs(first - second).max() > 1e-4  # the state carried over
    model.reset_states()
    np.testing.assert_array_equal(model(data).numpy(), first)
    stack = nn.Sequential([nn.Input((5, 3)), nn.GRU(4, stateful=True)])
    assert stack(data).shape == (8, 4)
