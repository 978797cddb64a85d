"""Position embeddings for sequence models, as keras_hub's ``PositionEmbedding`` and
``SinePositionEncoding``: given (batch, ..., sequence, features) inputs, they return what is
added to them (of the same shape), never reading the inputs' values."""

from __future__ import annotations

from numbers import Real
from typing import Any

from .. import initializers, ops
from ..errors import InvalidArgumentError, ShapeError
from ..ops._core import integer_arg
from ..tensor import Tensor
from .layer import Layer


def _sequence_shape(name: str, layer: str, x: Tensor) -> tuple[int, int]:
    """(sequence length, features) of inputs ``(batch, ..., sequence, features)``."""
    if x.ndim < 2:
        raise ShapeError(
            f"{name}: {layer} needs inputs of rank >= 2 (..., sequence, features), got shape {x.shape}"
        )
    return x.shape[-2], x.shape[-1]


class PositionEmbedding(Layer):
    """A learned embedding per position: a ``(sequence_length, features)`` table whose first
    rows (from ``start_index``, for cached decoding) are broadcast to the inputs' shape.

    As keras_hub's, except that a sequence longer than ``sequence_length`` is a ShapeError
    (newer keras_hub versions extend the table "hierarchically"; bridge does not)."""

    def __init__(self, sequence_length: int, initializer: Any = "glorot_uniform", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sequence_length: int = integer_arg(
            "PositionEmbedding", "sequence_length", sequence_length, minimum=1
        )
        self.initializer: Any = initializers.get(initializer)

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) < 2:
            raise ShapeError(
                f"{self.name}: PositionEmbedding needs inputs of rank >= 2 (..., sequence, features), "
                f"got shape {tuple(input_shape)}"
            )
        self.position_embeddings = self.add_weight(
            "embeddings", (self.sequence_length, input_shape[-1]), self.initializer
        )

    def call(self, x: Tensor, start_index: int = 0) -> Tensor:
        length, features = _sequence_shape(self.name, "PositionEmbedding", x)
        start = integer_arg(self.name, "start_index", start_index, minimum=0)
        if start + length > self.sequence_length or features != self.position_embeddings.shape[1]:
            raise ShapeError(
                f"{self.name}: PositionEmbedding holds {self.sequence_length} positions of "
                f"{self.position_embeddings.shape[1]} features; inputs of shape {x.shape} from "
                f"start_index {start} do not fit"
            )
        return ops.broadcast_to(self.position_embeddings[start : start + length], x.shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "sequence_length": self.sequence_length,
            "initializer": initializers.serialize(self.initializer),
        }


class SinePositionEncoding(Layer):
    """The fixed sinusoidal encoding of "Attention is all you need", as keras_hub's: position
    ``p`` (counted from ``start_index``), feature ``i`` is ``sin(p / max_wavelength ** (2k / d))``
    for even ``i = 2k`` and ``cos`` of the same angle for odd ``i = 2k + 1``, ``d`` the number of
    features; broadcast to the inputs' shape, in the layer's dtype."""

    def __init__(self, max_wavelength: float = 10000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(max_wavelength, bool) or not isinstance(max_wavelength, Real) or not max_wavelength > 0:
            raise InvalidArgumentError(
                f"SinePositionEncoding: max_wavelength must be a positive number, got {max_wavelength!r}"
            )
        self.max_wavelength: float = max_wavelength

    def call(self, x: Tensor, start_index: int = 0) -> Tensor:
        length, features = _sequence_shape(self.name, "SinePositionEncoding", x)
        start = integer_arg(self.name, "start_index", start_index, minimum=0)
        where = {"dtype": self.dtype, "device": x.device, "backend": x.backend}
        positions = ops.arange(start, start + length, **where)
        index = ops.arange(features, backend=x.backend, device=x.device)
        exponents = (2 * (index // 2)).astype(self.dtype) / ops.tensor(features, **where)
        timescales = ops.power(ops.tensor(1 / self.max_wavelength, **where), exponents)
        angles = ops.expand_dims(positions, 1) * ops.expand_dims(timescales, 0)
        odd = (index % 2).astype(self.dtype)  # even features take the sine, odd ones the cosine
        encoding = ops.sin(angles) * (1 - odd) + ops.cos(angles) * odd
        return ops.broadcast_to(encoding, x.shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_wavelength": self.max_wavelength}
