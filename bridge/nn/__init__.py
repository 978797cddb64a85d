"""Layers written once over bridge ops: ``Layer``, ``Sequential`` and the built-in layers."""

from __future__ import annotations

from .._registry import register_serializable
from ..errors import NotBuiltError
from ..saving import load_model
from ..serialization import LAYERS, deserialize, serialize
from .conv import AveragePooling2D, AvgPool2D, Conv2D, GlobalAveragePooling2D, MaxPool2D, MaxPooling2D
from .core import Activation, Dense, Dropout, Embedding, Flatten, Reshape
from .input import Input
from .layer import Layer
from .model import Model, NotCompiledError
from .normalization import BatchNormalization, LayerNormalization
from .sequential import Sequential

LAYERS.register(
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

__all__ = [
    "Input",
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
    "load_model",
    "register_serializable",
]
