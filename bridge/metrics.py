"""Stateful metrics: ``update_state(y_true, y_pred, sample_weight=None)``, ``result()``,
``reset_state()``. State lives in Variables, so updates also run inside ``br.jit``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from . import ops
from ._registry import lookup
from .dtypes import float32, int64
from .ops._core import as_tensor
from .tensor import Tensor
from .variable import Variable


class Metric(ABC):
    """Base class. Subclasses name their state in ``_state_names`` and define ``update_state``."""

    _state_names: tuple[str, ...] = ()

    def __init__(self, name: str | None = None) -> None:
        self.name = name or "".join(
            f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(type(self).__name__)
        )
        self._state: dict[str, Variable] = {}

    def _variables(self, like: Tensor) -> dict[str, Variable]:
        """The state Variables, created on the first update's backend and device."""
        if not self._state:
            for name in self._state_names:
                zero = ops.zeros((), dtype=float32, backend=like.backend, device=like.device)
                self._state[name] = Variable(zero, trainable=False, name=f"{self.name}/{name}")
        return self._state

    def reset_state(self) -> None:
        for variable in self._state.values():
            variable.assign(0.0)

    @abstractmethod
    def result(self) -> Tensor: ...

    @abstractmethod
    def update_state(self, *args: Any, **kwargs: Any) -> None: ...

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


def _weights(values: Tensor, sample_weight: Any) -> Tensor:
    if sample_weight is None:
        return ops.ones_like(values, dtype=float32)
    weight = (
        as_tensor("metric", sample_weight)
        if isinstance(sample_weight, Tensor)
        else ops.tensor(sample_weight, backend=values.backend, device=values.device)
    )
    while weight.ndim > values.ndim and weight.shape[-1] == 1:
        weight = ops.squeeze(weight, -1)
    return ops.broadcast_to(weight.astype(float32), values.shape)


class Mean(Metric):
    """The (weighted) mean of the values passed to ``update_state(values, sample_weight=None)``."""

    _state_names = ("total", "count")

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        values = as_tensor(self.name, values).astype(float32)
        weight = _weights(values, sample_weight)
        state = self._variables(values)
        state["total"].assign_add(ops.sum(values * weight))
        state["count"].assign_add(ops.sum(weight))

    def result(self) -> Tensor:
        if not self._state:
            return ops.tensor(0.0)
        return self._state["total"] / ops.maximum(self._state["count"], 1e-12)


def _targets_and_predictions(name: str, y_true: Any, y_pred: Any) -> tuple[Tensor, Tensor]:
    """Both as tensors; targets given as data join the predictions' backend and device."""
    y_pred = as_tensor(name, y_pred)
    if not isinstance(y_true, Tensor):
        y_true = ops.tensor(y_true, backend=y_pred.backend, device=y_pred.device)
    return y_true, y_pred


class MeanMetricWrapper(Mean):
    """The mean of ``fn(y_true, y_pred)`` per sample."""

    def __init__(self, fn: Any, name: str | None = None) -> None:
        super().__init__(name)
        self.fn = fn

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = _targets_and_predictions(self.name, y_true, y_pred)
        super().update_state(self.fn(y_true, y_pred), sample_weight)


def _matches(y_true: Tensor, y_pred: Tensor) -> Tensor:
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    return ops.equal(y_true, y_pred).astype(float32)


class Accuracy(MeanMetricWrapper):
    """How often predictions equal the labels."""

    def __init__(self, name: str | None = "accuracy") -> None:
        super().__init__(_matches, name)


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` equals the 0/1 label."""

    def __init__(self, threshold: float = 0.5, name: str | None = "binary_accuracy") -> None:
        self.threshold = threshold
        super().__init__(
            lambda t, p: ops.mean(_matches(t.astype(float32), (p > threshold).astype(float32)), axis=-1), name
        )


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the arg-max of one-hot labels equals that of the predictions."""

    def __init__(self, name: str | None = "categorical_accuracy") -> None:
        super().__init__(lambda t, p: _matches(ops.argmax(t, axis=-1), ops.argmax(p, axis=-1)), name)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often integer labels equal the arg-max of the predictions."""

    def __init__(self, name: str | None = "sparse_categorical_accuracy") -> None:
        super().__init__(lambda t, p: _matches(t.astype(int64), ops.argmax(p, axis=-1)), name)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label's class is among the ``k`` highest predictions (ties count in,
    as TensorFlow's in_top_k)."""

    def __init__(self, k: int = 5, name: str | None = "top_k_categorical_accuracy") -> None:
        self.k = k

        def in_top_k(t: Tensor, p: Tensor) -> Tensor:
            target = ops.take_along_axis(p, ops.expand_dims(ops.argmax(t, axis=-1), -1), -1)
            return (ops.sum((p > target).astype(int64), axis=-1) < k).astype(float32)

        super().__init__(in_top_k, name)


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name: str | None = "mean_squared_error") -> None:
        super().__init__(lambda t, p: ops.mean(ops.square(p - t.astype(p.dtype)), axis=-1), name)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name: str | None = "mean_absolute_error") -> None:
        super().__init__(lambda t, p: ops.mean(ops.abs(p - t.astype(p.dtype)), axis=-1), name)


class _Confusion(Metric):
    """Counts of a binary confusion matrix at a threshold."""

    _state_names = ("true_positives", "false_positives", "false_negatives")

    def __init__(self, thresholds: float = 0.5, name: str | None = None) -> None:
        super().__init__(name)
        self.thresholds = thresholds

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = _targets_and_predictions(self.name, y_true, y_pred)
        predicted = (y_pred > self.thresholds).astype(float32)
        actual = (ops.reshape(y_true, y_pred.shape) > 0.5).astype(float32)
        weight = _weights(predicted, sample_weight)
        state = self._variables(y_pred)
        state["true_positives"].assign_add(ops.sum(predicted * actual * weight))
        state["false_positives"].assign_add(ops.sum(predicted * (1.0 - actual) * weight))
        state["false_negatives"].assign_add(ops.sum((1.0 - predicted) * actual * weight))

    def _share(self, other: str) -> Tensor:
        """true positives / (true positives + ``other``), 0 when both are 0."""
        if not self._state:
            return ops.tensor(0.0)
        tp, rest = self._state["true_positives"], self._state[other]
        return ops.where(tp + rest > 0, tp / ops.maximum(tp + rest, 1e-12), 0.0)


class Precision(_Confusion):
    """true positives / predicted positives."""

    def __init__(self, thresholds: float = 0.5, name: str | None = "precision") -> None:
        super().__init__(thresholds, name)

    def result(self) -> Tensor:
        return self._share("false_positives")


class Recall(_Confusion):
    """true positives / actual positives."""

    def __init__(self, thresholds: float = 0.5, name: str | None = "recall") -> None:
        super().__init__(thresholds, name)

    def result(self) -> Tensor:
        return self._share("false_negatives")


METRICS: dict[str, type[Metric]] = {
    "mean": Mean,
    "accuracy": Accuracy,
    "acc": Accuracy,
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "precision": Precision,
    "recall": Recall,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
}


def get(identifier: Any) -> Metric:
    """A metric from a name or a Metric."""
    found = lookup("metric", identifier, METRICS)
    return found() if isinstance(found, type) else found


__all__ = [
    "Metric",
    "Mean",
    "MeanMetricWrapper",
    "Accuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "Precision",
    "Recall",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "get",
]
