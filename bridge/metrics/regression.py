"""Regression metrics: errors between predictions and targets, averaged over samples, and the
coefficient of determination ``R2Score``."""

from __future__ import annotations

from typing import Any

from .. import losses, ops
from ..errors import InvalidArgumentError
from ..losses import EPSILON, same_rank
from ..tensor import Tensor
from .base import Mean, MeanMetricWrapper, Metric, as_weight, targets_and_predictions


def _errors(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``y_pred - y_true`` at one rank as Keras aligns them."""
    y_true, y_pred = same_rank(y_true.astype(y_pred.dtype), y_pred)
    return y_pred - y_true


class MeanSquaredError(MeanMetricWrapper):
    """The mean squared error, averaged over the samples seen."""

    _direction = "down"

    def __init__(self, name: str | None = "mean_squared_error", dtype: Any = None) -> None:
        super().__init__(lambda t, p: ops.mean(ops.square(_errors(t, p)), axis=-1), name, dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """The mean absolute error, averaged over the samples seen."""

    _direction = "down"

    def __init__(self, name: str | None = "mean_absolute_error", dtype: Any = None) -> None:
        super().__init__(lambda t, p: ops.mean(ops.abs(_errors(t, p)), axis=-1), name, dtype)


class MeanAbsolutePercentageError(MeanMetricWrapper):
    """``100 * mean(|y_true - y_pred| / max(|y_true|, eps))``, averaged over the samples seen
    (``"mape"``)."""

    _direction = "down"

    def __init__(self, name: str | None = "mean_absolute_percentage_error", dtype: Any = None) -> None:
        super().__init__(losses.mean_absolute_percentage_error, name, dtype)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """The mean squared error of ``log(1 + y)``, averaged over the samples seen (``"msle"``)."""

    _direction = "down"

    def __init__(self, name: str | None = "mean_squared_logarithmic_error", dtype: Any = None) -> None:
        super().__init__(losses.mean_squared_logarithmic_error, name, dtype)


class LogCoshError(MeanMetricWrapper):
    """The mean of ``log(cosh(y_pred - y_true))``, averaged over the samples seen."""

    _direction = "down"

    def __init__(self, name: str | None = "logcosh", dtype: Any = None) -> None:
        super().__init__(losses.log_cosh, name, dtype)


class CosineSimilarity(MeanMetricWrapper):
    """The cosine similarity of targets and predictions along ``axis`` (1 for parallel
    vectors), averaged over the samples seen."""

    _direction = "up"

    def __init__(self, name: str | None = "cosine_similarity", dtype: Any = None, axis: int = -1) -> None:
        self.axis = axis
        loss = losses.CosineSimilarity(axis=axis, reduction="none")
        super().__init__(lambda t, p: -loss.values(t, p), name, dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


def _centred(x: Tensor, axis: int) -> Tensor:
    return x - ops.mean(x, axis=axis, keepdims=True)


def pearson_correlation(y_true: Tensor, y_pred: Tensor, axis: int = -1) -> Tensor:
    """Pearson's correlation of targets and predictions along ``axis`` (population std)."""
    y_true = y_true.astype(y_pred.dtype)
    t, p = _centred(y_true, axis), _centred(y_pred, axis)
    t = t / ops.std(t, axis=axis, keepdims=True)
    p = p / ops.std(p, axis=axis, keepdims=True)
    return ops.mean(t * p, axis=axis)


def concordance_correlation(y_true: Tensor, y_pred: Tensor, axis: int = -1) -> Tensor:
    """Lin's concordance correlation along ``axis``: ``2 cov / (var_t + var_p + (mean_t -
    mean_p)^2)``, 1 only where predictions equal targets."""
    y_true = y_true.astype(y_pred.dtype)
    true_mean = ops.mean(y_true, axis=axis, keepdims=True)
    pred_mean = ops.mean(y_pred, axis=axis, keepdims=True)
    norm = (
        ops.var(y_true - true_mean, axis=axis, keepdims=True)
        + ops.var(y_pred - pred_mean, axis=axis, keepdims=True)
        + ops.square(true_mean - pred_mean)
    )
    covariance = (y_true - pred_mean) * (y_pred - pred_mean)  # Keras' form: its mean is the covariance
    return ops.mean(2.0 * covariance / (norm + EPSILON), axis=axis)


class PearsonCorrelation(MeanMetricWrapper):
    """Pearson's correlation of targets and predictions along ``axis`` (per sample), averaged
    over the samples seen."""

    _direction = "up"

    def __init__(self, name: str | None = "pearson_correlation", dtype: Any = None, axis: int = -1) -> None:
        self.axis = axis
        super().__init__(pearson_correlation, name, dtype, axis=axis)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class ConcordanceCorrelation(MeanMetricWrapper):
    """Lin's concordance correlation of targets and predictions along ``axis`` (per sample),
    averaged over the samples seen."""

    _direction = "up"

    def __init__(
        self, name: str | None = "concordance_correlation", dtype: Any = None, axis: int = -1
    ) -> None:
        self.axis = axis
        super().__init__(concordance_correlation, name, dtype, axis=axis)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class RootMeanSquaredError(Mean):
    """The square root of the mean squared error over the samples seen (computed in the
    metric's dtype)."""

    _direction = "down"

    def __init__(self, name: str | None = "root_mean_squared_error", dtype: Any = None) -> None:
        super().__init__(name, dtype)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        y_true, y_pred = targets_and_predictions(self, y_true, y_pred)
        self._add(ops.square(_errors(y_true.astype(self.dtype), y_pred.astype(self.dtype))), sample_weight)

    def result(self) -> Tensor:
        return ops.sqrt(super().result())


_CLASS_AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")


class R2Score(Metric):
    """The coefficient of determination of 2-D targets ``(batch, outputs)``: one per output
    (``class_aggregation=None``), their mean (``"uniform_average"``) or their mean weighted by
    the targets' variance (``"variance_weighted_average"``). ``num_regressors`` > 0 gives the
    adjusted R2 (the plain one where there are too few values for it, as in Keras)."""

    _direction = "up"

    _state_names = ("squared_sum", "sum", "residual", "count", "num_samples")

    def __init__(
        self,
        class_aggregation: str | None = "uniform_average",
        num_regressors: int = 0,
        name: str | None = "r2_score",
        dtype: Any = None,
    ) -> None:
        super().__init__(name, dtype)
        if class_aggregation not in _CLASS_AGGREGATIONS:
            raise InvalidArgumentError(
                f"R2Score: class_aggregation must be one of {_CLASS_AGGREGATIONS}, got {class_aggregation!r}"
            )
        if isinstance(num_regressors, bool) or not isinstance(num_regressors, int) or num_regressors < 0:
            raise InvalidArgumentError(f"R2Score: num_regressors must be an int >= 0, got {num_regressors!r}")
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        self._shape_known = False

    def _shape_of(self, name: str) -> tuple[int, ...]:
        return () if name == "num_samples" else self._state_shape

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = targets_and_predictions(self, y_true, y_pred)
        y_true, y_pred = same_rank(y_true.astype(self.dtype), y_pred.astype(self.dtype))
        self._check_columns(y_true, y_pred, "outputs")
        weight = ops.ones_like(y_true) if sample_weight is None else as_weight(y_true, sample_weight)
        if weight.ndim == 1:
            weight = ops.expand_dims(weight, 1)
        weight = ops.broadcast_to(weight, y_true.shape)
        state = self._variables(y_true)
        state["sum"].assign_add(ops.sum(y_true * weight, axis=0))
        state["squared_sum"].assign_add(ops.sum(y_true * y_true * weight, axis=0))
        state["residual"].assign_add(ops.sum(ops.square(y_true - y_pred) * weight, axis=0))
        state["count"].assign_add(ops.sum(weight, axis=0))
        state["num_samples"].assign_add(float(y_true.size))

    def result(self) -> Tensor:
        if not self._state:
            return ops.zeros((), dtype=self.dtype)
        state = self._state
        total = state["squared_sum"] - state["sum"] * (state["sum"] / state["count"])
        scores = 1.0 - state["residual"] / total
        scores = ops.where(ops.isinf(scores), 0.0, scores)
        if self.class_aggregation == "uniform_average":
            scores = ops.mean(scores)
        elif self.class_aggregation == "variance_weighted_average":
            scores = ops.sum(total * scores) / ops.sum(total)
        if not self.num_regressors:
            return scores
        n, p = state["num_samples"], float(self.num_regressors)
        adjusted = 1.0 - (1.0 - scores) * (n - 1.0) / (n - p - 1.0)
        return ops.where(n - 1.0 > p, adjusted, scores)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "class_aggregation": self.class_aggregation,
            "num_regressors": self.num_regressors,
        }
