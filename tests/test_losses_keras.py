"""The Keras 3 losses bridge adds (issue 14) against Keras itself on both its backends: each loss
with and without sample weights under every reduction, ``axis``, ``ignore_class``, ``dtype``,
the function forms; config round trips; bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

import bridge as br
from bridge import losses

from .keras_reference import KerasReference

RNG = np.random.default_rng(14)
KERAS_BACKENDS = ("tensorflow", "torch")
RTOL = ATOL = 1e-6  # Keras' own assertAllClose defaults, float32

Y = RNG.standard_normal((4, 3)).astype(np.float32)
P = RNG.standard_normal((4, 3)).astype(np.float32)
POSITIVE = (RNG.random((4, 3)) + 0.1).astype(np.float32)
BINARY = (RNG.random((4, 3)) > 0.5).astype(np.float32)
SIGNS = 2 * BINARY - 1
PROBS = RNG.dirichlet(np.ones(3), 4).astype(np.float32)
ONE_HOT = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, 4)]
LOGITS = (RNG.standard_normal((4, 3)) * 3).astype(np.float32)
UNIT = RNG.random((4, 3)).astype(np.float32)
LABELS_IGNORED = np.array([0, -1, 2, 1], np.float32)  # -1: ignore_class
# CTC: label sequences padded with the blank 0 (one with a repeat), logits over 7 steps
CTC_LABELS = np.array([[1, 2, 2, 0], [3, 1, 0, 0], [2, 0, 0, 0], [1, 3, 1, 2]], np.float32)
CTC_LOGITS = RNG.standard_normal((4, 9, 4)).astype(np.float32)
CLASS_IDS = np.array([0, 2, 1, 2], np.float32)
# Circle: unit embeddings of 4 samples, two of each of two labels
EMBEDDINGS = RNG.standard_normal((4, 3)).astype(np.float32)
EMBEDDINGS /= np.linalg.norm(EMBEDDINGS, axis=1, keepdims=True)
PAIRS = np.array([0, 1, 0, 1], np.float32)
# two samples with a label of their own: no positive pair, a loss of exactly 0, masked out
LONELY = np.array([0, 1, 0, 2], np.float32)
WEIGHT = np.array([0.5, 2.0, 0.0, 1.5], np.float32)
WEIGHT_3 = WEIGHT[1:]  # for losses along axis 0: one per column


def _weight(case: str) -> np.ndarray:
    return WEIGHT_3 if case.endswith("axis0") else WEIGHT


REDUCTIONS = ("sum_over_batch_size", "mean", "sum", "none", "mean_with_sample_weight")

# id: (class name, kwargs, y_true, y_pred)
CASES = {
    "mape": ("MeanAbsolutePercentageError", {}, Y, P),
    "msle": ("MeanSquaredLogarithmicError", {}, POSITIVE, P),
    "hinge_01": ("Hinge", {}, BINARY, P),
    "hinge_signs": ("Hinge", {}, SIGNS, P),
    "squared_hinge": ("SquaredHinge", {}, BINARY, P),
    "categorical_hinge": ("CategoricalHinge", {}, ONE_HOT, P),
    "cosine": ("CosineSimilarity", {}, Y, P),
    "cosine_axis0": ("CosineSimilarity", {"axis": 0}, Y, P),
    "log_cosh": ("LogCosh", {}, Y, P * 30),
    "kld": ("KLDivergence", {}, ONE_HOT, PROBS),
    "poisson": ("Poisson", {}, POSITIVE * 3, POSITIVE),
    "bfce": ("BinaryFocalCrossentropy", {}, BINARY, UNIT),
    "bfce_logits": (
        "BinaryFocalCrossentropy",
        {"from_logits": True, "gamma": 1.5, "apply_class_balancing": True, "alpha": 0.3},
        BINARY,
        LOGITS,
    ),
    "bfce_smooth": ("BinaryFocalCrossentropy", {"label_smoothing": 0.2}, BINARY, UNIT),
    "cfce": ("CategoricalFocalCrossentropy", {}, ONE_HOT, PROBS),
    "cfce_logits": (
        "CategoricalFocalCrossentropy",
        {"from_logits": True, "alpha": 0.4, "gamma": 3.0, "label_smoothing": 0.1},
        ONE_HOT,
        LOGITS,
    ),
    "dice": ("Dice", {}, BINARY, UNIT),
    "dice_axis1": ("Dice", {"axis": 1}, BINARY, UNIT),
    "tversky": ("Tversky", {"alpha": 0.3, "beta": 0.7}, BINARY, UNIT),
    "tversky_axis1": ("Tversky", {"alpha": 0.3, "beta": 0.7, "axis": 1}, BINARY, UNIT),
    "scce_ignore": ("SparseCategoricalCrossentropy", {"ignore_class": -1}, LABELS_IGNORED, PROBS),
    "scce_ignore_logits": (
        "SparseCategoricalCrossentropy",
        {"ignore_class": -1, "from_logits": True},
        LABELS_IGNORED,
        LOGITS,
    ),
    "bce_axis0": ("BinaryCrossentropy", {"axis": 0, "from_logits": True}, BINARY, LOGITS),
    "cce_axis0": ("CategoricalCrossentropy", {"axis": 0}, ONE_HOT, PROBS),
    "mse_float64": ("MeanSquaredError", {"dtype": "float64"}, Y, P),
    "ctc": ("CTC", {}, CTC_LABELS, CTC_LOGITS),
    "generalized_ce": ("CategoricalGeneralizedCrossEntropy", {}, CLASS_IDS, PROBS),
    "generalized_ce_q": ("CategoricalGeneralizedCrossEntropy", {"q": 0.2}, CLASS_IDS, PROBS),
    "circle": ("Circle", {}, PAIRS, EMBEDDINGS),
    "circle_options": ("Circle", {"gamma": 4.0, "margin": 0.25, "remove_diagonal": False}, PAIRS, EMBEDDINGS),
    "circle_lonely": ("Circle", {}, LONELY, EMBEDDINGS),
}
INT_LABELS = {"CTC", "ctc", "CategoricalGeneralizedCrossEntropy", "Circle", "circle"}
# the function forms: (bridge name, Keras name, kwargs, y_true, y_pred)
FUNCTIONS = [
    ("mse", "mean_squared_error", {}, Y, P),
    ("mae", "mean_absolute_error", {}, Y, P),
    ("mape", "mean_absolute_percentage_error", {}, Y, P),
    ("msle", "mean_squared_logarithmic_error", {}, POSITIVE, P),
    ("kld", "kl_divergence", {}, ONE_HOT, PROBS),
    ("huber", "huber", {"delta": 0.5}, Y, P),
    ("hinge", "hinge", {}, BINARY, P),
    ("squared_hinge", "squared_hinge", {}, SIGNS, P),
    ("categorical_hinge", "categorical_hinge", {}, ONE_HOT, P),
    ("cosine_similarity", "cosine_similarity", {"axis": 0}, Y, P),
    ("log_cosh", "log_cosh", {}, Y, P),
    ("poisson", "poisson", {}, POSITIVE, POSITIVE),
    ("binary_crossentropy", "binary_crossentropy", {"from_logits": True}, BINARY, LOGITS),
    ("binary_focal_crossentropy", "binary_focal_crossentropy", {"gamma": 1.0}, BINARY, UNIT),
    ("categorical_crossentropy", "categorical_crossentropy", {"label_smoothing": 0.1}, ONE_HOT, PROBS),
    ("categorical_focal_crossentropy", "categorical_focal_crossentropy", {}, ONE_HOT, PROBS),
    (
        "sparse_categorical_crossentropy",
        "sparse_categorical_crossentropy",
        {"ignore_class": -1, "from_logits": True},
        LABELS_IGNORED,
        LOGITS,
    ),
    ("dice", "dice", {"axis": 1}, BINARY, UNIT),
    ("tversky", "tversky", {"alpha": 0.2, "beta": 0.8}, BINARY, UNIT),
    ("ctc", "ctc", {}, CTC_LABELS, CTC_LOGITS),
    ("circle", "circle", {"gamma": 2.0}, PAIRS, EMBEDDINGS),
]


def _requests() -> list[dict]:
    requests = []
    for case, (name, kwargs, y_true, y_pred) in CASES.items():
        ints = name in INT_LABELS  # Keras wants int labels there
        requests.append({"name": name, "kwargs": kwargs, "args": [y_true, y_pred, None], "int_labels": ints})
        for reduction in REDUCTIONS:
            args = [y_true, y_pred, _weight(case)]
            kwargs_r = {**kwargs, "reduction": reduction}
            requests.append({"name": name, "kwargs": kwargs_r, "args": args, "int_labels": ints})
    for _, name, kwargs, y_true, y_pred in FUNCTIONS:
        args = [y_true, y_pred, None]
        requests.append(
            {"name": name, "kwargs": kwargs, "args": args, "function": True, "int_labels": name in INT_LABELS}
        )
    return requests


@pytest.fixture(scope="module")
def keras_values() -> list[list[np.ndarray]]:
    """Keras' answer to every request, one list per Keras backend (both started at once)."""
    servers = [KerasReference(name) for name in KERAS_BACKENDS]
    answers = [server.ask(op="losses", cases=_requests()) for server in servers]
    return [[np.asarray(value, np.float64) for value in answer] for answer in answers]


def _close(got: br.Tensor, expected: np.ndarray, rtol: float = RTOL) -> None:
    value = got.numpy()
    assert value.shape == expected.shape
    np.testing.assert_allclose(value, expected, rtol=rtol, atol=rtol)


@pytest.mark.needs("keras", "tensorflow", "torch")
@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_loss_matches_keras(backend, keras_values, case):
    """Unweighted, then weighted under each reduction: the value Keras gives on both backends."""
    name, kwargs, y_true, y_pred = CASES[case]
    start = list(CASES).index(case) * (1 + len(REDUCTIONS))
    results = [getattr(losses, name)(**kwargs)(y_true, br.tensor(y_pred))]
    for reduction in REDUCTIONS:
        loss = getattr(losses, name)(**kwargs, reduction=reduction)
        results.append(loss(y_true, br.tensor(y_pred), sample_weight=_weight(case)))
    for answers in keras_values:
        for got, expected in zip(results, answers[start : start + len(results)], strict=True):
            _close(got, expected)


@pytest.mark.needs("keras", "tensorflow", "torch")
@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(FUNCTIONS)), ids=[f[0] for f in FUNCTIONS])
def test_function_form_matches_keras(backend, keras_values, index):
    """``losses.mse(y_true, y_pred)`` and the others give Keras' per-sample values."""
    ours, _, kwargs, y_true, y_pred = FUNCTIONS[index]
    got = getattr(losses, ours)(y_true, br.tensor(y_pred), **kwargs)
    for answers in keras_values:
        _close(got, answers[len(CASES) * (1 + len(REDUCTIONS)) + index])


def test_dtype_computes_in_that_dtype(backend):
    """NumPy float64: the loss is computed in float64 from float32 inputs."""
    loss = losses.MeanSquaredError(dtype="float64", reduction="sum")
    got = loss(Y, br.tensor(P), sample_weight=WEIGHT)
    assert got.dtype == br.float64
    expected = (((P.astype(np.float64) - Y) ** 2).mean(-1) * WEIGHT).sum()
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
    assert losses.MeanSquaredError()(Y, br.tensor(P)).dtype == br.float32


def test_generalized_cross_entropy_takes_ids_of_shape_batch_1_as_batch(backend):
    """A deliberate difference: Keras broadcasts ``(batch, 1)`` ids against the scores into a
    (batch, batch) grid; bridge reads them as ``(batch,)``. NumPy float64 gives the value."""
    p = PROBS.astype(np.float64)[np.arange(4), CLASS_IDS.astype(int)]
    expected = np.mean((1 - p**0.5) / 0.5)
    loss = losses.CategoricalGeneralizedCrossEntropy()
    for ids in (CLASS_IDS, CLASS_IDS[:, None]):
        np.testing.assert_allclose(loss(ids, br.tensor(PROBS)).numpy(), expected, rtol=1e-6)


def test_ignore_class_takes_the_mean_over_kept_labels(backend):
    """NumPy float64: the ignored label adds nothing and is not counted."""
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
    log_p = LOGITS.astype(np.float64) - np.log(np.exp(LOGITS.astype(np.float64)).sum(-1, keepdims=True))
    kept = [0, 2, 3]
    expected = -np.mean([log_p[i, int(LABELS_IGNORED[i])] for i in kept])
    np.testing.assert_allclose(loss(LABELS_IGNORED, br.tensor(LOGITS)).numpy(), expected, rtol=1e-6)


def test_mean_with_sample_weight_divides_by_the_weights(backend):
    values = ((P - Y) ** 2).mean(-1).astype(np.float64)
    loss = losses.MeanSquaredError(reduction="mean_with_sample_weight")
    got = loss(Y, br.tensor(P), sample_weight=WEIGHT).numpy()
    np.testing.assert_allclose(got, (values * WEIGHT).sum() / WEIGHT.sum(), rtol=1e-6)
    zero = loss(Y, br.tensor(P), sample_weight=np.zeros(4, np.float32)).numpy()
    assert zero == 0.0


CONFIGURED = [
    losses.MeanAbsolutePercentageError(name="m", reduction="sum"),
    losses.MeanSquaredLogarithmicError(reduction="mean_with_sample_weight"),
    losses.Hinge(),
    losses.SquaredHinge(),
    losses.CategoricalHinge(),
    losses.CosineSimilarity(axis=0),
    losses.LogCosh(dtype="float64"),
    losses.KLDivergence(),
    losses.Poisson(reduction=None),
    losses.BinaryFocalCrossentropy(
        apply_class_balancing=True, alpha=0.3, gamma=1.0, from_logits=True, axis=0
    ),
    losses.CategoricalFocalCrossentropy(alpha=0.5, gamma=3.0, label_smoothing=0.1),
    losses.Dice(axis=(1, 2)),
    losses.Tversky(alpha=0.2, beta=0.8, axis=1),
    losses.SparseCategoricalCrossentropy(ignore_class=255),
    losses.CategoricalCrossentropy(axis=0),
    losses.CTC(reduction="sum"),
    losses.CategoricalGeneralizedCrossEntropy(q=0.3),
    losses.Circle(gamma=10.0, margin=0.3, remove_diagonal=False),
]


@pytest.mark.parametrize("loss", CONFIGURED, ids=lambda loss: type(loss).__name__)
def test_config_round_trip(loss):
    config = loss.get_config()
    again = type(loss).from_config(config)
    assert again.get_config() == config
    assert losses.deserialize(losses.serialize(loss)).get_config() == config


@pytest.mark.parametrize(
    "alias, cls",
    [
        ("mape", losses.MeanAbsolutePercentageError),
        ("msle", losses.MeanSquaredLogarithmicError),
        ("kld", losses.KLDivergence),
        ("log_cosh", losses.LogCosh),
        ("Tversky", losses.Tversky),
        ("binary_focal_crossentropy", losses.BinaryFocalCrossentropy),
        ("circle", losses.Circle),
        ("categorical_generalized_cross_entropy", losses.CategoricalGeneralizedCrossEntropy),
    ],
)
def test_found_by_name(alias, cls):
    assert type(losses.get(alias)) is cls


def test_a_function_form_saves_by_name():
    assert losses.serialize(losses.mse) == "mean_squared_error"
    wrapped = losses.LossFunctionWrapper(losses.mape)
    again = losses.LossFunctionWrapper.from_config(wrapped.get_config())
    assert isinstance(again.fn, losses.MeanAbsolutePercentageError)


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda: losses.Hinge(reduction="avg"), br.errors.InvalidArgumentError, ("Hinge", "reduction")),
        (
            lambda: losses.CosineSimilarity(axis="last"),
            br.errors.ArgumentTypeError,
            ("CosineSimilarity", "axis"),
        ),
        (lambda: losses.Dice(axis=1.5), br.errors.ArgumentTypeError, ("Dice", "axis")),
        (
            lambda: losses.BinaryFocalCrossentropy(gamma=-1),
            br.errors.InvalidArgumentError,
            ("Focal", "gamma"),
        ),
        (
            lambda: losses.SparseCategoricalCrossentropy(ignore_class=0.5),
            br.errors.ArgumentTypeError,
            ("SparseCategoricalCrossentropy", "ignore_class"),
        ),
        (lambda: losses.Poisson(dtype="int32"), br.errors.InvalidArgumentError, ("Poisson", "dtype")),
        (
            lambda: losses.CategoricalGeneralizedCrossEntropy(q=1.0),
            br.errors.InvalidArgumentError,
            ("CategoricalGeneralizedCrossEntropy", "q"),
        ),
    ],
)
def test_bad_arguments(make, error, words):
    with pytest.raises(error) as raised:
        make()
    assert isinstance(raised.value, br.BridgeError) and isinstance(raised.value, (ValueError, TypeError))
    assert all(word in str(raised.value) for word in words)


def test_shapes_that_do_not_fit(backend):
    with pytest.raises(br.errors.ShapeError, match="ctc"):
        losses.CTC()(CTC_LABELS, br.tensor(CTC_LOGITS[:, :, 0]))
    with pytest.raises(br.errors.ShapeError, match="tversky"):
        losses.Tversky()(BINARY, br.tensor(UNIT[:, :2]))
