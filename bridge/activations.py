"""Activations by name: ``activations.get("relu")`` (also accepts callables and None)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ops
from ._registry import lookup
from .errors import ArgumentTypeError


def linear(x: Any) -> Any:
    """The identity."""
    return x


def softmax(x: Any) -> Any:
    """Softmax over the last axis."""
    return ops.softmax(x, axis=-1)


ACTIVATIONS: dict[str, Callable] = {
    "relu": ops.relu,
    "sigmoid": ops.sigmoid,
    "tanh": ops.tanh,
    "softmax": softmax,
    "gelu": ops.gelu,
    "silu": ops.silu,
    "swish": ops.silu,
    "leaky_relu": ops.leaky_relu,
    "elu": ops.elu,
    "softplus": ops.softplus,
    "linear": linear,
}


def get(identifier: str | Callable | None) -> Callable:
    """The activation function for a name, a callable, or None (linear)."""
    if identifier is None:
        return linear
    if not (isinstance(identifier, str) or callable(identifier)):
        raise ArgumentTypeError(f"activation must be a name, a callable or None, got {identifier!r}")
    return lookup("activation", identifier, ACTIVATIONS)


def serialize(activation: Callable) -> str | Callable:
    """The name of a built-in activation (else the callable itself)."""
    return next((name for name, fn in ACTIVATIONS.items() if fn is activation), activation)
