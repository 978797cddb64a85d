"""Confusion-matrix metrics: counts of true/false positives/negatives at thresholds and the
ratios built from them."""

from __future__ import annotations

from typing import Any

from .. import ops
from ..dtypes import float32
from ..errors import InvalidArgumentError, ShapeError
from ..losses import align_weight, same_rank
from ..ops.creation import tensor_like
from ..tensor import Tensor
from .base import Metric, as_weight, divide_no_nan, targets_and_predictions


def _threshold_list(owner: str, thresholds: Any) -> tuple[float, ...]:
    values = thresholds if isinstance(thresholds, (list, tuple)) else [thresholds]
    try:
        found = tuple(float(t) for t in values)
    except (TypeError, ValueError):
        found = ()
    if not found or not all(0.0 <= t <= 1.0 for t in found):
        raise InvalidArgumentError(
            f"{owner}: thresholds must be a number or a non-empty list of numbers in [0, 1], "
            f"got {thresholds!r}"
        )
    return found


class _Confusion(Metric):
    """Counts of a binary confusion matrix at each threshold: a label is positive when it is not
    0, a prediction when it is above the threshold. With a list of thresholds the result holds
    one value per threshold, as in Keras."""

    _state_names = ("true_positives", "false_positives", "false_negatives")

    def __init__(self, thresholds: Any = 0.5, name: str | None = None) -> None:
        super().__init__(name)
        self.thresholds = thresholds
        self._thresholds = _threshold_list(self._label, thresholds)
        self._state_shape = (len(self._thresholds),) if len(self._thresholds) > 1 else ()

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = targets_and_predictions(self, y_true, y_pred)
        y_pred, y_true = same_rank(y_pred.astype(float32), y_true)
        if y_true.shape != y_pred.shape:
            raise ShapeError(
                f"{self._label}: y_true of shape {y_true.shape} does not fit y_pred of shape {y_pred.shape}"
            )
        weight = ops.ones_like(y_pred) if sample_weight is None else as_weight(y_pred, sample_weight)
        shaped, weight = align_weight(self._label, y_pred, weight)
        weight = ops.reshape(ops.broadcast_to(weight, shaped.shape), (1, -1))
        thresholds = tensor_like(self._thresholds, y_pred, float32)
        predicted = (ops.reshape(y_pred, (1, -1)) > ops.expand_dims(thresholds, -1)).astype(float32)
        actual = ops.reshape(y_true != 0, (1, -1)).astype(float32)
        state = self._variables(y_pred)
        for name, counted in (
            ("true_positives", predicted * actual),
            ("false_positives", predicted * (1.0 - actual)),
            ("false_negatives", (1.0 - predicted) * actual),
        ):
            state[name].assign_add(ops.reshape(ops.sum(counted * weight, axis=-1), self._state_shape))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "thresholds": self.thresholds}

    def _share(self, other: str) -> Tensor:
        """true positives / (true positives + ``other``), 0 when both are 0."""
        if not self._state:
            return ops.zeros(self._state_shape)
        tp, rest = self._state["true_positives"], self._state[other]
        return divide_no_nan(tp, tp + rest)


class Precision(_Confusion):
    """true positives / predicted positives."""

    def __init__(self, thresholds: Any = 0.5, name: str | None = "precision") -> None:
        super().__init__(thresholds, name)

    def result(self) -> Tensor:
        return self._share("false_positives")


class Recall(_Confusion):
    """true positives / actual positives."""

    def __init__(self, thresholds: Any = 0.5, name: str | None = "recall") -> None:
        super().__init__(thresholds, name)

    def result(self) -> Tensor:
        return self._share("false_negatives")
