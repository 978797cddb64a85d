"""The preprocessing layers (issue 14 item 6): Rescaling, Normalization (with ``adapt``),
CategoryEncoding, IntegerLookup and StringLookup against Keras 3 on both its backends (outputs,
learned vocabularies and statistics, OOV and mask handling, ``invert``, every ``output_mode``,
configs); config and model save/load round trips; use inside a Sequential trained with fit;
bad arguments."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import bridge as br
from bridge import errors, nn

from .keras_reference import keras_json

KERAS_BACKENDS = ("tensorflow", "torch")
RTOL = ATOL = 1e-6  # Keras' own assertAllClose defaults, float32
RNG = np.random.default_rng(14)

FEATURES = (RNG.standard_normal((8, 3)) * [1.0, 5.0, 0.1] + [0.0, 3.0, -2.0]).astype(np.float32)
FEATURE_BATCHES = [FEATURES[:3], FEATURES[3:6], FEATURES[6:]]
CUBE = RNG.standard_normal((6, 2, 3)).astype(np.float32)
CONSTANT_COLUMN = np.concatenate([FEATURES[:, :2], np.ones((8, 1), np.float32)], 1)
PIXELS = RNG.integers(0, 256, (2, 2, 2, 3))
IDS = np.array([[0, 3, 3], [1, 1, 2]])
TOKENS = np.array([[12, 1138, 42, 7], [42, 1000, 36, 7], [42, 12, 12, 0]])
TOKEN_BATCHES = [TOKENS[:2], TOKENS[2:]]
QUERY = np.array([[12, 99, 42, 0], [7, 7, 1138, 5]])
WORDS = np.array([["a", "b", "c", "a"], ["c", "d", "b", "a"], ["e", "", "a", "c"]])
WORD_QUERY = np.array([["a", "z", "c", ""], ["d", "d", "b", "q"]])
VOCAB = [12, 42, 7, 36]
WORD_VOCAB = ["a", "b", "c"]

# id: (Keras class, kwargs, adapt data (or None), whether it is a list of batches, inputs, call kwargs)
CASES: dict[str, tuple] = {
    "rescale_bytes": ("Rescaling", {"scale": 1 / 255}, None, False, PIXELS, {}),
    "rescale_offset": ("Rescaling", {"scale": 1 / 127.5, "offset": -1.0}, None, False, FEATURES, {}),
    "rescale_per_channel": (
        "Rescaling",
        {"scale": [0.5, 1.0, 2.0], "offset": [0.0, 1.0, -1.0]},
        None,
        False,
        FEATURES,
        {},
    ),
    "norm_adapt": ("Normalization", {}, FEATURES, False, FEATURES[:3] * 2, {}),
    "norm_axis_none": ("Normalization", {"axis": None}, FEATURES, False, FEATURES[:3], {}),
    "norm_batches": ("Normalization", {}, FEATURE_BATCHES, True, FEATURES[:3], {}),
    "norm_axes": ("Normalization", {"axis": (1, 2)}, CUBE, False, CUBE[:2], {}),
    "norm_axis_1_of_3": ("Normalization", {"axis": 1}, CUBE, False, CUBE[:2], {}),
    "norm_invert": ("Normalization", {"invert": True}, FEATURES, False, FEATURES[:3], {}),
    "norm_constant": ("Normalization", {}, CONSTANT_COLUMN, False, CONSTANT_COLUMN[:3], {}),
    "norm_given": (
        "Normalization",
        {"mean": [1.0, 2.0, 3.0], "variance": [1.0, 4.0, 9.0]},
        None,
        False,
        FEATURES,
        {},
    ),
    "norm_given_scalar": ("Normalization", {"mean": 3.0, "variance": 2.0}, None, False, FEATURES, {}),
    "norm_given_invert": (
        "Normalization",
        {"mean": [1.0, 2.0, 3.0], "variance": [1.0, 4.0, 9.0], "invert": True},
        None,
        False,
        FEATURES,
        {},
    ),
    "ce_multi_hot": ("CategoryEncoding", {"num_tokens": 4}, None, False, IDS, {}),
    "ce_multi_hot_rank1": ("CategoryEncoding", {"num_tokens": 4}, None, False, IDS[0], {}),
    "ce_binary": ("CategoryEncoding", {"num_tokens": 5, "output_mode": "binary"}, None, False, IDS, {}),
    "ce_one_hot": ("CategoryEncoding", {"num_tokens": 4, "output_mode": "one_hot"}, None, False, IDS[0], {}),
    "ce_one_hot_last1": (
        "CategoryEncoding",
        {"num_tokens": 4, "output_mode": "one_hot"},
        None,
        False,
        IDS[:, :1],
        {},
    ),
    "ce_one_hot_rank2": (
        "CategoryEncoding",
        {"num_tokens": 4, "output_mode": "one_hot"},
        None,
        False,
        IDS,
        {},
    ),
    "ce_count": ("CategoryEncoding", {"num_tokens": 4, "output_mode": "count"}, None, False, IDS, {}),
    "ce_count_rank1": (
        "CategoryEncoding",
        {"num_tokens": 4, "output_mode": "count"},
        None,
        False,
        IDS[1],
        {},
    ),
    "ce_count_weights": (
        "CategoryEncoding",
        {"num_tokens": 4, "output_mode": "count"},
        None,
        False,
        IDS,
        {"count_weights": np.array([[0.1, 0.2, 0.3], [1.0, 2.0, 3.0]], np.float32)},
    ),
    "il_adapt": ("IntegerLookup", {}, TOKENS, False, QUERY, {}),
    "il_adapt_batches": ("IntegerLookup", {"mask_token": 0}, TOKEN_BATCHES, True, QUERY, {}),
    "il_adapt_max_tokens": (
        "IntegerLookup",
        {"max_tokens": 4, "num_oov_indices": 2},
        TOKENS,
        False,
        QUERY,
        {},
    ),
    "il_vocab_mask_oov2": (
        "IntegerLookup",
        {"vocabulary": VOCAB, "mask_token": 0, "num_oov_indices": 2},
        None,
        False,
        QUERY,
        {},
    ),
    "il_vocab_special": (
        "IntegerLookup",
        {"vocabulary": [0, -1, *VOCAB], "mask_token": 0},
        None,
        False,
        QUERY,
        {},
    ),
    "il_oov0": (
        "IntegerLookup",
        {"vocabulary": VOCAB, "num_oov_indices": 0},
        None,
        False,
        np.array([[12, 42], [7, 36]]),
        {},
    ),
    "il_one_hot": (
        "IntegerLookup",
        {"vocabulary": VOCAB, "mask_token": 0, "output_mode": "one_hot"},
        None,
        False,
        QUERY,
        {},
    ),
    "il_multi_hot": (
        "IntegerLookup",
        {"vocabulary": VOCAB, "mask_token": 0, "output_mode": "multi_hot"},
        None,
        False,
        QUERY,
        {},
    ),
    "il_count": ("IntegerLookup", {"vocabulary": VOCAB, "output_mode": "count"}, None, False, QUERY, {}),
    "il_count_pad": (
        "IntegerLookup",
        {"vocabulary": VOCAB, "output_mode": "count", "max_tokens": 9, "pad_to_max_tokens": True},
        None,
        False,
        QUERY,
        {},
    ),
    "il_tf_idf": (
        "IntegerLookup",
        {"vocabulary": VOCAB, "output_mode": "tf_idf", "idf_weights": [0.5, 0.25, 2.0, 1.5]},
        None,
        False,
        QUERY,
        {},
    ),
    "il_tf_idf_adapt": (
        "IntegerLookup",
        {"output_mode": "tf_idf", "mask_token": 0},
        TOKENS,
        False,
        QUERY,
        {},
    ),
    "il_tf_idf_adapt_pad": (
        "IntegerLookup",
        {"output_mode": "tf_idf", "max_tokens": 10, "pad_to_max_tokens": True},
        TOKENS[0],
        False,
        QUERY,
        {},
    ),
    "il_invert": (
        "IntegerLookup",
        {"vocabulary": VOCAB, "mask_token": 0, "invert": True},
        None,
        False,
        np.array([[0, 1, 2, 3, 4, 5, 6, -2]]),
        {},
    ),
    "il_invert_no_mask": (
        "IntegerLookup",
        {"vocabulary": VOCAB, "invert": True},
        None,
        False,
        np.array([[0, 1, 2, 3, 4, 5, 9]]),
        {},
    ),
    "sl_adapt": ("StringLookup", {}, WORDS, False, WORD_QUERY, {}),
    "sl_adapt_mask": ("StringLookup", {"mask_token": "", "max_tokens": 5}, WORDS, False, WORD_QUERY, {}),
    "sl_vocab": ("StringLookup", {"vocabulary": WORD_VOCAB}, None, False, WORD_QUERY, {}),
    "sl_oov0": (
        "StringLookup",
        {"vocabulary": WORD_VOCAB, "num_oov_indices": 0},
        None,
        False,
        np.array(["c", "a"]),
        {},
    ),
    "sl_one_hot": (
        "StringLookup",
        {"vocabulary": WORD_VOCAB, "output_mode": "one_hot"},
        None,
        False,
        WORD_QUERY[0],
        {},
    ),
    "sl_multi_hot": (
        "StringLookup",
        {"mask_token": "", "output_mode": "multi_hot"},
        WORDS,
        False,
        WORD_QUERY,
        {},
    ),
    "sl_count": ("StringLookup", {"output_mode": "count"}, WORDS, False, WORD_QUERY, {}),
    "sl_tf_idf": ("StringLookup", {"output_mode": "tf_idf"}, WORDS, False, WORD_QUERY, {}),
    "sl_tf_idf_vocab": (
        "StringLookup",
        {"vocabulary": WORD_VOCAB, "output_mode": "tf_idf", "idf_weights": [1.0, 0.5, 2.0]},
        None,
        False,
        WORD_QUERY,
        {},
    ),
    "sl_invert": (
        "StringLookup",
        {"vocabulary": WORD_VOCAB, "mask_token": "", "invert": True},
        None,
        False,
        np.array([0, 1, 2, 3, 4, 7]),
        {},
    ),
}

_PROGRAM = r"""
import json, sys
import numpy as np
import keras

def host(value):
    # a layer output as a NumPy array (strings decoded)
    array = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
    if array.dtype.kind in "OS":
        array = np.vectorize(lambda b: b.decode() if isinstance(b, bytes) else b, otypes=[str])(array)
    return array

def data(value):
    array = np.asarray(value)
    return array.astype(np.float32) if array.dtype.kind == "f" else array

out = {}
for case, (name, kwargs, adapt, batched, inputs, call_kwargs) in json.loads(sys.stdin.read()).items():
    layer = getattr(keras.layers, name)(**kwargs)
    if adapt is not None:
        if batched:
            batches = [data(b) for b in adapt]
            layer.adapt(batches if name == "Normalization" else iter(batches))
        else:
            layer.adapt(data(adapt))
    value = layer(data(inputs), **{k: data(v) for k, v in call_kwargs.items()})
    array = host(value)
    answer = {"value": array.tolist(), "dtype": str(array.dtype)}
    if hasattr(layer, "get_vocabulary"):
        items = lambda vocabulary: [v.item() if hasattr(v, "item") else v for v in vocabulary]
        answer["vocabulary"] = items(layer.get_vocabulary())
        answer["without_special"] = items(layer.get_vocabulary(False))
        answer["size"] = int(layer.vocabulary_size())
    config = layer.get_config()
    answer["config"] = {k: v for k, v in config.items() if k not in ("name", "dtype", "trainable")}
    answer["weights"] = [np.asarray(w).tolist() for w in layer.get_weights()]
    out[case] = answer
print(json.dumps(out, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
"""


def _json_ready(value):
    return value.tolist() if isinstance(value, np.ndarray) else value


@pytest.fixture(scope="module")
def keras_by_backend() -> dict:
    """Every case's answer from Keras, one process per Keras backend (run at once)."""
    query = json.dumps(
        {
            case: [
                c[0],
                c[1],
                _json_ready(c[2]) if not c[3] else [b.tolist() for b in c[2]],
                c[3],
                c[4].tolist(),
                {k: v.tolist() for k, v in c[5].items()},
            ]
            for case, c in CASES.items()
        }
    )
    with ThreadPoolExecutor(len(KERAS_BACKENDS)) as pool:
        answers = pool.map(lambda b: keras_json(_PROGRAM, backend=b, stdin=query), KERAS_BACKENDS)
        return dict(zip(KERAS_BACKENDS, answers, strict=True))


def _layer(case: str) -> tuple[nn.Layer, object]:
    """The bridge layer of ``case``, adapted as Keras was, and its output on the case's inputs."""
    name, kwargs, adapt, batched, inputs, call_kwargs = CASES[case]
    layer = getattr(nn, name)(**kwargs)
    if adapt is not None:
        layer.adapt(iter(adapt) if batched else adapt)
    return layer, layer(inputs, **call_kwargs)


NEEDS_KERAS = pytest.mark.needs("keras", "tensorflow", "torch")


@NEEDS_KERAS
@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_layer_matches_keras(backend, keras_by_backend, case):
    """The output (values and dtype), learned vocabulary or statistics, and config Keras gives,
    on both Keras backends."""
    layer, got = _layer(case)
    value = got if isinstance(got, np.ndarray) else got.numpy()
    for keras_backend, answers in keras_by_backend.items():
        answer = answers[case]
        expected = np.asarray(answer["value"])
        assert value.shape == expected.shape, keras_backend
        if value.dtype.kind == "U":
            assert value.tolist() == answer["value"], keras_backend
            continue
        assert value.dtype == np.dtype(answer["dtype"]), keras_backend
        np.testing.assert_allclose(value, expected, rtol=RTOL, atol=ATOL, err_msg=keras_backend)
        if "vocabulary" in answer:
            assert layer.get_vocabulary() == answer["vocabulary"], keras_backend
            assert layer.get_vocabulary(include_special_tokens=False) == answer["without_special"]
            assert layer.vocabulary_size() == answer["size"]
        for ours, theirs in zip(layer.get_weights(), answer["weights"], strict=True):
            np.testing.assert_allclose(ours, np.asarray(theirs), rtol=RTOL, atol=ATOL, err_msg=keras_backend)
        _assert_config_matches(layer, answer["config"], adapted=CASES[case][2] is not None)


def _assert_config_matches(layer: nn.Layer, keras_config: dict, adapted: bool) -> None:
    """Keras' keys and values, but for what bridge keeps in the config on purpose: the learned
    vocabulary and idf weights (Keras keeps them in files of its own)."""
    ours = json.loads(json.dumps(layer.get_config()))
    for key, value in keras_config.items():
        if adapted and key in ("vocabulary", "idf_weights"):
            continue
        if key == "axis" and value is not None:
            value = list(value)
        assert key in ours and ours[key] == value, (key, ours.get(key), value)


@pytest.mark.parametrize(
    "case",
    [
        "norm_adapt",
        "norm_given",
        "rescale_per_channel",
        "ce_count_weights",
        "il_tf_idf_adapt",
        "il_adapt_max_tokens",
        "sl_tf_idf",
        "sl_adapt_mask",
        "il_invert",
        "sl_invert",
    ],
)
def test_config_round_trip_keeps_the_outputs(backend, case):
    """get_config -> JSON -> from_config (through nn.serialize/deserialize) rebuilds a layer that
    gives the same outputs, the learned vocabulary included (Normalization's statistics are weights)."""
    name, kwargs, adapt, batched, inputs, call_kwargs = CASES[case]
    layer, expected = _layer(case)
    again = nn.deserialize(json.loads(json.dumps(nn.serialize(layer))))
    assert type(again) is type(layer) and again.get_config() | {"name": 0} == layer.get_config() | {"name": 0}
    if layer.weights:
        again(inputs[:1])
        again.set_weights(layer.get_weights())
    got = again(inputs, **call_kwargs)
    if isinstance(expected, np.ndarray):
        assert got.tolist() == expected.tolist()
    else:
        np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_normalization_adapts_on_bridge_data_batches(backend):
    """Batches from ``bridge.data.batches`` (Tensors, also as ``(x, y)``) merge to the statistics of
    the whole data (NumPy float64)."""
    for batches in (
        br.data.batches(FEATURES, batch_size=3),
        br.data.batches(FEATURES, FEATURES[:, 0], batch_size=5),
    ):
        layer = nn.Normalization()
        layer.adapt(batches)
        np.testing.assert_allclose(layer.adapt_mean.numpy(), FEATURES.astype(np.float64).mean(0), rtol=1e-6)
        np.testing.assert_allclose(
            layer.adapt_variance.numpy(), FEATURES.astype(np.float64).var(0), rtol=1e-5
        )
    tensor = nn.Normalization(axis=None)
    tensor.adapt(br.tensor(FEATURES))
    np.testing.assert_allclose(tensor.adapt_mean.numpy(), FEATURES.astype(np.float64).mean(), rtol=1e-6)


def test_lookups_adapt_on_bridge_data_batches(backend):
    """IntegerLookup.adapt over ``bridge.data.batches`` learns what it learns from the array."""
    whole = nn.IntegerLookup()
    whole.adapt(TOKENS)
    batched = nn.IntegerLookup()
    batched.adapt(br.data.batches(TOKENS, batch_size=2))
    assert batched.get_vocabulary() == whole.get_vocabulary()
    paired = nn.IntegerLookup()
    paired.adapt(br.data.batches(TOKENS, TOKENS[:, 0] * 0.5, batch_size=2))  # (x, y): x is used
    assert paired.get_vocabulary() == whole.get_vocabulary()
    stepped = nn.IntegerLookup()
    stepped.adapt(br.data.batches(TOKENS, batch_size=2), steps=1)
    assert stepped.vocabulary_size() < whole.vocabulary_size()

    def endless():  # steps stops the reading, as Keras' dataset.take(steps)
        while True:
            yield TOKENS

    taken = nn.IntegerLookup()
    taken.adapt(endless(), steps=2)
    assert taken.get_vocabulary() == whole.get_vocabulary()
    with pytest.raises(br.InvalidArgumentError, match="IntegerLookup.adapt: steps must be >= 1"):
        taken.adapt(endless(), steps=0)


@pytest.mark.slow
@pytest.mark.bridge_requires("jit")
def test_lookups_inside_jit_give_the_eager_outputs(backend):
    """The lookup, every encoding and ``invert`` are bridge ops: one ``br.jit`` function gives the
    eager values (as do the other layers)."""
    layers = []
    for mode in ("int", "one_hot", "multi_hot", "count", "tf_idf"):
        layer = nn.IntegerLookup(mask_token=0, num_oov_indices=2 if mode == "int" else 1, output_mode=mode)
        layer.adapt(TOKENS)
        layers.append(layer)
    layers.append(nn.IntegerLookup(vocabulary=VOCAB, invert=True))
    norm = nn.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0])
    others = [nn.CategoryEncoding(4, "count"), nn.Rescaling([0.5, 1.0, 2.0], 1.0), norm]

    def outputs(query, ids, features):
        return (
            [layer(query) for layer in layers[:-1]]
            + [layers[-1](ids), others[0](ids)]
            + [layer(features) for layer in others[1:]]
        )

    inputs = (br.tensor(QUERY), br.tensor(IDS), br.tensor(FEATURES))
    # torch: traced by dynamo without inductor's code generation (minutes of CPU on two cores)
    eager = outputs(*inputs)  # builds the layers
    compiled = br.jit(outputs, torch={"backend": "eager", "fullgraph": True})
    for got, expected in zip(compiled(*inputs), eager, strict=True):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=RTOL, atol=ATOL)


def _fit_and_reload(model: nn.Model, x: np.ndarray, y: np.ndarray, tmp_path) -> None:
    model.compile(optimizer="adam", loss="mse")
    first = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=20, batch_size=4, verbose=0)
    assert float(np.ravel(model.evaluate(x, y, verbose=0))[0]) < float(np.ravel(first)[0])
    expected = model.predict(x, verbose=0)
    path = tmp_path / "model.bridge"
    model.save(path)
    loaded = nn.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-6)
    return loaded


@pytest.mark.slow
@pytest.mark.bridge_requires("autodiff", "variables")
def test_sequential_with_normalization_trains_and_reloads(backend, tmp_path):
    """Normalization adapted before fit, inside a compiled fit; the statistics load back."""
    norm = nn.Normalization()
    norm.adapt(FEATURES)
    model = nn.Sequential([nn.Input((3,)), nn.Rescaling(2.0), norm, nn.Dense(1)])
    loaded = _fit_and_reload(model, FEATURES, FEATURES @ np.array([1.0, -0.2, 3.0], np.float32), tmp_path)
    np.testing.assert_array_equal(loaded.layers[1].adapt_mean.numpy(), norm.adapt_mean.numpy())


@pytest.mark.slow
@pytest.mark.bridge_requires("autodiff", "variables")
def test_sequential_with_lookups_trains_and_reloads(backend, tmp_path):
    """IntegerLookup (adapted, multi_hot) and CategoryEncoding inside compiled fit; the learned
    vocabulary loads back from the config. StringLookup maps the strings before, eagerly."""
    words = np.array(
        [["a", "b"], ["c", "a"], ["b", "b"], ["d", "c"], ["a", "d"], ["c", "c"], ["b", "d"], ["a", "a"]]
    )
    strings = nn.StringLookup(num_oov_indices=0)
    strings.adapt(words)
    ids = strings(words).numpy()  # on the host, before fit
    ints = nn.IntegerLookup(output_mode="multi_hot")
    ints.adapt(ids)
    model = nn.Sequential([nn.Input((2,), dtype="int64"), ints, nn.Dense(1)])
    y = ids.sum(1).astype(np.float32)
    loaded = _fit_and_reload(model, ids, y, tmp_path)
    assert loaded.layers[0].get_vocabulary() == ints.get_vocabulary()
    encoded = nn.Sequential([nn.Input((2,), dtype="int64"), nn.CategoryEncoding(4, "count"), nn.Dense(1)])
    _fit_and_reload(encoded, ids, y, tmp_path)


@pytest.mark.slow
@pytest.mark.bridge_requires("jit")
def test_string_lookup_runs_on_the_host_only(backend):
    layer = nn.StringLookup(vocabulary=WORD_VOCAB)
    with pytest.raises(errors.DTypeError, match="StringLookup"):
        layer(br.tensor([1, 2]))
    with pytest.raises(errors.SymbolicTensorError, match="StringLookup"):
        layer(nn.Input((2,), dtype="int64"))
    inverse = nn.StringLookup(vocabulary=WORD_VOCAB, invert=True)
    with pytest.raises(errors.SymbolicTensorError, match="StringLookup"):
        br.jit(lambda ids: inverse(ids))(br.tensor([0, 1]))
    assert layer(["c", "zz", "a"]).numpy().tolist() == [3, 0, 1]  # a list of str, on the host
    assert inverse(br.tensor([3, 1])).tolist() == ["c", "a"]
    with pytest.raises(errors.InvalidArgumentError, match="num_oov_indices=0"):
        nn.StringLookup(vocabulary=WORD_VOCAB, num_oov_indices=0)(["a", "zz"])
    with pytest.raises(errors.InvalidArgumentError, match="num_oov_indices=0"):
        nn.IntegerLookup(vocabulary=VOCAB, num_oov_indices=0)(QUERY)


BAD_ARGUMENTS = [
    (lambda: nn.Rescaling("x"), errors.ArgumentTypeError, "Rescaling: scale"),
    (lambda: nn.Normalization(mean=1.0), errors.InvalidArgumentError, "Normalization: mean and variance"),
    (lambda: nn.Normalization(mean=[1.0], variance=[1.0, 2.0]), errors.InvalidArgumentError, "same shape"),
    (lambda: nn.Normalization(axis=1.5), errors.ArgumentTypeError, "Normalization: axis"),
    (lambda: nn.Normalization().adapt("text"), errors.ArgumentTypeError, "Normalization.adapt: data"),
    (lambda: nn.Normalization(mean=1.0, variance=1.0).adapt(FEATURES), errors.InvalidArgumentError, "adapt"),
    (lambda: nn.Normalization(axis=5)(FEATURES), errors.AxisError, "Normalization: axis 5"),
    (lambda: nn.CategoryEncoding(), errors.InvalidArgumentError, "CategoryEncoding: num_tokens"),
    (lambda: nn.CategoryEncoding(0), errors.InvalidArgumentError, "CategoryEncoding: num_tokens"),
    (lambda: nn.CategoryEncoding(4, "tf_idf"), errors.InvalidArgumentError, "CategoryEncoding: output_mode"),
    (lambda: nn.CategoryEncoding(4, sparse=True), errors.InvalidArgumentError, "CategoryEncoding: sparse"),
    (lambda: nn.CategoryEncoding(4)(IDS + 2), errors.IndexOutOfRangeError, "CategoryEncoding"),
    (lambda: nn.CategoryEncoding(4)(IDS, count_weights=IDS), errors.InvalidArgumentError, "count_weights"),
    (lambda: nn.IntegerLookup(max_tokens=1), errors.InvalidArgumentError, "IntegerLookup: max_tokens"),
    (
        lambda: nn.IntegerLookup(num_oov_indices=-1),
        errors.InvalidArgumentError,
        "IntegerLookup: num_oov_indices",
    ),
    (
        lambda: nn.IntegerLookup(pad_to_max_tokens=True),
        errors.InvalidArgumentError,
        "IntegerLookup: pad_to_max_tokens",
    ),
    (
        lambda: nn.IntegerLookup(output_mode="dense"),
        errors.InvalidArgumentError,
        "IntegerLookup: output_mode",
    ),
    (
        lambda: nn.IntegerLookup(invert=True, output_mode="count"),
        errors.InvalidArgumentError,
        "IntegerLookup: invert",
    ),
    (lambda: nn.IntegerLookup(sparse=True), errors.InvalidArgumentError, "IntegerLookup: sparse"),
    (
        lambda: nn.IntegerLookup(vocabulary_dtype="int32"),
        errors.InvalidArgumentError,
        "IntegerLookup: vocabulary_dtype",
    ),
    (
        lambda: nn.IntegerLookup(oov_method="farmhash"),
        errors.InvalidArgumentError,
        "IntegerLookup: oov_method",
    ),
    (lambda: nn.IntegerLookup(idf_weights=[1.0]), errors.InvalidArgumentError, "IntegerLookup: idf_weights"),
    (
        lambda: nn.IntegerLookup(vocabulary=[1, 2, 1]),
        errors.InvalidArgumentError,
        "IntegerLookup: vocabulary repeats",
    ),
    (lambda: nn.IntegerLookup(vocabulary=[1, 0], mask_token=0), errors.InvalidArgumentError, "mask_token"),
    (lambda: nn.IntegerLookup(vocabulary=[1, 2, 3], max_tokens=3), errors.InvalidArgumentError, "max_tokens"),
    (lambda: nn.IntegerLookup(vocabulary=["a"]), errors.DTypeError, "IntegerLookup: tokens"),
    (lambda: nn.IntegerLookup(vocabulary=[1]).adapt(TOKENS), errors.InvalidArgumentError, "cannot adapt"),
    (lambda: nn.IntegerLookup(output_mode="count")(QUERY), errors.NotBuiltError, "needs a vocabulary"),
    (lambda: nn.IntegerLookup(vocabulary=[1])(np.ones(2)), errors.DTypeError, "IntegerLookup needs integer"),
    (
        lambda: nn.StringLookup(num_oov_indices=2),
        errors.InvalidArgumentError,
        "StringLookup: num_oov_indices",
    ),
    (lambda: nn.StringLookup(vocabulary="vocab.txt"), errors.ArgumentTypeError, "StringLookup: vocabulary"),
    (lambda: nn.StringLookup(mask_token=3), errors.ArgumentTypeError, "StringLookup: mask_token"),
    (lambda: nn.StringLookup(salt=3), errors.InvalidArgumentError, "StringLookup: salt"),
]


@pytest.mark.parametrize("index", range(len(BAD_ARGUMENTS)))
def test_bad_arguments_raise_bridge_errors(backend, index):
    """Each bad argument is a BridgeError (and the matching builtin) naming class and argument."""
    make, error, message = BAD_ARGUMENTS[index]
    with pytest.raises(error, match=message) as raised:
        make()
    assert isinstance(raised.value, errors.BridgeError)
