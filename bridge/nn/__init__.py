"""Layers written once over bridge ops: ``Layer``, ``Sequential`` and the built-in layers."""

from __future__ import annotations

from typing import Any

from .._registry import lookup
from .conv import AveragePooling2D, AvgPool2D, Conv2D, GlobalAveragePooling2D, MaxPool2D, MaxPooling2D
from .core import Activation, Dense, Dropout, Embedding, Flatten, Reshape
from .layer import Layer, NotBuiltError
from .model import Model, NotCompiledError
from .normalization import BatchNormalization, LayerNormalization
from .sequential import Sequential

LAYERS: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (
        Dense,
        Dropout,
        Activation,
        Flatten,
        Reshape,
        Embedding,
        Conv2D,
        MaxPool2D,
        AvgPool2D,
        GlobalAveragePooling2D,
        BatchNormalization,
        LayerNormalization,
        Sequential,
    )
}


def serialize(layer: Layer) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` for a layer."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: dict[str, Any], custom_objects: dict[str, type] | None = None) -> Layer:
    """A new layer (unbuilt) from ``serialize``'s output; custom layer classes by name."""
    known = {**LAYERS, **(custom_objects or {})}
    cls = lookup("layer", config["class_name"], known)
    if cls is Sequential:
        return Sequential.from_config(config["config"], custom_objects)
    return cls.from_config(config["config"])


__all__ = [
    "Layer",
    "Model",
    "NotCompiledError",
    "Sequential",
    "Dense",
    "Dropout",
    "Activation",
    "Flatten",
    "Reshape",
    "Embedding",
    "Conv2D",
    "MaxPool2D",
    "MaxPooling2D",
    "AvgPool2D",
    "AveragePooling2D",
    "GlobalAveragePooling2D",
    "BatchNormalization",
    "LayerNormalization",
    "NotBuiltError",
    "serialize",
    "deserialize",
]
