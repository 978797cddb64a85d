"""Accuracy metrics: how often predictions match the labels."""

from __future__ import annotations

from typing import Any

from .. import ops
from ..dtypes import float32, int64
from ..losses import check_class_ids, require_class_axis, same_rank
from ..tensor import Tensor
from .base import MeanMetricWrapper


def _matches(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """1.0 where the two are equal, at one rank as Keras aligns them."""
    y_true, y_pred = same_rank(y_true.astype(y_pred.dtype), y_pred)
    return ops.equal(y_true, y_pred).astype(float32)


class Accuracy(MeanMetricWrapper):
    """How often predictions equal the labels."""

    def __init__(self, name: str | None = "accuracy") -> None:
        super().__init__(_matches, name)


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` equals the 0/1 label."""

    def __init__(self, threshold: float = 0.5, name: str | None = "binary_accuracy") -> None:
        self.threshold = threshold
        super().__init__(lambda t, p: _matches(t.astype(float32), (p > threshold).astype(float32)), name)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "threshold": self.threshold}


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the arg-max of one-hot labels equals that of the predictions."""

    def __init__(self, name: str | None = "categorical_accuracy") -> None:
        super().__init__(lambda t, p: _matches(ops.argmax(t, axis=-1), ops.argmax(p, axis=-1)), name)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often integer labels equal the arg-max of the predictions."""

    def __init__(self, name: str | None = "sparse_categorical_accuracy") -> None:
        super().__init__(self._matches_ids, name)

    def _matches_ids(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        classes = require_class_axis(self._label, y_pred)
        if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
            y_true = ops.squeeze(y_true, -1)
        labels = y_true.astype(int64)
        check_class_ids(self, labels, classes)
        return ops.equal(labels, ops.argmax(y_pred, axis=-1)).astype(float32)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label's class is among the ``k`` highest predictions (ties count in,
    as TensorFlow's in_top_k)."""

    def __init__(self, k: int = 5, name: str | None = "top_k_categorical_accuracy") -> None:
        self.k = k

        def in_top_k(t: Tensor, p: Tensor) -> Tensor:
            target = ops.take_along_axis(p, ops.expand_dims(ops.argmax(t, axis=-1), -1), -1)
            return (ops.sum((p > target).astype(int64), axis=-1) < k).astype(float32)

        super().__init__(in_top_k, name)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "k": self.k}
