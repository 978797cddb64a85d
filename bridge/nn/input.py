"""``Input``: the shape and dtype a model's inputs will have, known before any data arrives
(Keras' ``keras.Input``): the start of a functional model (``nn.Model(inputs, outputs)``), or the
first element of a ``Sequential``, which it builds at once."""

from __future__ import annotations

from typing import Any

from ..dtypes import default_float
from ..errors import ArgumentTypeError, InvalidArgumentError
from ..ops._core import integer_arg
from .layer import _unique_name
from .symbolic import SymbolicTensor


class Input(SymbolicTensor):
    """Inputs of ``shape`` per sample (the batch axis left out; None for a size known only at
    call time) and ``dtype`` (default float32); or of ``batch_shape``, the batch axis first, as
    Keras (``batch_size`` fixes the batch too). ``shape`` reads with the batch axis, as Keras:
    ``Input((4,)).shape == (None, 4)``. Layers called on it give the symbolic tensors a
    functional model is made of."""

    def __init__(
        self,
        shape: Any = None,
        dtype: Any = None,
        name: str | None = None,
        *,
        batch_size: int | None = None,
        batch_shape: Any = None,
    ) -> None:
        if (shape is None) == (batch_shape is None):
            raise InvalidArgumentError(
                "Input: give shape (without the batch axis) or batch_shape, one of them"
            )
        if batch_shape is not None:
            if batch_size is not None:
                raise InvalidArgumentError(
                    "Input: batch_shape holds the batch size: give no batch_size with it"
                )
            batch_size, *shape = _sizes("batch_shape", batch_shape)
        sizes = _sizes("shape", shape)
        batch = None if batch_size is None else integer_arg("Input", "batch_size", batch_size, minimum=1)
        super().__init__((batch, *sizes), dtype if dtype is not None else default_float)
        self.name = name or _unique_name(type(self), "input_layer")

    def get_config(self) -> dict[str, Any]:
        return {"batch_shape": list(self.shape), "dtype": self.dtype.name, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Input:
        return cls(batch_shape=config["batch_shape"], dtype=config.get("dtype"), name=config.get("name"))

    def __repr__(self) -> str:
        return f"<Input shape={self.shape}, dtype={self.dtype.name}, name={self.name!r}>"


def _sizes(what: str, shape: Any) -> tuple[int | None, ...]:
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise ArgumentTypeError(f"Input: {what} must be a tuple such as (4,), got {shape!r}")
    sizes = tuple(None if n is None else integer_arg("Input", what, n) for n in shape)
    if what == "batch_shape" and not sizes:
        raise InvalidArgumentError("Input: batch_shape needs the batch axis first, e.g. (None, 4)")
    return sizes
