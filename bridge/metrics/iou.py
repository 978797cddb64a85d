"""Intersection-over-union metrics of segmentations and classifications: ``IoU`` (of chosen
classes), ``MeanIoU`` (of all), ``BinaryIoU`` (of thresholded scores), and ``OneHotIoU`` /
``OneHotMeanIoU`` (of one-hot targets). They add up a confusion matrix over the samples seen."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import ops
from ..dtypes import float32, float64, int64
from ..errors import InvalidArgumentError
from ..losses import EPSILON
from ..ops._core import integer_arg
from ..tensor import Tensor
from .base import Metric, as_weight, targets_and_predictions


class IoU(Metric):
    """``true positives / (true positives + false positives + false negatives)`` of each class
    in ``target_class_ids``, averaged over those that occur. Targets and predictions are class
    ids (or scores along ``axis`` where ``sparse_y_true`` / ``sparse_y_pred`` is False); ids
    out of ``[0, num_classes)`` and targets equal to ``ignore_class`` are left out. As in Keras
    the counts are kept in ``dtype`` (default int32: a float sample weight is truncated); the
    result is in ``dtype`` where it is a float, else float32."""

    _direction = "up"

    _state_names = ("total_confusion_matrix",)

    def __init__(
        self,
        num_classes: int,
        target_class_ids: Sequence[int],
        name: str | None = None,
        dtype: Any = None,
        ignore_class: int | None = None,
        sparse_y_true: bool = True,
        sparse_y_pred: bool = True,
        axis: int = -1,
    ) -> None:
        super().__init__(name, dtype or "int32")
        label = type(self).__name__
        self.num_classes = integer_arg(label, "num_classes", num_classes, minimum=1)
        ids = list(target_class_ids)
        if not ids or not all(isinstance(i, int) and 0 <= i < num_classes for i in ids):
            raise InvalidArgumentError(
                f"{label}: target_class_ids must be class ids in [0, {num_classes}), got {target_class_ids!r}"
            )
        if ignore_class is not None and (isinstance(ignore_class, bool) or not isinstance(ignore_class, int)):
            raise InvalidArgumentError(f"{label}: ignore_class must be an int or None, got {ignore_class!r}")
        self.target_class_ids, self.ignore_class, self.axis = ids, ignore_class, axis
        self.sparse_y_true, self.sparse_y_pred = sparse_y_true, sparse_y_pred
        self._state_shape = (num_classes, num_classes)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = targets_and_predictions(self, y_true, y_pred)
        if not self.sparse_y_true:
            y_true = ops.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = ops.argmax(y_pred, axis=self.axis)
        y_true, y_pred = (ops.reshape(y.astype(self.dtype).astype(int64), (-1,)) for y in (y_true, y_pred))
        wide = self.dtype if self.dtype.kind == "f" else float64  # counts exact to 2**53
        weight = (
            ops.ones_like(y_true, dtype=wide)
            if sample_weight is None
            else self._weight(y_true, sample_weight)
        )
        weight = ops.broadcast_to(weight.astype(wide), y_true.shape)
        if self.ignore_class is not None:
            weight = ops.where(y_true != self.ignore_class, weight, 0.0)
        # one_hot rows of ids out of range are zero: those pairs add nothing
        actual = ops.one_hot(y_true, self.num_classes, dtype=wide)
        predicted = ops.one_hot(y_pred, self.num_classes, dtype=wide) * ops.expand_dims(weight, -1)
        counts = ops.matmul(ops.transpose(actual), predicted)
        self._variables(counts)["total_confusion_matrix"].assign_add(counts.astype(self.dtype))

    def _weight(self, like: Tensor, sample_weight: Any) -> Tensor:
        """The sample weight in the metric's dtype (truncated where that is an int), flat."""
        return ops.reshape(as_weight(like.astype(self.dtype), sample_weight), (-1,))

    def result(self) -> Tensor:
        dtype = self.dtype if self.dtype.kind == "f" else float32
        if not self._state:
            return ops.zeros((), dtype=dtype)
        matrix = self._state["total_confusion_matrix"].astype(dtype)
        eye = ops.eye(self.num_classes, dtype=dtype, backend=matrix.backend, device=matrix.device)
        true_positives = ops.sum(matrix * eye, axis=0)
        denominator = ops.sum(matrix, axis=0) + ops.sum(matrix, axis=1) - true_positives
        ids = ops.tensor(self.target_class_ids, backend=matrix.backend, device=matrix.device)
        true_positives, denominator = ops.take(true_positives, ids), ops.take(denominator, ids)
        valid = denominator > 1e-9
        iou = ops.where(valid, true_positives / (denominator + EPSILON), 0.0)
        return ops.sum(iou) / (ops.sum(valid.astype(dtype)) + EPSILON)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "target_class_ids": self.target_class_ids,
            "ignore_class": self.ignore_class,
            "sparse_y_true": self.sparse_y_true,
            "sparse_y_pred": self.sparse_y_pred,
            "axis": self.axis,
        }


class MeanIoU(IoU):
    """The IoU of every class, averaged over those that occur."""

    def __init__(
        self,
        num_classes: int,
        name: str | None = None,
        dtype: Any = None,
        ignore_class: int | None = None,
        sparse_y_true: bool = True,
        sparse_y_pred: bool = True,
        axis: int = -1,
    ) -> None:
        classes = integer_arg(type(self).__name__, "num_classes", num_classes, minimum=1)
        super().__init__(
            classes, list(range(classes)), name, dtype, ignore_class, sparse_y_true, sparse_y_pred, axis
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["target_class_ids"]
        return config


class BinaryIoU(IoU):
    """The IoU of 0/1 targets against scores, a score ``>= threshold`` counting as 1, for the
    classes in ``target_class_ids`` (0, 1 or both)."""

    def __init__(
        self,
        target_class_ids: Sequence[int] = (0, 1),
        threshold: float = 0.5,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(2, target_class_ids, name, dtype)
        self.threshold = threshold

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = targets_and_predictions(self, y_true, y_pred)
        super().update_state(y_true, (y_pred.astype(float32) >= self.threshold).astype(int64), sample_weight)

    def get_config(self) -> dict[str, Any]:
        return {
            "target_class_ids": self.target_class_ids,
            "threshold": self.threshold,
            **Metric.get_config(self),
        }


class OneHotIoU(IoU):
    """``IoU`` of one-hot targets (and, unless ``sparse_y_pred``, scores) along ``axis``."""

    def __init__(
        self,
        num_classes: int,
        target_class_ids: Sequence[int],
        name: str | None = None,
        dtype: Any = None,
        ignore_class: int | None = None,
        sparse_y_pred: bool = False,
        axis: int = -1,
    ) -> None:
        super().__init__(num_classes, target_class_ids, name, dtype, ignore_class, False, sparse_y_pred, axis)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class OneHotMeanIoU(MeanIoU):
    """``MeanIoU`` of one-hot targets (and, unless ``sparse_y_pred``, scores) along ``axis``."""

    def __init__(
        self,
        num_classes: int,
        name: str | None = None,
        dtype: Any = None,
        ignore_class: int | None = None,
        sparse_y_pred: bool = False,
        axis: int = -1,
    ) -> None:
        super().__init__(num_classes, name, dtype, ignore_class, False, sparse_y_pred, axis)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["sparse_y_true"]
        return config
