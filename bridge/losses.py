"""Losses with Keras' argument order ``loss(y_true, y_pred, sample_weight=None)`` and reductions.

Cross-entropies from logits are computed without overflow: logits of +-100 give finite losses
and gradients."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from . import ops
from ._registry import Registry, snake_case
from .dtypes import int64
from .errors import InvalidArgumentError, ShapeError
from .ops._core import as_tensor, wider_float
from .ops.creation import tensor_like
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
        self.name = name or snake_case(type(self).__name__)

    @abstractmethod
    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        """Per-sample losses."""

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        y_pred = at_least_float32(as_tensor(self.name, y_pred))
        y_true = as_tensor_like(y_true, y_pred)
        losses = self.call(y_true, y_pred)
        if sample_weight is not None:
            losses, weight = align_weight(self.name, losses, as_tensor_like(sample_weight, losses))
            losses = losses * weight.astype(losses.dtype)
        if self.reduction == "none":
            return losses
        total = ops.sum(losses)
        return total if self.reduction == "sum" else total / max(losses.size, 1)

    @property
    def _label(self) -> str:
        """How errors name the loss."""
        return self.name

    def get_config(self) -> dict[str, Any]:
        return {"reduction": self.reduction, "name": self.name}


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
    ) -> None:
        super().__init__(reduction, name or getattr(fn, "__name__", None))
        self.fn = fn

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return as_tensor(self.name, self.fn(y_true, y_pred))

    def get_config(self) -> dict[str, Any]:
        """The reduction, the name and ``fn``, named as ``serialize`` names a function (found
        again by ``from_config`` through ``custom_objects`` or ``register_serializable``)."""
        return {**super().get_config(), "fn": REGISTRY.serialize(self.fn)}

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
        y_true, y_pred = _check_same_shape(self, y_true, y_pred)
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
        classes = require_class_axis(self.name, y_pred)
        y_true, y_pred = _check_same_shape(self, y_true, y_pred)
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + self.label_smoothing / classes
        return -ops.sum(y_true * _log_probabilities(y_pred, self.from_logits), axis=-1)


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy of integer class ids against scores over the last axis."""

    def __init__(self, from_logits: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.from_logits = from_logits

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        classes = require_class_axis(self.name, y_pred)
        if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
            y_true = ops.squeeze(y_true, -1)
        if y_true.shape != y_pred.shape[:-1]:
            raise ShapeError(
                f"{self.name}: class ids of shape {y_true.shape} do not fit scores of shape {y_pred.shape} "
                f"(expected ids of shape {y_pred.shape[:-1]})"
            )
        labels = y_true.astype(int64)
        check_class_ids(self, labels, classes)
        backend = y_pred._backend
        if self.from_logits and "sparse_cross_entropy" in backend.fast_paths and y_pred.dtype.kind == "f":
            return Tensor(backend.sparse_cross_entropy(y_pred._native, labels._native), backend)
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


# --- class ids in range ----------------------------------------------------------------------
# Inside fit and evaluate the labels' range is found once on the host (``checked_labels``); sparse
# losses and metrics then compare it with their number of classes, which costs no host sync per
# step and holds under jit. Elsewhere an eager call looks at the values (one host sync); a traced
# call without a known range cannot look and leaves the labels to the framework.
_LABEL_RANGE: ContextVar[tuple[float, float] | None] = ContextVar("bridge_label_range", default=None)


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
    """The eager check of the values themselves: one host sync."""
    if bool(ops.any((labels < 0) | (labels >= classes))):
        values = labels.numpy().ravel()
        raise _range_error(op, values[(values < 0) | (values >= classes)][0], classes)


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


REGISTRY = Registry(
    "loss",
    {
        "mse": MeanSquaredError,
        "mean_squared_error": MeanSquaredError,
        "mae": MeanAbsoluteError,
        "mean_absolute_error": MeanAbsoluteError,
        "huber": Huber,
        "binary_crossentropy": BinaryCrossentropy,
        "categorical_crossentropy": CategoricalCrossentropy,
        "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    },
    base=Loss,
)


# found in configs (``serialize`` of a wrapped function), but not by name: it needs its function
_CONFIG_ONLY = {"LossFunctionWrapper": LossFunctionWrapper}


def get(identifier: Any) -> Any:
    """A loss from a name (``"mse"``, ``"sparse_categorical_crossentropy"``, ...), a config, a
    Loss, or a callable ``(y_true, y_pred) -> scalar``."""
    return deserialize(identifier) if isinstance(identifier, dict) else REGISTRY.get(identifier)


def serialize(loss: Any) -> Any:
    """``{"class_name", "config"}`` for a Loss (a ``LossFunctionWrapper``'s config names its
    function); a function by its name (see ``Registry.serialize``)."""
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
    "Huber",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "checked_labels",
    "get",
    "serialize",
    "deserialize",
]
