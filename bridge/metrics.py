"""Stateful metrics: ``update_state(y_true, y_pred, sample_weight=None)``, ``result()``,
``reset_state()``. State lives in Variables, so updates also run inside ``br.jit``."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from . import ops
from ._registry import Registry, snake_case
from .dtypes import float32, int64
from .errors import BridgeError, InvalidArgumentError, ShapeError
from .losses import (
    align_weight,
    as_tensor_like,
    at_least_float32,
    check_class_ids,
    require_class_axis,
    same_rank,
)
from .ops._core import as_tensor, renamed
from .ops.creation import tensor_like
from .tensor import Tensor
from .variable import Variable


def _naming_errors(update_state: Callable) -> Callable:
    """``update_state`` whose bridge errors name the metric (``"Precision 'precision': ..."``)."""

    @functools.wraps(update_state)
    def wrapper(self: Metric, *args: Any, **kwargs: Any) -> None:
        try:
            update_state(self, *args, **kwargs)
        except BridgeError as exc:
            raise renamed(exc, self._label) from exc.__cause__

    return wrapper


class Metric(ABC):
    """Base class. Subclasses name their state in ``_state_names`` and define ``update_state``
    (whose errors then name the metric: its class and name)."""

    _state_names: tuple[str, ...] = ()
    _state_shape: tuple[int, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "update_state" in cls.__dict__:
            cls.update_state = _naming_errors(cls.__dict__["update_state"])  # type: ignore[method-assign]

    def __init__(self, name: str | None = None) -> None:
        self.name = name or snake_case(type(self).__name__)
        self._state: dict[str, Variable] = {}

    @property
    def _label(self) -> str:
        """How errors name the metric: ``Precision 'precision'``."""
        return f"{type(self).__name__} {self.name!r}"

    def _variables(self, like: Tensor) -> dict[str, Variable]:
        """The state Variables, created on the first update's backend and device."""
        if not self._state:
            for name in self._state_names:
                zero = ops.zeros(self._state_shape, dtype=float32, backend=like.backend, device=like.device)
                self._state[name] = Variable(zero, trainable=False, name=f"{self.name}/{name}")
        return self._state

    def reset_state(self) -> None:
        for variable in self._state.values():
            variable.assign(0.0)

    @abstractmethod
    def result(self) -> Tensor: ...

    @abstractmethod
    def update_state(self, *args: Any, **kwargs: Any) -> None: ...

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this metric (its state not included)."""
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


def _as_weight(values: Tensor, sample_weight: Any) -> Tensor:
    if isinstance(sample_weight, Tensor):
        return sample_weight.astype(float32)
    return tensor_like(sample_weight, values, float32)


def _mean_over_samples(x: Tensor, start: int = 1) -> Tensor:
    """The mean over the axes from ``start`` on."""
    return ops.mean(x, axis=tuple(range(start, x.ndim))) if x.ndim > start else x


def _divide_no_nan(total: Tensor, count: Tensor) -> Tensor:
    """``total / count``, 0 where ``count`` is 0 (only that: a negative count is fine)."""
    nonzero = count != 0
    return ops.where(nonzero, total / ops.where(nonzero, count, 1.0), 0.0)


class _Averaging(Metric):
    """A weighted mean of values per sample: the state of ``Mean`` and ``MeanMetricWrapper``."""

    _state_names = ("total", "count")

    def _add(self, values: Any, sample_weight: Any) -> None:
        """Add ``values`` (of a sample beyond the first axis averaged first, as Keras does)."""
        values = as_tensor(self._label, values).astype(float32)
        if sample_weight is None:
            weight = ops.ones_like(_mean_over_samples(values))
        else:
            values, weight = same_rank(values, _as_weight(values, sample_weight))
            values = _mean_over_samples(values, weight.ndim)
            values, weight = align_weight(self._label, values, weight)
            values = values * weight
            weight = _mean_over_samples(ops.broadcast_to(weight, values.shape))
        state = self._variables(values)
        state["total"].assign_add(ops.sum(_mean_over_samples(values)))
        state["count"].assign_add(ops.sum(weight))

    def result(self) -> Tensor:
        if not self._state:
            return ops.tensor(0.0)
        return _divide_no_nan(self._state["total"], self._state["count"])


class Mean(_Averaging):
    """The (weighted) mean of the values passed to ``update_state(values, sample_weight=None)``."""

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        self._add(values, sample_weight)


def _targets_and_predictions(metric: Metric, y_true: Any, y_pred: Any) -> tuple[Tensor, Tensor]:
    """Both as tensors; targets given as data join the predictions' backend and device."""
    y_pred = at_least_float32(as_tensor(metric._label, y_pred))
    return as_tensor_like(y_true, y_pred), y_pred


class MeanMetricWrapper(_Averaging):
    """The mean of ``fn(y_true, y_pred)`` per sample."""

    def __init__(self, fn: Any, name: str | None = None) -> None:
        super().__init__(name)
        self.fn = fn

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = _targets_and_predictions(self, y_true, y_pred)
        self._add(self.fn(y_true, y_pred), sample_weight)


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
        y_true, y_pred = _targets_and_predictions(self, y_true, y_pred)
        y_pred, y_true = same_rank(y_pred.astype(float32), y_true)
        if y_true.shape != y_pred.shape:
            raise ShapeError(
                f"{self._label}: y_true of shape {y_true.shape} does not fit y_pred of shape {y_pred.shape}"
            )
        weight = ops.ones_like(y_pred) if sample_weight is None else _as_weight(y_pred, sample_weight)
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
        return _divide_no_nan(tp, tp + rest)


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


REGISTRY = Registry(
    "metric",
    {
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
    },
    base=Metric,
)


def get(identifier: Any) -> Any:
    """A metric from a name (a class then named by it, as Keras names ``metrics=["mae"]``
    "mae"; a function of your own, registered or in ``custom_objects``, returned as it is, for
    compile to wrap under its ``__name__``), a config or a Metric."""
    if isinstance(identifier, str):
        found = REGISTRY.lookup(identifier)
        return found(name=identifier) if isinstance(found, type) else found
    return REGISTRY.get(identifier)


def serialize(metric: Metric) -> Any:
    """``{"class_name", "config"}`` for a metric."""
    return REGISTRY.serialize(metric)


def deserialize(config: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """The metric ``serialize`` described."""
    return REGISTRY.deserialize(config, custom_objects)


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
    "serialize",
    "deserialize",
]
