"""Pooling layers over 1-3 spatial axes, as Keras 3's: max and average pooling over windows, and
global max and average pooling (``keepdims`` keeps the spatial axes as 1s)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import ops
from ..errors import ShapeError
from ..ops._core import as_tensor
from ..ops.nn import spatial_ints
from ..tensor import Tensor
from .conv import data_format_arg, padding_arg, require_spatial_input
from .layer import Layer


class _Pool(Layer):
    """``pool_size`` windows every ``strides`` (default: ``pool_size``) steps; with "same" the
    padded positions never win a max and are left out of a mean (as Keras; torch's AvgPool
    counts them unless ``count_include_pad=False``). ``pool_size`` defaults to 2 for average
    pooling too, where Keras requires it."""

    rank = 2
    _pool: Callable[..., Tensor] = staticmethod(ops.max_pool)

    def __init__(
        self,
        pool_size: Any = 2,
        strides: Any = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.pool_size = spatial_ints(cls, "pool_size", pool_size, self.rank)
        self.strides = None if strides is None else spatial_ints(cls, "strides", strides, self.rank)
        self.padding = padding_arg(cls, padding, ("valid", "same"))
        self.data_format = data_format_arg(cls, data_format)

    def call(self, x: Tensor) -> Tensor:
        require_spatial_input(self, self.rank, self.data_format, x.shape)
        return self._pool(x, self.pool_size, self.strides, self.padding, self.data_format)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
        }


class MaxPool1D(_Pool):
    """Maximum over ``pool_size`` windows of ``(batch, steps, channels)``."""

    rank, _pool = 1, staticmethod(ops.max_pool)


class MaxPool2D(_Pool):
    """Maximum over ``pool_size`` windows of ``(batch, height, width, channels)``."""

    rank, _pool = 2, staticmethod(ops.max_pool)


class MaxPool3D(_Pool):
    """Maximum over ``pool_size`` windows of ``(batch, depth, height, width, channels)``."""

    rank, _pool = 3, staticmethod(ops.max_pool)


class AvgPool1D(_Pool):
    """Mean over ``pool_size`` windows of ``(batch, steps, channels)``."""

    rank, _pool = 1, staticmethod(ops.avg_pool)


class AvgPool2D(_Pool):
    """Mean over ``pool_size`` windows of ``(batch, height, width, channels)``."""

    rank, _pool = 2, staticmethod(ops.avg_pool)


class AvgPool3D(_Pool):
    """Mean over ``pool_size`` windows of ``(batch, depth, height, width, channels)``."""

    rank, _pool = 3, staticmethod(ops.avg_pool)


class _GlobalPool(Layer):
    """A reduction over every spatial axis: ``(batch, channels)``, or with ``keepdims`` the input's
    rank with the spatial axes 1 long."""

    rank = 2
    _reduce: Callable[..., Tensor] = staticmethod(ops.mean)

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = data_format_arg(type(self).__name__, data_format)
        self.keepdims = keepdims

    def _axes(self, x: Tensor) -> tuple[int, ...]:
        require_spatial_input(self, self.rank, self.data_format, x.shape)
        first = 1 if self.data_format == "channels_last" else 2
        return tuple(range(first, first + self.rank))

    def call(self, x: Tensor) -> Tensor:
        return self._reduce(x, axis=self._axes(x), keepdims=self.keepdims)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling1D(_GlobalPool):
    """Mean over the steps of ``(batch, steps, channels)``; with ``mask`` ((batch, steps), True
    where a step counts), the mean over the unmasked steps only, as Keras (NaN where none is)."""

    rank, _reduce = 1, staticmethod(ops.mean)

    def call(self, x: Tensor, mask: Any = None) -> Tensor:
        axes = self._axes(x)
        if mask is None:
            return ops.mean(x, axis=axes, keepdims=self.keepdims)
        mask = as_tensor(self.name, mask)
        if mask.shape != x.shape[:1] + x.shape[axes[0] : axes[0] + 1]:
            raise ShapeError(
                f"{self.name}: GlobalAveragePooling1D's mask must be (batch, steps), "
                f"{x.shape[:1] + x.shape[axes[0] : axes[0] + 1]} for input shape {x.shape}, got {mask.shape}"
            )
        keep = ops.expand_dims(mask.astype("bool"), 2 if self.data_format == "channels_last" else 1)
        total = ops.sum(ops.where(keep, x, 0), axis=axes, keepdims=self.keepdims)
        return total / ops.sum(keep.astype(total.dtype), axis=axes, keepdims=self.keepdims)


class GlobalAveragePooling2D(_GlobalPool):
    """Mean over the spatial axes of ``(batch, height, width, channels)``."""

    rank, _reduce = 2, staticmethod(ops.mean)


class GlobalAveragePooling3D(_GlobalPool):
    """Mean over the spatial axes of ``(batch, depth, height, width, channels)``."""

    rank, _reduce = 3, staticmethod(ops.mean)


class GlobalMaxPooling1D(_GlobalPool):
    """Maximum over the steps of ``(batch, steps, channels)``."""

    rank, _reduce = 1, staticmethod(ops.max)


class GlobalMaxPooling2D(_GlobalPool):
    """Maximum over the spatial axes of ``(batch, height, width, channels)``."""

    rank, _reduce = 2, staticmethod(ops.max)


class GlobalMaxPooling3D(_GlobalPool):
    """Maximum over the spatial axes of ``(batch, depth, height, width, channels)``."""

    rank, _reduce = 3, staticmethod(ops.max)


MaxPooling1D, MaxPooling2D, MaxPooling3D = MaxPool1D, MaxPool2D, MaxPool3D
AveragePooling1D, AveragePooling2D, AveragePooling3D = AvgPool1D, AvgPool2D, AvgPool3D
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = (
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
)
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D
