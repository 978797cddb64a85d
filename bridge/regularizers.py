"""Weight regularizers: L1, L2 and L1L2 (Keras' defaults), by name or as objects."""

from __future__ import annotations

from typing import Any

from . import ops
from ._registry import from_config, lookup
from .errors import InvalidArgumentError
from .tensor import Tensor


class L1L2:
    """``l1 * sum(|w|) + l2 * sum(w**2)``."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, weight: Tensor) -> Tensor:
        penalty = ops.zeros((), dtype=weight.dtype, backend=weight.backend, device=weight.device)
        if self.l1:
            penalty = penalty + ops.sum(ops.abs(weight)) * self.l1
        if self.l2:
            penalty = penalty + ops.sum(ops.square(weight)) * self.l2
        return penalty

    def get_config(self) -> dict[str, float]:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    def __init__(self, l1: float = 0.01) -> None:
        super().__init__(l1=l1)

    def get_config(self) -> dict[str, float]:
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2: float = 0.01) -> None:
        super().__init__(l2=l2)

    def get_config(self) -> dict[str, float]:
        return {"l2": self.l2}


REGULARIZERS = {"l1": L1, "l2": L2, "l1_l2": L1L2}


def get(identifier: Any) -> Any:
    """A regularizer from None, a name, a config dict or a callable ``weight -> scalar``."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return from_config("regularizer", identifier, REGULARIZERS)
    found = lookup("regularizer", identifier, REGULARIZERS)
    if isinstance(found, type):
        return found()
    if callable(found):
        return found
    raise InvalidArgumentError(f"a regularizer is a name, a config or a callable, got {identifier!r}")


def serialize(regularizer: Any) -> Any:
    if isinstance(regularizer, L1L2):
        return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}
    return regularizer
