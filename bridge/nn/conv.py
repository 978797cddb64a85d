"""Convolution and pooling layers."""

from __future__ import annotations

from typing import Any

from .. import ops
from ..errors import InvalidArgumentError, ShapeError
from ..ops._core import integer_arg
from ..ops.nn import spatial_ints
from ..tensor import Tensor
from .layer import KernelLayer, Layer


def _require_4d(layer: Layer, data_format: str, shape: tuple[int, ...]) -> None:
    if len(shape) != 4:
        layout = (
            "(batch, height, width, channels)"
            if data_format == "channels_last"
            else "(batch, channels, height, width)"
        )
        raise ShapeError(f"{layer.name}: {type(layer).__name__} needs 4-D inputs {layout}, got shape {shape}")


class Conv2D(KernelLayer):
    """2-D convolution with a ``(kh, kw, in, filters)`` kernel, plus bias and activation."""

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str = "channels_last",
        dilation_rate: Any = 1,
        activation: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(activation, **kwargs)
        self.filters = integer_arg("Conv2D", "filters", filters, minimum=1)
        self.kernel_size = spatial_ints("Conv2D", "kernel_size", kernel_size, 2)
        self.strides = spatial_ints("Conv2D", "strides", strides, 2)
        self.dilation_rate = spatial_ints("Conv2D", "dilation_rate", dilation_rate, 2)
        self.padding, self.data_format = padding, data_format

    def build(self, input_shape: tuple[int, ...]) -> None:
        _require_4d(self, self.data_format, input_shape)
        channels = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        self._add_kernel_and_bias((*self.kernel_size, channels, self.filters), self.filters)

    def call(self, x: Tensor) -> Tensor:
        _require_4d(self, self.data_format, x.shape)
        y = ops.conv(x, self.kernel, self.strides, self.padding, self.dilation_rate, 1, self.data_format)
        if self.use_bias:
            y = y + (self.bias if self.data_format == "channels_last" else ops.reshape(self.bias, (-1, 1, 1)))
        return self.activation(y)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
        }


class _Pool2D(Layer):
    def __init__(
        self,
        pool_size: Any = 2,
        strides: Any = None,
        padding: str = "valid",
        data_format: str = "channels_last",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_size = spatial_ints(type(self).__name__, "pool_size", pool_size, 2)
        self.strides = None if strides is None else spatial_ints(type(self).__name__, "strides", strides, 2)
        self.padding, self.data_format = padding, data_format

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
        }


class MaxPool2D(_Pool2D):
    """Maximum over ``pool_size`` windows."""

    def call(self, x: Tensor) -> Tensor:
        _require_4d(self, self.data_format, x.shape)
        return ops.max_pool(x, self.pool_size, self.strides, self.padding, self.data_format)


class AvgPool2D(_Pool2D):
    """Mean over ``pool_size`` windows."""

    def call(self, x: Tensor) -> Tensor:
        _require_4d(self, self.data_format, x.shape)
        return ops.avg_pool(x, self.pool_size, self.strides, self.padding, self.data_format)


class GlobalAveragePooling2D(Layer):
    """Mean over the spatial axes."""

    def __init__(self, data_format: str = "channels_last", keepdims: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if data_format not in ("channels_last", "channels_first"):
            raise InvalidArgumentError(
                f"GlobalAveragePooling2D: data_format must be 'channels_last' or 'channels_first', "
                f"got {data_format!r}"
            )
        self.data_format, self.keepdims = data_format, keepdims

    def call(self, x: Tensor) -> Tensor:
        _require_4d(self, self.data_format, x.shape)
        axes = (1, 2) if self.data_format == "channels_last" else (2, 3)
        return ops.mean(x, axis=axes, keepdims=self.keepdims)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


MaxPooling2D, AveragePooling2D = MaxPool2D, AvgPool2D
