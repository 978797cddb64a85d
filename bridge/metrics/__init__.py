"""Stateful metrics: ``update_state(y_true, y_pred, sample_weight=None)``, ``result()``,
``reset_state()``. State lives in Variables, so updates also run inside ``br.jit``."""

from __future__ import annotations

from typing import Any

from .._registry import Registry
from .accuracy import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    TopKCategoricalAccuracy,
)
from .base import Mean, MeanMetricWrapper, Metric
from .confusion import Precision, Recall
from .regression import MeanAbsoluteError, MeanSquaredError

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
