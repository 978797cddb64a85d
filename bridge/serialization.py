"""Layers as plain configs and back: ``serialize(layer)`` gives Keras' ``{"class_name": ...,
"config": {...}}``, ``deserialize(config, custom_objects)`` a new, unbuilt layer.

``bridge.nn`` registers its layers in ``LAYERS``; layers of your own are found through
``custom_objects`` (names to classes), also inside nested configs such as a ``Sequential``'s."""

from __future__ import annotations

from typing import Any

from ._registry import Registry, config_of

LAYERS = Registry("layer", {})


def serialize(layer: Any) -> dict[str, Any]:
    """``{"class_name": ..., "config": layer.get_config()}``."""
    return config_of(layer)


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Any:
    """A new layer (unbuilt) from ``serialize``'s output; custom layer classes by name."""
    return LAYERS.deserialize(config, custom_objects)


__all__ = ["LAYERS", "serialize", "deserialize"]
