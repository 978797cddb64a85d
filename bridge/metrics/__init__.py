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
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
)
from .base import LossMean, Mean, MeanMetricWrapper, Metric, Sum
from .confusion import (
    AUC,
    FalseNegatives,
    FalsePositives,
    Precision,
    PrecisionAtRecall,
    Recall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    TrueNegatives,
    TruePositives,
)
from .f_score import F1Score, FBetaScore
from .iou import BinaryIoU, IoU, MeanIoU, OneHotIoU, OneHotMeanIoU
from .probabilistic import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    Hinge,
    KLDivergence,
    Poisson,
    SparseCategoricalCrossentropy,
    SquaredHinge,
)
from .regression import (
    ConcordanceCorrelation,
    CosineSimilarity,
    LogCoshError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    PearsonCorrelation,
    R2Score,
    RootMeanSquaredError,
)

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
        "true_positives": TruePositives,
        "false_positives": FalsePositives,
        "true_negatives": TrueNegatives,
        "false_negatives": FalseNegatives,
        "auc": AUC,
        "precision_at_recall": PrecisionAtRecall,
        "recall_at_precision": RecallAtPrecision,
        "sensitivity_at_specificity": SensitivityAtSpecificity,
        "specificity_at_sensitivity": SpecificityAtSensitivity,
        "mse": MeanSquaredError,
        "mean_squared_error": MeanSquaredError,
        "mae": MeanAbsoluteError,
        "mean_absolute_error": MeanAbsoluteError,
        "sum": Sum,
        "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
        "root_mean_squared_error": RootMeanSquaredError,
        "mape": MeanAbsolutePercentageError,
        "mean_absolute_percentage_error": MeanAbsolutePercentageError,
        "msle": MeanSquaredLogarithmicError,
        "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
        "cosine_similarity": CosineSimilarity,
        "log_cosh_error": LogCoshError,
        "r2_score": R2Score,
        "pearson_correlation": PearsonCorrelation,
        "concordance_correlation": ConcordanceCorrelation,
        "f1_score": F1Score,
        "fbeta_score": FBetaScore,
        "iou": IoU,
        "mean_iou": MeanIoU,
        "binary_iou": BinaryIoU,
        "one_hot_iou": OneHotIoU,
        "one_hot_mean_iou": OneHotMeanIoU,
        "bce": BinaryCrossentropy,
        "binary_crossentropy": BinaryCrossentropy,
        "categorical_crossentropy": CategoricalCrossentropy,
        "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
        "kl_divergence": KLDivergence,
        "poisson": Poisson,
        "hinge": Hinge,
        "squared_hinge": SquaredHinge,
        "categorical_hinge": CategoricalHinge,
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
    "TruePositives",
    "FalsePositives",
    "TrueNegatives",
    "FalseNegatives",
    "AUC",
    "PrecisionAtRecall",
    "RecallAtPrecision",
    "SensitivityAtSpecificity",
    "SpecificityAtSensitivity",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "Sum",
    "LossMean",
    "SparseTopKCategoricalAccuracy",
    "RootMeanSquaredError",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "CosineSimilarity",
    "LogCoshError",
    "R2Score",
    "PearsonCorrelation",
    "ConcordanceCorrelation",
    "F1Score",
    "FBetaScore",
    "IoU",
    "MeanIoU",
    "BinaryIoU",
    "OneHotIoU",
    "OneHotMeanIoU",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "KLDivergence",
    "Poisson",
    "Hinge",
    "SquaredHinge",
    "CategoricalHinge",
    "get",
    "serialize",
    "deserialize",
]
