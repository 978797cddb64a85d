"""Activations by name: ``activations.get("relu")`` (also accepts callables and None)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ops
from ._registry import Registry


def linear(x: Any) -> Any:
    """The identity."""
    return x


def softmax(x: Any) -> Any:
    """Softmax over the last axis."""
    return ops.softmax(x, axis=-1)


relu, sigmoid, tanh, gelu, silu = ops.relu, ops.sigmoid, ops.tanh, ops.gelu, ops.silu
leaky_relu, elu, softplus = ops.leaky_relu, ops.elu, ops.softplus
swish = silu

ACTIVATIONS: dict[str, Callable] = {
    "relu": relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softmax": softmax,
    "gelu": gelu,
    "silu": silu,
    "swish": swish,
    "leaky_relu": leaky_relu,
    "elu": elu,
    "softplus": softplus,
    "linear": linear,
}
REGISTRY = Registry("activation", ACTIVATIONS)


def get(identifier: str | Callable | dict | None) -> Callable:
    """The activation function for a name, a callable, or None (linear)."""
    return linear if identifier is None else REGISTRY.get(identifier)


def serialize(activation: Callable) -> str | Callable:
    """The name of a built-in activation (else the callable itself)."""
    return REGISTRY.serialize(activation)


def deserialize(config: Any, custom_objects: dict[str, Any] | None = None) -> Callable:
    """The activation ``serialize`` described."""
    return REGISTRY.deserialize(config, custom_objects)
