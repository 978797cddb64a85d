"""``TimeDistributed``: a layer applied to every time step, as Keras 3's."""

from __future__ import annotations

from typing import Any

from .. import ops
from ..errors import ArgumentTypeError, ShapeError
from ..serialization import deserialize, serialize
from ..tensor import Tensor
from .layer import Layer


class TimeDistributed(Layer):
    """Apply ``layer`` to each step ``inputs[:, t]`` of ``(batch, time, ...)`` inputs and stack
    the results on axis 1. One layer (one set of weights) serves every step, called step by step
    as Keras does (a BatchNormalization inside takes each step's own batch statistics).

    A mask ``(batch, time)`` (given, or carried by the input) passes ``mask[:, t]`` to a layer
    whose ``call`` takes ``mask``, and is the output's mask."""

    supports_masking = True

    def __init__(self, layer: Layer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise ArgumentTypeError(f"TimeDistributed: layer must be a bridge.nn.Layer, got {layer!r}")
        self.layer = layer

    def call(self, inputs: Tensor, training: bool | None = None, mask: Any = None) -> Tensor:
        if not isinstance(inputs, Tensor) or inputs.ndim < 3:
            shape = inputs.shape if isinstance(inputs, Tensor) else type(inputs).__name__
            raise ShapeError(
                f"{self.name}: TimeDistributed needs inputs of rank >= 3 (batch, time, ...), got {shape}"
            )
        if mask is not None:
            mask = ops.tensor_like(mask, inputs) if not isinstance(mask, Tensor) else mask
            if mask.ndim < 2 or mask.shape[:2] != inputs.shape[:2]:
                raise ShapeError(
                    f"{self.name}: TimeDistributed's mask must start with the inputs' (batch, time) "
                    f"{inputs.shape[:2]}, got shape {mask.shape}"
                )
        steps = []
        for t in range(inputs.shape[1]):
            kwargs = {"mask": mask[:, t]} if mask is not None and self.layer._call_takes_mask else {}
            step = self.layer(inputs[:, t], training=training, **kwargs)
            if not isinstance(step, Tensor):
                raise ShapeError(
                    f"{self.name}: TimeDistributed needs its layer to return one tensor, "
                    f"got {type(step).__name__}"
                )
            steps.append(step)
        return ops.stack(steps, axis=1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "layer": serialize(self.layer)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TimeDistributed:
        config = dict(config)
        return cls(deserialize(config.pop("layer")), **config)


__all__ = ["TimeDistributed"]
