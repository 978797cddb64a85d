"""Convolution layers over 1-3 spatial axes, as Keras 3's: ``Conv1D``-``Conv3D``,
``Conv1DTranspose``-``Conv3DTranspose``, ``DepthwiseConv1D``/``2D`` and ``SeparableConv1D``/``2D``.

Kernels are laid out as Keras' (see the "Convolutions" docs page for torch's): ``(*window,
in_channels / groups, filters)``, transposed ``(*window, filters, in_channels)``, depthwise
``(*window, in_channels, depth_multiplier)``. One difference on purpose: ``strides > 1`` together
with ``dilation_rate > 1`` is computed (as torch does) where Keras refuses it."""

from __future__ import annotations

from typing import Any

from .. import activations, constraints, initializers, ops, regularizers
from ..errors import ArgumentTypeError, InvalidArgumentError, ShapeError
from ..ops._core import integer_arg
from ..ops.nn import spatial_ints
from ..tensor import Tensor
from .layer import KernelLayer, Layer, constraint_argument

_AXES = {1: "steps", 2: "height, width", 3: "depth, height, width"}


def data_format_arg(name: str, value: Any) -> str:
    """Keras' ``data_format``: None is "channels_last" (Keras' default image data format)."""
    if value is None:
        return "channels_last"
    if value not in ("channels_last", "channels_first"):
        raise InvalidArgumentError(
            f"{name}: data_format must be 'channels_last' or 'channels_first', got {value!r}"
        )
    return str(value)


def padding_arg(name: str, value: Any, modes: tuple[str, ...]) -> str:
    """A padding mode, case-insensitive as in Keras."""
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name}: padding must be one of {modes}, got {value!r}")
    if value.lower() not in modes:
        raise InvalidArgumentError(f"{name}: padding must be one of {modes}, got {value!r}")
    return value.lower()


def require_spatial_input(layer: Any, rank: int, data_format: str, shape: tuple[int, ...]) -> int:
    """The channels of an input to ``layer`` that must be ``(rank + 2)``-D in ``data_format``."""
    if len(shape) != rank + 2:
        layout = (
            f"(batch, {_AXES[rank]}, channels)"
            if data_format == "channels_last"
            else f"(batch, channels, {_AXES[rank]})"
        )
        raise ShapeError(
            f"{layer.name}: {type(layer).__name__} needs {rank + 2}-D inputs {layout}, got shape {shape}"
        )
    return shape[-1] if data_format == "channels_last" else shape[1]


class _Spatial:
    """The window arguments that every convolution shares, parsed and checked."""

    rank = 2  # spatial axes
    _causal = False  # whether padding "causal" is allowed (Conv1D only, as Keras)
    name: str

    def _spatial_args(
        self, kernel_size: Any, strides: Any, padding: Any, data_format: Any, dilation_rate: Any
    ) -> None:
        cls = type(self).__name__
        self.kernel_size = spatial_ints(cls, "kernel_size", kernel_size, self.rank)
        self.strides = spatial_ints(cls, "strides", strides, self.rank)
        self.dilation_rate = spatial_ints(cls, "dilation_rate", dilation_rate, self.rank)
        modes = ("valid", "same", "causal") if self._causal else ("valid", "same")
        self.padding = padding_arg(cls, padding, modes)
        self.data_format = data_format_arg(cls, data_format)

    def _input_channels(self, shape: tuple[int, ...], expected: int | None = None) -> int:
        channels = require_spatial_input(self, self.rank, self.data_format, shape)
        if expected is not None and channels != expected:
            raise ShapeError(
                f"{self.name}: {type(self).__name__} was built for {expected} input channels "
                f"({self.data_format}), got shape {shape}"
            )
        return channels

    def _finish(self, y: Tensor, bias: Tensor | None, activation: Any) -> Tensor:
        """``activation(y + bias)``, the bias on the channel axis."""
        if bias is not None:
            y = y + (
                bias if self.data_format == "channels_last" else ops.reshape(bias, (-1,) + (1,) * self.rank)
            )
        return activation(y)

    def _spatial_config(self) -> dict[str, Any]:
        return {
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
        }


class _Conv(_Spatial, KernelLayer):
    """Convolution over ``rank`` spatial axes, kernel ``(*kernel_size, in_channels / groups,
    filters)``, plus bias and activation; ``groups`` splits the channels into groups convolved
    separately."""

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        groups: int = 1,
        activation: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(activation, **kwargs)
        cls = type(self).__name__
        self.filters = integer_arg(cls, "filters", filters, minimum=1)
        self.groups = integer_arg(cls, "groups", groups, minimum=1)
        if self.filters % self.groups:
            raise InvalidArgumentError(f"{cls}: filters ({filters}) must be divisible by groups ({groups})")
        self._spatial_args(kernel_size, strides, padding, data_format, dilation_rate)

    def build(self, input_shape: tuple[int, ...]) -> None:
        channels = self._input_channels(input_shape)
        if channels % self.groups:
            raise ShapeError(
                f"{self.name}: {type(self).__name__} with groups={self.groups} needs input channels "
                f"divisible by it, got shape {input_shape} ({self.data_format})"
            )
        self._add_kernel_and_bias((*self.kernel_size, channels // self.groups, self.filters), self.filters)

    def call(self, x: Tensor) -> Tensor:
        self._input_channels(x.shape, self.kernel.shape[-2] * self.groups)
        y = ops.conv(
            x, self.kernel, self.strides, self.padding, self.dilation_rate, self.groups, self.data_format
        )
        return self._finish(y, self.bias if self.use_bias else None, self.activation)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            **self._spatial_config(),
            "groups": self.groups,
        }


class Conv1D(_Conv):
    """1-D convolution over ``(batch, steps, channels)``; ``padding`` "valid", "same" or "causal"
    (all the padding before: output ``t`` sees inputs up to ``t`` only)."""

    rank, _causal = 1, True


class Conv2D(_Conv):
    """2-D convolution over ``(batch, height, width, channels)`` with a ``(kh, kw, in / groups,
    filters)`` kernel, plus bias and activation."""

    rank = 2


class Conv3D(_Conv):
    """3-D convolution over ``(batch, depth, height, width, channels)``."""

    rank = 3


class _ConvTranspose(_Spatial, KernelLayer):
    """Transposed convolution (the gradient of a convolution with respect to its input), kernel
    ``(*kernel_size, filters, in_channels)``; output lengths as Keras' (see
    ``bridge.ops.conv_transpose``)."""

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        output_padding: Any = None,
        data_format: str | None = None,
        dilation_rate: Any = 1,
        activation: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(activation, **kwargs)
        cls = type(self).__name__
        self.filters = integer_arg(cls, "filters", filters, minimum=1)
        self._spatial_args(kernel_size, strides, padding, data_format, dilation_rate)
        self.output_padding = None
        if output_padding is not None:
            self.output_padding = spatial_ints(cls, "output_padding", output_padding, self.rank, minimum=0)
            if any(p >= s for p, s in zip(self.output_padding, self.strides)):
                raise InvalidArgumentError(
                    f"{cls}: output_padding {self.output_padding} must be smaller than strides {self.strides}"
                )

    def build(self, input_shape: tuple[int, ...]) -> None:
        channels = self._input_channels(input_shape)
        self._add_kernel_and_bias((*self.kernel_size, self.filters, channels), self.filters)

    def call(self, x: Tensor) -> Tensor:
        self._input_channels(x.shape, self.kernel.shape[-1])
        y = ops.conv_transpose(
            x,
            self.kernel,
            self.strides,
            self.padding,
            self.output_padding,
            self.dilation_rate,
            self.data_format,
        )
        return self._finish(y, self.bias if self.use_bias else None, self.activation)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            **self._spatial_config(),
            "output_padding": self.output_padding,
        }


class Conv1DTranspose(_ConvTranspose):
    """1-D transposed convolution over ``(batch, steps, channels)``."""

    rank = 1


class Conv2DTranspose(_ConvTranspose):
    """2-D transposed convolution over ``(batch, height, width, channels)``."""

    rank = 2


class Conv3DTranspose(_ConvTranspose):
    """3-D transposed convolution; as Keras' own, ``data_format`` comes before ``output_padding``
    among its positional arguments."""

    rank = 3

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        output_padding: Any = None,
        dilation_rate: Any = 1,
        activation: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters,
            kernel_size,
            strides,
            padding,
            output_padding,
            data_format,
            dilation_rate,
            activation,
            **kwargs,
        )


def _depthwise(layer: _Spatial, x: Tensor, kernel: Tensor) -> Tensor:
    """Each input channel convolved with its own ``depth_multiplier`` filters: a convolution with
    one group per channel, output channel ``c * depth_multiplier + m`` (as Keras and torch)."""
    window, channels, multiplier = kernel.shape[:-2], kernel.shape[-2], kernel.shape[-1]
    grouped = ops.reshape(kernel, (*window, 1, channels * multiplier))
    return ops.conv(
        x, grouped, layer.strides, layer.padding, layer.dilation_rate, channels, layer.data_format
    )


class _DepthwiseArgs(_Spatial, Layer):
    """What depthwise and separable convolutions share: the depthwise kernel ``(*kernel_size,
    in_channels, depth_multiplier)``, the bias and the activation."""

    def __init__(
        self,
        kernel_size: Any,
        strides: Any,
        padding: str,
        depth_multiplier: int,
        data_format: str | None,
        dilation_rate: Any,
        activation: Any,
        use_bias: bool,
        depthwise_initializer: Any,
        bias_initializer: Any,
        depthwise_regularizer: Any,
        bias_regularizer: Any,
        depthwise_constraint: Any,
        bias_constraint: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.depth_multiplier = integer_arg(cls, "depth_multiplier", depth_multiplier, minimum=1)
        self._spatial_args(kernel_size, strides, padding, data_format, dilation_rate)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.depthwise_constraint = constraint_argument(self, "depthwise_constraint", depthwise_constraint)
        self.bias_constraint = constraint_argument(self, "bias_constraint", bias_constraint)

    def _add_depthwise(self, input_shape: tuple[int, ...], name: str) -> Any:
        channels = self._input_channels(input_shape)
        shape = (*self.kernel_size, channels, self.depth_multiplier)
        return self.add_weight(
            name,
            shape,
            self.depthwise_initializer,
            regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint,
        )

    def _add_bias(self, units: int) -> None:
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                "bias",
                (units,),
                self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            **self._spatial_config(),
            "depth_multiplier": self.depth_multiplier,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "depthwise_constraint": constraints.serialize(self.depthwise_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }


class _DepthwiseConv(_DepthwiseArgs):
    """Depthwise convolution: each input channel convolved separately with ``depth_multiplier``
    filters of its own, giving ``in_channels * depth_multiplier`` channels; Keras' kernel
    ``(*kernel_size, in_channels, depth_multiplier)`` is named ``kernel``."""

    def __init__(
        self,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        depth_multiplier: int = 1,
        data_format: str | None = None,
        dilation_rate: Any = 1,
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        depthwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            kernel_size,
            strides,
            padding,
            depth_multiplier,
            data_format,
            dilation_rate,
            activation,
            use_bias,
            depthwise_initializer,
            bias_initializer,
            depthwise_regularizer,
            bias_regularizer,
            depthwise_constraint,
            bias_constraint,
            **kwargs,
        )

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.kernel = self._add_depthwise(input_shape, "kernel")
        self._add_bias(self.kernel.shape[-2] * self.depth_multiplier)

    def call(self, x: Tensor) -> Tensor:
        self._input_channels(x.shape, self.kernel.shape[-2])
        return self._finish(_depthwise(self, x, self.kernel), self.bias, self.activation)


class DepthwiseConv1D(_DepthwiseConv):
    """1-D depthwise convolution over ``(batch, steps, channels)``."""

    rank = 1


class DepthwiseConv2D(_DepthwiseConv):
    """2-D depthwise convolution over ``(batch, height, width, channels)``."""

    rank = 2


class _SeparableConv(_DepthwiseArgs):
    """Depthwise convolution (``strides``, ``padding`` and ``dilation_rate`` apply here), then a
    pointwise one: a ``(1, ..., 1, in_channels * depth_multiplier, filters)`` kernel mixing the
    channels, plus bias and activation."""

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        depth_multiplier: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        depthwise_constraint: Any = None,
        pointwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            kernel_size,
            strides,
            padding,
            depth_multiplier,
            data_format,
            dilation_rate,
            activation,
            use_bias,
            depthwise_initializer,
            bias_initializer,
            depthwise_regularizer,
            bias_regularizer,
            depthwise_constraint,
            bias_constraint,
            **kwargs,
        )
        self.filters = integer_arg(type(self).__name__, "filters", filters, minimum=1)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.pointwise_constraint = constraint_argument(self, "pointwise_constraint", pointwise_constraint)

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.depthwise_kernel = self._add_depthwise(input_shape, "depthwise_kernel")
        shape = ((1,) * self.rank) + (self.depthwise_kernel.shape[-2] * self.depth_multiplier, self.filters)
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel",
            shape,
            self.pointwise_initializer,
            regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint,
        )
        self._add_bias(self.filters)

    def call(self, x: Tensor) -> Tensor:
        self._input_channels(x.shape, self.depthwise_kernel.shape[-2])
        y = _depthwise(self, x, self.depthwise_kernel)
        y = ops.conv(y, self.pointwise_kernel, data_format=self.data_format)
        return self._finish(y, self.bias, self.activation)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
            "pointwise_regularizer": regularizers.serialize(self.pointwise_regularizer),
            "pointwise_constraint": constraints.serialize(self.pointwise_constraint),
        }


class SeparableConv1D(_SeparableConv):
    """1-D separable convolution over ``(batch, steps, channels)``."""

    rank = 1


class SeparableConv2D(_SeparableConv):
    """2-D separable convolution over ``(batch, height, width, channels)``."""

    rank = 2
