"""F-scores: the harmonic mean of precision and recall (``F1Score``), or with recall weighed
``beta`` times as much (``FBetaScore``), of multi-label or one-hot 2-D predictions."""

from __future__ import annotations

from typing import Any

from .. import ops
from ..errors import InvalidArgumentError
from ..losses import EPSILON
from ..tensor import Tensor
from .base import Metric, as_weight, targets_and_predictions

_AVERAGES = (None, "micro", "macro", "weighted")


class FBetaScore(Metric):
    """``(1 + beta**2) * precision * recall / (beta**2 * precision + recall)`` per class of
    ``(batch, classes)`` targets and predictions. A prediction is positive above ``threshold``
    (None: the highest of its row). ``average``: None (one score per class), ``"micro"`` (over
    all counts), ``"macro"`` (the mean of the classes') or ``"weighted"`` (their mean weighted
    by the number of true instances)."""

    _direction = "up"

    _state_names = ("true_positives", "false_positives", "false_negatives", "intermediate_weights")

    def __init__(
        self,
        average: str | None = None,
        beta: float = 1.0,
        threshold: float | None = None,
        name: str | None = "fbeta_score",
        dtype: Any = None,
    ) -> None:
        super().__init__(name, dtype)
        label = type(self).__name__
        if average not in _AVERAGES:
            raise InvalidArgumentError(f"{label}: average must be one of {_AVERAGES}, got {average!r}")
        if not isinstance(beta, float) or not beta > 0.0:
            raise InvalidArgumentError(f"{label}: beta must be a float > 0, got {beta!r}")
        if threshold is not None and (not isinstance(threshold, float) or not 0.0 < threshold <= 1.0):
            raise InvalidArgumentError(
                f"{label}: threshold must be None or a float in (0, 1], got {threshold!r}"
            )
        self.average, self.beta, self.threshold = average, beta, threshold
        self._shape_known = average == "micro"  # else one count per class, from the first update

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = targets_and_predictions(self, y_true, y_pred)
        y_true, y_pred = y_true.astype(self.dtype), y_pred.astype(self.dtype)
        self._check_columns(y_true, y_pred, "classes", per_column=self.average != "micro")
        if self.threshold is None:
            top = ops.max(y_pred, axis=-1, keepdims=True)
            predicted = (y_pred >= top) & (ops.abs(y_pred) > 1e-9)
        else:
            predicted = y_pred > self.threshold
        y_pred = predicted.astype(self.dtype)
        weight = None if sample_weight is None else ops.expand_dims(as_weight(y_pred, sample_weight), 1)
        axis = None if self.average == "micro" else 0
        state = self._variables(y_pred)
        for name, counted in (
            ("true_positives", y_pred * y_true),
            ("false_positives", y_pred * (1.0 - y_true)),
            ("false_negatives", (1.0 - y_pred) * y_true),
            ("intermediate_weights", y_true),
        ):
            state[name].assign_add(ops.sum(counted if weight is None else counted * weight, axis=axis))

    def result(self) -> Tensor:
        if not self._state:
            return ops.zeros(self._state_shape if self.average is None else (), dtype=self.dtype)
        tp, fp, fn = (self._state[name] for name in self._state_names[:3])
        precision = tp / (tp + fp + EPSILON)
        recall = tp / (tp + fn + EPSILON)
        squared = self.beta**2
        scores = precision * recall / (squared * precision + recall + EPSILON) * (1.0 + squared)
        if self.average == "weighted":
            weights = self._state["intermediate_weights"]
            return ops.sum(scores * weights / (ops.sum(weights) + EPSILON))
        return scores if self.average is None else ops.mean(scores)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "average": self.average,
            "beta": self.beta,
            "threshold": self.threshold,
        }


class F1Score(FBetaScore):
    """The F-score at ``beta`` 1: the harmonic mean of precision and recall."""

    def __init__(
        self,
        average: str | None = None,
        threshold: float | None = None,
        name: str | None = "f1_score",
        dtype: Any = None,
    ) -> None:
        super().__init__(average, 1.0, threshold, name, dtype)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["beta"]
        return config
