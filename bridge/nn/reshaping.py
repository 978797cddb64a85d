"""Shape layers, as Keras 3's: Permute, RepeatVector, Cropping1D/2D, ZeroPadding1D/2D and
UpSampling1D/2D. None of them has weights, and none passes a mask on (as Keras)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..errors import ArgumentTypeError, InvalidArgumentError, ShapeError
from ..ops._core import integer_arg
from ..ops.nn import _channels_last, spatial_ints
from ..tensor import Tensor
from .layer import Layer

_LAYOUTS = {1: ("(batch, steps, features)", "(batch, features, steps)"),
            2: ("(batch, height, width, channels)", "(batch, channels, height, width)")}  # fmt: skip


def _require_rank(layer: Layer, x: Tensor, rank: int, data_format: str = "channels_last") -> None:
    """ShapeError unless ``x`` has ``rank`` spatial axes (plus batch and channels)."""
    if x.ndim != rank + 2:
        layout = _LAYOUTS[rank][data_format != "channels_last"]
        raise ShapeError(
            f"{layer.name}: {type(layer).__name__} needs {rank + 2}-D inputs {layout}, got shape {x.shape}"
        )


def _data_format(name: str, data_format: str | None) -> str:
    """Keras' default (None: channels_last), else one of the two layouts."""
    data_format = "channels_last" if data_format is None else data_format
    _channels_last(name, data_format)  # InvalidArgumentError for anything else
    return data_format


def _spatial_axes(data_format: str, rank: int) -> range:
    return range(1, rank + 1) if data_format == "channels_last" else range(2, rank + 2)


def _pairs(name: str, what: str, value: Any, rank: int) -> tuple[tuple[int, int], ...]:
    """Keras' (before, after) amounts per spatial axis: an int for all, or one int or pair per
    axis (for one axis, the pair itself)."""
    if rank == 1 or not isinstance(value, (list, tuple)):
        return (spatial_ints(name, what, value, 2, minimum=0),) * (1 if rank == 1 else rank)  # type: ignore[return-value]
    if len(value) != rank:
        raise InvalidArgumentError(
            f"{name}: {what} must be an int, or {rank} ints or (before, after) pairs, got {value!r}"
        )
    return tuple(spatial_ints(name, what, v, 2, minimum=0) for v in value)  # type: ignore[misc]


class Permute(Layer):
    """Permute the axes of each sample: ``dims`` is a permutation of ``1..rank`` (the batch axis
    stays first)."""

    def __init__(self, dims: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(dims, (list, tuple)):
            raise ArgumentTypeError(f"Permute: dims must be a tuple of ints, got {dims!r}")
        self.dims = tuple(integer_arg("Permute", "dims", d, minimum=None) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise InvalidArgumentError(
                f"Permute: dims must hold each of 1..{len(self.dims)} once (axis 0 is the batch), "
                f"got {self.dims}"
            )

    def call(self, x: Tensor) -> Tensor:
        if x.ndim != len(self.dims) + 1:
            raise ShapeError(
                f"{self.name}: Permute(dims={self.dims}) needs inputs of rank {len(self.dims) + 1}, "
                f"got shape {x.shape}"
            )
        return ops.transpose(x, (0, *self.dims))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dims": self.dims}


class RepeatVector(Layer):
    """``(batch, features)`` to ``(batch, n, features)``: each sample repeated ``n`` times."""

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n = integer_arg("RepeatVector", "n", n, minimum=1)

    def call(self, x: Tensor) -> Tensor:
        if x.ndim != 2:
            raise ShapeError(
                f"{self.name}: RepeatVector needs 2-D inputs (batch, features), got shape {x.shape}"
            )
        return ops.repeat(ops.expand_dims(x, 1), self.n, axis=1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n": self.n}


class _Spatial(Layer):
    """A layer over ``rank`` spatial axes of inputs laid out by ``data_format``."""

    rank = 1

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = _data_format(type(self).__name__, data_format)

    def _axes(self, x: Tensor) -> range:
        _require_rank(self, x, self.rank, self.data_format)
        return _spatial_axes(self.data_format, self.rank)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}


class _Cropping(_Spatial):
    def __init__(self, cropping: Any, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(data_format, **kwargs)
        self.cropping = _pairs(type(self).__name__, "cropping", cropping, self.rank)

    def call(self, x: Tensor) -> Tensor:
        index: list[slice] = [slice(None)] * x.ndim
        for axis, (before, after) in zip(self._axes(x), self.cropping):
            if before + after >= x.shape[axis]:
                raise ShapeError(
                    f"{self.name}: cropping {self.cropping} leaves nothing of an input of shape "
                    f"{x.shape} (axis {axis})"
                )
            index[axis] = slice(before, x.shape[axis] - after)
        return x[tuple(index)]


class Cropping1D(_Cropping):
    """Cut ``cropping = (start, end)`` steps (an int: both) off axis 1 of ``(batch, steps,
    features)`` inputs."""

    def __init__(self, cropping: Any = (1, 1), **kwargs: Any) -> None:
        super().__init__(cropping, **kwargs)

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "cropping": self.cropping[0]}
        del config["data_format"]  # Keras' Cropping1D has none
        return config


class Cropping2D(_Cropping):
    """Cut rows and columns off images: ``cropping`` is an int, ``(rows, columns)`` or
    ``((top, bottom), (left, right))``."""

    rank = 2

    def __init__(
        self, cropping: Any = ((0, 0), (0, 0)), data_format: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(cropping, data_format, **kwargs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cropping": self.cropping}


class _ZeroPadding(_Spatial):
    def __init__(self, padding: Any, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(data_format, **kwargs)
        self.padding = _pairs(type(self).__name__, "padding", padding, self.rank)

    def call(self, x: Tensor) -> Tensor:
        widths = [(0, 0)] * x.ndim
        for axis, pair in zip(self._axes(x), self.padding):
            widths[axis] = pair
        return ops.pad(x, widths)


class ZeroPadding1D(_ZeroPadding):
    """Zeros added before and after the steps: ``padding`` is an int or ``(before, after)``."""

    def __init__(self, padding: Any = 1, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(padding, data_format, **kwargs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": self.padding[0]}


class ZeroPadding2D(_ZeroPadding):
    """Rows and columns of zeros around images: ``padding`` is an int, ``(rows, columns)`` or
    ``((top, bottom), (left, right))``."""

    rank = 2

    def __init__(self, padding: Any = (1, 1), data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(padding, data_format, **kwargs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": self.padding}


class UpSampling1D(Layer):
    """Repeat each step ``size`` times along axis 1 of ``(batch, steps, features)`` inputs."""

    def __init__(self, size: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = integer_arg("UpSampling1D", "size", size, minimum=1)

    def call(self, x: Tensor) -> Tensor:
        _require_rank(self, x, 1)
        return ops.repeat(x, self.size, axis=1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size}


class UpSampling2D(_Spatial):
    """Scale images up by ``size = (rows, columns)``: ``interpolation="nearest"`` repeats pixels,
    ``"bilinear"`` interpolates with half-pixel centers (as ``tf.image.resize`` and torch's
    ``interpolate(align_corners=False)``). Keras' other interpolations are not offered."""

    rank = 2

    def __init__(
        self,
        size: Any = (2, 2),
        data_format: str | None = None,
        interpolation: str = "nearest",
        **kwargs: Any,
    ) -> None:
        super().__init__(data_format, **kwargs)
        self.size = spatial_ints("UpSampling2D", "size", size, 2)
        if not isinstance(interpolation, str) or interpolation.lower() not in ("nearest", "bilinear"):
            raise InvalidArgumentError(
                f"UpSampling2D: interpolation must be 'nearest' or 'bilinear', got {interpolation!r}"
            )
        self.interpolation = interpolation.lower()

    def call(self, x: Tensor) -> Tensor:
        for axis, factor in zip(self._axes(x), self.size):
            if self.interpolation == "nearest":
                x = ops.repeat(x, factor, axis=axis)
            else:
                weights = ops.tensor_like(_bilinear_weights(x.shape[axis], factor), x, dtype=x.dtype)
                x = ops.moveaxis(ops.tensordot(weights, x, axes=([1], [axis])), 0, axis)
        return x

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size, "interpolation": self.interpolation}


def _bilinear_weights(length: int, factor: int) -> np.ndarray:
    """The ``(length * factor, length)`` matrix of linear interpolation at half-pixel centers,
    the source position clamped to ``[0, length - 1]``."""
    source = np.clip((np.arange(length * factor) + 0.5) / factor - 0.5, 0, length - 1)
    low = np.floor(source).astype(np.int64)
    high = np.minimum(low + 1, length - 1)
    weights = np.zeros((length * factor, length))
    rows = np.arange(length * factor)
    np.add.at(weights, (rows, low), 1 - (source - low))
    np.add.at(weights, (rows, high), source - low)
    return weights


__all__ = [
    "Cropping1D",
    "Cropping2D",
    "Permute",
    "RepeatVector",
    "UpSampling1D",
    "UpSampling2D",
    "ZeroPadding1D",
    "ZeroPadding2D",
]
