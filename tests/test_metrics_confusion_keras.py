"""The confusion-matrix metrics (issue 14) against Keras 3 on both its backends: the counts
TruePositives..FalseNegatives, Precision/Recall with threshold lists, ``top_k`` and ``class_id``,
AUC (ROC, PR, PR gain; every summation; given thresholds; multi-label; label weights; logits)
and the "X at Y" metrics, each over several weighted updates (predictions on the thresholds
too); their configs next to Keras'; AUC in a compiled fit; bad arguments."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

import bridge as br
from bridge import metrics, nn, optim

from .keras_reference import keras_json

RNG = np.random.default_rng(14)
KERAS_BACKENDS = ("tensorflow", "torch")
RTOL, ATOL = 1e-5, 1e-6  # float32 sums in another order than Keras'


def _binary(n: int, quantized: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """0/1 labels and scores in [0, 1] (multiples of 1/quantized, 0 and 1 included, if given)."""
    labels = (RNG.random(n) > 0.5).astype(np.float32)
    if quantized:
        return labels, (RNG.integers(0, quantized + 1, n) / quantized).astype(np.float32)
    return labels, RNG.random(n).astype(np.float32)


def _grid(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    return (RNG.random((rows, cols)) > 0.5).astype(np.float32), RNG.random((rows, cols)).astype(np.float32)


def _updates(kind: str) -> list[tuple[Any, Any, Any]]:
    """Three updates: unweighted; weighted per sample (per value for ``kind`` ending in "_w");
    weighted by a scalar. "column": (N,) labels and (N, 1) predictions, as a Dense(1) gives."""
    if kind.startswith("grid"):
        (t1, p1), (t2, p2), (t3, p3) = _grid(6, 4), _grid(5, 4), _grid(3, 4)
        weight = RNG.random((5, 4)) * 2 if kind.endswith("_w") else RNG.random(5) * 2
    else:
        quantized = {"binary": 0, "column": 0, "tenths": 10, "quarters": 4, "199ths": 199}[kind]
        (t1, p1), (t2, p2), (t3, p3) = _binary(9, quantized), _binary(8, quantized), _binary(3, quantized)
        weight = RNG.random(8) * 2
        if kind == "199ths":  # k / 199 in float32 times 199 rounds above k: Keras' bucket is k + 1
            p1[:8] = np.array([31, 53, 62, 103, 106, 111, 119, 124], np.float32) / np.float32(199)
        if kind == "column":
            p1, p2, p3 = p1[:, None], p2[:, None], p3[:, None]
    return [(t1, p1, None), (t2, p2, weight.astype(np.float32)), (t3, p3, 1.5)]


def _logit_updates() -> list[tuple[Any, Any, Any]]:
    return [(t, (p - 0.5) * 8, w) for t, p, w in _updates("binary")]


# id: (class name, kwargs, updates)
CASES: dict[str, tuple[str, dict[str, Any], list]] = {}
for _name in ("TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives"):
    CASES[f"{_name}"] = (_name, {}, _updates("binary"))
    CASES[f"{_name}_0.3_grid"] = (_name, {"thresholds": 0.3}, _updates("grid_w"))
    CASES[f"{_name}_list"] = (_name, {"thresholds": [0.2, 0.5, 0.8]}, _updates("tenths"))
    CASES[f"{_name}_even"] = (_name, {"thresholds": [0.0, 0.25, 0.5, 0.75, 1.0]}, _updates("quarters"))
    CASES[f"{_name}_column"] = (_name, {"thresholds": [0.4, 0.6]}, _updates("column"))
    CASES[f"{_name}_on_thresholds"] = (
        _name,
        {"thresholds": [i / 199 for i in range(200)]},
        _updates("199ths"),
    )
for _name in ("Precision", "Recall"):
    CASES[f"{_name}"] = (_name, {}, _updates("binary"))
    CASES[f"{_name}_list"] = (_name, {"thresholds": [0.25, 0.5, 0.7]}, _updates("grid_w"))
    CASES[f"{_name}_even"] = (_name, {"thresholds": [0.0, 0.5, 1.0]}, _updates("tenths"))
    CASES[f"{_name}_top_k"] = (_name, {"top_k": 2}, _updates("grid"))
    CASES[f"{_name}_class_id"] = (_name, {"class_id": 1}, _updates("grid"))
    CASES[f"{_name}_top_k_class_id"] = (_name, {"top_k": 2, "class_id": 3}, _updates("grid"))
    CASES[f"{_name}_top_k_list"] = (_name, {"top_k": 1, "thresholds": [0.3, 0.6]}, _updates("grid"))
    CASES[f"{_name}_column_float64"] = (_name, {"dtype": "float64"}, _updates("column"))
for _name, _value in (
    ("PrecisionAtRecall", {"recall": 0.6}),
    ("RecallAtPrecision", {"precision": 0.7}),
    ("SensitivityAtSpecificity", {"specificity": 0.5}),
    ("SpecificityAtSensitivity", {"sensitivity": 0.4}),
):
    CASES[f"{_name}"] = (_name, _value, _updates("binary"))
    CASES[f"{_name}_one"] = (_name, {**_value, "num_thresholds": 1}, _updates("binary"))
    CASES[f"{_name}_11"] = (_name, {**_value, "num_thresholds": 11}, _updates("tenths"))
    CASES[f"{_name}_on_thresholds"] = (_name, _value, _updates("199ths"))
    CASES[f"{_name}_class_id"] = (_name, {**_value, "class_id": 2}, _updates("grid"))
CASES.update(
    {
        "AUC": ("AUC", {}, _updates("binary")),
        "AUC_11_on_thresholds": ("AUC", {"num_thresholds": 11}, _updates("tenths")),
        "AUC_grid": ("AUC", {"num_thresholds": 50}, _updates("grid_w")),
        "AUC_given": ("AUC", {"thresholds": [0.9, 0.1, 0.4, 0.5]}, _updates("tenths")),
        "AUC_given_even": ("AUC", {"thresholds": [0.25, 0.5, 0.75]}, _updates("quarters")),
        "AUC_logits": ("AUC", {"from_logits": True}, _logit_updates()),
        "AUC_on_thresholds": ("AUC", {}, _updates("199ths")),
        "AUC_beyond_0_1": ("AUC", {}, _logit_updates()),  # clipped to [0, 1], as Keras
        "AUC_column_float64": ("AUC", {"dtype": "float64", "curve": "PR"}, _updates("column")),
        "AUC_multi": ("AUC", {"multi_label": True}, _updates("grid_w")),
        "AUC_multi_weighted": (
            "AUC",
            {"multi_label": True, "num_labels": 4, "label_weights": [1.0, 2.0, 0.5, 0.0]},
            _updates("grid"),
        ),
        "AUC_label_weights": ("AUC", {"label_weights": [1.0, 2.0, 0.5, 0.0]}, _updates("grid")),
        "AUC_PR_multi": ("AUC", {"curve": "PR", "multi_label": True}, _updates("grid")),
        "AUC_PRGAIN": ("AUC", {"curve": "PRGAIN", "num_thresholds": 9}, _updates("binary")),
    }
)
for _curve in ("ROC", "PR"):
    for _summation in ("interpolation", "minoring", "majoring"):
        CASES[f"AUC_{_curve}_{_summation}"] = (
            "AUC",
            {"curve": _curve, "summation_method": _summation, "num_thresholds": 7},
            _updates("binary"),
        )

# fit's data: a Dense of ones copies x into each of its 3 outputs, so the metrics see x itself
FIT_X = RNG.random((24, 1)).astype(np.float32)
FIT_Y = (RNG.random((24, 3)) > 0.5).astype(np.float32)
FIT_METRICS = {"auc": {}, "pr_auc": {"curve": "PR"}, "multi_auc": {"multi_label": True}}  # name: kwargs
for _key, _kwargs in FIT_METRICS.items():
    CASES[f"fit_{_key}"] = ("AUC", _kwargs, [(FIT_Y, np.repeat(FIT_X, 3, axis=1), None)])

KERAS_PROGRAM = r"""
import json, sys
import numpy as np
import keras

def array(x):
    return None if x is None else np.asarray(x, dtype=np.float32)

out = []
for name, kwargs, updates in json.load(sys.stdin):
    metric = getattr(keras.metrics, name)(**kwargs)
    for y_true, y_pred, weight in updates:
        metric.update_state(array(y_true), array(y_pred), sample_weight=array(weight))
    config = metric.get_config()
    if config.get("label_weights") is not None:
        config["label_weights"] = np.asarray(config["label_weights"]).tolist()
    out.append({"result": np.asarray(metric.result()).tolist(), "config": config})
print(json.dumps(out))
"""


def _plain(x: Any) -> Any:
    return x.tolist() if isinstance(x, np.ndarray) else x


@pytest.fixture(scope="module")
def keras_answers() -> list[dict[str, Any]]:
    """Keras' result and config of every case, on both its backends (which must agree)."""
    cases = json.dumps(
        [
            [name, kwargs, [[_plain(a) for a in u] for u in updates]]
            for name, kwargs, updates in CASES.values()
        ]
    )
    with ThreadPoolExecutor(len(KERAS_BACKENDS)) as pool:
        answers = list(
            pool.map(lambda backend: keras_json(KERAS_PROGRAM, backend, stdin=cases), KERAS_BACKENDS)
        )
    for case, first, second in zip(CASES, *answers, strict=True):
        np.testing.assert_allclose(second["result"], first["result"], rtol=RTOL, atol=ATOL, err_msg=case)
    return answers[0]


def _run(name: str, kwargs: dict[str, Any], updates: list) -> tuple[metrics.Metric, np.ndarray]:
    metric = getattr(metrics, name)(**kwargs)
    for y_true, y_pred, weight in updates:
        metric.update_state(y_true, br.tensor(y_pred), sample_weight=weight)
    return metric, metric.result().numpy()


@pytest.mark.needs("keras", "tensorflow", "torch")
@pytest.mark.slow  # the Keras processes: about 10 s
@pytest.mark.bridge_requires("variables")
@pytest.mark.parametrize("case", list(CASES))
def test_metric_matches_keras(backend, keras_answers, case):
    """Two updates (the second weighted), then the result: Keras' value, at Keras' shape. The
    config holds Keras' values for Keras' keys, is JSON, and rebuilds a metric that counts
    alike; reset_state zeroes it."""
    name, kwargs, updates = CASES[case]
    answer = keras_answers[list(CASES).index(case)]
    metric, got = _run(name, kwargs, updates)
    expected = np.asarray(answer["result"], np.float64)
    assert got.shape == expected.shape and got.dtype == np.dtype(kwargs.get("dtype", "float32"))
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)

    config = metric.get_config()
    assert answer["config"]["name"].startswith(config["name"])  # Keras numbers a name's repeats
    assert {key: answer["config"][key] for key in config if key != "name"} == {
        key: value for key, value in config.items() if key != "name"
    }
    again = metrics.deserialize(json.loads(json.dumps(metrics.serialize(metric))))
    assert type(again) is type(metric) and again.get_config() == config
    for y_true, y_pred, weight in updates:
        again.update_state(y_true, br.tensor(y_pred), sample_weight=weight)
    np.testing.assert_array_equal(again.result().numpy(), got)
    again.reset_state()
    assert not np.any(again.result().numpy())


@pytest.mark.needs("keras", "tensorflow", "torch")
@pytest.mark.slow
@pytest.mark.bridge_requires("autodiff", "variables")
def test_auc_in_compiled_fit_matches_keras(backend, keras_answers):
    """AUCs (one multi-label) in ``compile(metrics=...)``: fit's compiled steps (tf.function on
    TensorFlow) accumulate over three batches what Keras gives on all the data at once."""
    model = nn.Sequential([nn.Dense(3, kernel_initializer="ones", bias_initializer="zeros")])
    model.compile(
        optim.SGD(0.0),
        "mse",
        metrics=[metrics.AUC(name=key, **kwargs) for key, kwargs in FIT_METRICS.items()],
    )
    fitted = model.fit(FIT_X, FIT_Y, epochs=2, batch_size=8, verbose=0, validation_data=(FIT_X, FIT_Y))
    history = fitted.history
    for key in FIT_METRICS:
        expected = keras_answers[list(CASES).index(f"fit_{key}")]["result"]
        for logged in (key, f"val_{key}"):
            np.testing.assert_allclose(history[logged], [expected] * 2, rtol=RTOL, atol=ATOL)


BAD_ARGUMENTS = [
    (metrics.TruePositives, {"thresholds": [0.5, 2.0]}, "TruePositives 'true_positives': thresholds must be"),
    (metrics.FalseNegatives, {"thresholds": "high"}, "FalseNegatives 'false_negatives': thresholds must be"),
    (metrics.Precision, {"top_k": 0}, "Precision 'precision': top_k must be >= 1, got 0"),
    (metrics.Recall, {"class_id": -1}, "Recall 'recall': class_id must be >= 0, got -1"),
    (metrics.AUC, {"num_thresholds": 1}, "AUC 'auc': num_thresholds must be >= 2, got 1"),
    (metrics.AUC, {"curve": "DET"}, r"AUC 'auc': curve must be one of \['PR', 'PRGAIN', 'ROC'\], got 'DET'"),
    (metrics.AUC, {"summation_method": "mid"}, "AUC 'auc': summation_method must be one of"),
    (metrics.AUC, {"num_labels": 3}, "AUC 'auc': num_labels is needed only when multi_label is True"),
    (metrics.AUC, {"label_weights": [1.0, -1.0]}, "AUC 'auc': label_weights must be a list of numbers >= 0"),
    (metrics.AUC, {"thresholds": [0.5, 1.2]}, "AUC 'auc': thresholds must be"),
    (
        metrics.PrecisionAtRecall,
        {"recall": 1.5},
        r"PrecisionAtRecall 'precision_at_recall': recall must be a number in \[0, 1\]",
    ),
    (
        metrics.RecallAtPrecision,
        {"precision": -0.1},
        "RecallAtPrecision 'recall_at_precision': precision must be",
    ),
    (
        metrics.SensitivityAtSpecificity,
        {"specificity": 0.5, "num_thresholds": 0},
        "num_thresholds must be >= 1, got 0",
    ),
    (
        metrics.SpecificityAtSensitivity,
        {"sensitivity": "a"},
        "SpecificityAtSensitivity 'specificity_at_sensitivity': sensitivity must be",
    ),
]


@pytest.mark.parametrize("cls, kwargs, message", BAD_ARGUMENTS, ids=lambda x: getattr(x, "__name__", None))
def test_bad_arguments_are_refused(cls, kwargs, message):
    with pytest.raises(br.InvalidArgumentError, match=message) as caught:
        cls(**kwargs)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "cls, kwargs, message",
    [
        (metrics.Recall, {"class_id": 1.5}, "Recall 'recall': class_id must be an int, got 1.5"),
        (metrics.AUC, {"num_thresholds": True}, "AUC 'auc': num_thresholds must be an int, got True"),
    ],
)
def test_arguments_of_the_wrong_type_are_refused(cls, kwargs, message):
    with pytest.raises(br.ArgumentTypeError, match=message) as caught:
        cls(**kwargs)
    assert isinstance(caught.value, TypeError)


BAD_UPDATES = [  # metric, shape of y_true, shape of y_pred, error, message
    (
        metrics.Precision(class_id=3),
        (4, 3),
        (4, 3),
        br.IndexOutOfRangeError,
        "Precision 'precision': class_id 3 is out of range for 3 classes",
    ),
    (
        metrics.Recall(class_id=0),
        (4,),
        (4,),
        br.ShapeError,
        r"Recall 'recall': class_id needs y_pred of shape \(samples, classes\)",
    ),
    (
        metrics.Precision(top_k=4),
        (2, 3),
        (2, 3),
        br.ShapeError,
        "Precision 'precision': top_k=4 needs y_pred with at least 4 values per row",
    ),
    (metrics.AUC(multi_label=True), (4,), (4,), br.ShapeError, "AUC 'auc': y_pred must have rank 2"),
    (
        metrics.AUC(multi_label=True, num_labels=2),
        (4, 3),
        (4, 3),
        br.ShapeError,
        "AUC 'auc': y_pred has 3 labels, the metric counts 2",
    ),
    (
        metrics.TruePositives(),
        (4, 2),
        (4, 3),
        br.ShapeError,
        r"TruePositives 'true_positives': y_true of shape \(4, 2\) does not fit",
    ),
]


@pytest.mark.bridge_requires("variables")
@pytest.mark.parametrize(
    "metric, true_shape, pred_shape, error, message", BAD_UPDATES, ids=lambda x: getattr(x, "name", None)
)
def test_updates_that_do_not_fit_are_refused(backend, metric, true_shape, pred_shape, error, message):
    with pytest.raises(error, match=message):
        metric.update_state(
            np.ones(true_shape, np.float32), br.tensor(RNG.random(pred_shape).astype(np.float32))
        )


@pytest.mark.bridge_requires("variables")
def test_results_before_any_update_are_zero(backend):
    assert float(metrics.AUC().result()) == 0.0
    assert metrics.TruePositives(thresholds=[0.2, 0.4]).result().numpy().tolist() == [0.0, 0.0]
    assert float(metrics.PrecisionAtRecall(0.5).result()) == 0.0
    assert float(metrics.AUC(multi_label=True).result()) == 0.0


def test_thresholds_attribute_is_the_parsed_list_as_keras():
    """Keras keeps the argument as ``init_thresholds`` (in the config) and the list it means as
    ``thresholds``: 0.5 by default, none to speak of (-1e10) with ``top_k``."""
    assert metrics.Precision().thresholds == [0.5] and metrics.Precision().init_thresholds is None
    assert metrics.Recall(top_k=2).thresholds == [-1e10]
    assert metrics.TruePositives([0.2, 0.7]).thresholds == [0.2, 0.7]
    assert metrics.FalseNegatives(0.3).get_config()["thresholds"] == 0.3
