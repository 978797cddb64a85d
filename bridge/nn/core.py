"""Core layers: Dense, Dropout, Activation, Flatten, Reshape, Embedding, Masking."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

from .. import activations, constraints, initializers, ops, random, regularizers
from ..dtypes import default_float, int64
from ..errors import ArgumentTypeError, InvalidArgumentError, ShapeError
from ..ops._core import backend_of, integer_arg
from ..ops.indexing import checked_indices
from ..tensor import Tensor
from .layer import KernelLayer, Layer, constraint_argument


class Dense(KernelLayer):
    """``activation(x @ kernel + bias)`` over the last axis."""

    supports_masking = True  # passes the mask on, as Keras

    def __init__(self, units: int, activation: Any = None, **kwargs: Any) -> None:
        super().__init__(activation, **kwargs)
        self.units = integer_arg("Dense", "units", units, minimum=1)

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) < 1:
            raise ShapeError(f"{self.name}: Dense needs inputs of rank >= 1, got shape {input_shape}")
        self._add_kernel_and_bias((input_shape[-1], self.units), self.units)

    def call(self, x: Tensor) -> Tensor:
        features = self.kernel.shape[0]
        if x.ndim < 1 or x.shape[-1] != features:
            raise ShapeError(
                f"{self.name}: Dense was built for inputs with {features} features (last axis), "
                f"got shape {x.shape}"
            )
        y = ops.matmul(x, self.kernel)  # not `@`: torch.compile does not trace `@` on Python objects
        if self.use_bias:
            y = y + self.bias
        return self.activation(y)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}


class Dropout(Layer):
    """In training, zero inputs with probability ``rate`` and scale the rest by ``1/(1-rate)``.

    The masks come from a seed generator: the same ``seed`` gives the same masks on every backend,
    call after call (also under ``br.jit``)."""

    supports_masking = True  # passes the mask on, as Keras

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(rate, Real):
            raise ArgumentTypeError(f"Dropout: rate must be a float in [0, 1], got {rate!r}")
        if not 0 <= rate <= 1:
            raise InvalidArgumentError(f"Dropout: rate must be in [0, 1], got {rate}")
        self.rate: float = float(rate)
        self.seed: int | None = seed

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.seed_generator = random.SeedGenerator(self.seed)

    def call(self, x: Tensor, training: bool = False) -> Tensor:
        if not training or self.rate == 0:
            return x
        if self.rate == 1:  # every element dropped (as Keras): zeros, even where x is NaN
            return ops.zeros_like(x, dtype=x.dtype if x.dtype.kind == "f" else default_float)
        return ops.dropout(x, self.rate, seed=self.seed_generator)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class Activation(Layer):
    """Apply an activation, given by name or as a callable."""

    supports_masking = True  # passes the mask on, as Keras

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, x: Tensor) -> Tensor:
        return self.activation(x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Flatten(Layer):
    """Flatten every axis but the first (the batch): ``(batch, ...)`` to ``(batch, features)``."""

    def call(self, x: Tensor) -> Tensor:
        if x.ndim < 1:
            raise ShapeError(f"{self.name}: Flatten needs inputs of rank >= 1 (a batch axis), got shape ()")
        return ops.reshape(x, _with_batch(x, (math.prod(x.shape[1:]),)))


def _with_batch(x: Tensor, sample_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape ``(batch, *sample_shape)`` for ``x``: -1 stands for the batch where that is not
    ambiguous (a sample of zero elements needs the batch size itself)."""
    return (-1 if math.prod(sample_shape) else x.shape[0], *sample_shape)


class Reshape(Layer):
    """Reshape every sample to ``target_shape`` (one entry may be -1)."""

    def __init__(self, target_shape: tuple[int, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(target_shape, (tuple, list)):
            raise ArgumentTypeError(f"Reshape: target_shape must be a tuple of ints, got {target_shape!r}")
        self.target_shape = tuple(integer_arg("Reshape", "target_shape", n, minimum=-1) for n in target_shape)
        if self.target_shape.count(-1) > 1:
            raise InvalidArgumentError(f"Reshape: at most one -1 in target_shape, got {self.target_shape}")

    def call(self, x: Tensor) -> Tensor:
        if x.ndim < 1:
            raise ShapeError(f"{self.name}: Reshape needs inputs of rank >= 1 (a batch axis), got shape ()")
        size, known = math.prod(x.shape[1:]), math.prod(n for n in self.target_shape if n != -1)
        target = self.target_shape
        if -1 in target and known and size % known == 0:
            target = tuple(size // known if n == -1 else n for n in target)
        if -1 in target or math.prod(target) != size:
            raise ShapeError(
                f"{self.name}: cannot reshape samples of shape {x.shape[1:]} ({size} elements) "
                f"into target_shape {self.target_shape}"
            )
        return ops.reshape(x, _with_batch(x, target))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": self.target_shape}


class Embedding(Layer):
    """Rows of an ``(input_dim, output_dim)`` table, picked by integer ids. With
    ``mask_zero=True`` id 0 is padding: ``compute_mask`` gives ``ids != 0`` (as Keras)."""

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        embeddings_constraint: Any = None,
        mask_zero: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraint_argument(self, "embeddings_constraint", embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Tensor | None:
        """``inputs != 0`` with ``mask_zero``, else None."""
        return ops.not_equal(inputs, 0) if self.mask_zero else None

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.embeddings = self.add_weight(
            "embeddings",
            (self.input_dim, self.output_dim),
            self.embeddings_initializer,
            regularizer=self.embeddings_regularizer,
            constraint=self.embeddings_constraint,
        )

    def _standardize(self, x: Any) -> Any:
        return x if isinstance(x, Tensor) else super()._standardize(x)

    def call(self, x: Tensor) -> Tensor:
        """Rows at ``x``; an id outside ``[0, input_dim)`` raises ``IndexOutOfRangeError`` (inside
        ``br.jit`` it is clamped, as ``take``)."""
        if x.dtype.kind not in "iu":
            raise InvalidArgumentError(f"{self.name}: Embedding needs integer ids, got {x.dtype}")
        table = self.embeddings
        backend_of(f"Embedding {self.name!r}", table, x)  # one backend, else BackendMismatchError
        ids = checked_indices(f"Embedding {self.name!r}", x.astype(int64), self.input_dim, 0, negative=False)
        return Tensor(table._backend.take(table._native, ids._native, 0), table._backend)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "embeddings_constraint": constraints.serialize(self.embeddings_constraint),
            "mask_zero": self.mask_zero,
        }


class Masking(Layer):
    """Skip the time steps whose features all equal ``mask_value``: those are zeroed, and
    ``compute_mask`` gives ``any(x != mask_value, axis=-1)`` for the layers after (as Keras)."""

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, Real):
            raise ArgumentTypeError(f"Masking: mask_value must be a number, got {mask_value!r}")
        self.mask_value: float = float(mask_value)

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Tensor:
        return ops.any(ops.not_equal(inputs, self.mask_value), axis=-1)

    def call(self, x: Tensor) -> Tensor:
        if x.ndim < 2:
            raise ShapeError(
                f"{self.name}: Masking needs inputs of rank >= 2 (batch, ..., features), got shape {x.shape}"
            )
        keep = ops.any(ops.not_equal(x, self.mask_value), axis=-1, keepdims=True)
        return x * keep.astype(x.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mask_value": self.mask_value}
