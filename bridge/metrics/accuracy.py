"""Accuracy metrics: how often predictions match the labels."""

from __future__ import annotations

from typing import Any

from .. import ops
from ..dtypes import float32, int64
from ..losses import check_class_ids, class_ids, require_class_axis, same_rank
from ..ops._core import integer_arg
from ..tensor import Tensor
from .base import MeanMetricWrapper


def _matches(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """1.0 where the two are equal, at one rank as Keras aligns them."""
    y_true, y_pred = same_rank(y_true.astype(y_pred.dtype), y_pred)
    return ops.equal(y_true, y_pred).astype(float32)


class Accuracy(MeanMetricWrapper):
    """How often predictions equal the labels."""

    _direction = "up"

    def __init__(self, name: str | None = "accuracy", dtype: Any = None) -> None:
        super().__init__(_matches, name, dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` equals the 0/1 label."""

    _direction = "up"

    def __init__(
        self, threshold: float = 0.5, name: str | None = "binary_accuracy", dtype: Any = None
    ) -> None:
        self.threshold = threshold
        super().__init__(
            lambda t, p: _matches(t.astype(float32), (p > threshold).astype(float32)), name, dtype
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "threshold": self.threshold}


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the arg-max of one-hot labels equals that of the predictions."""

    _direction = "up"

    def __init__(self, name: str | None = "categorical_accuracy", dtype: Any = None) -> None:
        super().__init__(lambda t, p: _matches(ops.argmax(t, axis=-1), ops.argmax(p, axis=-1)), name, dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often integer labels equal the arg-max of the predictions."""

    _direction = "up"

    def __init__(self, name: str | None = "sparse_categorical_accuracy", dtype: Any = None) -> None:
        super().__init__(
            lambda t, p: ops.equal(_class_ids(self, t, p), ops.argmax(p, axis=-1)).astype(float32),
            name,
            dtype,
        )


def _labels(metric: MeanMetricWrapper, y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Integer labels at the rank of ``y_pred`` less one (a trailing 1 dropped), of the shape
    ``y_pred`` has before its last axis (else a ShapeError)."""
    require_class_axis(metric._label, y_pred)
    return class_ids(metric._label, y_true, y_pred)


def _class_ids(metric: MeanMetricWrapper, y_true: Tensor, y_pred: Tensor) -> Tensor:
    """The labels of scores ``y_pred``, checked in range."""
    labels = _labels(metric, y_true, y_pred)
    check_class_ids(metric, labels, y_pred.shape[-1])
    return labels


def _in_top_k(ids: Tensor, y_pred: Tensor, k: int) -> Tensor:
    """1.0 where class ``ids`` scores among the ``k`` highest (ties count in, as Keras' in_top_k)."""
    target = ops.take_along_axis(y_pred, ops.expand_dims(ids, -1), -1)
    return (ops.sum((y_pred > target).astype(int64), axis=-1) < k).astype(float32)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label's class is among the ``k`` highest predictions (ties count in,
    as TensorFlow's in_top_k)."""

    _direction = "up"

    def __init__(
        self, k: int = 5, name: str | None = "top_k_categorical_accuracy", dtype: Any = None
    ) -> None:
        self.k = integer_arg(type(self).__name__, "k", k, minimum=1)
        super().__init__(lambda t, p: _in_top_k(ops.argmax(t, axis=-1), p, k), name, dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "k": self.k}


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the ``k`` highest predictions (ties count in). With
    ``from_sorted_ids`` the predictions are class ids sorted by score (e.g. from ``ops.topk``):
    a match is the label among their first ``k``."""

    _direction = "up"

    def __init__(
        self,
        k: int = 5,
        name: str | None = "sparse_top_k_categorical_accuracy",
        dtype: Any = None,
        from_sorted_ids: bool = False,
    ) -> None:
        self.k, self.from_sorted_ids = integer_arg(type(self).__name__, "k", k, minimum=1), from_sorted_ids
        super().__init__(self._matches, name, dtype)

    def _matches(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        if not self.from_sorted_ids:
            return _in_top_k(_class_ids(self, y_true, y_pred), y_pred, self.k)
        labels = ops.expand_dims(_labels(self, y_true, y_pred), -1)
        return ops.any(labels == y_pred[..., : self.k].astype(int64), axis=-1).astype(float32)

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "k": self.k}
        return {**config, "from_sorted_ids": True} if self.from_sorted_ids else config
