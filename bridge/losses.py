"""Losses with Keras' argument order ``loss(y_true, y_pred, sample_weight=None)`` and reductions.

Cross-entropies from logits are computed without overflow: logits of +-100 give finite losses
and gradients."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from . import ops
from ._context import ContextValue
from ._registry import Registry, snake_case
from .dtypes import as_dtype, int64
from .errors import ArgumentTypeError, InvalidArgumentError, ShapeError
from .ops._core import as_tensor, wider_float
from .ops.creation import tensor_like
from .tensor import Tensor

REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight", "sum", "none")
#: Keras' ``backend.epsilon()``: the clip and guard of the losses and metrics
EPSILON = 1e-7
_NEVER = -1e30  # the log of a probability of 0, finite so that sums of them stay finite


class Loss(ABC):
    """Base class: ``call(y_true, y_pred)`` gives per-sample losses; ``__call__`` weights and
    reduces them. ``dtype`` is the dtype the loss is computed in (None: y_pred's, 16-bit floats
    widened to float32)."""

    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        reduction = "none" if reduction is None else reduction
        if reduction not in REDUCTIONS:
            raise InvalidArgumentError(
                f"{type(self).__name__}: unknown reduction {reduction!r}; known: {', '.join(REDUCTIONS)}"
            )
        self.reduction = reduction
        self.name = name or snake_case(type(self).__name__)
        self.dtype = None if dtype is None else as_dtype(dtype)
        if self.dtype is not None and self.dtype.kind != "f":
            raise InvalidArgumentError(f"{type(self).__name__}: dtype must be a float dtype, got {dtype!r}")

    @abstractmethod
    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        """Per-sample losses."""

    def mask(self, y_true: Tensor, y_pred: Tensor, losses: Tensor) -> Tensor | None:
        """Which per-sample ``losses`` count (None: all), as Keras' mask on the losses."""
        return None

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        y_true, y_pred = self._prepared(y_true, y_pred)
        losses = self.call(y_true, y_pred)
        weight = None if sample_weight is None else as_tensor_like(sample_weight, losses)
        mask = self.mask(y_true, y_pred, losses)
        if mask is not None:
            weight = _masked_weight(mask.astype(losses.dtype), weight, self.reduction)
        return reduce_weighted(self.name, losses, weight, self.reduction)

    def values(self, y_true: Any, y_pred: Any) -> Tensor:
        """The per-sample losses, unweighted and unreduced (Keras' functional form)."""
        return self.call(*self._prepared(y_true, y_pred))

    def _prepared(self, y_true: Any, y_pred: Any) -> tuple[Tensor, Tensor]:
        y_pred = as_tensor(self.name, y_pred)
        y_pred = at_least_float32(y_pred) if self.dtype is None else y_pred.astype(self.dtype)
        return as_tensor_like(y_true, y_pred), y_pred

    @property
    def _label(self) -> str:
        """How errors name the loss."""
        return self.name

    def get_config(self) -> dict[str, Any]:
        """The reduction and the name; the dtype where one was given."""
        config = {"reduction": self.reduction, "name": self.name}
        return config if self.dtype is None else {**config, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        """The loss ``get_config`` described."""
        return cls(**config)


def reduce_weighted(op: str, losses: Tensor, weight: Tensor | None, reduction: str) -> Tensor:
    """Keras' ``reduce_weighted_values``: the losses times the weight, reduced. The means divide
    by the number of losses, ``"mean_with_sample_weight"`` by the sum of the weights (0 where
    that is 0)."""
    if weight is not None:
        losses, weight = align_weight(op, losses, weight)
        losses = losses * weight.astype(losses.dtype)
    if reduction == "none":
        return losses
    total = ops.sum(losses)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and weight is not None:
        return _divide_no_nan(total, ops.sum(weight.astype(losses.dtype)))
    return total / max(losses.size, 1)


def _divide_no_nan(x: Tensor, y: Tensor) -> Tensor:
    """``x / y``, 0 where ``y`` is 0."""
    zero = y == 0
    return ops.where(zero, ops.zeros_like(x), x / ops.where(zero, ops.ones_like(y), y))


def _masked_weight(mask: Tensor, weight: Tensor | None, reduction: str) -> Tensor:
    """Keras' ``apply_mask``: the mask (0 or 1 per loss) as a weight, times the sample weight;
    for the means the kept losses weigh ``all / kept``, so that the mean is over them."""
    if reduction in ("mean", "sum_over_batch_size"):
        kept = ops.sum(mask)
        mask = mask * _divide_no_nan(ops.full_like(kept, mask.size), kept)
    if weight is None:
        return mask
    mask, weight = same_rank(mask, weight.astype(mask.dtype))
    return mask * weight


def at_least_float32(x: Tensor) -> Tensor:
    """16-bit floats (a mixed-precision model's outputs) as float32, where losses and metrics
    are computed, as Keras; other tensors as they are."""
    wider = wider_float(x.dtype)
    return x if wider is x.dtype else x.astype(wider)


def as_tensor_like(x: Any, reference: Tensor) -> Tensor:
    """``x`` as a tensor on the reference's backend and device."""
    return x if isinstance(x, Tensor) else tensor_like(x, reference)


def same_rank(x1: Tensor, x2: Tensor, expand_rank_1: bool = True) -> tuple[Tensor, Tensor]:
    """Keras' ``squeeze_or_expand_to_same_rank``: where the ranks differ by one and the longer
    ends in a 1, drop that 1, or (``expand_rank_1``) give a rank-1 partner a trailing 1."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1 and expand_rank_1:
            return x1, ops.expand_dims(x2, -1)
        return ops.squeeze(x1, -1), x2
    if x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1 and expand_rank_1:
            return ops.expand_dims(x1, -1), x2
        return x1, ops.squeeze(x2, -1)
    return x1, x2


def align_weight(op: str, values: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    """``values`` and a sample weight that fits them, aligned from the first axis: a weight per
    sample ``(N,)`` weighs every value of that sample in ``(N, ...)``."""
    given = (weight.shape, values.shape)
    values, weight = same_rank(values, weight)
    if weight.ndim < values.ndim:
        weight = ops.reshape(weight, weight.shape + (1,) * (values.ndim - weight.ndim))
    try:
        np.broadcast_shapes(values.shape, weight.shape)
    except ValueError:
        raise ShapeError(
            f"{op}: sample_weight of shape {given[0]} does not fit values of shape {given[1]}"
        ) from None
    return values, weight


def require_class_axis(op: str, y_pred: Tensor) -> int:
    """The number of classes: the last axis of the scores, which must have one."""
    if y_pred.ndim == 0:
        raise ShapeError(f"{op}: y_pred needs an axis of class scores, got a scalar (shape ())")
    return y_pred.shape[-1]


def _check_same_shape(loss: Loss, y_true: Tensor, y_pred: Tensor) -> tuple[Tensor, Tensor]:
    """Both at one rank as Keras aligns them, ``y_true`` in y_pred's dtype."""
    y_true, y_pred = same_rank(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ShapeError(
            f"{loss.name}: y_true of shape {y_true.shape} does not fit y_pred of shape {y_pred.shape}"
        )
    return y_true.astype(y_pred.dtype), y_pred


class LossFunctionWrapper(Loss):
    """A function ``fn(y_true, y_pred)`` as a Loss, as Keras wraps the functions given to
    ``compile``: its values (one per sample, or a scalar) are weighted and reduced as every
    loss's (by default their mean)."""

    def __init__(
        self,
        fn: Callable[[Tensor, Tensor], Tensor],
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(reduction, name or getattr(fn, "__name__", None), dtype)
        self.fn = fn

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return as_tensor(self.name, self.fn(y_true, y_pred))

    def get_config(self) -> dict[str, Any]:
        """The reduction, the name and ``fn``, named as ``serialize`` names a function (found
        again by ``from_config`` through ``custom_objects`` or ``register_serializable``)."""
        return {**super().get_config(), "fn": serialize(self.fn)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LossFunctionWrapper:
        """The wrapper ``get_config`` described; ``fn`` a function, or its name or config."""
        fn = config["fn"]
        if isinstance(fn, (str, dict)):  # a name or a config, found as any loss is
            fn = REGISTRY.get(fn)
        return cls(**{**config, "fn": fn})


class MeanSquaredError(Loss):
    """Mean over the last axis of ``(y_pred - y_true) ** 2`` (``"mse"``)."""

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true, y_pred = _check_same_shape(self, y_true, y_pred)
        return ops.mean(ops.square(y_pred - y_true), axis=-1)


class MeanAbsoluteError(Loss):
    """Mean over the last axis of ``|y_pred - y_true|`` (``"mae"``)."""

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true, y_pred = _check_same_shape(self, y_true, y_pred)
        return ops.mean(ops.abs(y_pred - y_true), axis=-1)


class Huber(Loss):
    """Squared error below ``delta``, linear above it."""

    def __init__(self, delta: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delta = float(delta)
        if not self.delta > 0:  # as torch.nn.HuberLoss (NaN fails too)
            raise InvalidArgumentError(f"Huber: delta must be positive, got {delta}")

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true, y_pred = _check_same_shape(self, y_true, y_pred)
        error = ops.abs(y_pred - y_true)
        quadratic = ops.minimum(error, self.delta)
        return ops.mean(quadratic * quadratic * 0.5 + (error - quadratic) * self.delta, axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "delta": self.delta}


class _SmoothedCrossentropy(Loss):
    """The arguments the binary and categorical cross-entropies share."""

    def __init__(
        self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.from_logits, self.label_smoothing = from_logits, float(label_smoothing)
        self.axis = _check_axis(self, axis)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
        }


class BinaryCrossentropy(_SmoothedCrossentropy):
    """Cross-entropy of 0/1 targets; ``from_logits`` takes raw scores (preferred: stable)."""

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true, y_pred = _check_same_shape(self, y_true, y_pred)
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        if self.from_logits:
            losses = ops.softplus(y_pred) - y_pred * y_true
        else:
            p = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
            losses = -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
        return ops.mean(losses, axis=self.axis)


class CategoricalCrossentropy(_SmoothedCrossentropy):
    """Cross-entropy of one-hot (or soft) targets over the last axis."""

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        require_class_axis(self.name, y_pred)
        y_true, y_pred = _check_same_shape(self, y_true, y_pred)
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + self.label_smoothing / y_true.shape[-1]
        return -ops.sum(y_true * _log_probabilities(y_pred, self.from_logits, self.axis), axis=self.axis)


def class_ids(op: str, y_true: Tensor, y_pred: Tensor) -> Tensor:
    """The integer class ids ``y_true``, at the scores' rank less one (``(batch, 1)`` squeezed)."""
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    if y_true.shape != y_pred.shape[:-1]:
        raise ShapeError(
            f"{op}: class ids of shape {y_true.shape} do not fit scores of shape {y_pred.shape} "
            f"(expected ids of shape {y_pred.shape[:-1]})"
        )
    return y_true.astype(int64)


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy of integer class ids against scores over the last axis."""

    def __init__(self, from_logits: bool = False, ignore_class: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.from_logits = from_logits
        if ignore_class is not None and (isinstance(ignore_class, bool) or not isinstance(ignore_class, int)):
            raise ArgumentTypeError(
                f"{type(self).__name__}: ignore_class must be an int or None, got {ignore_class!r}"
            )
        self.ignore_class = ignore_class

    def _ids(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return class_ids(self.name, y_true, y_pred)

    def mask(self, y_true: Tensor, y_pred: Tensor, losses: Tensor | None = None) -> Tensor | None:
        """With ``ignore_class``: False where the label is that class."""
        return None if self.ignore_class is None else self._ids(y_true, y_pred) != self.ignore_class

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        """Per-sample losses; 0 where the label is ``ignore_class``."""
        classes = require_class_axis(self.name, y_pred)
        labels = self._ids(y_true, y_pred)
        kept = self.mask(y_true, y_pred)
        if kept is not None:
            labels = ops.where(kept, labels, ops.zeros_like(labels))
        check_class_ids(self, labels, classes)
        backend = y_pred._backend
        if self.from_logits and "sparse_cross_entropy" in backend.fast_paths and y_pred.dtype.kind == "f":
            losses = Tensor(backend.sparse_cross_entropy(y_pred._native, labels._native), backend)
        else:
            losses = sparse_cross_entropy_composite(y_pred, labels, self.from_logits)
        return losses if kept is None else ops.where(kept, losses, ops.zeros_like(losses))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "from_logits": self.from_logits, "ignore_class": self.ignore_class}


def sparse_cross_entropy_composite(y_pred: Tensor, labels: Tensor, from_logits: bool) -> Tensor:
    """Per-sample ``-log p[label]`` written over primitives; the reference for the fast paths."""
    log_p = _log_probabilities(y_pred, from_logits)
    return -ops.squeeze(ops.take_along_axis(log_p, ops.expand_dims(labels, -1), -1), -1)


def _probabilities(y_pred: Tensor, from_logits: bool, axis: int = -1) -> Tensor:
    """Scores as probabilities over ``axis``, clipped away from 0 and 1 (as Keras)."""
    p = ops.softmax(y_pred, axis=axis) if from_logits else y_pred
    return ops.clip(p / ops.sum(p, axis=axis, keepdims=True), EPSILON, 1.0 - EPSILON)


def _log_probabilities(y_pred: Tensor, from_logits: bool, axis: int = -1) -> Tensor:
    if from_logits:
        return ops.log_softmax(y_pred, axis=axis)
    return ops.log(_probabilities(y_pred, False, axis))


def _check_axis(loss: Loss, axis: Any, optional: bool = False) -> Any:
    """``axis`` as Keras takes it: an int (or, where ``optional``, None or a tuple of ints)."""
    ints = axis if isinstance(axis, (tuple, list)) and optional else (axis,)
    if (axis is None and optional) or all(isinstance(a, int) and not isinstance(a, bool) for a in ints):
        return tuple(axis) if isinstance(axis, list) else axis
    kind = "an int, a tuple of ints or None" if optional else "an int"
    raise ArgumentTypeError(f"{type(loss).__name__}: axis must be {kind}, got {axis!r}")


class MeanAbsolutePercentageError(Loss):
    """``100 * mean(|y_true - y_pred| / max(|y_true|, eps))`` over the last axis (``"mape"``)."""

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true, y_pred = _check_same_shape(self, y_true, y_pred)
        return 100.0 * ops.mean(ops.abs((y_true - y_pred) / ops.maximum(ops.abs(y_true), EPSILON)), axis=-1)


class MeanSquaredLogarithmicError(Loss):
    """Mean over the last axis of ``(log(y_pred + 1) - log(y_true + 1)) ** 2``, values below
    eps taken as eps (``"msle"``)."""

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true, y_pred = _check_same_shape(self, y_true, y_pred)
        logs = [ops.log(ops.maximum(y, EPSILON) + 1.0) for y in (y_pred, y_true)]
        return ops.mean(ops.square(logs[0] - logs[1]), axis=-1)


def _hinge_labels(y_true: Tensor) -> Tensor:
    """0/1 labels as -1/1 (when every label is 0 or 1, as Keras decides); others unchanged."""
    binary = ops.all((y_true == 0) | (y_true == 1))
    return ops.where(binary, 2.0 * y_true - 1.0, y_true)


class Hinge(Loss):
    """Mean over the last axis of ``max(1 - y_true * y_pred, 0)``; labels -1/1 or 0/1."""

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true, y_pred = _check_same_shape(self, y_true, y_pred)
        return ops.mean(ops.maximum(1.0 - _hinge_labels(y_true) * y_pred, 0.0), axis=-1)


class SquaredHinge(Loss):
    """Mean over the last axis of ``max(1 - y_true * y_pred, 0) ** 2``; labels -1/1 or 0/1."""

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true, y_pred = _check_same_shape(self, y_true, y_pred)
        return ops.mean(ops.square(ops.maximum(1.0 - _hinge_labels(y_true) * y_pred, 0.0)), axis=-1)


class CategoricalHinge(Loss):
    """``max(neg - pos + 1, 0)`` with ``pos = sum(y_true * y_pred)`` and
    ``neg = max((1 - y_true) * y_pred)`` over the last axis."""

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true, y_pred = _check_same_shape(self, y_true, y_pred)
        pos = ops.sum(y_true * y_pred, axis=-1)
        neg = ops.max((1.0 - y_true) * y_pred, axis=-1)
        return ops.maximum(neg - pos + 1.0, 0.0)


def _l2_normalize(x: Tensor, axis: int) -> Tensor:
    """Keras' ``normalize``: ``x / max(norm, eps)`` along ``axis``."""
    inverse = ops.rsqrt(ops.sum(ops.square(x), axis=axis, keepdims=True))
    return x * ops.minimum(inverse, 1.0 / EPSILON)


class CosineSimilarity(Loss):
    """Minus the cosine similarity along ``axis``: -1 for parallel vectors, 0 where either is 0."""

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = _check_axis(self, axis)

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true, y_pred = _check_same_shape(self, y_true, y_pred)
        return -ops.sum(_l2_normalize(y_true, self.axis) * _l2_normalize(y_pred, self.axis), axis=self.axis)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class LogCosh(Loss):
    """Mean over the last axis of ``log(cosh(y_pred - y_true))``, finite for large errors."""

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true, y_pred = _check_same_shape(self, y_true, y_pred)
        error = y_pred - y_true
        return ops.mean(error + ops.softplus(-2.0 * error) - float(np.log(2.0)), axis=-1)


class KLDivergence(Loss):
    """``sum(y_true * log(y_true / y_pred))`` over the last axis, both clipped to [eps, 1]."""

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true, y_pred = _check_same_shape(self, y_true, y_pred)
        y_true, y_pred = ops.clip(y_true, EPSILON, 1.0), ops.clip(y_pred, EPSILON, 1.0)
        return ops.sum(y_true * ops.log(y_true / y_pred), axis=-1)


class Poisson(Loss):
    """Mean over the last axis of ``y_pred - y_true * log(y_pred + eps)``."""

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true, y_pred = _check_same_shape(self, y_true, y_pred)
        return ops.mean(y_pred - y_true * ops.log(y_pred + EPSILON), axis=-1)


class _Focal(_SmoothedCrossentropy):
    """The focusing arguments: ``gamma`` (0: the plain cross-entropy) and the weight ``alpha``."""

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha, self.gamma = float(alpha), float(gamma)
        if not self.gamma >= 0:
            raise InvalidArgumentError(f"{type(self).__name__}: gamma must be >= 0, got {gamma}")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha, "gamma": self.gamma}


class BinaryFocalCrossentropy(_Focal):
    """The binary cross-entropy times ``(1 - p_t) ** gamma``, which weighs down easy examples;
    ``apply_class_balancing`` weighs class 1 by ``alpha`` and class 0 by ``1 - alpha``."""

    def __init__(self, apply_class_balancing: bool = False, alpha: float = 0.25, **kwargs: Any) -> None:
        super().__init__(alpha=alpha, **kwargs)
        self.apply_class_balancing = apply_class_balancing

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true, y_pred = _check_same_shape(self, y_true, y_pred)
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        p = ops.sigmoid(y_pred) if self.from_logits else y_pred
        clipped = ops.clip(p, EPSILON, 1.0 - EPSILON)
        bce = -(y_true * ops.log(clipped) + (1.0 - y_true) * ops.log(1.0 - clipped))
        p_t = y_true * p + (1.0 - y_true) * (1.0 - p)
        losses = ops.power(1.0 - p_t, self.gamma) * bce
        if self.apply_class_balancing:
            losses = (y_true * self.alpha + (1.0 - y_true) * (1.0 - self.alpha)) * losses
        return ops.mean(losses, axis=self.axis)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "apply_class_balancing": self.apply_class_balancing}


class CategoricalFocalCrossentropy(_Focal):
    """The categorical cross-entropy with each class's term times ``alpha * (1 - p) ** gamma``."""

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        require_class_axis(self.name, y_pred)
        y_true, y_pred = _check_same_shape(self, y_true, y_pred)
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + self.label_smoothing / y_true.shape[-1]
        p = _probabilities(y_pred, self.from_logits, self.axis)
        focal = self.alpha * ops.power(1.0 - p, self.gamma) * -y_true * ops.log(p)
        return ops.sum(focal, axis=self.axis)


class Dice(Loss):
    """``1 - 2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred) + eps)`` over ``axis``
    (None: all axes, one value for the batch)."""

    def __init__(self, axis: int | tuple[int, ...] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = _check_axis(self, axis, optional=True)

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true, y_pred = _check_same_shape(self, y_true, y_pred)
        overlap = ops.sum(y_true * y_pred, axis=self.axis)
        return 1.0 - 2.0 * overlap / (
            ops.sum(y_true, axis=self.axis) + ops.sum(y_pred, axis=self.axis) + EPSILON
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class Tversky(Dice):
    """``1 - tp / (tp + alpha * fp + beta * fn + eps)`` over ``axis``: Dice at alpha = beta =
    0.5, with false positives (``alpha``) and negatives (``beta``) weighed apart."""

    def __init__(self, alpha: float = 0.5, beta: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha, self.beta = float(alpha), float(beta)

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true, y_pred = _check_same_shape(self, y_true, y_pred)
        tp = ops.sum(y_true * y_pred, axis=self.axis)
        fp = ops.sum((1.0 - y_pred) * y_true, axis=self.axis)
        fn = ops.sum(y_pred * (1.0 - y_true), axis=self.axis)
        return 1.0 - tp / (tp + fp * self.alpha + fn * self.beta + EPSILON)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta}


class CategoricalGeneralizedCrossEntropy(Loss):
    """``(1 - p ** q) / q`` of the probability ``p`` given to the labelled class (integer ids):
    cross-entropy as ``q`` nears 0, mean absolute error at 1, robust to noisy labels. Ids of
    shape ``(batch, 1)`` count as ``(batch,)`` (Keras broadcasts them to a (batch, batch) grid:
    bridge differs on purpose)."""

    def __init__(self, q: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 < q < 1:
            raise InvalidArgumentError(f"{type(self).__name__}: q must be in (0, 1), got {q!r}")
        self.q = float(q)

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        classes = require_class_axis(self.name, y_pred)
        labels = class_ids(self.name, y_true, y_pred)
        check_class_ids(self, labels, classes)
        p = ops.squeeze(ops.take_along_axis(y_pred, ops.expand_dims(labels, -1), axis=-1), -1)
        return (1.0 - ops.power(p, self.q)) / self.q

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "q": self.q}


class Circle(Loss):
    """Circle loss (Sun et al. 2020) of L2-normalized embeddings ``y_pred`` with integer labels
    ``y_true``: pulls same-label pairs together and pushes the others apart, each pair weighted
    by how far it is from its optimum; ``gamma`` scales, ``margin`` relaxes. Per sample, as
    Keras: a loss of exactly 0 does not count in the mean."""

    def __init__(
        self,
        gamma: float = 80.0,
        margin: float = 0.4,
        remove_diagonal: bool = True,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "circle",
        dtype: Any = None,
    ) -> None:
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        self.gamma, self.margin, self.remove_diagonal = float(gamma), float(margin), bool(remove_diagonal)

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        if y_pred.ndim != 2:
            raise ShapeError(f"{self.name}: embeddings must be (batch, dims), got shape {y_pred.shape}")
        labels = ops.reshape(y_true, (-1, 1)).astype(int64)
        positive = ops.equal(labels, ops.transpose(labels))
        negative = ops.logical_not(positive)
        if self.remove_diagonal:
            positive = ops.logical_and(positive, ops.logical_not(ops.eye(labels.shape[0], dtype="bool")))
        distance = ops.maximum(1.0 - ops.matmul(y_pred, ops.transpose(y_pred)), 0.0)
        pos_weight = ops.maximum((self.margin + distance) * positive.astype(distance.dtype), 0.0)
        neg_weight = ops.maximum((1.0 + self.margin - distance) * negative.astype(distance.dtype), 0.0)
        pos_terms = -self.gamma * pos_weight * (self.margin - distance)
        neg_terms = self.gamma * neg_weight * (1.0 - self.margin - distance)
        p_loss = ops.logsumexp(ops.where(positive, pos_terms, float("-inf")), axis=1)
        n_loss = ops.logsumexp(ops.where(negative, neg_terms, float("-inf")), axis=1)
        return ops.softplus(p_loss + n_loss)

    def mask(self, y_true: Tensor, y_pred: Tensor, losses: Tensor) -> Tensor | None:
        return losses > 0

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "gamma": self.gamma,
            "margin": self.margin,
            "remove_diagonal": self.remove_diagonal,
        }


class CTC(Loss):
    """Connectionist temporal classification: minus the log-likelihood of the label sequences
    ``y_true`` (``(batch, max_label_length)`` ints, 0 the blank, which pads them) under the
    per-step logits ``y_pred`` (``(batch, steps, classes)``), summed over every alignment."""

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        if y_true.ndim != 2 or y_pred.ndim != 3 or y_true.shape[0] != y_pred.shape[0]:
            raise ShapeError(
                f"{self.name}: expected y_true of shape (batch, max_label_length) and y_pred of shape "
                f"(batch, steps, classes), got {y_true.shape} and {y_pred.shape}"
            )
        labels = y_true.astype(int64)
        log_p = ops.log_softmax(y_pred, axis=-1)
        batch, steps = y_pred.shape[0], y_pred.shape[1]
        # the labels with a blank before, between and after them: (batch, 2 * L + 1)
        blanks = ops.zeros_like(labels)
        extended = ops.reshape(ops.stack([blanks, labels], axis=-1), (batch, -1))
        extended = ops.concatenate([extended, blanks[:, :1]], axis=-1)
        # a path may skip a blank between two different labels
        previous = ops.concatenate([blanks[:, :1], blanks[:, :1], extended[:, :-2]], axis=-1)
        skip = (extended != 0) & (extended != previous)
        never = ops.full_like(log_p[:, 0, :1], _NEVER)
        emit = ops.take_along_axis(log_p[:, 0, :], extended, axis=-1)
        alpha = ops.where(ops.arange(extended.shape[1]) < 2, emit, ops.full_like(emit, _NEVER))
        for t in range(1, steps):
            emit = ops.take_along_axis(log_p[:, t, :], extended, axis=-1)
            one = ops.concatenate([never, alpha[:, :-1]], axis=-1)
            two = ops.where(skip, ops.concatenate([never, never, alpha[:, :-2]], axis=-1), _NEVER)
            alpha = ops.logsumexp(ops.stack([alpha, one, two], axis=0), axis=0) + emit
        ends = 2 * ops.sum((labels != 0).astype(int64), axis=-1, keepdims=True)
        last = ops.take_along_axis(alpha, ends, axis=-1)
        before = ops.take_along_axis(alpha, ops.maximum(ends - 1, 0), axis=-1)
        before = ops.where(ends > 0, before, _NEVER)
        return -ops.logsumexp(ops.concatenate([last, before], axis=-1), axis=-1)


def _functional(cls: type[Loss], name: str) -> Callable[..., Tensor]:
    """Keras' function form of a loss: ``fn(y_true, y_pred, **arguments)`` gives the
    unreduced per-sample losses."""

    def fn(y_true: Any, y_pred: Any, **arguments: Any) -> Tensor:
        return cls(reduction="none", **arguments).values(y_true, y_pred)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"The per-sample losses of ``{cls.__name__}(**arguments)``, unreduced."
    return fn


# --- class ids in range ----------------------------------------------------------------------
# Inside fit and evaluate the labels' range is found once on the host (``checked_labels``); sparse
# losses and metrics then compare it with their number of classes, which costs no host sync per
# step and holds under jit. Elsewhere an eager call looks at the values (one host sync); a traced
# call without a known range cannot look and leaves the labels to the framework.
_LABEL_RANGE: ContextValue[tuple[float, float] | None] = ContextValue("bridge_label_range", None)


def _range_error(op: str, label: float, classes: int) -> InvalidArgumentError:
    shown = int(label) if float(label).is_integer() else label
    return InvalidArgumentError(
        f"{op}: label {shown} is out of range for {classes} classes (class ids must be in [0, {classes}))"
    )


def _check_range(op: str, span: tuple[float, float], classes: int) -> None:
    low, high = span
    if low < 0 or high >= classes:
        raise _range_error(op, low if low < 0 else high, classes)


def check_class_ids(owner: Any, labels: Tensor, classes: int) -> None:
    """Raise an InvalidArgumentError naming ``owner`` (a sparse loss or metric) if a class id is
    outside ``[0, classes)``."""
    if getattr(owner, "_classes", None) != classes:
        owner._classes = classes  # so that the next fit can check its labels before any step
    span = _LABEL_RANGE.get()
    if span is not None:
        _check_range(owner._label, span, classes)
    elif labels.size and not labels._backend.tracing():
        _look_at_labels(owner._label, labels, classes)


def _look_at_labels(op: str, labels: Tensor, classes: int) -> None:
    """The eager check of the values themselves, read to the host (a CPU tensor's are shared)."""
    values = labels.numpy()
    _check_range(op, (values.min(), values.max()), classes)


def _label_span(labels: Any) -> tuple[float, float] | None:
    """The smallest and largest label of in-memory labels, read on the host; None for others."""
    if isinstance(labels, Tensor):
        if labels.dtype.kind not in "iuf":
            return None
        values = (ops.min(labels), ops.max(labels)) if labels.size else (0.0, 0.0)
        return float(values[0]), float(values[1])
    try:
        array = np.asarray(labels)
    except (TypeError, ValueError, RuntimeError):  # ragged, or a framework tensor on a device
        return None
    if array.dtype.kind not in "iuf":
        return None
    return (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)


@contextmanager
def checked_labels(users: Iterable[Any], y: Any, validation_data: Any = None) -> Iterator[None]:
    """For ``fit(x, y, validation_data=...)`` and ``evaluate(x, y)``: the range of the labels,
    read once on the host, against which ``users`` (the loss and metrics) check class ids in
    every step. With data given as batches (``y`` None) each step checks its own batch."""
    spans = [None if y is None else _label_span(y)]
    if validation_data is not None:
        given = isinstance(validation_data, (tuple, list)) and len(validation_data) > 1
        spans.append(_label_span(validation_data[1]) if given else None)
    known = [s for s in spans if s is not None]
    span = (min(s[0] for s in known), max(s[1] for s in known)) if len(known) == len(spans) else None
    if span is not None:
        for user in users:
            if getattr(user, "_classes", None) is not None:
                _check_range(user._label, span, user._classes)
    token = _LABEL_RANGE.set(span)
    try:
        yield
    finally:
        _LABEL_RANGE.reset(token)


_CLASSES: dict[str, type[Loss]] = {
    "mean_squared_error": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "huber": Huber,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge,
    "cosine_similarity": CosineSimilarity,
    "log_cosh": LogCosh,
    "kl_divergence": KLDivergence,
    "poisson": Poisson,
    "binary_crossentropy": BinaryCrossentropy,
    "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "dice": Dice,
    "tversky": Tversky,
    "ctc": CTC,
    "categorical_generalized_cross_entropy": CategoricalGeneralizedCrossEntropy,
    "circle": Circle,
}
# Keras' short names
_ALIASES = {
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "kld": "kl_divergence",
    "bce": "binary_crossentropy",
}

REGISTRY = Registry(
    "loss",
    {**_CLASSES, **{alias: _CLASSES[name] for alias, name in _ALIASES.items()}},
    base=Loss,
)

# the function forms, as keras.losses names them (``losses.mse(y_true, y_pred)``)
mean_squared_error = mse = _functional(MeanSquaredError, "mean_squared_error")
mean_absolute_error = mae = _functional(MeanAbsoluteError, "mean_absolute_error")
mean_absolute_percentage_error = mape = _functional(
    MeanAbsolutePercentageError, "mean_absolute_percentage_error"
)
mean_squared_logarithmic_error = msle = _functional(
    MeanSquaredLogarithmicError, "mean_squared_logarithmic_error"
)
huber = _functional(Huber, "huber")
hinge = _functional(Hinge, "hinge")
squared_hinge = _functional(SquaredHinge, "squared_hinge")
categorical_hinge = _functional(CategoricalHinge, "categorical_hinge")
cosine_similarity = _functional(CosineSimilarity, "cosine_similarity")
log_cosh = _functional(LogCosh, "log_cosh")
kl_divergence = kld = _functional(KLDivergence, "kl_divergence")
poisson = _functional(Poisson, "poisson")
binary_crossentropy = bce = _functional(BinaryCrossentropy, "binary_crossentropy")
binary_focal_crossentropy = _functional(BinaryFocalCrossentropy, "binary_focal_crossentropy")
categorical_crossentropy = _functional(CategoricalCrossentropy, "categorical_crossentropy")
categorical_focal_crossentropy = _functional(CategoricalFocalCrossentropy, "categorical_focal_crossentropy")
sparse_categorical_crossentropy = _functional(
    SparseCategoricalCrossentropy, "sparse_categorical_crossentropy"
)
dice = _functional(Dice, "dice")
tversky = _functional(Tversky, "tversky")
ctc = _functional(CTC, "ctc")
categorical_generalized_cross_entropy = _functional(
    CategoricalGeneralizedCrossEntropy, "categorical_generalized_cross_entropy"
)
circle = _functional(Circle, "circle")


# found in configs (``serialize`` of a wrapped function), but not by name: it needs its function
_CONFIG_ONLY = {"LossFunctionWrapper": LossFunctionWrapper}


def get(identifier: Any) -> Any:
    """A loss from a name (``"mse"``, ``"sparse_categorical_crossentropy"``, ...), a config, a
    Loss, or a callable ``(y_true, y_pred) -> scalar``."""
    return deserialize(identifier) if isinstance(identifier, dict) else REGISTRY.get(identifier)


def serialize(loss: Any) -> Any:
    """``{"class_name", "config"}`` for a Loss (a ``LossFunctionWrapper``'s config names its
    function); a function by its name (see ``Registry.serialize``): a function form such as
    ``mse`` by its Keras name, found again as its Loss."""
    name = getattr(loss, "__name__", None)
    if name in _CLASSES and loss is globals()[name]:
        return name
    return REGISTRY.serialize(loss)


def deserialize(config: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """The loss ``serialize`` described."""
    if isinstance(config, dict):
        custom_objects = {**_CONFIG_ONLY, **(custom_objects or {})}
    return REGISTRY.deserialize(config, custom_objects)


__all__ = [
    "Loss",
    "LossFunctionWrapper",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "Huber",
    "Hinge",
    "SquaredHinge",
    "CategoricalHinge",
    "CosineSimilarity",
    "LogCosh",
    "KLDivergence",
    "Poisson",
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "SparseCategoricalCrossentropy",
    "Dice",
    "Tversky",
    "CTC",
    "CategoricalGeneralizedCrossEntropy",
    "Circle",
    "mean_squared_error",
    "mse",
    "mean_absolute_error",
    "mae",
    "mean_absolute_percentage_error",
    "mape",
    "mean_squared_logarithmic_error",
    "msle",
    "huber",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "cosine_similarity",
    "log_cosh",
    "kl_divergence",
    "kld",
    "poisson",
    "binary_crossentropy",
    "bce",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "sparse_categorical_crossentropy",
    "dice",
    "tversky",
    "ctc",
    "categorical_generalized_cross_entropy",
    "circle",
    "checked_labels",
    "get",
    "serialize",
    "deserialize",
]
