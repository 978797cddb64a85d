"""Learning rates as functions of the step, with Keras' definitions and config keys.

A schedule is called with the optimizer's ``iterations`` (or a Python int) and gives a float32
scalar tensor; ``get_config`` and ``from_config`` round-trip it, so an optimizer's config holds its
schedule's."""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from . import ops
from ._registry import Registry
from .dtypes import float32
from .errors import InvalidArgumentError, UnsupportedFeatureError
from .ops.creation import tensor_like
from .tensor import Tensor


def number_in_range(
    owner: str, name: str, value: Any, low: float = 0.0, high: float = math.inf, high_open: bool = True
) -> float:
    """``value`` as a float, checked to lie in ``[low, high)`` (``[low, high]`` without
    ``high_open``); NaN and non-numbers fail. (The optimizers check their arguments with it too.)"""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgumentError(f"{owner}: {name} must be a number, got {value!r}")
    value = float(value)
    if not (low <= value and (value < high if high_open else value <= high)):
        bounds = f">= {low}" if high == math.inf else f"in [{low}, {high}{')' if high_open else ']'}"
        raise InvalidArgumentError(f"{owner}: {name} must be {bounds}, got {value!r}")
    return value


def _positive_steps(owner: str, decay_steps: Any) -> Any:
    if (
        isinstance(decay_steps, bool)
        or not isinstance(decay_steps, numbers.Real)
        or not float(decay_steps) > 0
    ):
        raise InvalidArgumentError(f"{owner}: decay_steps must be > 0, got {decay_steps!r}")
    return decay_steps


class LearningRateSchedule(ABC):
    """A learning rate as a function of the step (the optimizer's ``iterations``, or a Python int).
    ``get_config`` gives the constructor's arguments (Keras' keys), ``from_config`` takes them."""

    @abstractmethod
    def __call__(self, step: Tensor | int) -> Tensor: ...

    def get_config(self) -> dict[str, Any]:
        raise UnsupportedFeatureError(f"{type(self).__name__}: define get_config to serialize this schedule")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LearningRateSchedule:
        return cls(**config)


def _step_tensor(schedule: LearningRateSchedule, step: Tensor | int) -> Tensor:
    """The step as a float32 Tensor (a Python int becomes one on the current backend)."""
    if isinstance(step, Tensor):
        return step.astype(float32)
    return ops.tensor(number_in_range(type(schedule).__name__, "step", step), dtype=float32)


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (floored with ``staircase``)."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
        name: str = "ExponentialDecay",
    ):
        self.initial_learning_rate = number_in_range(
            "ExponentialDecay", "initial_learning_rate", initial_learning_rate
        )
        self.decay_steps = _positive_steps("ExponentialDecay", decay_steps)
        self.decay_rate = number_in_range("ExponentialDecay", "decay_rate", decay_rate)
        self.staircase, self.name = staircase, name

    def __call__(self, step: Tensor | int) -> Tensor:
        progress = _step_tensor(self, step) / float(self.decay_steps)
        if self.staircase:
            progress = ops.floor(progress)
        return ops.power(self.decay_rate, progress) * self.initial_learning_rate

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class CosineDecay(LearningRateSchedule):
    """Cosine from ``initial_learning_rate`` down to ``alpha`` times it over ``decay_steps``."""

    def __init__(
        self, initial_learning_rate: float, decay_steps: int, alpha: float = 0.0, name: str = "CosineDecay"
    ):
        self.initial_learning_rate = number_in_range(
            "CosineDecay", "initial_learning_rate", initial_learning_rate
        )
        self.decay_steps = _positive_steps("CosineDecay", decay_steps)
        self.alpha, self.name = number_in_range("CosineDecay", "alpha", alpha), name

    def __call__(self, step: Tensor | int) -> Tensor:
        steps = float(self.decay_steps)
        progress = ops.minimum(_step_tensor(self, step), steps) / steps
        cosine = (ops.cos(progress * math.pi) + 1.0) * 0.5
        return (cosine * (1.0 - self.alpha) + self.alpha) * self.initial_learning_rate

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
        }


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` up to ``boundaries[0]`` (inclusive), then ``values[1]``, and so on."""

    def __init__(self, boundaries: Sequence[int], values: Sequence[float], name: str = "PiecewiseConstant"):
        if len(values) != len(boundaries) + 1:
            raise InvalidArgumentError(
                f"PiecewiseConstantDecay: needs one more value than boundaries, got {len(boundaries)} "
                f"boundaries and {len(values)} values"
            )
        self.boundaries = list(boundaries)
        self.values = [number_in_range("PiecewiseConstantDecay", "values", v) for v in values]
        self.name = name

    def __call__(self, step: Tensor | int) -> Tensor:
        step = _step_tensor(self, step)
        rate = tensor_like(self.values[-1], step, float32)
        for boundary, value in reversed(list(zip(self.boundaries, self.values))):
            rate = ops.where(step <= boundary, value, rate)
        return rate

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


SCHEDULES = Registry(
    "learning-rate schedule",
    {
        "exponential_decay": ExponentialDecay,
        "cosine_decay": CosineDecay,
        "piecewise_constant_decay": PiecewiseConstantDecay,
    },
    base=LearningRateSchedule,
    callables=False,
)


__all__ = ["LearningRateSchedule", "ExponentialDecay", "CosineDecay", "PiecewiseConstantDecay"]
