"""Losses with Keras' argument order ``loss(y_true, y_pred, sample_weight=None)`` and reductions.

Cross-entropies from logits are computed without overflow: logits of +-100 give finite losses
and gradients."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from . import ops
from ._registry import lookup
from .dtypes import int64
from .errors import InvalidArgumentError, ShapeError
from .ops._core import as_tensor
from .tensor import Tensor

REDUCTIONS = ("sum_over_batch_size", "mean", "sum", "none")
_EPSILON = 1e-7


class Loss(ABC):
    """Base class: ``call(y_true, y_pred)`` gives per-sample losses; ``__call__`` weights and
    reduces them."""

    def __init__(self, reduction: str | None = "sum_over_batch_size", name: str | None = None) -> None:
        reduction = "none" if reduction is None else reduction
        if reduction not in REDUCTIONS:
            raise InvalidArgumentError(
                f"{type(self).__name__}: unknown reduction {reduction!r}; known: {', '.join(REDUCTIONS)}"
            )
        self.reduction = reduction
        self.name = name or _snake(type(self).__name__)

    @abstractmethod
    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        """Per-sample losses."""

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        y_pred = as_tensor(self.name, y_pred)
        y_true = _like(y_true, y_pred)
        losses = self.call(y_true, y_pred)
        if sample_weight is not None:
            weight = _like(sample_weight, losses).astype(losses.dtype)
            while weight.ndim > losses.ndim and weight.shape[-1] == 1:
                weight = ops.squeeze(weight, -1)
            losses = losses * weight
        if self.reduction == "none":
            return losses
        total = ops.sum(losses)
        return total if self.reduction == "sum" else total / max(losses.size, 1)

    def get_config(self) -> dict[str, Any]:
        return {"reduction": self.reduction, "name": self.name}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


def _like(x: Any, reference: Tensor) -> Tensor:
    """``x`` as a tensor on the reference's backend and device."""
    if isinstance(x, Tensor):
        return x
    return Tensor(
        ops.tensor(x, backend=reference.backend, device=reference.device).native, reference._backend
    )


def _check_same_shape(loss: Loss, y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``y_true`` in y_pred's float dtype, squeezing or adding a trailing 1 as Keras does."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_true = ops.expand_dims(y_true, -1)
    if y_true.shape != y_pred.shape:
        raise ShapeError(
            f"{loss.name}: y_true of shape {y_true.shape} does not fit y_pred of shape {y_pred.shape}"
        )
    return y_true.astype(y_pred.dtype)


class MeanSquaredError(Loss):
    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true = _check_same_shape(self, y_true, y_pred)
        return ops.mean(ops.square(y_pred - y_true), axis=-1)


class MeanAbsoluteError(Loss):
    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true = _check_same_shape(self, y_true, y_pred)
        return ops.mean(ops.abs(y_pred - y_true), axis=-1)


class Huber(Loss):
    """Squared error below ``delta``, linear above it."""

    def __init__(self, delta: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delta = float(delta)

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        error = ops.abs(y_pred - _check_same_shape(self, y_true, y_pred))
        quadratic = ops.minimum(error, self.delta)
        return ops.mean(quadratic * quadratic * 0.5 + (error - quadratic) * self.delta, axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "delta": self.delta}


class _SmoothedCrossentropy(Loss):
    """The arguments the binary and categorical cross-entropies share."""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.from_logits, self.label_smoothing = from_logits, float(label_smoothing)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
        }


class BinaryCrossentropy(_SmoothedCrossentropy):
    """Cross-entropy of 0/1 targets; ``from_logits`` takes raw scores (preferred: stable)."""

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true = _check_same_shape(self, y_true, y_pred)
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        if self.from_logits:
            losses = ops.softplus(y_pred) - y_pred * y_true
        else:
            p = ops.clip(y_pred, _EPSILON, 1.0 - _EPSILON)
            losses = -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
        return ops.mean(losses, axis=-1)


class CategoricalCrossentropy(_SmoothedCrossentropy):
    """Cross-entropy of one-hot (or soft) targets over the last axis."""

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true = _check_same_shape(self, y_true, y_pred)
        if self.label_smoothing:
            classes = y_pred.shape[-1]
            y_true = y_true * (1.0 - self.label_smoothing) + self.label_smoothing / classes
        return -ops.sum(y_true * _log_probabilities(y_pred, self.from_logits), axis=-1)


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy of integer class ids against scores over the last axis."""

    def __init__(self, from_logits: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.from_logits = from_logits

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
            y_true = ops.squeeze(y_true, -1)
        if y_true.shape != y_pred.shape[:-1]:
            raise ShapeError(
                f"{self.name}: class ids of shape {y_true.shape} do not fit scores of shape {y_pred.shape} "
                f"(expected ids of shape {y_pred.shape[:-1]})"
            )
        labels = y_true.astype(int64)
        fast = y_pred._backend.sparse_cross_entropy
        if self.from_logits and fast is not None and y_pred.dtype.kind == "f":
            return Tensor(fast(y_pred._native, labels._native), y_pred._backend)
        return sparse_cross_entropy_composite(y_pred, labels, self.from_logits)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "from_logits": self.from_logits}


def sparse_cross_entropy_composite(y_pred: Tensor, labels: Tensor, from_logits: bool) -> Tensor:
    """Per-sample ``-log p[label]`` written over primitives; the reference for the fast paths."""
    log_p = _log_probabilities(y_pred, from_logits)
    return -ops.squeeze(ops.take_along_axis(log_p, ops.expand_dims(labels, -1), -1), -1)


def _log_probabilities(y_pred: Tensor, from_logits: bool) -> Tensor:
    if from_logits:
        return ops.log_softmax(y_pred, axis=-1)
    p = y_pred / ops.sum(y_pred, axis=-1, keepdims=True)
    return ops.log(ops.clip(p, _EPSILON, 1.0 - _EPSILON))


LOSSES: dict[str, type[Loss]] = {
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "huber": Huber,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}


def get(identifier: Any) -> Any:
    """A loss from a name (``"mse"``, ``"sparse_categorical_crossentropy"``, ...), a Loss, or a
    callable ``(y_true, y_pred) -> scalar``."""
    found = lookup("loss", identifier, LOSSES)
    return found() if isinstance(found, type) else found


__all__ = [
    "Loss",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "Huber",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "get",
]
