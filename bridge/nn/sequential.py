"""``Sequential``: layers applied one after another."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidArgumentError
from ..serialization import deserialize, serialize
from .input import Input
from .layer import Layer
from .model import Model


class Sequential(Model):
    """A stack of layers, given as a list or added one by one with ``add``.

    With an ``nn.Input`` first, the model is built at once, as in Keras: the weights exist (on
    the current backend) before any data, and so does ``summary``; each later ``add`` builds the
    new layer. Building runs the layers once on zeros of one sample of the input's shape."""

    def __init__(self, layers: list[Layer | Input] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._stack: list[Layer] = []
        self._input: Input | None = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Layer | Input) -> None:
        if isinstance(layer, Input):
            if self._stack or self._input is not None:
                raise InvalidArgumentError(f"Sequential.add: an Input can only come first, got {layer!r}")
            self._input = layer
            return
        if not isinstance(layer, Layer):
            raise InvalidArgumentError(f"Sequential.add: expected a Layer, got {type(layer).__name__}")
        self._stack.append(layer)
        if self._input is not None:
            self(self._input.example())

    def call(self, x: Any, training: bool = False) -> Any:
        for layer in self._stack:
            x = layer(x, training=training)
        return x

    def get_config(self) -> dict[str, Any]:
        inputs = (
            [] if self._input is None else [{"class_name": "InputLayer", "config": self._input.get_config()}]
        )
        return {**super().get_config(), "layers": inputs + [serialize(layer) for layer in self._stack]}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict[str, type] | None = None) -> Sequential:
        config = dict(config)
        layers: list[Layer | Input] = [
            Input.from_config(layer["config"])
            if layer["class_name"] == "InputLayer"
            else deserialize(layer, custom_objects)
            for layer in config.pop("layers", [])
        ]
        return cls(layers, **config)
