"""Weight initializers, by name or as objects, with Keras' definitions.

Each draws from ``bridge.random``, so the same seed gives the same weights on every backend. An
initializer without a seed takes the next seed of the global stream (``br.random.seed``)."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from . import random
from ._registry import Registry
from .dtypes import as_dtype, default_float
from .errors import InvalidArgumentError
from .ops.creation import full, tensor
from .tensor import Tensor


def compute_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) as Keras computes them; conv kernels count the receptive field."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer(ABC):
    """Base class: ``initializer(shape, dtype=None) -> Tensor`` on the current backend and device."""

    @abstractmethod
    def __call__(self, shape: Any, dtype: Any = None) -> Tensor: ...

    def get_config(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


class Constant(Initializer):
    """Every element ``value``."""

    def __init__(self, value: float = 0.0) -> None:
        self.value = value

    def __call__(self, shape: Any, dtype: Any = None) -> Tensor:
        return full(tuple(shape), self.value, dtype=as_dtype(dtype or default_float))

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value}


class Zeros(Constant):
    """Every element 0."""

    def __init__(self) -> None:
        super().__init__(0.0)

    def get_config(self) -> dict[str, Any]:
        return {}


class Ones(Constant):
    """Every element 1."""

    def __init__(self) -> None:
        super().__init__(1.0)

    def get_config(self) -> dict[str, Any]:
        return {}


class _Seeded(Initializer):
    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed

    def _seed(self) -> int:
        return random.seed_from_stream() if self.seed is None else self.seed

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class RandomNormal(_Seeded):
    """Normal values with ``mean`` and ``stddev``."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape: Any, dtype: Any = None) -> Tensor:
        return random.normal(tuple(shape), self.mean, self.stddev, dtype=dtype, seed=self._seed())

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(_Seeded):
    """Uniform values in ``[minval, maxval)``."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape: Any, dtype: Any = None) -> Tensor:
        return random.uniform(tuple(shape), self.minval, self.maxval, dtype=dtype, seed=self._seed())

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


_MODES = Registry("mode", {name: name for name in ("fan_in", "fan_out", "fan_avg")})
_DISTRIBUTIONS = Registry("distribution", {name: name for name in ("truncated_normal", "uniform")})


class VarianceScaling(_Seeded):
    """Scale ``scale / fan`` with fan one of fan_in, fan_out, fan_avg; a truncated normal or a
    uniform distribution (Keras' VarianceScaling)."""

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        self.scale, self.mode, self.distribution = (
            scale,
            _MODES.lookup(mode),
            _DISTRIBUTIONS.lookup(distribution),
        )

    def __call__(self, shape: Any, dtype: Any = None) -> Tensor:
        shape = tuple(shape)
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, fan)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return random.uniform(shape, -limit, limit, dtype=dtype, seed=self._seed())
        stddev = math.sqrt(variance) / 0.87962566103423978  # the stddev of a 2-sigma truncated normal
        return random.truncated_normal(shape, 0.0, stddev, dtype=dtype, seed=self._seed())

    def get_config(self) -> dict[str, Any]:
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


class GlorotUniform(VarianceScaling):
    """``VarianceScaling(1.0, "fan_avg", "uniform")``: the default of ``Dense`` and ``Conv2D``."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(1.0, "fan_avg", "uniform", seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class GlorotNormal(VarianceScaling):
    """``VarianceScaling(1.0, "fan_avg", "truncated_normal")``."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(1.0, "fan_avg", "truncated_normal", seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class HeUniform(VarianceScaling):
    """``VarianceScaling(2.0, "fan_in", "uniform")``."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(2.0, "fan_in", "uniform", seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class HeNormal(VarianceScaling):
    """``VarianceScaling(2.0, "fan_in", "truncated_normal")``."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(2.0, "fan_in", "truncated_normal", seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class LecunNormal(VarianceScaling):
    """``VarianceScaling(1.0, "fan_in", "truncated_normal")``."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(1.0, "fan_in", "truncated_normal", seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class Orthogonal(_Seeded):
    """A (semi-)orthogonal matrix, times ``gain``, from the QR decomposition of a normal draw
    (computed on the host in float64, so it is the same on every backend)."""

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        super().__init__(seed)
        self.gain = gain

    def __call__(self, shape: Any, dtype: Any = None) -> Tensor:
        shape = tuple(shape)
        if len(shape) < 2:
            raise InvalidArgumentError(f"Orthogonal needs a shape of rank >= 2, got {shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        draw = random.normal((max(rows, cols), min(rows, cols)), dtype="float64", seed=self._seed()).numpy()
        q, r = np.linalg.qr(draw)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return tensor((self.gain * q).reshape(shape), dtype=as_dtype(dtype or default_float))

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain, "seed": self.seed}


# Keras' lowercase aliases: ``initializers.he_normal(seed=1)``
zeros, ones, constant, orthogonal, variance_scaling = Zeros, Ones, Constant, Orthogonal, VarianceScaling
random_normal, random_uniform, lecun_normal = RandomNormal, RandomUniform, LecunNormal
glorot_uniform, glorot_normal, he_uniform, he_normal = GlorotUniform, GlorotNormal, HeUniform, HeNormal

REGISTRY = Registry(
    "initializer",
    {
        "zeros": Zeros,
        "ones": Ones,
        "constant": Constant,
        "random_normal": RandomNormal,
        "random_uniform": RandomUniform,
        "uniform": RandomUniform,
        "glorot_uniform": GlorotUniform,
        "glorot_normal": GlorotNormal,
        "he_uniform": HeUniform,
        "he_normal": HeNormal,
        "lecun_normal": LecunNormal,
        "orthogonal": Orthogonal,
        "variance_scaling": VarianceScaling,
    },
    base=Initializer,
)


def get(identifier: Any) -> Any:
    """An initializer from a name, a config dict, an Initializer, or a callable ``(shape, dtype)``."""
    return REGISTRY.get(identifier)


def serialize(initializer: Any) -> Any:
    """``{"class_name", "config"}`` for an initializer (else the callable itself)."""
    return REGISTRY.serialize(initializer)


def deserialize(config: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """The initializer ``serialize`` described."""
    return REGISTRY.deserialize(config, custom_objects)
