"""Confusion-matrix metrics, as Keras 3 defines them: the weighted counts of true/false
positives/negatives at thresholds (a label is positive when it is not 0, a prediction when it
is above the threshold), and the metrics built from them: Precision, Recall, AUC and the
"X at Y" metrics such as PrecisionAtRecall.

Thresholds spread evenly over [0, 1] (AUC's, the "X at Y" metrics', or a list given so) are
matched as Keras' fast path matches them: the prediction, clipped to [0, 1], falls in the bucket
``ceil(p * (n - 1)) - 1``, so results agree with Keras at predictions on a threshold too."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import ops
from ..errors import IndexOutOfRangeError, InvalidArgumentError, ShapeError
from ..losses import EPSILON, align_weight, same_rank  # AUC's end thresholds: -EPSILON, 1 + EPSILON
from ..ops._core import integer_arg
from ..ops.creation import tensor_like
from ..tensor import Tensor
from .base import Metric, as_weight, divide_no_nan, targets_and_predictions

#: Keras' threshold below every prediction that ``top_k`` keeps, and the value it gives the rest.
NEG_INF = -1e10

_COUNTS = ("true_positives", "false_positives", "true_negatives", "false_negatives")
_CURVES = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
_SUMMATIONS = ("interpolation", "minoring", "majoring")


def _threshold_list(owner: str, thresholds: Any, default: float = 0.5) -> tuple[float, ...]:
    """The thresholds as a tuple of floats in [0, 1] (``default`` alone for None)."""
    if thresholds is None:
        return (default,)
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


def _evenly_spaced(thresholds: tuple[float, ...]) -> bool:
    """Keras' ``is_evenly_distributed_thresholds``: 0, 1/(n-1), ..., 1 for n >= 3."""
    n = len(thresholds)
    even = np.arange(n, dtype=np.float32) / max(n - 1, 1)
    return n >= 3 and bool(np.allclose(thresholds, even, atol=EPSILON))


def _fraction(owner: str, name: str, value: Any) -> float:
    """``value`` as a float, checked to be a number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise InvalidArgumentError(f"{owner}: {name} must be a number in [0, 1], got {value!r}")
    return float(value)


def _even_thresholds(num_thresholds: int) -> list[float]:
    """The ``num_thresholds - 2`` inner thresholds ``i / (num_thresholds - 1)`` of Keras."""
    return [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]


class _Confusion(Metric):
    """The weighted confusion-matrix counts named in ``_state_names`` at ``self._levels``.

    ``top_k`` keeps only the k highest predictions of each row as possibly positive,
    ``class_id`` counts one column; ``multi_label`` keeps one count per label (column);
    ``label_weights`` (not multi-label) weigh the columns; ``from_logits`` applies a sigmoid."""

    top_k: int | None = None
    class_id: int | None = None
    multi_label = False
    _label_weights: tuple[float, ...] | None = None
    _from_logits = False
    _levels: tuple[float, ...] = ()
    _evenly = False

    def _check_class_id(self, class_id: Any) -> int | None:
        return None if class_id is None else integer_arg(self._label, "class_id", class_id, minimum=0)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add the counts of a batch (``sample_weight`` weighs each sample, or each value)."""
        y_true, y_pred = targets_and_predictions(self, y_true, y_pred)
        y_pred, y_true = same_rank(y_pred.astype(self.dtype), y_true)
        if y_true.shape != y_pred.shape:
            raise ShapeError(
                f"{self._label}: y_true of shape {y_true.shape} does not fit y_pred of shape {y_pred.shape}"
            )
        weight = ops.ones_like(y_pred) if sample_weight is None else as_weight(y_pred, sample_weight)
        _, weight = align_weight(self._label, y_pred, weight)
        weight = ops.broadcast_to(weight, y_pred.shape)
        if self.top_k is not None:
            y_pred = self._keep_top_k(y_pred)
        if self.class_id is not None:
            y_true, y_pred, weight = self._column(y_true, y_pred, weight)
        if self._from_logits:
            y_pred = ops.sigmoid(y_pred)
        if self._label_weights is not None and not self.multi_label:
            weight = weight * tensor_like(self._label_weights, y_pred, self.dtype)
        columns = self._columns(y_pred)
        y_true, y_pred, weight = (ops.reshape(x, (-1, columns)) for x in (y_true, y_pred, weight))
        predicted = self._predicted_positive(y_pred)
        actual = (y_true != 0).astype(self.dtype)
        cells = {
            "true_positives": predicted * actual,
            "false_positives": predicted * (1.0 - actual),
            "true_negatives": (1.0 - predicted) * (1.0 - actual),
            "false_negatives": (1.0 - predicted) * actual,
        }
        state = self._variables(y_pred)
        for name in self._state_names:
            state[name].assign_add(ops.reshape(ops.sum(cells[name] * weight, axis=1), self._state_shape))

    def _keep_top_k(self, y_pred: Tensor) -> Tensor:
        """Keras' ``_filter_top_k``: the k highest of each row kept, the others ``NEG_INF``."""
        k = self.top_k or 0
        if y_pred.ndim == 0 or k > y_pred.shape[-1]:
            raise ShapeError(
                f"{self._label}: top_k={k} needs y_pred with at least {k} values per row, got {y_pred.shape}"
            )
        indices = ops.argsort(-y_pred)[..., :k]  # stable: of equal values the first, as TF's top_k
        kept = ops.sum(ops.one_hot(indices, y_pred.shape[-1], dtype=self.dtype), axis=-2)
        return y_pred * kept + NEG_INF * (1.0 - kept)

    def _column(self, *tensors: Tensor) -> tuple[Tensor, ...]:
        """Column ``class_id`` of each, kept as an axis of length 1."""
        shape, class_id = tensors[1].shape, self.class_id or 0
        if len(shape) < 2:
            raise ShapeError(f"{self._label}: class_id needs y_pred of shape (samples, classes), got {shape}")
        if class_id >= shape[-1]:
            raise IndexOutOfRangeError(
                f"{self._label}: class_id {class_id} is out of range for {shape[-1]} classes"
            )
        return tuple(x[..., class_id : class_id + 1] for x in tensors)

    def _columns(self, y_pred: Tensor) -> int:
        """How many columns are counted apart: 1, or the labels of multi-label data."""
        return 1

    def _predicted_positive(self, y_pred: Tensor) -> Tensor:
        """1.0 where a prediction (of shape ``(N, L)``) is above a threshold: ``(T, N, L)``."""
        count = len(self._levels)
        if self._evenly:
            bucket = ops.ceil(ops.clip(y_pred, 0.0, 1.0) * (count - 1)) - 1.0
            if self._levels[0] < 0.0:
                bucket = ops.maximum(bucket, 0.0)
            keys, levels = (
                bucket,
                ops.arange(count, dtype=self.dtype, backend=y_pred.backend, device=y_pred.device) - 0.5,
            )
        else:
            keys, levels = y_pred, tensor_like(self._levels, y_pred, self.dtype)
        return (ops.expand_dims(keys, 0) > ops.reshape(levels, (count, 1, 1))).astype(self.dtype)

    def _counts(self, *names: str) -> tuple[Tensor, ...]:
        """The state Variables as tensors (zeros before the first update)."""
        if not self._state:
            return tuple(ops.zeros(self._state_shape, dtype=self.dtype) for _ in names)
        return tuple(self._state[name].value for name in names)


class _ThresholdCount(_Confusion):
    """One count at each of ``thresholds`` (default 0.5): a value for one threshold, a vector for
    a list of them."""

    def __init__(self, thresholds: Any = None, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(name, dtype)
        self._levels = _threshold_list(self._label, thresholds)
        self._evenly = _evenly_spaced(self._levels)
        self.init_thresholds, self.thresholds = thresholds, list(self._levels)  # as Keras names them
        self._state_shape = (len(self._levels),) if len(self._levels) > 1 else ()

    def result(self) -> Tensor:
        return self._counts(*self._state_names)[0]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ThresholdCount):
    """The weighted count of positive labels predicted positive."""

    _state_names = ("true_positives",)


class FalsePositives(_ThresholdCount):
    """The weighted count of negative labels predicted positive."""

    _state_names = ("false_positives",)


class TrueNegatives(_ThresholdCount):
    """The weighted count of negative labels predicted negative."""

    _state_names = ("true_negatives",)


class FalseNegatives(_ThresholdCount):
    """The weighted count of positive labels predicted negative."""

    _state_names = ("false_negatives",)


class _Ratio(_Confusion):
    """true positives / (true positives + the other count of ``_state_names``) at each
    threshold, 0 where both are 0.

    ``thresholds`` defaults to 0.5, or with ``top_k`` to none at all (every kept prediction is
    positive); ``top_k`` and ``class_id`` as Keras' (see ``_Confusion``)."""

    _direction = "up"

    def __init__(
        self,
        thresholds: Any = None,
        top_k: int | None = None,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(name, dtype)
        self.top_k = None if top_k is None else integer_arg(self._label, "top_k", top_k, minimum=1)
        self.class_id = self._check_class_id(class_id)
        self._levels = _threshold_list(self._label, thresholds, 0.5 if top_k is None else NEG_INF)
        self._evenly = _evenly_spaced(self._levels)
        self.init_thresholds, self.thresholds = thresholds, list(self._levels)  # as Keras names them
        self._state_shape = (len(self._levels),) if len(self._levels) > 1 else ()

    def result(self) -> Tensor:
        tp, other = self._counts(*self._state_names)
        return divide_no_nan(tp, tp + other)

    def get_config(self) -> dict[str, Any]:
        """Keras' config; ``top_k`` and ``class_id`` only where set."""
        chosen = {"top_k": self.top_k, "class_id": self.class_id}
        return {
            **super().get_config(),
            "thresholds": self.init_thresholds,
            **{key: value for key, value in chosen.items() if value is not None},
        }


class Precision(_Ratio):
    """true positives / predicted positives."""

    _state_names = ("true_positives", "false_positives")


class Recall(_Ratio):
    """true positives / actual positives."""

    _state_names = ("true_positives", "false_negatives")


class _AtConstraint(_Confusion):
    """The best of one rate over the ``num_thresholds`` thresholds evenly spread over [0, 1]
    (0.5 alone for 1) where another rate is at least ``value``; 0 where none is."""

    _direction = "up"

    _state_names = _COUNTS
    _value_name: str

    def __init__(
        self,
        value: Any,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(name, dtype)
        setattr(self, self._value_name, _fraction(self._label, self._value_name, value))
        self.num_thresholds = integer_arg(self._label, "num_thresholds", num_thresholds, minimum=1)
        self.class_id = self._check_class_id(class_id)
        if num_thresholds == 1:
            self._levels = (0.5,)
        else:
            self._levels = (0.0, *_even_thresholds(num_thresholds), 1.0)
            self._evenly = True
        self._state_shape = (len(self._levels),)

    def _rates(self) -> dict[str, Tensor]:
        tp, fp, tn, fn = self._counts(*_COUNTS)
        recall = divide_no_nan(tp, tp + fn)
        return {
            "precision": divide_no_nan(tp, tp + fp),
            "recall": recall,
            "sensitivity": recall,
            "specificity": divide_no_nan(tn, tn + fp),
        }

    def _best(self, wanted: str, constrained: str) -> Tensor:
        rates = self._rates()
        value = getattr(self, self._value_name)
        return ops.max(ops.where(rates[constrained] >= value, rates[wanted], 0.0))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            self._value_name: getattr(self, self._value_name),
            "num_thresholds": self.num_thresholds,
            "class_id": self.class_id,
        }


class SensitivityAtSpecificity(_AtConstraint):
    """The best sensitivity (recall) where the specificity is at least ``specificity``."""

    _value_name = "specificity"

    def __init__(
        self,
        specificity: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(specificity, num_thresholds, class_id, name, dtype)

    def result(self) -> Tensor:
        return self._best("sensitivity", "specificity")


class SpecificityAtSensitivity(_AtConstraint):
    """The best specificity where the sensitivity (recall) is at least ``sensitivity``."""

    _value_name = "sensitivity"

    def __init__(
        self,
        sensitivity: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)

    def result(self) -> Tensor:
        return self._best("specificity", "sensitivity")


class PrecisionAtRecall(_AtConstraint):
    """The best precision where the recall is at least ``recall``."""

    _value_name = "recall"

    def __init__(
        self,
        recall: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(recall, num_thresholds, class_id, name, dtype)

    def result(self) -> Tensor:
        return self._best("precision", "recall")


class RecallAtPrecision(_AtConstraint):
    """The best recall where the precision is at least ``precision``."""

    _value_name = "precision"

    def __init__(
        self,
        precision: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(precision, num_thresholds, class_id, name, dtype)

    def result(self) -> Tensor:
        return self._best("recall", "precision")


class AUC(_Confusion):
    """The area under the ROC curve (``curve="ROC"``, recall against false-positive rate), the
    precision-recall curve (``"PR"``) or Keras' precision-recall-gain curve (``"PRGAIN"``), a
    Riemann sum over ``num_thresholds`` thresholds evenly spread over [0, 1] (or the given
    ``thresholds``), with ``-1e-7`` and ``1 + 1e-7`` at the ends, as Keras.

    ``summation_method``: ``"interpolation"`` (mid-points; for PR, Davis & Goadrich's
    interpolation), ``"minoring"`` or ``"majoring"`` (lower or upper bounds). ``multi_label``:
    one AUC per label (column of ``(samples, labels)`` data), averaged with ``label_weights``;
    else all values count as one label, weighted by their column's ``label_weights``.
    ``from_logits``: the predictions are logits (a sigmoid gives the probabilities)."""

    _direction = "up"

    _state_names = _COUNTS

    def __init__(
        self,
        num_thresholds: int = 200,
        curve: str = "ROC",
        summation_method: str = "interpolation",
        name: str | None = None,
        dtype: Any = None,
        thresholds: Any = None,
        multi_label: bool = False,
        num_labels: int | None = None,
        label_weights: Any = None,
        from_logits: bool = False,
    ) -> None:
        super().__init__(name, dtype)
        if thresholds is None:
            self.num_thresholds = integer_arg(self._label, "num_thresholds", num_thresholds, minimum=2)
            inner = _even_thresholds(self.num_thresholds)
            self._evenly = True
        else:
            inner = sorted(_threshold_list(self._label, thresholds))
            self.num_thresholds = len(inner) + 2
            self._evenly = _evenly_spaced((0.0, *inner, 1.0))
        self._levels = (-EPSILON, *inner, 1.0 + EPSILON)
        self._given_thresholds = None if thresholds is None else inner
        self.curve = self._choice("curve", curve, _CURVES)
        self.summation_method = self._choice(
            "summation_method", summation_method, {s: s for s in _SUMMATIONS}
        )
        self.multi_label = bool(multi_label)
        if num_labels is not None and not self.multi_label:
            raise InvalidArgumentError(f"{self._label}: num_labels is needed only when multi_label is True")
        self.num_labels = (
            None if num_labels is None else integer_arg(self._label, "num_labels", num_labels, minimum=1)
        )
        self._label_weights = None if label_weights is None else self._weights_of_labels(label_weights)
        self._from_logits = bool(from_logits)
        self._state_shape = (
            (self.num_thresholds, self.num_labels) if self.num_labels else (self.num_thresholds,)
        )

    def _choice(self, name: str, value: Any, known: dict[str, str]) -> str:
        if not isinstance(value, str) or value.lower() not in known:
            raise InvalidArgumentError(
                f"{self._label}: {name} must be one of {sorted(set(known.values()))}, got {value!r}"
            )
        return known[value.lower()]

    def _weights_of_labels(self, label_weights: Any) -> tuple[float, ...]:
        try:
            values = np.asarray(label_weights, dtype=np.float64)
        except (TypeError, ValueError):
            values = np.zeros(0)
        found = tuple(float(v) for v in values.reshape(-1))
        if values.ndim != 1 or not found or not all(v >= 0.0 for v in found):
            raise InvalidArgumentError(
                f"{self._label}: label_weights must be a list of numbers >= 0, got {label_weights!r}"
            )
        return found

    @property
    def thresholds(self) -> list[float]:
        """All the thresholds, the two end ones included."""
        return list(self._levels)

    @property
    def label_weights(self) -> list[float] | None:
        return None if self._label_weights is None else list(self._label_weights)

    def _columns(self, y_pred: Tensor) -> int:
        if not self.multi_label:
            return 1
        if y_pred.ndim != 2:
            raise ShapeError(
                f"{self._label}: y_pred must have rank 2 (samples, labels) when multi_label=True, "
                f"got shape {y_pred.shape}"
            )
        labels = y_pred.shape[1]
        if len(self._state_shape) == 2 and self._state_shape[1] != labels:
            raise ShapeError(
                f"{self._label}: y_pred has {labels} labels, the metric counts {self._state_shape[1]}"
            )
        self._state_shape = (self.num_thresholds, labels)  # from the first update, as Keras
        return labels

    def result(self) -> Tensor:
        tp, fp, tn, fn = self._counts(*_COUNTS)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._over_labels(self._interpolated_pr(tp, fp, fn))
        x, y = self._curve(tp, fp, tn, fn)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = ops.minimum(y[:-1], y[1:])
        else:
            heights = ops.maximum(y[:-1], y[1:])
        return self._over_labels((x[:-1] - x[1:]) * heights)

    def _curve(self, tp: Tensor, fp: Tensor, tn: Tensor, fn: Tensor) -> tuple[Tensor, Tensor]:
        """The points ``(x, y)`` of the curve at each threshold."""
        recall = divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            return divide_no_nan(fp, fp + tn), recall
        if self.curve == "PR":
            return recall, divide_no_nan(tp, tp + fp)
        scale = divide_no_nan(tp + fn, tn + fp)
        no_tp = tp == 0.0
        recall_gain = ops.where(no_tp, 0.0, 1.0 - scale * divide_no_nan(fn, tp))
        precision_gain = ops.where(no_tp, 1.0, 1.0 - scale * divide_no_nan(fp, tp))
        return ops.maximum(recall_gain, 0.0), precision_gain

    @staticmethod
    def _interpolated_pr(tp: Tensor, fp: Tensor, fn: Tensor) -> Tensor:
        """The area of each interval under Davis & Goadrich's interpolated PR curve (Keras'
        ``interpolate_pr_auc``)."""
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = divide_no_nan(dtp, ops.maximum(dp, 0.0))
        intercept = tp[1:] - slope * p[1:]
        both = ops.logical_and(p[:-1] > 0, p[1:] > 0)
        ratio = ops.where(both, divide_no_nan(p[:-1], ops.maximum(p[1:], 0.0)), 1.0)
        return divide_no_nan(slope * (dtp + intercept * ops.log(ratio)), ops.maximum(tp[1:] + fn[1:], 0.0))

    def _over_labels(self, terms: Tensor) -> Tensor:
        """The sum of the terms; multi-label: per label, then averaged (weighted by label)."""
        if not self.multi_label:
            return ops.sum(terms)
        by_label = ops.sum(terms, axis=0)
        if self._label_weights is None:
            return ops.mean(by_label)
        weights = tensor_like(self._label_weights, by_label, self.dtype)
        return divide_no_nan(ops.sum(by_label * weights), ops.sum(weights))

    def get_config(self) -> dict[str, Any]:
        config = {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": self.label_weights,
            "from_logits": self._from_logits,
        }
        if self._given_thresholds is not None:
            config["thresholds"] = self._given_thresholds
        return config
