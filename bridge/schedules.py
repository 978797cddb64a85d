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


def _positive(owner: str, name: str, value: Any) -> Any:
    """``value`` unchanged, checked to be a number > 0 (as Keras checks ``decay_steps``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value) > 0:
        raise InvalidArgumentError(f"{owner}: {name} must be > 0, got {value!r}")
    return value


def _floor_divide(step: Tensor, steps: float) -> Tensor:
    """``floor(step / steps)``, exact at the multiples of ``steps``: a compiler may divide by
    multiplying with the rounded reciprocal (XLA does), which can land a multiple one off."""
    quotient = ops.floor(step / steps)
    quotient = ops.where(quotient * steps > step, quotient - 1.0, quotient)
    return ops.where((quotient + 1.0) * steps <= step, quotient + 1.0, quotient)


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
        self.decay_steps = _positive("ExponentialDecay", "decay_steps", decay_steps)
        self.decay_rate = number_in_range("ExponentialDecay", "decay_rate", decay_rate)
        self.staircase, self.name = staircase, name

    def __call__(self, step: Tensor | int) -> Tensor:
        step, steps = _step_tensor(self, step), float(self.decay_steps)
        progress = _floor_divide(step, steps) if self.staircase else step / steps
        return ops.power(self.decay_rate, progress) * self.initial_learning_rate

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


def _cosine(fraction: Tensor, alpha: float, scale: Tensor | float = 1.0) -> Tensor:
    """Half a cosine from ``scale`` (at ``fraction`` 0) to ``alpha`` (at 1), as Keras computes it."""
    return (ops.cos(fraction * math.pi) + 1.0) * 0.5 * scale * (1.0 - alpha) + alpha


class CosineDecay(LearningRateSchedule):
    """Cosine from ``initial_learning_rate`` down to ``alpha`` times it over ``decay_steps``.

    With ``warmup_target``, the rate first rises linearly from ``initial_learning_rate`` to
    ``warmup_target`` over ``warmup_steps``, then the cosine decays from ``warmup_target``."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        alpha: float = 0.0,
        name: str = "CosineDecay",
        warmup_target: float | None = None,
        warmup_steps: int = 0,
    ):
        self.initial_learning_rate = number_in_range(
            "CosineDecay", "initial_learning_rate", initial_learning_rate
        )
        self.decay_steps = _positive("CosineDecay", "decay_steps", decay_steps)
        self.alpha, self.name = number_in_range("CosineDecay", "alpha", alpha), name
        self.warmup_target = (
            None if warmup_target is None else number_in_range("CosineDecay", "warmup_target", warmup_target)
        )
        number_in_range("CosineDecay", "warmup_steps", warmup_steps)
        self.warmup_steps = warmup_steps

    def __call__(self, step: Tensor | int) -> Tensor:
        steps, warmup = float(self.decay_steps), float(self.warmup_steps)
        if self.warmup_target is None:
            progress = ops.minimum(_step_tensor(self, step), steps) / steps
            return _cosine(progress, self.alpha) * self.initial_learning_rate
        at = ops.minimum(_step_tensor(self, step), steps + warmup)
        decayed = _cosine((at - warmup) / steps, self.alpha) * self.warmup_target
        if warmup == 0:
            return decayed
        rise = (self.warmup_target - self.initial_learning_rate) * (at / warmup)
        return ops.where(at < warmup, rise + self.initial_learning_rate, decayed)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
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


class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step / decay_steps) ** power + end``, then flat at
    ``end_learning_rate``; with ``cycle``, ``decay_steps`` grows to the first multiple of itself
    at or past the step, so the decay restarts from higher rates."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        end_learning_rate: float = 0.0001,
        power: float = 1.0,
        cycle: bool = False,
        name: str = "PolynomialDecay",
    ):
        owner = "PolynomialDecay"
        self.initial_learning_rate = number_in_range(owner, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive(owner, "decay_steps", decay_steps)
        self.end_learning_rate = number_in_range(owner, "end_learning_rate", end_learning_rate)
        self.power = number_in_range(owner, "power", power)
        self.cycle, self.name = cycle, name

    def __call__(self, step: Tensor | int) -> Tensor:
        step, steps = _step_tensor(self, step), float(self.decay_steps)
        if self.cycle:
            multiple = -_floor_divide(-step, steps)  # the first multiple of steps at or past step
            progress = step / (ops.where(step == 0, 1.0, multiple) * steps)
        else:
            progress = ops.minimum(step, steps) / steps
        span = self.initial_learning_rate - self.end_learning_rate
        return ops.power(1.0 - progress, self.power) * span + self.end_learning_rate

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (the quotient floored
    with ``staircase``)."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
        name: str = "InverseTimeDecay",
    ):
        owner = "InverseTimeDecay"
        self.initial_learning_rate = number_in_range(owner, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive(owner, "decay_steps", decay_steps)
        self.decay_rate = number_in_range(owner, "decay_rate", decay_rate)
        self.staircase, self.name = staircase, name

    def __call__(self, step: Tensor | int) -> Tensor:
        step, steps = _step_tensor(self, step), float(self.decay_steps)
        progress = _floor_divide(step, steps) if self.staircase else step / steps
        return self.initial_learning_rate / (progress * self.decay_rate + 1.0)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): a cosine over ``first_decay_steps``, then again
    over ``t_mul`` times as many steps from ``m_mul`` times the rate, and so on; ``alpha`` is
    the floor, a fraction of ``initial_learning_rate``."""

    def __init__(
        self,
        initial_learning_rate: float,
        first_decay_steps: int,
        t_mul: float = 2.0,
        m_mul: float = 1.0,
        alpha: float = 0.0,
        name: str = "SGDRDecay",
    ):
        owner = "CosineDecayRestarts"
        self.initial_learning_rate = number_in_range(owner, "initial_learning_rate", initial_learning_rate)
        self.first_decay_steps = _positive(owner, "first_decay_steps", first_decay_steps)
        self.t_mul = float(_positive(owner, "t_mul", t_mul))
        self.m_mul = number_in_range(owner, "m_mul", m_mul)
        self.alpha, self.name = number_in_range(owner, "alpha", alpha), name

    def __call__(self, step: Tensor | int) -> Tensor:
        step, steps = _step_tensor(self, step), float(self.first_decay_steps)
        fraction = step / steps
        if self.t_mul == 1.0:
            restart = _floor_divide(step, steps)
            fraction = fraction - restart
        else:  # the restart whose span holds the step: a geometric series of spans
            # log(t_mul) in the step's float dtype, as Keras: where a restart falls exactly on a
            # step, the rounding of the two logs decides it (math.log's float64 would differ)
            log_t_mul = ops.log(ops.tensor(self.t_mul, dtype=fraction.dtype))
            restart = ops.floor(ops.log(1.0 - fraction * (1.0 - self.t_mul)) / log_t_mul)
            done = (1.0 - ops.power(self.t_mul, restart)) / (1.0 - self.t_mul)
            fraction = (fraction - done) / ops.power(self.t_mul, restart)
        return _cosine(fraction, self.alpha, ops.power(self.m_mul, restart)) * self.initial_learning_rate

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self.t_mul,
            "m_mul": self.m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }


SCHEDULES = Registry(
    "learning-rate schedule",
    {
        "exponential_decay": ExponentialDecay,
        "cosine_decay": CosineDecay,
        "piecewise_constant_decay": PiecewiseConstantDecay,
        "polynomial_decay": PolynomialDecay,
        "inverse_time_decay": InverseTimeDecay,
        "cosine_decay_restarts": CosineDecayRestarts,
    },
    base=LearningRateSchedule,
    callables=False,
)


__all__ = [
    "LearningRateSchedule",
    "ExponentialDecay",
    "CosineDecay",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "InverseTimeDecay",
    "CosineDecayRestarts",
]
