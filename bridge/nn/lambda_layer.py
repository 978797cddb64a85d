"""``Lambda``: a function of bridge ops as a layer, as Keras 3's.

Saving keeps the function by name only: a bridge op (``br.ops.square``), a function decorated
with ``@bridge.nn.register_serializable()``, or another named function (found again through
``custom_objects``). A Python ``lambda`` has no name to save: ``model.save`` refuses it with a
SerializationError (Keras saves its bytecode, which loads only in unsafe mode)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .. import ops
from .._registry import Registry
from ..errors import ArgumentTypeError
from .layer import Layer

#: Functions a Lambda saves by name: the bridge ops.
FUNCTIONS = Registry("Lambda", {name: getattr(ops, name) for name in ops.__all__})


def _parameters(function: Callable[..., Any]) -> set[str]:
    try:
        return set(inspect.signature(function).parameters)
    except (TypeError, ValueError):  # some builtins have no signature
        return set()


class Lambda(Layer):
    """``function(inputs, **arguments)``; ``mask=`` and ``training=`` are passed on too where
    ``function`` takes them.

    ``output_shape`` (a shape without the batch axis, or a function of the input shape) is kept
    for the config only: bridge infers shapes by calling the layer. ``mask`` is the output's mask:
    None (the input's mask is dropped), or a function ``mask(inputs, previous_mask)``."""

    def __init__(
        self,
        function: Callable[..., Any],
        output_shape: Any = None,
        mask: Any = None,
        arguments: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(function):
            raise ArgumentTypeError(f"Lambda: function must be callable, got {function!r}")
        if arguments is not None and not isinstance(arguments, dict):
            raise ArgumentTypeError(f"Lambda: arguments must be a dict, got {arguments!r}")
        if not (output_shape is None or callable(output_shape) or isinstance(output_shape, (tuple, list))):
            raise ArgumentTypeError(
                "Lambda: output_shape must be None, a shape or a function of the input shape, "
                f"got {output_shape!r}"
            )
        self.function, self.mask, self.arguments = function, mask, dict(arguments or {})
        self.lambda_output_shape = tuple(output_shape) if isinstance(output_shape, list) else output_shape
        self.supports_masking = mask is not None
        self._takes = _parameters(function)

    def call(self, inputs: Any, mask: Any = None, training: bool | None = None) -> Any:
        kwargs = dict(self.arguments)
        if "mask" in self._takes:
            kwargs["mask"] = mask
        if "training" in self._takes:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        """``mask(inputs, previous_mask)`` where ``mask`` is a function, else ``mask`` itself."""
        return self.mask(inputs, previous_mask) if callable(self.mask) else self.mask

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "function": FUNCTIONS.serialize(self.function)}
        shape = self.lambda_output_shape
        if shape is not None:
            config["output_shape"] = FUNCTIONS.serialize(shape) if callable(shape) else shape
        if self.mask is not None:
            config["mask"] = FUNCTIONS.serialize(self.mask)
        return {**config, "arguments": self.arguments}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Lambda:
        config = dict(config)
        for key in ("function", "output_shape", "mask"):
            value = config.get(key)
            if isinstance(value, (str, dict)):
                config[key] = FUNCTIONS.deserialize(value)
        return cls(**config)


__all__ = ["Lambda"]
