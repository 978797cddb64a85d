"""``Sequential``: layers applied one after another."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidArgumentError, NoSymbolicInputError
from ..serialization import deserialize, serialize
from .input import Input
from .layer import Layer
from .model import Model
from .symbolic import SymbolicTensor


class Sequential(Model):
    """A stack of layers, given as a list or added one by one with ``add``.

    With an ``nn.Input`` first, the model is built at once, as in Keras: the weights exist (on
    the current backend) before any data, and so does ``summary``; each later ``add`` builds the
    new layer, called on the symbolic output of those before it (see ``nn.symbolic``)."""

    def __init__(self, layers: list[Layer | Input] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._stack: list[Layer] = []
        self._input: Input | None = None
        self._symbolic_output: Any = None  # what the stack gives, for an Input first
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
        if not self._stack and self._input is None and layer._input_shape_arg is not None:
            self.add(Input(layer._input_shape_arg))  # Keras' legacy `Dense(4, input_shape=(3,))`
        if self._input is not None:  # build the new layer on what the stack gives so far
            self._symbolic_output = layer(self._symbolic_output if self._stack else self._input)
            shape, dtype = self._input.shape, self._input.dtype.name
            self._input_shape, self._input_dtype = shape, dtype
            self._input_spec = {"shape": list(shape), "dtype": dtype}
            self.built = True
        self._stack.append(layer)
        self._forget_tracked()

    def pop(self, rebuild: bool = True) -> Layer:
        """Remove the last layer and return it, as Keras. The model forgets its compiled steps;
        with an ``nn.Input`` first and ``rebuild``, it is built again on the layers left (else it
        is built anew by its next call, the layers keeping their weights)."""
        if not self._stack:
            raise InvalidArgumentError(f"Sequential.pop: {self.name} has no layer to remove")
        layer = self._stack.pop()
        self._forget_tracked()
        if self._init_arguments is not None:  # its layers list would keep tracking the layer
            self._init_arguments.pop("layers", None)
        self._compiled_steps.clear()
        self.built = False
        self._symbolic_output = None
        if rebuild and self._input is not None and self._stack:
            layers, self._stack = self._stack, []
            for kept in layers:
                self.add(kept)
        return layer

    # --- the symbolic inputs and outputs, as Keras' (with an nn.Input first) ---------------------
    def _symbolic(self, what: str) -> None:
        if self._input is None or self._symbolic_output is None:
            raise NoSymbolicInputError(
                f"{self.name}: {what} is defined for a Sequential that begins with an nn.Input (or a "
                "first layer given input_shape=), as in Keras"
            )

    @property
    def input(self) -> Input:
        """The ``nn.Input`` the model begins with."""
        self._symbolic("input")
        return self._input  # type: ignore[return-value]

    @property
    def output(self) -> SymbolicTensor:
        """The symbolic output of the last layer on that input."""
        self._symbolic("output")
        return self._symbolic_output

    @property
    def inputs(self) -> list[Input]:
        return [self.input]

    @property
    def outputs(self) -> list[SymbolicTensor]:
        return [self.output]

    @property
    def input_shape(self) -> tuple[int | None, ...]:
        """The input's shape, the batch axis first (``(None, 4)``), as Keras."""
        return self.input.shape

    @property
    def output_shape(self) -> tuple[int | None, ...]:
        """The output's shape, the batch axis first, as Keras."""
        return self.output.shape

    def call(self, x: Any, training: bool = False) -> Any:
        if isinstance(x, (list, tuple, dict)):  # as Keras: one input tensor
            given = f"a {type(x).__name__} of {len(x)}" if not isinstance(x, dict) else f"a dict {list(x)}"
            raise InvalidArgumentError(
                f"{self.name}: a Sequential model takes one input tensor, got {given}; for several "
                "inputs, use a functional model (nn.Model(inputs, outputs)) or subclass nn.Model"
            )
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
