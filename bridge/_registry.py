"""Lookup of things given by name (activations, initializers, losses, ...), with one error style."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .errors import InvalidArgumentError


def lookup(kind: str, identifier: Any, known: Mapping[str, Any]) -> Any:
    """``known[identifier]`` for a name (case and ``_`` insensitive); anything else unchanged."""
    if not isinstance(identifier, str):
        return identifier
    key = identifier.lower().replace("-", "_")
    if key not in known:
        names = ", ".join(sorted(known))
        raise InvalidArgumentError(f"unknown {kind} {identifier!r}; known {kind}s: {names}")
    return known[key]


def from_config(kind: str, config: Mapping[str, Any], classes: Mapping[str, Callable]) -> Any:
    """An object rebuilt from ``{"class_name": ..., "config": {...}}``."""
    try:
        name, arguments = config["class_name"], config.get("config", {})
    except (KeyError, TypeError):
        raise InvalidArgumentError(
            f"a {kind} config is {{'class_name': ..., 'config': {{...}}}}, got {config!r}"
        ) from None
    return lookup(kind, name, classes)(**arguments)
