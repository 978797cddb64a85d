"""Losses and metrics against NumPy float64 references, across backends."""

from __future__ import annotations

import numpy as np
import pytest

import bridge as br
from bridge import losses, metrics
from bridge.testing import assert_parity
from bridge.testing.references import log_softmax, sigmoid

RNG = np.random.default_rng(5)


Y_REG = RNG.standard_normal((6, 3)).astype(np.float32)
P_REG = RNG.standard_normal((6, 3)).astype(np.float32)
Y_BIN = (RNG.random((6, 3)) > 0.5).astype(np.float32)
LOGITS = (RNG.standard_normal((6, 3)) * 3).astype(np.float32)
LABELS = RNG.integers(0, 3, 6)
ONE_HOT = np.eye(3, dtype=np.float32)[LABELS]
PROBS = np.exp(log_softmax(LOGITS.astype(np.float64))).astype(np.float32)


def _huber(t, p, delta=1.0):
    e = np.abs(p - t)
    return np.where(e <= delta, 0.5 * e**2, delta * (e - 0.5 * delta)).mean(-1)


CASES = {
    "mse": (losses.MeanSquaredError, {}, Y_REG, P_REG, lambda t, p: ((p - t) ** 2).mean(-1)),
    "mae": (losses.MeanAbsoluteError, {}, Y_REG, P_REG, lambda t, p: np.abs(p - t).mean(-1)),
    "huber": (losses.Huber, {"delta": 0.7}, Y_REG, P_REG, lambda t, p: _huber(t, p, 0.7)),
    "bce_logits": (
        losses.BinaryCrossentropy,
        {"from_logits": True},
        Y_BIN,
        LOGITS,
        lambda t, p: -(t * np.log(sigmoid(p)) + (1 - t) * np.log(1 - sigmoid(p))).mean(-1),
    ),
    "bce_probs": (
        losses.BinaryCrossentropy,
        {"label_smoothing": 0.1},
        Y_BIN,
        sigmoid(LOGITS),
        lambda t, p: -((t * 0.9 + 0.05) * np.log(p) + (1 - (t * 0.9 + 0.05)) * np.log(1 - p)).mean(-1),
    ),
    "cce_logits": (
        losses.CategoricalCrossentropy,
        {"from_logits": True, "label_smoothing": 0.2},
        ONE_HOT,
        LOGITS,
        lambda t, p: -((t * 0.8 + 0.2 / 3) * log_softmax(p)).sum(-1),
    ),
    "cce_probs": (losses.CategoricalCrossentropy, {}, ONE_HOT, PROBS, lambda t, p: -(t * np.log(p)).sum(-1)),
    "scce_logits": (
        losses.SparseCategoricalCrossentropy,
        {"from_logits": True},
        LABELS,
        LOGITS,
        lambda t, p: -log_softmax(p)[np.arange(len(t)), t],
    ),
    "scce_probs": (
        losses.SparseCategoricalCrossentropy,
        {},
        LABELS,
        PROBS,
        lambda t, p: -np.log(p[np.arange(len(t)), t]),
    ),
}
WEIGHTS = RNG.random(6).astype(np.float32)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", None])
def test_losses_match_numpy(name, reduction):
    cls, kwargs, y_true, y_pred, per_sample = CASES[name]
    loss = cls(reduction=reduction, **kwargs)

    def reduce(values):
        return values if reduction is None else values.sum() if reduction == "sum" else values.mean()

    assert_parity(
        lambda t, p: loss(t, p),
        y_true,
        y_pred,
        reference=lambda t, p: reduce(per_sample(t, p)),
        rtol=1e-5,
        atol=1e-6,
    )
    assert_parity(
        lambda t, p, w: loss(t, p, sample_weight=w),
        y_true,
        y_pred,
        WEIGHTS,
        reference=lambda t, p, w: reduce(per_sample(t, p) * w),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_loss_gradients_agree_across_backends(name):
    cls, kwargs, y_true, y_pred, _ = CASES[name]
    loss = cls(**kwargs)
    assert_parity(
        lambda t, p: br.grad(lambda q: loss(t, q))(p),
        y_true,
        y_pred,
        rtol=1e-5,
        atol=1e-7,
        requires=("autodiff",),
    )


@pytest.mark.bridge_requires("autodiff")
@pytest.mark.parametrize(
    "loss",
    [
        losses.BinaryCrossentropy(from_logits=True),
        losses.CategoricalCrossentropy(from_logits=True),
        losses.SparseCategoricalCrossentropy(from_logits=True),
    ],
    ids=type,
)
def test_cross_entropy_from_extreme_logits_is_finite(loss, backend):
    logits = br.tensor([[100.0, -100.0, 0.0], [-100.0, 100.0, 100.0]])
    y = (
        br.tensor([1, 0])
        if isinstance(loss, losses.SparseCategoricalCrossentropy)
        else br.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    )
    value, grad = br.value_and_grad(lambda z: loss(y, z))(logits)
    assert np.isfinite(value.numpy()) and np.isfinite(grad.numpy()).all()
    assert float(value) > 50  # confidently wrong costs a lot


def test_loss_names_and_errors(backend):
    assert isinstance(losses.get("mse"), losses.MeanSquaredError)
    assert isinstance(losses.get("sparse_categorical_crossentropy"), losses.SparseCategoricalCrossentropy)
    with pytest.raises(br.InvalidArgumentError, match="unknown loss 'msee'; known: .*mse"):
        losses.get("msee")
    with pytest.raises(
        br.ShapeError, match=r"y_true of shape \(6, 2\) does not fit y_pred of shape \(6, 3\)"
    ):
        losses.MeanSquaredError()(np.zeros((6, 2), np.float32), br.tensor(P_REG))
    with pytest.raises(br.ShapeError, match=r"class ids of shape \(5,\) do not fit scores of shape \(6, 3\)"):
        losses.SparseCategoricalCrossentropy()(np.zeros(5, np.int64), br.tensor(PROBS))
    with pytest.raises(br.InvalidArgumentError, match="unknown reduction"):
        losses.MeanSquaredError(reduction="average")


# --- metrics -------------------------------------------------------------------------------
def _top_k(t, p, k):
    target = p[np.arange(len(p)), t.argmax(-1)]
    return ((p > target[:, None]).sum(-1) < k).astype(float)


METRICS = {
    "accuracy": (
        metrics.Accuracy,
        {},
        lambda: (LABELS, (LABELS + (RNG.random(6) > 0.5)) % 3),
        lambda t, p: (t == p).astype(float),
    ),
    "binary_accuracy": (
        metrics.BinaryAccuracy,
        {"threshold": 0.3},
        lambda: (Y_BIN, sigmoid(LOGITS)),
        lambda t, p: ((p > 0.3) == t).mean(-1),
    ),
    "categorical_accuracy": (
        metrics.CategoricalAccuracy,
        {},
        lambda: (ONE_HOT, PROBS),
        lambda t, p: (t.argmax(-1) == p.argmax(-1)).astype(float),
    ),
    "sparse_categorical_accuracy": (
        metrics.SparseCategoricalAccuracy,
        {},
        lambda: (LABELS, LOGITS),
        lambda t, p: (t == p.argmax(-1)).astype(float),
    ),
    "top_k": (
        metrics.TopKCategoricalAccuracy,
        {"k": 2},
        lambda: (ONE_HOT, np.round(PROBS, 1)),
        lambda t, p: _top_k(t, p, 2),
    ),
    "mse": (metrics.MeanSquaredError, {}, lambda: (Y_REG, P_REG), lambda t, p: ((p - t) ** 2).mean(-1)),
    "mae": (metrics.MeanAbsoluteError, {}, lambda: (Y_REG, P_REG), lambda t, p: np.abs(p - t).mean(-1)),
}


@pytest.mark.parametrize("name", sorted(METRICS))
def test_metrics_accumulate_like_numpy(name):
    cls, kwargs, data, per_sample = METRICS[name]
    y_true, y_pred = data()
    half = len(y_true) // 2

    def run(t, p, w):
        metric = cls(**kwargs)
        metric.update_state(t[:half], p[:half])
        metric.update_state(t[half:], p[half:], sample_weight=w[half:])
        first = metric.result()
        metric.reset_state()
        metric.update_state(t, p)
        return first, metric.result()

    values = per_sample(y_true.astype(np.float64), y_pred.astype(np.float64))
    weights = np.concatenate([np.ones(half), WEIGHTS[half:]])
    assert_parity(
        run,
        y_true,
        y_pred,
        WEIGHTS,
        reference=lambda t, p, w: ((values * weights).sum() / weights.sum(), values.mean()),
        rtol=1e-6,
    )


@pytest.mark.parametrize(
    "cls, reference",
    [
        (metrics.Precision, lambda tp, fp, fn: tp / (tp + fp)),
        (metrics.Recall, lambda tp, fp, fn: tp / (tp + fn)),
    ],
)
def test_precision_and_recall(cls, reference):
    y_true = (RNG.random(40) > 0.4).astype(np.float32)
    y_pred = RNG.random(40).astype(np.float32)

    def run(t, p):
        metric = cls(thresholds=0.6)
        metric.update_state(t[:20], p[:20])
        metric.update_state(t[20:], p[20:])
        return metric.result()

    predicted, actual = y_pred > 0.6, y_true > 0.5
    counts = ((predicted & actual).sum(), (predicted & ~actual).sum(), (~predicted & actual).sum())
    assert_parity(run, y_true, y_pred, reference=lambda t, p: reference(*counts), rtol=1e-6)


def test_mean_metric_and_empty_results(backend):
    mean = metrics.Mean()
    assert float(mean.result()) == 0.0
    mean.update_state(br.tensor([1.0, 2.0, 3.0]))
    mean.update_state(br.tensor(10.0), sample_weight=br.tensor(2.0))
    assert float(mean.result()) == pytest.approx(26.0 / 5.0)
    assert float(metrics.Precision().result()) == 0.0
    assert isinstance(metrics.get("accuracy"), metrics.Accuracy)
    with pytest.raises(br.InvalidArgumentError, match="unknown metric"):
        metrics.get("acuracy")


@pytest.mark.bridge_requires("autodiff")
def test_fast_sparse_cross_entropy_equals_the_composite(backend):
    from bridge.losses import sparse_cross_entropy_composite

    logits = br.tensor(RNG.standard_normal((4, 3, 5)).astype(np.float32) * 20)
    labels = br.tensor(RNG.integers(0, 5, (4, 3)))
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    fast, fast_grad = br.value_and_grad(lambda z: br.ops.sum(loss(labels, z)))(logits)
    slow, slow_grad = br.value_and_grad(
        lambda z: br.ops.sum(sparse_cross_entropy_composite(z, labels, True))
    )(logits)
    np.testing.assert_allclose(fast.numpy(), slow.numpy(), rtol=1e-5)
    np.testing.assert_allclose(fast_grad.numpy(), slow_grad.numpy(), rtol=1e-5, atol=1e-7)
    assert loss(labels, logits).shape == (4, 3)


# --- one registry behind get / serialize / deserialize -------------------------------------------
REGISTERED = [
    (br.activations, br.activations.gelu, "gelu"),
    (br.initializers, br.initializers.HeNormal(seed=3), {"class_name": "HeNormal", "config": {"seed": 3}}),
    (
        br.regularizers,
        br.regularizers.L1L2(0.1, 0.2),
        {"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.2}},
    ),
    (
        br.losses,
        losses.Huber(delta=2.0, name="h"),
        {"class_name": "Huber", "config": {"reduction": "sum_over_batch_size", "name": "h", "delta": 2.0}},
    ),
    (
        br.metrics,
        metrics.Precision(thresholds=[0.3, 0.6]),
        {"class_name": "Precision", "config": {"name": "precision", "thresholds": [0.3, 0.6]}},
    ),
    (
        br.metrics,
        metrics.TopKCategoricalAccuracy(k=2),
        {"class_name": "TopKCategoricalAccuracy", "config": {"name": "top_k_categorical_accuracy", "k": 2}},
    ),
]


@pytest.mark.parametrize("module, thing, config", REGISTERED, ids=lambda x: getattr(x, "__name__", None))
def test_every_kind_serializes_and_comes_back(module, thing, config):
    assert module.serialize(thing) == config
    again = module.deserialize(config)
    assert module.serialize(again) == config and module.serialize(module.get(config)) == config
    assert type(again) is type(thing)


def test_a_custom_object_is_found_through_custom_objects():
    class Doubled(losses.MeanSquaredError):
        def call(self, y_true, y_pred):
            return super().call(y_true, y_pred) * 2.0

    config = losses.serialize(Doubled(name="d"))
    with pytest.raises(br.InvalidArgumentError, match="unknown loss 'Doubled'"):
        losses.deserialize(config)
    assert isinstance(losses.deserialize(config, custom_objects={"Doubled": Doubled}), Doubled)
    with pytest.raises(br.ArgumentTypeError, match="loss: expected a name, a config or a callable, got 3"):
        losses.get(3)
    with pytest.raises(br.InvalidArgumentError, match="a metric config is"):
        metrics.deserialize({"config": {}})


@pytest.fixture(scope="module")
def keras_names():
    from .keras_reference import keras_json

    program = """
import json, keras
from keras.src.utils.naming import to_snake_case
def lowercase(module):
    return sorted(n for n in dir(module) if n.islower() and n not in ("get", "serialize", "deserialize"))

names = ["MeanSquaredError", "Conv2DTranspose", "AdamW", "RMSprop", "ReLU", "TopKCategoricalAccuracy",
         "GlobalAveragePooling2D", "L1L2", "HTTPServer2"]
print(json.dumps({
    "snake": {name: to_snake_case(name) for name in names},
    "initializers": lowercase(keras.initializers),
    "regularizers": lowercase(keras.regularizers),
    "l2": keras.regularizers.serialize(keras.regularizers.l2(0.01)),
    "l1_l2": keras.regularizers.l1_l2(l1=0.5).get_config(),
}))
"""
    return keras_json(program)


@pytest.mark.needs("keras", "tensorflow")
@pytest.mark.slow
def test_snake_case_is_keras(keras_names):
    from bridge._registry import snake_case

    assert {name: snake_case(name) for name in keras_names["snake"]} == keras_names["snake"]


@pytest.mark.needs("keras", "tensorflow")
@pytest.mark.slow
def test_lowercase_aliases_are_those_of_keras(keras_names):
    for module, names in (
        (br.initializers, keras_names["initializers"]),
        (br.regularizers, keras_names["regularizers"]),
    ):
        for name in names:
            counterpart = getattr(module, "".join(part.capitalize() for part in name.split("_")), None)
            if counterpart is not None:  # bridge has the thing: it has Keras' lowercase name for it
                assert getattr(module, name) is counterpart, name
    l2 = br.regularizers.l2(0.01)
    theirs = keras_names["l2"]
    assert br.regularizers.serialize(l2) == {"class_name": theirs["class_name"], "config": theirs["config"]}
    assert br.regularizers.l1_l2(l1=0.5).get_config() == keras_names["l1_l2"]
    assert br.initializers.get("he_normal").get_config() == br.initializers.he_normal().get_config()


def test_layers_serialize_their_parts_through_the_same_registries():
    from bridge import serialization

    layer = br.nn.Dense(
        2, activation="gelu", kernel_initializer="he_normal", kernel_regularizer=br.regularizers.l2(0.5)
    )
    config = serialization.serialize(layer)
    assert config["class_name"] == "Dense" and config["config"]["activation"] == "gelu"
    assert config["config"]["kernel_initializer"] == {"class_name": "HeNormal", "config": {"seed": None}}
    assert config["config"]["kernel_regularizer"] == {"class_name": "L2", "config": {"l2": 0.5}}
    clone = serialization.deserialize(config)
    assert serialization.serialize(clone) == config and clone.name == layer.name
