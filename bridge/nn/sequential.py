"""``Sequential``: layers applied one after another."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidArgumentError
from .layer import Layer
from .model import Model


class Sequential(Model):
    """A stack of layers, given as a list or added one by one with ``add``."""

    def __init__(self, layers: list[Layer] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._stack: list[Layer] = []
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Layer) -> None:
        if not isinstance(layer, Layer):
            raise InvalidArgumentError(f"Sequential.add: expected a Layer, got {type(layer).__name__}")
        self._stack.append(layer)

    def build(self, input_shape: tuple[int, ...]) -> None:
        """Sublayers build themselves on the first call."""

    def call(self, x: Any, training: bool = False) -> Any:
        for layer in self._stack:
            x = layer(x, training=training)
        return x

    def get_config(self) -> dict[str, Any]:
        from . import serialize

        return {**super().get_config(), "layers": [serialize(layer) for layer in self._stack]}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict[str, type] | None = None) -> Sequential:
        from . import deserialize

        config = dict(config)
        layers = [deserialize(layer, custom_objects) for layer in config.pop("layers", [])]
        return cls(layers, **config)
