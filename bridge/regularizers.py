"""Weight regularizers: L1, L2 and L1L2 (Keras' defaults), by name or as objects."""

from __future__ import annotations

from typing import Any

from . import ops
from ._registry import Registry
from .ops.creation import tensor_like
from .tensor import Tensor


class L1L2:
    """``l1 * sum(|w|) + l2 * sum(w**2)``."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, weight: Tensor) -> Tensor:
        penalty = tensor_like(0, weight)
        if self.l1:
            penalty = penalty + ops.sum(ops.abs(weight)) * self.l1
        if self.l2:
            penalty = penalty + ops.sum(ops.square(weight)) * self.l2
        return penalty

    def get_config(self) -> dict[str, float]:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|w|)``."""

    def __init__(self, l1: float = 0.01) -> None:
        super().__init__(l1=l1)

    def get_config(self) -> dict[str, float]:
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(w**2)``."""

    def __init__(self, l2: float = 0.01) -> None:
        super().__init__(l2=l2)

    def get_config(self) -> dict[str, float]:
        return {"l2": self.l2}


l1, l2, l1_l2 = L1, L2, L1L2  # Keras' lowercase aliases: ``regularizers.l2(0.01)``

REGISTRY = Registry("regularizer", {"l1": L1, "l2": L2, "l1_l2": L1L2})


def get(identifier: Any) -> Any:
    """A regularizer from None, a name, a config dict or a callable ``weight -> scalar``."""
    return None if identifier is None else REGISTRY.get(identifier)


def serialize(regularizer: Any) -> Any:
    """A config for a built-in regularizer (else the callable itself)."""
    return REGISTRY.serialize(regularizer)


def deserialize(config: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """The regularizer ``serialize`` described."""
    return REGISTRY.deserialize(config, custom_objects)
