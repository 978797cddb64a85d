"""Weight constraints as Keras 3 defines them: NonNeg, MaxNorm, UnitNorm and MinMaxNorm, each a
callable from a weight to its projection (the norms taken over ``axis``, Keras' epsilon of 1e-7
in the divisions), by name or as objects."""

from __future__ import annotations

from typing import Any

from . import ops
from ._registry import Registry
from .schedules import number_in_range
from .tensor import Tensor

EPSILON = 1e-7  # keras.backend.epsilon()


class Constraint:
    """A projection of a weight, ``constraint(w) -> w``; the base class leaves it unchanged."""

    def __call__(self, weight: Tensor) -> Tensor:
        return weight

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Constraint:
        return cls(**config)


def _norms(weight: Tensor, axis: Any) -> Tensor:
    return ops.sqrt(ops.sum(ops.square(weight), axis=axis, keepdims=True))


class NonNeg(Constraint):
    """``max(w, 0)``."""

    def __call__(self, weight: Tensor) -> Tensor:
        return ops.maximum(weight, 0.0)


class MaxNorm(Constraint):
    """Each slice along ``axis`` rescaled to a norm of at most ``max_value``."""

    def __init__(self, max_value: float = 2, axis: Any = 0) -> None:
        self.max_value, self.axis = number_in_range("MaxNorm", "max_value", max_value), axis

    def __call__(self, weight: Tensor) -> Tensor:
        norms = _norms(weight, self.axis)
        return weight * (ops.clip(norms, 0.0, self.max_value) / (EPSILON + norms))

    def get_config(self) -> dict[str, Any]:
        return {"max_value": self.max_value, "axis": self.axis}


class UnitNorm(Constraint):
    """Each slice along ``axis`` rescaled to a norm of 1."""

    def __init__(self, axis: Any = 0) -> None:
        self.axis = axis

    def __call__(self, weight: Tensor) -> Tensor:
        return weight / (EPSILON + _norms(weight, self.axis))

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Each slice along ``axis`` rescaled towards a norm in ``[min_value, max_value]``:
    ``rate * clip(norm, min_value, max_value) + (1 - rate) * norm``."""

    def __init__(
        self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis: Any = 0
    ) -> None:
        self.min_value = number_in_range("MinMaxNorm", "min_value", min_value)
        self.max_value = number_in_range("MinMaxNorm", "max_value", max_value, self.min_value)
        self.rate = number_in_range("MinMaxNorm", "rate", rate, 0.0, 1.0, high_open=False)
        self.axis = axis

    def __call__(self, weight: Tensor) -> Tensor:
        norms = _norms(weight, self.axis)
        desired = self.rate * ops.clip(norms, self.min_value, self.max_value) + (1.0 - self.rate) * norms
        return weight * (desired / (EPSILON + norms))

    def get_config(self) -> dict[str, Any]:
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


non_neg, max_norm, unit_norm, min_max_norm = NonNeg, MaxNorm, UnitNorm, MinMaxNorm  # Keras' aliases

REGISTRY = Registry(
    "constraint",
    {"non_neg": NonNeg, "max_norm": MaxNorm, "unit_norm": UnitNorm, "min_max_norm": MinMaxNorm},
    base=Constraint,
)


def get(identifier: Any) -> Any:
    """A constraint from None, a name, a config dict or a callable ``weight -> weight``."""
    return None if identifier is None else REGISTRY.get(identifier)


def serialize(constraint: Any) -> Any:
    """A config for a built-in constraint (else the callable itself)."""
    return REGISTRY.serialize(constraint)


def deserialize(config: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """The constraint ``serialize`` described."""
    return REGISTRY.deserialize(config, custom_objects)


__all__ = [
    "Constraint",
    "NonNeg",
    "MaxNorm",
    "UnitNorm",
    "MinMaxNorm",
    "non_neg",
    "max_norm",
    "unit_norm",
    "min_max_norm",
    "get",
    "serialize",
    "deserialize",
]
