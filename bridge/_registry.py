"""Lookup of things given by name (activations, initializers, losses, ...), with one error style."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .errors import InvalidArgumentError


def _normal(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def lookup(kind: str, identifier: Any, known: Mapping[str, Any]) -> Any:
    """``known[identifier]`` for a name, ignoring case, ``_`` and ``-`` (so ``"MeanSquaredError"``
    finds ``"mean_squared_error"``); anything but a string comes back unchanged."""
    if not isinstance(identifier, str):
        return identifier
    table = {_normal(name): value for name, value in known.items()}
    if _normal(identifier) not in table:
        raise InvalidArgumentError(f"unknown {kind} {identifier!r}; known: {', '.join(sorted(known))}")
    return table[_normal(identifier)]


def from_config(kind: str, config: Mapping[str, Any], classes: Mapping[str, Callable]) -> Any:
    """An object rebuilt from ``{"class_name": ..., "config": {...}}``."""
    try:
        name, arguments = config["class_name"], config.get("config", {})
    except (KeyError, TypeError):
        raise InvalidArgumentError(
            f"a {kind} config is {{'class_name': ..., 'config': {{...}}}}, got {config!r}"
        ) from None
    return lookup(kind, name, classes)(**arguments)
