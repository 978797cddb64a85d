"""The Keras 3 metrics bridge adds (issue 14 item 2, all but the confusion-matrix family) against
Keras itself on both its backends: several weighted ``update_state`` calls per metric, then the
result; ``dtype=``, ``__call__``, config round trips, names ``metrics.get`` takes, use in a
compiled ``fit``, bad arguments."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import bridge as br
from bridge import metrics, nn, optim

from .keras_reference import KerasReference, keras_json

RNG = np.random.default_rng(142)
KERAS_BACKENDS = ("tensorflow", "torch")
RTOL = ATOL = 1e-6  # Keras' own assertAllClose defaults, float32
BATCHES = 3


def _f32(x: Any) -> np.ndarray:
    return np.asarray(x, np.float32)


def _batches(make: Any) -> list[list[Any]]:
    """``BATCHES`` updates ``[y_true, y_pred, sample_weight]`` from ``make()``."""
    return [list(make()) for _ in range(BATCHES)]


def _weight(n: int = 4) -> np.ndarray:
    return _f32(RNG.choice([0.0, 0.5, 1.0, 2.0], n))


def _normal(shape: tuple[int, ...] = (4, 3)) -> np.ndarray:
    return _f32(RNG.standard_normal(shape))


def _positive(shape: tuple[int, ...] = (4, 3)) -> np.ndarray:
    return _f32(RNG.random(shape) + 0.1)


def _binary(shape: tuple[int, ...] = (4, 3)) -> np.ndarray:
    return _f32(RNG.random(shape) > 0.5)


def _probs(n: int = 4) -> np.ndarray:
    return _f32(RNG.dirichlet(np.ones(3), n))


def _one_hot(n: int = 4) -> np.ndarray:
    return _f32(np.eye(3)[RNG.integers(0, 3, n)])


def _ids(shape: tuple[int, ...] = (4,), high: int = 3) -> np.ndarray:
    return _f32(RNG.integers(0, high, shape))


def _int_weight(shape: tuple[int, ...]) -> np.ndarray:
    return _f32(RNG.integers(0, 3, shape))


def _sorted_ids(scores: np.ndarray) -> np.ndarray:
    return _f32(np.argsort(-scores, axis=-1, kind="stable"))


# id: (class name, kwargs, updates); the updates of Sum and Mean are [values, None, weight]
CASES: dict[str, tuple[str, dict[str, Any], list[list[Any]]]] = {
    "sparse_top_k": (
        "SparseTopKCategoricalAccuracy",
        {"k": 2},
        _batches(lambda: (_ids(), _normal(), _weight())),
    ),
    "sparse_top_k_1": (
        "SparseTopKCategoricalAccuracy",
        {"k": 1},
        _batches(lambda: (_ids()[:, None], _normal(), None)),
    ),
    "sparse_top_k_sorted": (
        "SparseTopKCategoricalAccuracy",
        {"k": 2, "from_sorted_ids": True},
        _batches(lambda: (_ids(), _sorted_ids(_normal()), _weight())),
    ),
    "rmse": ("RootMeanSquaredError", {}, _batches(lambda: (_normal(), _normal(), _weight()))),
    "mape": ("MeanAbsolutePercentageError", {}, _batches(lambda: (_normal(), _normal(), _weight()))),
    "msle": ("MeanSquaredLogarithmicError", {}, _batches(lambda: (_positive(), _normal(), _weight()))),
    "cosine": ("CosineSimilarity", {}, _batches(lambda: (_normal(), _normal(), _weight()))),
    "cosine_axis0": ("CosineSimilarity", {"axis": 0}, _batches(lambda: (_normal(), _normal(), _weight(3)))),
    "log_cosh": ("LogCoshError", {}, _batches(lambda: (_normal(), _normal() * 5, _weight()))),
    "pearson": ("PearsonCorrelation", {}, _batches(lambda: (_normal(), _normal(), _weight()))),
    "pearson_axis0": (
        "PearsonCorrelation",
        {"axis": 0},
        _batches(lambda: (_normal(), _normal(), _weight(3))),
    ),
    "concordance": ("ConcordanceCorrelation", {}, _batches(lambda: (_normal(), _normal(), _weight()))),
    "r2": ("R2Score", {}, _batches(lambda: (_normal(), _normal(), _weight()))),
    "r2_variance": (
        "R2Score",
        {"class_aggregation": "variance_weighted_average"},
        _batches(lambda: (_normal(), _normal(), _weight())),
    ),
    "r2_none": ("R2Score", {"class_aggregation": None}, _batches(lambda: (_normal(), _normal(), None))),
    "r2_adjusted": ("R2Score", {"num_regressors": 2}, _batches(lambda: (_normal(), _normal(), _weight()))),
    "r2_too_few": ("R2Score", {"num_regressors": 40}, _batches(lambda: (_normal(), _normal(), _weight()))),
    "sum": ("Sum", {}, _batches(lambda: (_normal(), None, _weight()))),
    "sum_unweighted": ("Sum", {}, _batches(lambda: (_normal(), None, None))),
    "f1": ("F1Score", {}, _batches(lambda: (_one_hot(), _probs(), _weight()))),
    "f1_micro": (
        "F1Score",
        {"average": "micro", "threshold": 0.5},
        _batches(lambda: (_binary(), _positive() - 0.1, _weight())),
    ),
    "f1_macro": (
        "F1Score",
        {"average": "macro", "threshold": 0.5},
        _batches(lambda: (_binary(), _positive() - 0.1, _weight())),
    ),
    "f1_weighted": ("F1Score", {"average": "weighted"}, _batches(lambda: (_one_hot(), _probs(), None))),
    "fbeta": (
        "FBetaScore",
        {"beta": 2.0, "average": "macro", "threshold": 0.4},
        _batches(lambda: (_binary(), _positive() - 0.1, _weight())),
    ),
    "mean_iou": (
        "MeanIoU",
        {"num_classes": 3},
        _batches(lambda: (_ids((4, 5)), _ids((4, 5)), _int_weight((4, 5)))),
    ),
    "mean_iou_out_of_range": (
        "MeanIoU",
        {"num_classes": 3},
        _batches(lambda: (_ids((4, 5), 4), _ids((4, 5), 4), None)),
    ),
    "mean_iou_ignore": (
        "MeanIoU",
        {"num_classes": 3, "ignore_class": 0, "dtype": "float32"},
        _batches(lambda: (_ids((4, 5)), _ids((4, 5)), _f32(RNG.random((4, 5))))),
    ),
    "mean_iou_scores": (
        "MeanIoU",
        {"num_classes": 3, "sparse_y_true": False, "sparse_y_pred": False},
        _batches(lambda: (_one_hot(6), _probs(6), _int_weight((6,)))),
    ),
    "iou": (
        "IoU",
        {"num_classes": 3, "target_class_ids": [0, 2]},
        _batches(lambda: (_ids((6,)), _ids((6,)), _int_weight((6,)))),
    ),
    "binary_iou": (
        "BinaryIoU",
        {"threshold": 0.3},
        _batches(lambda: (_binary((4, 5)), _f32(RNG.random((4, 5))), _int_weight((4, 5)))),
    ),
    "binary_iou_1": (
        "BinaryIoU",
        {"target_class_ids": [1]},
        _batches(lambda: (_binary(), _f32(RNG.random((4, 3))), None)),
    ),
    "one_hot_iou": (
        "OneHotIoU",
        {"num_classes": 3, "target_class_ids": [1]},
        _batches(lambda: (_one_hot(6), _probs(6), None)),
    ),
    "one_hot_mean_iou": (
        "OneHotMeanIoU",
        {"num_classes": 3},
        _batches(lambda: (_one_hot(6), _probs(6), _int_weight((6,)))),
    ),
    "bce": ("BinaryCrossentropy", {}, _batches(lambda: (_binary(), _f32(RNG.random((4, 3))), _weight()))),
    "bce_logits": (
        "BinaryCrossentropy",
        {"from_logits": True, "label_smoothing": 0.2},
        _batches(lambda: (_binary(), _normal() * 3, _weight())),
    ),
    "cce": (
        "CategoricalCrossentropy",
        {"label_smoothing": 0.1},
        _batches(lambda: (_one_hot(), _probs(), _weight())),
    ),
    "cce_logits_axis0": (
        "CategoricalCrossentropy",
        {"from_logits": True, "axis": 0},
        _batches(lambda: (_one_hot(), _normal(), _weight(3))),
    ),
    "scce": ("SparseCategoricalCrossentropy", {}, _batches(lambda: (_ids(), _probs(), _weight()))),
    "scce_ignore": (
        "SparseCategoricalCrossentropy",
        {"from_logits": True, "ignore_class": 1},
        _batches(lambda: (_ids(), _normal(), _weight())),
    ),
    # Keras: without a sample weight the ignored labels count, with a loss of 0
    "scce_ignore_unweighted": (
        "SparseCategoricalCrossentropy",
        {"ignore_class": 1},
        _batches(lambda: (_ids(), _probs(), None)),
    ),
    "kld": ("KLDivergence", {}, _batches(lambda: (_probs(), _probs(), _weight()))),
    "poisson": ("Poisson", {}, _batches(lambda: (_positive() * 3, _positive(), _weight()))),
    "hinge": ("Hinge", {}, _batches(lambda: (_binary(), _normal(), _weight()))),
    "squared_hinge": ("SquaredHinge", {}, _batches(lambda: (_binary() * 2 - 1, _normal(), _weight()))),
    "categorical_hinge": ("CategoricalHinge", {}, _batches(lambda: (_one_hot(), _normal(), _weight()))),
    # dtype: the state and the result in float64 (Keras' float64 metrics, from float32 inputs)
    "mse_float64": (
        "MeanSquaredError",
        {"dtype": "float64"},
        _batches(lambda: (_normal(), _normal(), _weight())),
    ),
    "accuracy_float64": (
        "SparseCategoricalAccuracy",
        {"dtype": "float64"},
        _batches(lambda: (_ids(), _normal(), _weight())),
    ),
    "rmse_float64": (
        "RootMeanSquaredError",
        {"dtype": "float64"},
        _batches(lambda: (_normal(), _normal(), _weight())),
    ),
    "sum_float64": ("Sum", {"dtype": "float64"}, _batches(lambda: (_normal(), None, _weight()))),
    "mean_float64": ("Mean", {"dtype": "float64"}, _batches(lambda: (_normal(), None, _weight()))),
    "f1_float64": (
        "F1Score",
        {"dtype": "float64", "average": "macro"},
        _batches(lambda: (_one_hot(), _probs(), _weight())),
    ),
    "bce_float64": (
        "BinaryCrossentropy",
        {"dtype": "float64"},
        _batches(lambda: (_binary(), _f32(RNG.random((4, 3))), _weight())),
    ),
    "mean_iou_float64": (
        "MeanIoU",
        {"num_classes": 3, "dtype": "float64"},
        _batches(lambda: (_ids((6,)), _ids((6,)), _weight(6))),
    ),
}


@pytest.fixture(scope="module")
def keras_values() -> dict[str, list[np.ndarray]]:
    """Keras' result for every case, one per Keras backend (both processes started at once)."""
    servers = [KerasReference(name) for name in KERAS_BACKENDS]
    return {
        case: [
            np.asarray(server.ask(op="metric", name=name, kwargs=kwargs, updates=updates))
            for server in servers
        ]
        for case, (name, kwargs, updates) in CASES.items()
    }


def _run(name: str, kwargs: dict[str, Any], updates: list[list[Any]]) -> metrics.Metric:
    metric = getattr(metrics, name)(**kwargs)
    for y_true, y_pred, weight in updates:
        given = [br.tensor(y_true)] + ([] if y_pred is None else [y_pred])
        metric.update_state(*given, sample_weight=weight)
    return metric


@pytest.mark.needs("keras", "tensorflow", "torch")
@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_metric_matches_keras(backend, keras_values, case):
    """Three weighted updates, then the result: Keras' on both backends, in the dtype asked."""
    name, kwargs, updates = CASES[case]
    got = _run(name, kwargs, updates).result()
    assert got.backend == backend
    dtype = kwargs.get("dtype", "float32")
    assert got.dtype == (br.float64 if dtype == "float64" else br.float32)
    for expected in keras_values[case]:
        assert got.shape == expected.shape
        np.testing.assert_allclose(got.numpy(), expected, rtol=RTOL, atol=ATOL)


def test_float64_sums_and_roots_in_float64(backend):
    """NumPy float64: Sum and RootMeanSquaredError with dtype float64 are exact to float64."""
    _, _, updates = CASES["sum_float64"]
    total = sum(values.astype(np.float64).sum(-1) @ w for values, _, w in updates)
    got = _run("Sum", {"dtype": "float64"}, updates).result()
    assert got.dtype == br.float64
    np.testing.assert_allclose(got.numpy(), total, rtol=1e-12)
    _, _, updates = CASES["rmse_float64"]
    errors = [((p.astype(np.float64) - t) ** 2).mean(-1) for t, p, _ in updates]
    weights = [w.astype(np.float64) for _, _, w in updates]
    expected = np.sqrt(sum(e @ w for e, w in zip(errors, weights)) / sum(w.sum() for w in weights))
    got = _run("RootMeanSquaredError", {"dtype": "float64"}, updates).result()
    assert got.dtype == br.float64
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


def test_call_updates_and_returns_the_result(backend):
    """``metric(y_true, y_pred)``: update_state, then result (Keras' ``Metric.__call__``)."""
    _, _, updates = CASES["rmse"]
    called, stepped = metrics.RootMeanSquaredError(), metrics.RootMeanSquaredError()
    for y_true, y_pred, weight in updates:
        stepped.update_state(y_true, br.tensor(y_pred), sample_weight=weight)
        np.testing.assert_array_equal(
            called(y_true, br.tensor(y_pred), sample_weight=weight).numpy(), stepped.result().numpy()
        )
    total = metrics.Sum()
    assert float(total([1.0, 2.0])) == 3.0 and float(total([4.0])) == 7.0
    total.reset_state()
    assert float(total.result()) == 0.0


CONFIGURED = [
    metrics.Sum(name="s", dtype="float64"),
    metrics.Mean(dtype="float64"),
    metrics.SparseTopKCategoricalAccuracy(k=3, from_sorted_ids=True),
    metrics.SparseTopKCategoricalAccuracy(k=1, name="top1"),
    metrics.TopKCategoricalAccuracy(k=2, dtype="float64"),
    metrics.BinaryAccuracy(threshold=0.3, dtype="float64"),
    metrics.RootMeanSquaredError(dtype="float64"),
    metrics.MeanAbsolutePercentageError(),
    metrics.MeanSquaredLogarithmicError(name="msle"),
    metrics.CosineSimilarity(axis=0),
    metrics.LogCoshError(),
    metrics.PearsonCorrelation(axis=0),
    metrics.ConcordanceCorrelation(name="ccc", dtype="float64"),
    metrics.R2Score(class_aggregation=None, num_regressors=3),
    metrics.F1Score(average="weighted", threshold=0.4),
    metrics.FBetaScore(average="micro", beta=0.5),
    metrics.IoU(4, [1, 3], ignore_class=0, sparse_y_pred=False),
    metrics.MeanIoU(3, dtype="float32", axis=1),
    metrics.BinaryIoU([1], threshold=0.2),
    metrics.OneHotIoU(3, [0], sparse_y_pred=True),
    metrics.OneHotMeanIoU(5, ignore_class=2),
    metrics.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
    metrics.CategoricalCrossentropy(axis=0, label_smoothing=0.2),
    metrics.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1),
    metrics.KLDivergence(dtype="float64"),
    metrics.Poisson(),
    metrics.Hinge(),
    metrics.SquaredHinge(),
    metrics.CategoricalHinge(name="ch"),
]


@pytest.mark.parametrize("metric", CONFIGURED, ids=lambda m: type(m).__name__)
def test_config_round_trip(metric):
    config = metric.get_config()
    again = type(metric).from_config(config)
    assert again.get_config() == config and again.dtype == metric.dtype
    assert metrics.deserialize(metrics.serialize(metric)).get_config() == config


def test_dtype_is_in_the_config_only_where_given():
    """So that configs saved before ``dtype=`` (and Keras' defaults) read the same."""
    assert metrics.RootMeanSquaredError().get_config() == {"name": "root_mean_squared_error"}
    assert metrics.Mean(dtype="float64").get_config() == {"name": "mean", "dtype": "float64"}


# the names keras.metrics.get takes, and the class each gives
KERAS_NAMES = {
    "sum": metrics.Sum,
    "mape": metrics.MeanAbsolutePercentageError,
    "MAPE": metrics.MeanAbsolutePercentageError,
    "msle": metrics.MeanSquaredLogarithmicError,
    "mean_absolute_percentage_error": metrics.MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": metrics.MeanSquaredLogarithmicError,
    "root_mean_squared_error": metrics.RootMeanSquaredError,
    "cosine_similarity": metrics.CosineSimilarity,
    "log_cosh_error": metrics.LogCoshError,
    "r2_score": metrics.R2Score,
    "pearson_correlation": metrics.PearsonCorrelation,
    "concordance_correlation": metrics.ConcordanceCorrelation,
    "f1_score": metrics.F1Score,
    "f_beta_score": metrics.FBetaScore,
    "FBetaScore": metrics.FBetaScore,
    "sparse_top_k_categorical_accuracy": metrics.SparseTopKCategoricalAccuracy,
    "bce": metrics.BinaryCrossentropy,
    "binary_crossentropy": metrics.BinaryCrossentropy,
    "categorical_crossentropy": metrics.CategoricalCrossentropy,
    "sparse_categorical_crossentropy": metrics.SparseCategoricalCrossentropy,
    "kl_divergence": metrics.KLDivergence,
    "poisson": metrics.Poisson,
    "hinge": metrics.Hinge,
    "squared_hinge": metrics.SquaredHinge,
    "categorical_hinge": metrics.CategoricalHinge,
}
NEED_ARGUMENTS = {
    "io_u": metrics.IoU,
    "mean_io_u": metrics.MeanIoU,
    "MeanIoU": metrics.MeanIoU,
    "binary_io_u": metrics.BinaryIoU,
    "one_hot_io_u": metrics.OneHotIoU,
    "one_hot_mean_io_u": metrics.OneHotMeanIoU,
}


@pytest.mark.parametrize("name", list(KERAS_NAMES))
def test_keras_names(name):
    metric = metrics.get(name)
    assert type(metric) is KERAS_NAMES[name] and metric.name == name


@pytest.mark.parametrize("name", list(NEED_ARGUMENTS))
def test_keras_names_of_metrics_that_need_arguments(name):
    assert metrics.REGISTRY.lookup(name) is NEED_ARGUMENTS[name]
    config = {"class_name": name, "config": {"num_classes": 3, "target_class_ids": [1]}}
    if NEED_ARGUMENTS[name] is metrics.BinaryIoU:
        config["config"] = {"target_class_ids": [1]}
    elif NEED_ARGUMENTS[name] in (metrics.MeanIoU, metrics.OneHotMeanIoU):
        del config["config"]["target_class_ids"]
    assert type(metrics.get(config)) is NEED_ARGUMENTS[name]


X = _normal((8, 4))
Y_BINARY = _binary((8, 3))


def _compiled_metrics() -> list[Any]:
    return [
        metrics.RootMeanSquaredError(),
        metrics.R2Score(),
        metrics.F1Score(average="macro", threshold=0.5),
        metrics.BinaryIoU(target_class_ids=[1]),
        metrics.BinaryCrossentropy(),
        metrics.MeanSquaredError(dtype="float64"),
        "mape",
    ]


def _check_logs(model: nn.Sequential, history: dict[str, list[float]]) -> None:
    """The last epoch's logs: what the metrics give eagerly on the model's predictions."""
    predictions = model(br.tensor(X))
    for metric in map(metrics.get, _compiled_metrics()):
        for start in (0, 4):
            metric.update_state(Y_BINARY[start : start + 4], predictions[start : start + 4])
        np.testing.assert_allclose(history[metric.name][-1], metric.result().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.bridge_requires("autodiff")
def test_metrics_in_compiled_fit_and_after_load(backend, tmp_path):
    """Inside fit's compiled train steps (a learning rate of 0 keeps the predictions), and in
    those of the model loaded back from a file (R2Score and F1Score make their state from the
    first batch's shape)."""
    model = nn.Sequential([nn.Input((4,)), nn.Dense(3, activation="sigmoid")])
    model.compile(optimizer=optim.SGD(0.0), loss="binary_crossentropy", metrics=_compiled_metrics())
    _check_logs(model, model.fit(X, Y_BINARY, batch_size=4, epochs=3, verbose=0).history)
    model.save(tmp_path / "model.bridge")
    loaded = nn.load_model(tmp_path / "model.bridge")
    _check_logs(loaded, loaded.fit(X, Y_BINARY, batch_size=4, epochs=2, verbose=0).history)


BAD = [
    (lambda: metrics.F1Score(average="mean"), br.InvalidArgumentError, "F1Score: average"),
    (lambda: metrics.FBetaScore(beta=2), br.InvalidArgumentError, "FBetaScore: beta"),
    (lambda: metrics.FBetaScore(beta=-1.0), br.InvalidArgumentError, "FBetaScore: beta"),
    (lambda: metrics.F1Score(threshold=1.5), br.InvalidArgumentError, "F1Score: threshold"),
    (
        lambda: metrics.R2Score(class_aggregation="mean"),
        br.InvalidArgumentError,
        "R2Score: class_aggregation",
    ),
    (lambda: metrics.R2Score(num_regressors=-1), br.InvalidArgumentError, "R2Score: num_regressors"),
    (lambda: metrics.MeanIoU(0), br.InvalidArgumentError, "MeanIoU: num_classes"),
    (lambda: metrics.IoU(3, [3]), br.InvalidArgumentError, "IoU: target_class_ids"),
    (lambda: metrics.IoU(3, [1], ignore_class="a"), br.InvalidArgumentError, "IoU: ignore_class"),
    (
        lambda: metrics.SparseTopKCategoricalAccuracy(k=0),
        br.InvalidArgumentError,
        "SparseTopKCategoricalAccuracy: k",
    ),
    (
        lambda: metrics.SparseCategoricalCrossentropy(axis="x"),
        br.ArgumentTypeError,
        "SparseCategoricalCrossentropy: axis",
    ),
    (lambda: metrics.Mean(dtype="float99"), br.DTypeError, "Mean: dtype"),
    (lambda: metrics.R2Score()(_normal((2, 2, 2)), _normal((2, 2, 2))), br.ShapeError, "R2Score 'r2_score'"),
    (lambda: metrics.F1Score()(_normal((2, 3)), _normal((2, 4))), br.ShapeError, "F1Score 'f1_score'"),
]


@pytest.mark.parametrize("index", range(len(BAD)), ids=[b[2] for b in BAD])
def test_bad_arguments_name_the_metric_and_argument(backend, index):
    make, error, message = BAD[index]
    with pytest.raises(error, match=message):
        make()
    assert issubclass(error, br.BridgeError) and issubclass(error, (ValueError, TypeError))


_DIRECTIONS = """
import inspect, json
import keras
needs = {"IoU": {"num_classes": 2, "target_class_ids": [0]}, "MeanIoU": {"num_classes": 2},
         "OneHotIoU": {"num_classes": 2, "target_class_ids": [0]}, "OneHotMeanIoU": {"num_classes": 2},
         "PrecisionAtRecall": {"recall": 0.5}, "RecallAtPrecision": {"precision": 0.5},
         "SensitivityAtSpecificity": {"specificity": 0.5}, "SpecificityAtSensitivity": {"sensitivity": 0.5}}
print(json.dumps({name: getattr(cls(**needs.get(name, {})), "_direction", None)
                  for name, cls in vars(keras.metrics).items()
                  if inspect.isclass(cls) and issubclass(cls, keras.metrics.Metric)
                  and name not in ("Metric", "MeanMetricWrapper")}))
"""


@pytest.mark.needs("keras", "tensorflow")
@pytest.mark.slow
def test_every_metric_improves_the_way_keras_says():
    """``_direction`` ("up", "down" or None), which callbacks' ``mode="auto"`` follows, is Keras'
    for every metric Keras has (and bridge has every one)."""
    theirs = keras_json(_DIRECTIONS)
    ours = {name: getattr(metrics, name)._direction for name in theirs}
    assert ours == theirs
