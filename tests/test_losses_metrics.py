"""Losses and metrics against NumPy float64 references, across backends."""

from __future__ import annotations

import numpy as np
import pytest

import bridge as br
from bridge import losses, metrics
from bridge.testing import assert_parity

RNG = np.random.default_rng(5)


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


Y_REG = RNG.standard_normal((6, 3)).astype(np.float32)
P_REG = RNG.standard_normal((6, 3)).astype(np.float32)
Y_BIN = (RNG.random((6, 3)) > 0.5).astype(np.float32)
LOGITS = (RNG.standard_normal((6, 3)) * 3).astype(np.float32)
LABELS = RNG.integers(0, 3, 6)
ONE_HOT = np.eye(3, dtype=np.float32)[LABELS]
PROBS = np.exp(_log_softmax(LOGITS.astype(np.float64))).astype(np.float32)


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
        lambda t, p: -(t * np.log(_sigmoid(p)) + (1 - t) * np.log(1 - _sigmoid(p))).mean(-1),
    ),
    "bce_probs": (
        losses.BinaryCrossentropy,
        {"label_smoothing": 0.1},
        Y_BIN,
        _sigmoid(LOGITS),
        lambda t, p: -((t * 0.9 + 0.05) * np.log(p) + (1 - (t * 0.9 + 0.05)) * np.log(1 - p)).mean(-1),
    ),
    "cce_logits": (
        losses.CategoricalCrossentropy,
        {"from_logits": True, "label_smoothing": 0.2},
        ONE_HOT,
        LOGITS,
        lambda t, p: -((t * 0.8 + 0.2 / 3) * _log_softmax(p)).sum(-1),
    ),
    "cce_probs": (losses.CategoricalCrossentropy, {}, ONE_HOT, PROBS, lambda t, p: -(t * np.log(p)).sum(-1)),
    "scce_logits": (
        losses.SparseCategoricalCrossentropy,
        {"from_logits": True},
        LABELS,
        LOGITS,
        lambda t, p: -_log_softmax(p)[np.arange(len(t)), t],
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
        lambda: (Y_BIN, _sigmoid(LOGITS)),
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
