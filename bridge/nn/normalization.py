"""Normalization layers."""

from __future__ import annotations

from typing import Any

from .. import initializers, ops
from ..errors import ShapeError
from ..ops._core import axes_tuple, axis_index
from ..tensor import Tensor
from .layer import Layer


class _Normalization(Layer):
    """What both normalizations share: an optional learned scale (gamma) and shift (beta)."""

    def __init__(
        self,
        axis: Any,
        epsilon: float,
        center: bool,
        scale: bool,
        beta_initializer: Any,
        gamma_initializer: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.axis, self.epsilon, self.center, self.scale = axis, float(epsilon), center, scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)

    def _axes(self, ndim: int) -> tuple[int, ...]:
        """``axis`` normalized for inputs of rank ``ndim`` (an AxisError outside the rank)."""
        return axes_tuple(f"{self.name} ({type(self).__name__})", self.axis, ndim)

    def _check_features(self, x: Tensor, axes: tuple[int, ...]) -> None:
        """The sizes along ``axes`` must be those the layer was built for."""
        sizes = tuple(x.shape[a] for a in axes)
        if sizes != self._feature_sizes:
            raise ShapeError(
                f"{self.name}: {type(self).__name__} was built for sizes {self._feature_sizes} along "
                f"axis {self.axis}, got an input of shape {x.shape}"
            )

    def _add_scale_and_shift(self, size: tuple[int, ...]) -> None:
        self._feature_sizes = size
        if self.scale:
            self.gamma = self.add_weight("gamma", size, self.gamma_initializer)
        if self.center:
            self.beta = self.add_weight("beta", size, self.beta_initializer)

    def _normalize(self, x: Tensor, mean: Tensor, variance: Tensor, shape: tuple[int, ...]) -> Tensor:
        y = (x - mean) * ops.rsqrt(variance + self.epsilon)
        if self.scale:
            y = y * ops.reshape(self.gamma, shape)
        if self.center:
            y = y + ops.reshape(self.beta, shape)
        return y

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
        }


class BatchNormalization(_Normalization):
    """Normalize with the batch's statistics in training (and update moving averages of them);
    with the moving averages in inference. Keras' definitions and defaults."""

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        **kwargs: Any,
    ) -> None:
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer, **kwargs)
        self.momentum = float(momentum)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def build(self, input_shape: tuple[int, ...]) -> None:
        size = (input_shape[axis_index(f"{self.name} (BatchNormalization)", self.axis, len(input_shape))],)
        self._add_scale_and_shift(size)
        self.moving_mean = self.add_weight("moving_mean", size, self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight(
            "moving_variance", size, self.moving_variance_initializer, trainable=False
        )

    def call(self, x: Tensor, training: bool = False) -> Tensor:
        channel = axis_index(f"{self.name} (BatchNormalization)", self.axis, x.ndim)
        self._check_features(x, (channel,))
        reduced = tuple(a for a in range(x.ndim) if a != channel)
        shape = tuple(n if a == channel else 1 for a, n in enumerate(x.shape))
        if training:
            mean = ops.mean(x, axis=reduced, keepdims=True)
            variance = ops.mean(ops.square(x - mean), axis=reduced, keepdims=True)
            keep = self.momentum
            self.moving_mean.assign(self.moving_mean * keep + ops.reshape(mean, (-1,)) * (1 - keep))
            self.moving_variance.assign(
                self.moving_variance * keep + ops.reshape(variance, (-1,)) * (1 - keep)
            )
        else:
            mean = ops.reshape(self.moving_mean, shape)
            variance = ops.reshape(self.moving_variance, shape)
        return self._normalize(x, mean, variance, shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "momentum": self.momentum,
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
        }


class LayerNormalization(_Normalization):
    """Normalize each sample over ``axis`` (default: the last), then scale and shift."""

    def __init__(
        self,
        axis: Any = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        **kwargs: Any,
    ) -> None:
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer, **kwargs)

    def build(self, input_shape: tuple[int, ...]) -> None:
        self._add_scale_and_shift(tuple(input_shape[a] for a in self._axes(len(input_shape))))

    def call(self, x: Tensor) -> Tensor:
        axes = self._axes(x.ndim)
        self._check_features(x, axes)
        mean = ops.mean(x, axis=axes, keepdims=True)
        variance = ops.mean(ops.square(x - mean), axis=axes, keepdims=True)
        shape = tuple(n if a in axes else 1 for a, n in enumerate(x.shape))
        return self._normalize(x, mean, variance, shape)
