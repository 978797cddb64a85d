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
from ..errors import BridgeError
from ..losses import (
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
    (whose errors then name the metric: its class and name)."""

    _state_names: tuple[str, ...] = ()
    _state_shape: tuple[int, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "update_state" in cls.__dict__:
            cls.update_state = _naming_errors(cls.__dict__["update_state"])  # type: ignore[method-assign]

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        self.name = name or snake_case(type(self).__name__)
        self.dtype = float32 if dtype is None else as_dtype(dtype)
        self._state: dict[str, Variable] = {}

    @property
    def _label(self) -> str:
        """How errors name the metric: ``Precision 'precision'``."""
        return f"{type(self).__name__} {self.name!r}"

    def _variables(self, like: Tensor) -> dict[str, Variable]:
        """The state Variables, created on the first update's backend and device."""
        if not self._state:
            for name in self._state_names:
                zero = ops.zeros(self._state_shape, dtype=self.dtype, backend=like.backend, device=like.device)
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


def as_weight(values: Tensor, sample_weight: Any) -> Tensor:
    if isinstance(sample_weight, Tensor):
        return sample_weight.astype(float32)
    return tensor_like(sample_weight, values, float32)


def mean_over_samples(x: Tensor, start: int = 1) -> Tensor:
    """The mean over the axes from ``start`` on."""
    return ops.mean(x, axis=tuple(range(start, x.ndim))) if x.ndim > start else x


def divide_no_nan(total: Tensor, count: Tensor) -> Tensor:
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
            weight = ops.ones_like(mean_over_samples(values))
        else:
            values, weight = same_rank(values, as_weight(values, sample_weight))
            values = mean_over_samples(values, weight.ndim)
            values, weight = align_weight(self._label, values, weight)
            values = values * weight
            weight = mean_over_samples(ops.broadcast_to(weight, values.shape))
        state = self._variables(values)
        state["total"].assign_add(ops.sum(mean_over_samples(values)))
        state["count"].assign_add(ops.sum(weight))

    def result(self) -> Tensor:
        if not self._state:
            return ops.tensor(0.0)
        return divide_no_nan(self._state["total"], self._state["count"])


class Mean(_Averaging):
    """The (weighted) mean of the values passed to ``update_state(values, sample_weight=None)``."""

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        self._add(values, sample_weight)


def targets_and_predictions(metric: Metric, y_true: Any, y_pred: Any) -> tuple[Tensor, Tensor]:
    """Both as tensors; targets given as data join the predictions' backend and device."""
    y_pred = at_least_float32(as_tensor(metric._label, y_pred))
    return as_tensor_like(y_true, y_pred), y_pred


class MeanMetricWrapper(_Averaging):
    """The mean of ``fn(y_true, y_pred)`` per sample."""

    def __init__(self, fn: Any, name: str | None = None) -> None:
        super().__init__(name)
        self.fn = fn

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = targets_and_predictions(self, y_true, y_pred)
        self._add(self.fn(y_true, y_pred), sample_weight)
