"""``Input``: the shape and dtype a model's inputs will have, known before any data arrives
(Keras' ``keras.Input``): the start of a functional model (``nn.Model(inputs, outputs)``), or the
first element of a ``Sequential``, which it builds at once."""

from __future__ import annotations

from typing import Any

from ..dtypes import default_float
from ..errors import ArgumentTypeError
from ..ops._core import integer_arg
from .layer import _unique_name
from .symbolic import SymbolicTensor


class Input(SymbolicTensor):
    """Inputs of ``shape`` per sample (the batch axis left out; None for a size known only at
    call time) and ``dtype`` (default float32). ``shape`` reads with the batch axis, as Keras:
    ``Input((4,)).shape == (None, 4)``. Layers called on it give the symbolic tensors a
    functional model is made of."""

    def __init__(self, shape: Any, dtype: Any = None, name: str | None = None) -> None:
        if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
            raise ArgumentTypeError(f"Input: shape must be a tuple such as (4,), got {shape!r}")
        sizes = tuple(None if n is None else integer_arg("Input", "shape", n) for n in shape)
        super().__init__((None, *sizes), dtype if dtype is not None else default_float)
        self.name = name or _unique_name(type(self), "input_layer")

    def get_config(self) -> dict[str, Any]:
        return {"batch_shape": list(self.shape), "dtype": self.dtype.name, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Input:
        return cls(config["batch_shape"][1:], dtype=config.get("dtype"), name=config.get("name"))

    def __repr__(self) -> str:
        return f"<Input shape={self.shape}, dtype={self.dtype.name}, name={self.name!r}>"
