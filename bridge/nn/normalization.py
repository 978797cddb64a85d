"""Normalization layers."""

from __future__ import annotations

import math
from typing import Any

from .. import constraints, initializers, ops, regularizers
from ..dtypes import float32, result_type
from ..errors import ArgumentTypeError, InvalidArgumentError, ShapeError
from ..ops._core import axes_tuple, axis_index, integer_arg
from ..tensor import Tensor
from .core import _with_batch
from .layer import Layer, constraint_argument


def _widened(x: Tensor) -> Tensor:
    """``x`` in float32 at least: statistics of float16 and bfloat16 inputs are computed in
    float32, as Keras does (the result goes back to the input's dtype)."""
    return x.astype(result_type(x.dtype, float32))


def _moments(x: Tensor, axes: tuple[int, ...]) -> tuple[Tensor, Tensor, Tensor]:
    """``x - mean``, the mean and the (biased) variance over ``axes``, kept: the deviations are
    computed once, for the variance and for the normalization."""
    mean = ops.mean(x, axis=axes, keepdims=True)
    centered = x - mean
    return centered, mean, ops.mean(ops.square(centered), axis=axes, keepdims=True)


class _Normalization(Layer):
    """What the normalizations share: an optional learned scale (gamma) and shift (beta), each
    with its constraint."""

    def __init__(
        self,
        axis: Any,
        epsilon: float,
        center: bool,
        scale: bool,
        beta_initializer: Any,
        gamma_initializer: Any,
        beta_constraint: Any,
        gamma_constraint: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.axis, self.epsilon, self.center, self.scale = axis, float(epsilon), center, scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_constraint = constraint_argument(self, "beta_constraint", beta_constraint)
        self.gamma_constraint = constraint_argument(self, "gamma_constraint", gamma_constraint)

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

    def _add_scale_and_shift(
        self, size: tuple[int, ...], beta_regularizer: Any = None, gamma_regularizer: Any = None
    ) -> None:
        self._feature_sizes = size
        if self.scale:
            self.gamma = self.add_weight(
                "gamma",
                size,
                self.gamma_initializer,
                regularizer=gamma_regularizer,
                constraint=self.gamma_constraint,
            )
        if self.center:
            self.beta = self.add_weight(
                "beta",
                size,
                self.beta_initializer,
                regularizer=beta_regularizer,
                constraint=self.beta_constraint,
            )

    def _normalize(self, centered: Tensor, variance: Tensor, shape: tuple[int, ...]) -> Tensor:
        """``centered / sqrt(variance + epsilon)``, scaled and shifted. ``1 / sqrt`` (each
        correctly rounded) gives every backend the same factor, where their ``rsqrt``s differ in
        the last bit. Where the statistics have one value per feature (BatchNormalization), the
        scale joins that factor before it meets the activations (one product over them, as
        Keras on torch)."""
        factor = 1.0 / ops.sqrt(variance + self.epsilon)
        gamma = ops.reshape(self.gamma, shape) if self.scale else None
        if gamma is not None and tuple(variance.shape) == shape:
            factor, gamma = factor * gamma, None
        y = centered * factor
        if gamma is not None:
            y = y * gamma
        return y + ops.reshape(self.beta, shape) if self.center else y

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        }


class BatchNormalization(_Normalization):
    """Normalize with the batch's statistics in training (and update moving averages of them);
    with the moving averages in inference. Keras' definitions and defaults; float16 and
    bfloat16 inputs are normalized in float32 (the moving averages stay float32 under a mixed
    policy), the result in the input's dtype, as Keras."""

    supports_masking = True  # passes the mask on, as Keras

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
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            axis,
            epsilon,
            center,
            scale,
            beta_initializer,
            gamma_initializer,
            beta_constraint,
            gamma_constraint,
            **kwargs,
        )
        self.momentum = float(momentum)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def build(self, input_shape: tuple[int, ...]) -> None:
        size = (input_shape[axis_index(f"{self.name} ({type(self).__name__})", self.axis, len(input_shape))],)
        self._add_scale_and_shift(size)
        self.moving_mean = self.add_weight(
            "moving_mean", size, self.moving_mean_initializer, trainable=False, autocast=False
        )
        self.moving_variance = self.add_weight(
            "moving_variance", size, self.moving_variance_initializer, trainable=False, autocast=False
        )

    def call(self, x: Tensor, training: bool = False) -> Tensor:
        channel = axis_index(f"{self.name} ({type(self).__name__})", self.axis, x.ndim)
        self._check_features(x, (channel,))
        reduced = tuple(a for a in range(x.ndim) if a != channel)
        shape = tuple(n if a == channel else 1 for a, n in enumerate(x.shape))
        wide = _widened(x)
        if training:
            centered, mean, variance = _moments(wide, reduced)
            count = math.prod([x.shape[a] for a in reduced])  # a list: torch.compile traces no generator
            moved = self._moved_variance(variance, count)
            keep = self.momentum
            self.moving_mean.assign(self.moving_mean * keep + ops.reshape(mean, (-1,)) * (1 - keep))
            self.moving_variance.assign(self.moving_variance * keep + ops.reshape(moved, (-1,)) * (1 - keep))
        else:
            centered = wide - ops.reshape(self.moving_mean, shape)
            variance = ops.reshape(self.moving_variance, shape)
        return self._normalize(centered, variance, shape).astype(x.dtype)

    def _moved_variance(self, variance: Tensor, count: int) -> Tensor:
        """The batch variance the moving average takes in (of ``count`` values per feature): the
        biased one, as Keras."""
        return variance

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "momentum": self.momentum,
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
        }


class LayerNormalization(_Normalization):
    """Normalize each sample over ``axis`` (default: the last), then scale and shift; float16
    and bfloat16 inputs are normalized in float32 (as Keras), the result in the input's dtype."""

    supports_masking = True  # passes the mask on, as Keras

    def __init__(
        self,
        axis: Any = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            axis,
            epsilon,
            center,
            scale,
            beta_initializer,
            gamma_initializer,
            beta_constraint,
            gamma_constraint,
            **kwargs,
        )

    def build(self, input_shape: tuple[int, ...]) -> None:
        self._add_scale_and_shift(tuple(input_shape[a] for a in self._axes(len(input_shape))))

    def call(self, x: Tensor) -> Tensor:
        axes = self._axes(x.ndim)
        self._check_features(x, axes)
        centered, _, variance = _moments(_widened(x), axes)
        shape = tuple(n if a in axes else 1 for a, n in enumerate(x.shape))
        return self._normalize(centered, variance, shape).astype(x.dtype)


class GroupNormalization(_Normalization):
    """Normalize each sample over groups of channels: the ``axis`` channels split into ``groups``
    consecutive groups, each normalized over its channels and every other non-batch axis, then a
    per-channel scale and shift. ``groups=-1`` is one group per channel (instance normalization);
    ``groups=1`` is layer normalization over all non-batch axes. Keras' definitions and defaults;
    float16 and bfloat16 inputs are normalized in
    float32."""

    supports_masking = True  # passes the mask on, as Keras

    def __init__(
        self,
        groups: int = 32,
        axis: int = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            axis,
            epsilon,
            center,
            scale,
            beta_initializer,
            gamma_initializer,
            beta_constraint,
            gamma_constraint,
            **kwargs,
        )
        self.groups = integer_arg("GroupNormalization", "groups", groups, minimum=-1)
        if self.groups == 0:
            raise InvalidArgumentError("GroupNormalization: groups must be positive or -1, got 0")
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ArgumentTypeError(f"GroupNormalization: axis must be an int, got {axis!r}")
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def _channel_axis(self, shape: tuple[int, ...]) -> tuple[int, int]:
        """The channel axis of inputs of ``shape`` and the number of groups, checked."""
        where = f"{self.name} (GroupNormalization)"
        if len(shape) < 2:
            raise ShapeError(f"{where}: needs inputs of rank >= 2 (batch, ..., channels), got shape {shape}")
        axis = axis_index(where, self.axis, len(shape))
        if axis == 0:
            raise InvalidArgumentError(
                f"{where}: axis {self.axis} is the batch axis of inputs of shape {shape}"
            )
        channels = shape[axis]
        groups = channels if self.groups == -1 else self.groups
        if channels < groups or channels % groups:
            raise ShapeError(
                f"{where}: groups={self.groups} must divide the {channels} channels along axis "
                f"{self.axis} of inputs of shape {shape}"
            )
        return axis, groups

    def build(self, input_shape: tuple[int, ...]) -> None:
        axis, _ = self._channel_axis(tuple(input_shape))
        self._add_scale_and_shift((input_shape[axis],), self.beta_regularizer, self.gamma_regularizer)

    def call(self, x: Tensor) -> Tensor:
        axis, groups = self._channel_axis(x.shape)
        self._check_features(x, (axis,))
        grouped = (*x.shape[:axis], groups, x.shape[axis] // groups, *x.shape[axis + 1 :])
        y = ops.reshape(_widened(x), _with_batch(x, grouped[1:]))  # the batch may be unknown
        reduced = tuple(a for a in range(1, y.ndim) if a != axis)
        centered, _, variance = _moments(y, reduced)
        shape = tuple(n if a in (axis, axis + 1) else 1 for a, n in enumerate(grouped))
        y = self._normalize(centered, variance, shape)
        return ops.reshape(y, _with_batch(x, x.shape[1:])).astype(x.dtype)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "groups": self.groups,
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
        }


class RMSNormalization(Layer):
    """Divide each sample by its root mean square over ``axis`` (an int or a list of them), then
    multiply by a learned ``scale`` (ones at first): ``x * rsqrt(mean(x ** 2) + epsilon) * scale``,
    as Keras 3's ``RMSNormalization`` (no centering, no shift); computed in float32 for float16
    and bfloat16 inputs."""

    def __init__(self, axis: Any = -1, epsilon: float = 1e-6, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or epsilon < 0:
            raise InvalidArgumentError(f"RMSNormalization: epsilon must be a number >= 0, got {epsilon!r}")
        self.axis, self.epsilon = axis, float(epsilon)

    def _axes(self, ndim: int) -> tuple[int, ...]:
        return axes_tuple(f"{self.name} (RMSNormalization)", self.axis, ndim)

    def build(self, input_shape: tuple[int, ...]) -> None:
        self._feature_sizes = tuple(input_shape[a] for a in self._axes(len(input_shape)))
        self.scale = self.add_weight("scale", self._feature_sizes, "ones")

    def call(self, x: Tensor) -> Tensor:
        axes = self._axes(x.ndim)
        sizes = tuple(x.shape[a] for a in axes)
        if sizes != self._feature_sizes:
            raise ShapeError(
                f"{self.name}: RMSNormalization was built for sizes {self._feature_sizes} along axis "
                f"{self.axis}, got an input of shape {x.shape}"
            )
        shape = tuple(n if a in axes else 1 for a, n in enumerate(x.shape))
        wide = _widened(x)
        inverse = ops.rsqrt(ops.mean(ops.square(wide), axis=axes, keepdims=True) + self.epsilon)
        return (wide * inverse * ops.reshape(self.scale, shape)).astype(x.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}
