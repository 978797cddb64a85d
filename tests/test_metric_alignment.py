"""Metrics and losses align labels, predictions and sample weights as Keras 3 does (checked
against Keras itself on both its backends), and sparse ones reject class ids out of range."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import bridge as br
from bridge import losses, metrics, nn, optim

from .keras_reference import KerasReference

RNG = np.random.default_rng(8)
KERAS_BACKENDS = ("torch", "tensorflow")


@pytest.fixture(scope="module")
def keras():
    """Ask Keras on both its backends; they must agree with each other."""
    servers = [KerasReference(name) for name in KERAS_BACKENDS]

    def ask(**request):
        answers = [server.ask(**request) for server in servers]
        if request["op"] == "history_keys":
            assert answers[1] == answers[0]
            return answers[0]
        answers = [np.asarray(answer, dtype=np.float64) for answer in answers]
        np.testing.assert_allclose(answers[1], answers[0], rtol=1e-5, atol=1e-6)
        return answers[0]

    return ask


def _metric(cls, updates, **kwargs):
    metric = cls(**kwargs)
    for y_true, y_pred, weight in updates:
        if y_pred is None:  # Mean: values only
            metric.update_state(br.tensor(np.asarray(y_true, np.float32)), sample_weight=weight)
        else:
            metric.update_state(y_true, br.tensor(y_pred), sample_weight=weight)
    return metric.result().numpy()


def _check_metric(keras, name, updates, rtol=1e-5, **kwargs):
    expected = keras(op="metric", name=name, kwargs=kwargs, updates=updates)
    got = _metric(getattr(metrics, name), updates, **kwargs)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=1e-6)


# --- (N,) labels against (N, 1) predictions: the Dense(1) setup -------------------------------
LABELS_01 = np.array([0.0, 1.0, 1.0, 0.0], np.float32)
DENSE_1 = np.array([[0.1], [0.9], [0.8], [0.2]], np.float32)


@pytest.mark.needs("keras", "torch", "tensorflow")
@pytest.mark.slow
@pytest.mark.bridge_requires("variables")
@pytest.mark.parametrize("name", ["BinaryAccuracy", "MeanAbsoluteError", "MeanSquaredError", "Accuracy"])
@pytest.mark.parametrize("labels_first", [True, False], ids=["(N,)-vs-(N,1)", "(N,1)-vs-(N,)"])
def test_rank_one_labels_against_a_trailing_one(keras, backend, name, labels_first):
    y_true, y_pred = (LABELS_01, DENSE_1) if labels_first else (LABELS_01[:, None], DENSE_1[:, 0])
    if name == "Accuracy":
        y_pred = np.round(y_pred)
    _check_metric(keras, name, [(y_true, y_pred, None)])


@pytest.mark.bridge_requires("variables")
def test_binary_accuracy_and_mae_of_the_issue(backend):
    assert float(_metric(metrics.BinaryAccuracy, [(LABELS_01, DENSE_1, None)])) == 1.0
    half = np.full((4, 1), 0.5, np.float32)
    assert float(_metric(metrics.MeanAbsoluteError, [(LABELS_01, half, None)])) == pytest.approx(0.5)


@st.composite
def aligned_cases(draw, elementwise=False):
    """Labels and predictions whose ranks differ by a trailing 1 (or not), and a weight per
    sample, per value (per element where the values are ``elementwise``), or none."""
    n = draw(st.integers(1, 5))
    inner = draw(st.lists(st.integers(1, 3), max_size=2).map(tuple))
    shape = (n, *inner)
    y_true = draw(st.sampled_from(["same", "extra_1", "less_1"]))
    true_shape = shape + (1,) if y_true == "extra_1" else shape
    pred_shape = shape + (1,) if y_true == "less_1" else shape
    weight = draw(st.sampled_from(["none", "per_sample", "per_sample_column", "per_value"]))
    if len(true_shape) == len(pred_shape) == 1:
        weight = "none"  # one value per batch (the mean over the last axis): Keras takes no weight
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    labels = (rng.random(true_shape) > 0.5).astype(np.float32)
    predictions = rng.random(pred_shape).astype(np.float32)
    weights = {
        "none": None,
        "per_sample": rng.random(n).astype(np.float32),
        "per_sample_column": rng.random((n, 1)).astype(np.float32),
        "per_value": rng.random(pred_shape if elementwise else shape[:-1] or (n,)).astype(np.float32),
    }[weight]
    return labels, predictions, weights


@pytest.mark.needs("keras", "torch", "tensorflow")
@pytest.mark.slow
@pytest.mark.bridge_requires("variables")
@pytest.mark.parametrize("name", ["MeanAbsoluteError", "MeanSquaredError"])
@given(case=aligned_cases())
def test_metrics_align_like_keras_over_shapes(keras, backend, name, case):
    _check_metric(keras, name, [case])


@pytest.mark.needs("keras", "torch", "tensorflow")
@pytest.mark.slow
@pytest.mark.bridge_requires("variables")
@given(case=aligned_cases(elementwise=True))
def test_binary_accuracy_aligns_like_keras_over_shapes(keras, backend, case):
    _check_metric(keras, "BinaryAccuracy", [case])


@pytest.mark.needs("keras", "torch", "tensorflow")
@pytest.mark.slow
@pytest.mark.parametrize("name", ["MeanSquaredError", "MeanAbsoluteError", "BinaryCrossentropy", "Huber"])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "none"])
@given(case=aligned_cases())
def test_losses_align_like_keras_over_shapes(keras, backend, name, reduction, case):
    y_true, y_pred, weight = case
    y_pred = np.clip(y_pred, 0.05, 0.95)
    if weight is not None:
        per_sample = keras(op="loss", name=name, kwargs={"reduction": "none"}, args=[y_true, y_pred, None])
        if _keras_broadcasts_from_the_last_axis(per_sample.shape, weight.shape):
            weight = None  # Keras broadcasts such a weight from the last axis: see the test below
    expected = keras(op="loss", name=name, kwargs={"reduction": reduction}, args=[y_true, y_pred, weight])
    got = getattr(losses, name)(reduction=reduction)(y_true, br.tensor(y_pred), sample_weight=weight)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)


def _keras_broadcasts_from_the_last_axis(values: tuple, weight: tuple) -> bool:
    """Whether the weight stays of lower rank than the values after Keras'
    squeeze_or_expand_to_same_rank(values, weight), so that Keras broadcasts it from the last axis."""
    v, w = len(values), len(weight)
    if v == w + 1 and values[-1] == 1:
        return False
    if w == v + 1 and weight[-1] == 1:
        return False
    return w < v


def test_a_weight_per_sample_weighs_every_value_of_the_sample(backend):
    """Aligned from the first axis (NumPy float64 reference): Keras broadcasts it from the last."""
    y_true, y_pred = RNG.random((3, 3, 2)), RNG.random((3, 3, 2))
    weight = np.array([1.0, 0.0, 2.0])
    per_value = ((y_pred - y_true) ** 2).mean(-1) * weight[:, None]
    got = losses.MeanSquaredError()(y_true, br.tensor(y_pred.astype(np.float32)), sample_weight=weight)
    np.testing.assert_allclose(float(got), per_value.mean(), rtol=1e-5)
    with pytest.raises(br.ShapeError, match=r"sample_weight of shape \(2,\) does not fit values"):
        losses.MeanSquaredError()(y_true, br.tensor(y_pred.astype(np.float32)), sample_weight=[1.0, 2.0])


# --- sample weights and Mean -------------------------------------------------------------------
@pytest.mark.needs("keras", "torch", "tensorflow")
@pytest.mark.slow
@pytest.mark.bridge_requires("variables")
def test_sample_weights_align_from_the_first_axis(keras, backend):
    updates = [([[1], [2], [3], [4]], [[0], [2], [3], [4]], [1, 1, 0, 0])]
    _check_metric(keras, "Accuracy", updates)
    assert float(_metric(metrics.Accuracy, updates)) == 0.5
    labels, predictions = RNG.integers(0, 2, (4, 3)), RNG.integers(0, 2, (4, 3))
    _check_metric(keras, "Accuracy", [(labels, predictions, [0.5, 1.0, 0.0, 2.0])])


@pytest.mark.needs("keras", "torch", "tensorflow")
@pytest.mark.slow
@pytest.mark.bridge_requires("variables")
def test_mean_with_negative_weights_guards_only_division_by_zero(keras, backend):
    _check_metric(keras, "Mean", [([1, 3, 5, 7], None, [-1, -1, 0, 0])])
    mean = metrics.Mean()
    mean.update_state(br.tensor([1.0, 3.0, 5.0, 7.0]), sample_weight=[-1, -1, 0, 0])
    assert float(mean.result()) == 2.0
    mean.reset_state()
    mean.update_state(br.tensor([1.0, 3.0]), sample_weight=[1, -1])  # no weight in all: 0, as Keras
    assert float(mean.result()) == 0.0


# --- Precision / Recall with a list of thresholds ------------------------------------------------
@pytest.mark.needs("keras", "torch", "tensorflow")
@pytest.mark.slow
@pytest.mark.bridge_requires("variables")
@pytest.mark.parametrize("name", ["Precision", "Recall"])
@pytest.mark.parametrize("thresholds", [0.5, [0.3], [0.3, 0.5, 0.7], (0.0, 0.45, 1.0)], ids=str)
def test_precision_recall_give_one_value_per_threshold(keras, backend, name, thresholds):
    labels = (RNG.random(12) > 0.5).astype(np.float32)
    scores = RNG.random(12).astype(np.float32)
    updates = [(labels[:6], scores[:6, None], None), (labels[6:], scores[6:], RNG.random(6))]
    _check_metric(keras, name, updates, thresholds=list(thresholds) if thresholds != 0.5 else 0.5)


def test_bad_thresholds_are_refused():
    for thresholds in ([], [0.2, 1.5], "high"):
        with pytest.raises(br.InvalidArgumentError, match="Precision 'precision': thresholds must be"):
            metrics.Precision(thresholds=thresholds)
    with pytest.raises(br.InvalidArgumentError, match="Recall 'r': thresholds must be"):
        metrics.Recall(thresholds=-0.5, name="r")


# --- every metric error names the metric: its class and name ------------------------------------
@pytest.mark.bridge_requires("variables")
@pytest.mark.parametrize(
    "metric, y_true, y_pred, error, message",
    [
        (
            metrics.Precision(),
            np.ones((4, 2)),
            np.ones((4, 3)),
            br.ShapeError,
            r"Precision 'precision': y_true of shape \(4, 2\) does not fit y_pred of shape \(4, 3\)",
        ),
        (
            metrics.Accuracy(name="acc"),
            np.ones((4, 2)),
            np.ones((4, 3)),
            br.ShapeError,
            r"Accuracy 'acc': .*\(4, 2\).*\(4, 3\)",
        ),
        (
            metrics.MeanSquaredError(),
            np.ones((2, 5)),
            np.ones((3, 5)),
            br.ShapeError,
            r"MeanSquaredError 'mean_squared_error': shapes \(3, 5\) and \(2, 5\) do not broadcast",
        ),
        (
            metrics.SparseCategoricalAccuracy(),
            np.array([0, 5, 1, 1]),
            RNG.random((4, 3)),
            br.InvalidArgumentError,
            "SparseCategoricalAccuracy 'sparse_categorical_accuracy': label 5 is out of range for 3",
        ),
        (
            metrics.CategoricalAccuracy(),
            np.ones(4),
            np.float32(0.5),
            br.AxisError,
            "CategoricalAccuracy 'categorical_accuracy': axis -1 is out of bounds for a tensor of rank 0",
        ),
        (
            metrics.Recall(),
            np.ones(4),
            ["a", "b", "c", "d"],
            br.BridgeError,
            "Recall 'recall': ",
        ),
    ],
    ids=["precision-shapes", "accuracy-shapes", "mse-shapes", "sparse-labels", "scalar", "strings"],
)
def test_every_metric_error_names_the_metric(backend, metric, y_true, y_pred, error, message):
    with pytest.raises(error, match=message):
        metric.update_state(y_true, y_pred)


@pytest.mark.bridge_requires("variables")
def test_errors_of_a_metric_of_ones_own_name_it(backend):
    class Peak(metrics.Metric):
        _state_names = ("peak",)

        def update_state(self, values):
            self._variables(values)["peak"].assign(br.ops.max(values))

        def result(self):
            return self._state["peak"]

    with pytest.raises(br.BridgeError, match="Peak 'top': "):
        Peak(name="top").update_state(br.tensor(np.ones((0, 3), np.float32)))
    with pytest.raises(br.ShapeError, match=r"Mean 'loss': sample_weight of shape \(3,\) does not fit"):
        metrics.Mean(name="loss").update_state(np.ones(2), sample_weight=np.ones(3))


# --- History keys ------------------------------------------------------------------------------
@pytest.mark.bridge_requires("autodiff", "variables")
@pytest.mark.parametrize(
    "loss, chosen",
    [("mse", ["mae", "acc", "mse"]), ("binary_crossentropy", ["accuracy", "mean_absolute_error"])],
)
@pytest.mark.needs("keras", "torch", "tensorflow")
@pytest.mark.slow
def test_history_keys_are_the_names_given(keras, backend, loss, chosen):
    expected = keras(op="history_keys", units=1, loss=loss, metrics=chosen)
    model = nn.Sequential([nn.Dense(1)])
    model.compile(optim.SGD(0.1), loss, metrics=chosen)
    history = model.fit(np.zeros((4, 2), np.float32), np.zeros(4, np.float32), verbose=0)
    assert sorted(history.history) == expected


# --- class ids out of range ---------------------------------------------------------------------
SCORES = RNG.standard_normal((4, 3)).astype(np.float32)


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("bad", [3, -1, 7])
def test_sparse_cross_entropy_rejects_labels_out_of_range(backend, from_logits, bad):
    loss = losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    labels = np.array([0, 2, bad, 1])
    with pytest.raises(
        br.InvalidArgumentError,
        match=rf"sparse_categorical_crossentropy: label {bad} is out of range for 3 classes",
    ):
        loss(labels, br.tensor(SCORES if from_logits else np.abs(SCORES)))
    with pytest.raises(ValueError, match=f"label {bad} is out of range"):
        loss(br.tensor(labels[:, None]), br.tensor(SCORES))


@pytest.mark.bridge_requires("variables")
def test_sparse_accuracy_rejects_labels_out_of_range(backend):
    metric = metrics.SparseCategoricalAccuracy()
    with pytest.raises(
        br.InvalidArgumentError,
        match="SparseCategoricalAccuracy 'sparse_categorical_accuracy': label 3 is out of range for 3",
    ):
        metric.update_state(np.array([0, 3, 1, 1]), br.tensor(SCORES))
    metric.update_state(np.array([0, 2, 1, 1]), br.tensor(SCORES))
    expected = (np.array([0, 2, 1, 1]) == SCORES.argmax(-1)).mean()
    assert float(metric.result()) == pytest.approx(expected)


@pytest.mark.bridge_requires("jit")
def test_labels_in_range_pass_under_jit(backend):
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    compiled = br.jit(lambda t, p: loss(t, p))
    labels = np.array([0, 2, 1, 1])
    expected = -(SCORES - np.log(np.exp(SCORES).sum(-1, keepdims=True)))[np.arange(4), labels].mean()
    np.testing.assert_allclose(float(compiled(br.tensor(labels), br.tensor(SCORES))), expected, rtol=1e-5)


def _classifier(jit):
    model = nn.Sequential([nn.Dense(3)])
    model.compile(
        optim.SGD(0.1), losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"], jit=jit
    )
    return model


@pytest.mark.bridge_requires("autodiff", "variables")
@pytest.mark.parametrize("jit", ["auto", True, False])
@pytest.mark.slow
def test_fit_rejects_labels_out_of_range_before_any_step(backend, jit):
    x = RNG.standard_normal((40, 4)).astype(np.float32)
    y = RNG.integers(0, 3, 40)
    bad = y.copy()
    bad[33] = 5
    model = _classifier(jit)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # builds, and compiles the steps where asked
    before = model.get_weights()
    message = "sparse_categorical_crossentropy: label 5 is out of range for 3 classes"
    with pytest.raises(br.InvalidArgumentError, match=message):
        model.fit(x, bad, batch_size=8, verbose=0)
    with pytest.raises(br.InvalidArgumentError, match=message):
        model.fit(x, br.tensor(bad), batch_size=8, verbose=0)
    with pytest.raises(br.InvalidArgumentError, match=message):
        model.fit(x, y, batch_size=8, validation_data=(x, bad), verbose=0)
    with pytest.raises(br.InvalidArgumentError, match=message):
        model.evaluate(x, bad, batch_size=8)
    with pytest.raises(br.InvalidArgumentError, match="label -6 is out of range for 3 classes"):
        _classifier(jit).fit(x, bad - 6, batch_size=8, verbose=0)  # a model never run
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.bridge_requires("autodiff", "variables")
def test_fit_on_arrays_checks_labels_once_not_per_step(backend, monkeypatch):
    """With arrays the labels' range is read once; only batches from a pipeline are looked at."""
    looked = []
    look = losses._look_at_labels
    monkeypatch.setattr(losses, "_look_at_labels", lambda *args: looked.append(1) or look(*args))
    x = RNG.standard_normal((40, 4)).astype(np.float32)
    y = RNG.integers(0, 3, 40)
    model = _classifier(False)
    model.fit(x, y, batch_size=8, epochs=2, validation_data=(x, y), verbose=0)
    model.evaluate(x, y, batch_size=8)
    assert looked == []
    batches = [(x[i : i + 8], y[i : i + 8]) for i in range(0, 40, 8)]
    model.fit(batches, epochs=1, verbose=0)
    assert looked  # no range known up front: each batch is looked at
    bad = [(x[:8], np.full(8, 4))]
    with pytest.raises(br.InvalidArgumentError, match="label 4 is out of range for 3 classes"):
        model.fit(bad, epochs=1, verbose=0)
