"""The base of every metric: ``Metric`` (state in Variables, so updates also run inside
``br.jit``), the weighted means ``Mean`` and ``MeanMetricWrapper``, and the helpers metrics share."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from .. import ops
from .._registry import snake_case
from ..dtypes import as_dtype, float32
from ..errors import BridgeError, DTypeError, ShapeError
from ..losses import (
    Loss,
    align_weight,
    as_tensor_like,
    at_least_float32,
    same_rank,
)
from ..ops._core import as_tensor, renamed
from ..ops.creation import tensor_like
from ..tensor import Tensor
from ..variable import Variable


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
    (whose errors then name the metric: its class and name). ``dtype`` (default float32) is
    the dtype of the state and the result, as Keras' ``dtype=``; calling the metric updates it
    and returns the result."""

    _state_names: tuple[str, ...] = ()
    _state_shape: tuple[int, ...] = ()
    #: "up" or "down": the way the metric improves, as Keras' ``_direction`` (what callbacks'
    #: ``mode="auto"`` follows); None where it has none (counts, sums, means)
    _direction: str | None = None
    _shape_known = True  # False until the first update shows the shape (the state made then)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "update_state" in cls.__dict__:
            cls.update_state = _naming_errors(cls.__dict__["update_state"])  # type: ignore[method-assign]

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        self.name = name or snake_case(type(self).__name__)
        self._dtype_given = dtype is not None
        try:
            self.dtype = float32 if dtype is None else as_dtype(dtype)
        except BridgeError as exc:
            raise DTypeError(f"{type(self).__name__}: dtype: {exc}") from None
        self._state: dict[str, Variable] = {}

    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        """``update_state(*args, **kwargs)``, then the ``result()``."""
        self.update_state(*args, **kwargs)
        return self.result()

    @property
    def _label(self) -> str:
        """How errors name the metric: ``Precision 'precision'``."""
        return f"{type(self).__name__} {self.name!r}"

    def _variables(self, like: Tensor) -> dict[str, Variable]:
        """The state Variables, created on the first update's backend and device (none before
        the shape is known)."""
        if not self._state and self._shape_known:
            for name in self._state_names:
                shape = self._shape_of(name)
                zero = ops.zeros(shape, dtype=self.dtype, backend=like.backend, device=like.device)
                self._state[name] = Variable(zero, trainable=False, name=f"{self.name}/{name}")
        return self._state

    def _shape_of(self, name: str) -> tuple[int, ...]:
        """The shape of the state ``name``: ``_state_shape``."""
        return self._state_shape

    def _check_columns(self, y_true: Tensor, y_pred: Tensor, columns: str, per_column: bool = True) -> None:
        """Raise a ShapeError unless ``y_true`` and ``y_pred`` share one shape ``(batch_size,
        output_dim)``. With ``per_column`` the first update makes the state ``(output_dim,)`` and
        later ones must keep that many ``columns`` (such as "classes")."""
        if y_pred.ndim != 2 or y_true.shape != y_pred.shape:
            raise ShapeError(
                f"{self._label}: expected y_true and y_pred of one shape (batch_size, output_dim), "
                f"got {y_true.shape} and {y_pred.shape}"
            )
        if not per_column:
            return
        if not self._shape_known:
            self._state_shape, self._shape_known = y_pred.shape[1:], True
        elif self._state_shape != y_pred.shape[1:]:
            raise ShapeError(
                f"{self._label}: built for {self._state_shape[0]} {columns}, "
                f"got y_pred of shape {y_pred.shape}"
            )

    def reset_state(self) -> None:
        for variable in self._state.values():
            variable.assign(0.0)

    @abstractmethod
    def result(self) -> Tensor: ...

    @abstractmethod
    def update_state(self, *args: Any, **kwargs: Any) -> None: ...

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this metric (its state not included): the
        name, and the dtype where one was given."""
        config: dict[str, Any] = {"name": self.name}
        return {**config, "dtype": self.dtype.name} if self._dtype_given else config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        """The metric ``get_config`` described (fresh state)."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


def as_weight(values: Tensor, sample_weight: Any) -> Tensor:
    """The sample weight as a tensor in the values' dtype, on their backend and device."""
    if isinstance(sample_weight, Tensor):
        return sample_weight.astype(values.dtype)
    return tensor_like(sample_weight, values, values.dtype)


def mean_over_samples(x: Tensor, start: int = 1, reduce: Callable[..., Tensor] = ops.mean) -> Tensor:
    """The mean (or ``reduce``) over the axes from ``start`` on."""
    return reduce(x, axis=tuple(range(start, x.ndim))) if x.ndim > start else x


def divide_no_nan(total: Tensor, count: Tensor) -> Tensor:
    """``total / count``, 0 where ``count`` is 0 (only that: a negative count is fine)."""
    nonzero = count != 0
    return ops.where(nonzero, total / ops.where(nonzero, count, 1.0), 0.0)


class _Samplewise(Metric):
    """Values reduced per sample, as ``Sum`` and the means take them."""

    def _per_sample(
        self, values: Any, sample_weight: Any, reduce: Callable[..., Tensor]
    ) -> tuple[Tensor, Tensor]:
        """Keras' ``reduce_to_samplewise_values``: ``values`` in the metric's dtype, the values of
        a sample beyond the first axis (beyond the weight's axes) reduced with ``reduce``, times
        the weight; and the weight per sample."""
        values = as_tensor(self._label, values).astype(self.dtype)
        if sample_weight is None:
            return mean_over_samples(values, reduce=reduce), ops.ones_like(mean_over_samples(values))
        values, weight = same_rank(values, as_weight(values, sample_weight))
        values = mean_over_samples(values, weight.ndim, reduce)
        values, weight = align_weight(self._label, values, weight)
        values = values * weight
        weight = mean_over_samples(ops.broadcast_to(weight, values.shape))
        return mean_over_samples(values, reduce=reduce), weight

    def _zero(self) -> Tensor:
        """The result before any update: 0 in the metric's dtype."""
        return ops.zeros(self._state_shape, dtype=self.dtype)


class Sum(_Samplewise):
    """The (weighted) sum of the values passed to ``update_state(values, sample_weight=None)``."""

    _state_names = ("total",)

    def __init__(self, name: str | None = "sum", dtype: Any = None) -> None:
        super().__init__(name, dtype)

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        values, _ = self._per_sample(values, sample_weight, ops.sum)
        self._variables(values)["total"].assign_add(ops.sum(values))

    def result(self) -> Tensor:
        return self._state["total"].value if self._state else self._zero()


class _Averaging(_Samplewise):
    """A weighted mean of values per sample: the state of ``Mean`` and ``MeanMetricWrapper``."""

    _state_names = ("total", "count")

    def _add(self, values: Any, sample_weight: Any) -> None:
        """Add ``values`` (of a sample beyond the first axis averaged first, as Keras does)."""
        values, weight = self._per_sample(values, sample_weight, ops.mean)
        state = self._variables(values)
        state["total"].assign_add(ops.sum(values))
        state["count"].assign_add(ops.sum(weight))

    def result(self) -> Tensor:
        if not self._state:
            return self._zero()
        return divide_no_nan(self._state["total"], self._state["count"])


class Mean(_Averaging):
    """The (weighted) mean of the values passed to ``update_state(values, sample_weight=None)``."""

    def __init__(self, name: str | None = "mean", dtype: Any = None) -> None:
        super().__init__(name, dtype)

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        self._add(values, sample_weight)


def targets_and_predictions(metric: Metric, y_true: Any, y_pred: Any) -> tuple[Tensor, Tensor]:
    """Both as tensors; targets given as data join the predictions' backend and device."""
    y_pred = at_least_float32(as_tensor(metric._label, y_pred))
    return as_tensor_like(y_true, y_pred), y_pred


class MeanMetricWrapper(_Averaging):
    """The mean of ``fn(y_true, y_pred, **kwargs)`` per sample (computed in the predictions'
    dtype, averaged in the metric's)."""

    def __init__(self, fn: Any, name: str | None = None, dtype: Any = None, **kwargs: Any) -> None:
        super().__init__(name, dtype)
        self.fn, self._fn_kwargs = fn, kwargs

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = targets_and_predictions(self, y_true, y_pred)
        self._add(self.fn(y_true, y_pred, **self._fn_kwargs), sample_weight)


class LossMean(MeanMetricWrapper):
    """The mean of a Loss's per-sample values (``loss.values``), as Keras' metrics of its losses
    (``metrics.BinaryCrossentropy``, ...). As Keras: with a ``sample_weight``, samples the loss
    masks out (``ignore_class``) do not count; without one they count, with a loss of 0 (Keras'
    own tests expect both)."""

    _direction = "down"

    def __init__(self, loss: Loss, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(loss.values, name, dtype)
        self.loss = loss

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = targets_and_predictions(self, y_true, y_pred)
        values = self.loss.values(y_true, y_pred)
        mask = None if sample_weight is None else self.loss.mask(y_true, y_pred, values)
        if mask is not None:
            mask = mask.astype(values.dtype)
            mask, weight = same_rank(mask, as_weight(mask, sample_weight))
            sample_weight = mask * weight
        self._add(values, sample_weight)
