"""Regression metrics: errors between predictions and targets, averaged over samples."""

from __future__ import annotations

from .. import ops
from ..losses import same_rank
from ..tensor import Tensor
from .base import MeanMetricWrapper


def _errors(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``y_pred - y_true`` at one rank as Keras aligns them."""
    y_true, y_pred = same_rank(y_true.astype(y_pred.dtype), y_pred)
    return y_pred - y_true


class MeanSquaredError(MeanMetricWrapper):
    """The mean squared error, averaged over the samples seen."""

    def __init__(self, name: str | None = "mean_squared_error") -> None:
        super().__init__(lambda t, p: ops.mean(ops.square(_errors(t, p)), axis=-1), name)


class MeanAbsoluteError(MeanMetricWrapper):
    """The mean absolute error, averaged over the samples seen."""

    def __init__(self, name: str | None = "mean_absolute_error") -> None:
        super().__init__(lambda t, p: ops.mean(ops.abs(_errors(t, p)), axis=-1), name)
