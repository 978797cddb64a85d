"""Image augmentation layers, as Keras 3's: RandomFlip, RandomRotation, RandomZoom,
RandomTranslation, RandomContrast.

They change images only in training (``fit``, or a call with ``training=True``; a direct call
defaults to training, as in Keras) and pass them through otherwise. Their draws come from a
seed generator, so the same ``seed`` augments the same way on every backend, also inside
``br.jit`` and the compiled steps of ``fit``. As Keras' layers they split a call in two:
``get_random_transformation(images)`` draws the parameters (a dict, Keras' keys) and
``transform_images(images, transformation)`` applies them."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

from .. import ops, random
from .._dispatch import device as on_device
from .._dispatch import use_backend
from ..errors import ArgumentTypeError, InvalidArgumentError, ShapeError
from ..ops._core import as_tensor
from ..ops.image import INTERPOLATIONS, affine_transform
from ..tensor import Tensor
from .conv import data_format_arg
from .layer import Layer

FILL_MODES = ("reflect", "wrap", "constant", "nearest")  # affine_transform's but "mirror", as Keras' layers
FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


def _number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _bounded_factor(cls: str, name: str, factor: Any, low: float, high: float) -> tuple[float, float]:
    """Keras' factor of RandomRotation and RandomContrast: ``f`` is ``(max(-|f|, low), |f|)``, a
    pair is sorted; the numbers must lie in ``[low, high]``."""
    message = f"{cls}: {name} must be a number or a pair of numbers in [{low}, {high}], got {factor!r}"
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(map(_number, factor)):
            raise ArgumentTypeError(message)
        if factor[0] > high or factor[1] < low:
            raise InvalidArgumentError(message)
        lower, upper = sorted(float(f) for f in factor)
        return lower, upper
    if not _number(factor):
        raise ArgumentTypeError(message)
    if not low <= factor <= high:
        raise InvalidArgumentError(message)
    return max(-abs(float(factor)), low), abs(float(factor))


def _shift_factor(cls: str, name: str, factor: Any, closed: bool) -> tuple[float, float]:
    """Keras' height/width factor of RandomZoom (in ``(-1, 1]``) and RandomTranslation
    (``closed``: in ``[-1, 1]``): ``f`` is ``(-|f|, |f|)``, a pair is sorted."""
    interval = "[-1, 1]" if closed else "(-1, 1]"
    message = f"{cls}: {name} must be a number or a pair of numbers in {interval}, got {factor!r}"
    pair = isinstance(factor, (tuple, list))
    values = tuple(factor) if pair else (factor,)
    if (pair and len(values) != 2) or not all(map(_number, values)):
        raise ArgumentTypeError(message)
    if any(v > 1 or v < -1 or (v == -1 and not closed) for v in values):
        raise InvalidArgumentError(message)
    if not pair:
        return -abs(float(factor)), abs(float(factor))
    lower, upper = sorted(float(v) for v in values)
    return lower, upper


def _choice(cls: str, name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidArgumentError(f"{cls}: {name} must be one of {choices}, got {value!r}")
    return str(value)


class _ImageAugmentation(Layer):
    """What the augmentation layers share: the seed, ``data_format``, and a call that draws a
    transformation, then applies it, in training only."""

    def __init__(self, seed: int | None = None, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        cls = type(self).__name__
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ArgumentTypeError(f"{cls}: seed must be an int or None, got {seed!r}")
        self.seed = seed
        self.data_format = data_format_arg(cls, data_format)

    def build(self, input_shape: Any) -> None:
        self.seed_generator = random.SeedGenerator(self.seed)

    def call(self, images: Tensor, training: bool = True) -> Tensor:
        transformation = self.get_random_transformation(images, training=training)
        return self.transform_images(images, transformation, training=training)

    def get_random_transformation(
        self, data: Any, training: bool = True, seed: Any = None
    ) -> dict[str, Any] | None:
        """The random parameters for augmenting the images ``data`` (None when not training),
        drawn from ``seed`` (an int, or by default the layer's seed generator). A single image
        gets the parameters of a batch of one."""
        if not training:
            return None
        images = self._images(data)
        if seed is None:
            if not self.built:  # called before the layer: its generator on the images' backend
                with use_backend(images.backend), on_device(images.device):
                    self.build(images.shape)
            seed = self.seed_generator
        batch, height, width = self._sizes(images)
        return self._draw(batch, height, width, seed)

    def transform_images(
        self, images: Any, transformation: dict[str, Any] | None, training: bool = True
    ) -> Tensor:
        """``images`` augmented by ``transformation`` (from ``get_random_transformation``), in the
        layer's compute dtype; unchanged but for the dtype when not training."""
        images = self._images(images).astype(self.compute_dtype)
        if not training or transformation is None:
            return images
        if images.ndim == 4:
            return self._transform(images, transformation)
        return ops.squeeze(self._transform(ops.expand_dims(images, 0), transformation), 0)

    def _draw(self, batch: int, height: int, width: int, seed: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _transform(self, images: Tensor, transformation: dict[str, Any]) -> Tensor:
        raise NotImplementedError

    def _images(self, images: Any) -> Tensor:
        images = as_tensor(self.name, images)
        if images.ndim not in (3, 4):
            raise ShapeError(
                f"{self.name}: {type(self).__name__} takes one image (3-D) or a batch (4-D), "
                f"got shape {images.shape}"
            )
        return images

    def _sizes(self, images: Tensor) -> tuple[int, int, int]:
        """``(batch, height, width)`` of images (a batch of one for a single image)."""
        shape = images.shape if images.ndim == 4 else (1, *images.shape)
        if self.data_format == "channels_last":
            return shape[0], shape[1], shape[2]
        return shape[0], shape[2], shape[3]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed, "data_format": self.data_format}


class _AffineAugmentation(_ImageAugmentation):
    """An augmentation that resamples the images through ``affine_transform``."""

    def __init__(
        self,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        cls = type(self).__name__
        self.fill_mode = _choice(cls, "fill_mode", fill_mode, FILL_MODES)
        self.interpolation = _choice(cls, "interpolation", interpolation, INTERPOLATIONS)
        if not _number(fill_value):
            raise ArgumentTypeError(f"{cls}: fill_value must be a number, got {fill_value!r}")
        self.fill_value = fill_value

    def _resample(self, images: Tensor, matrix: Any) -> Tensor:
        return affine_transform(
            images, matrix, self.interpolation, self.fill_mode, self.fill_value, self.data_format
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "interpolation": self.interpolation,
        }


class RandomFlip(_ImageAugmentation):
    """Flip each image with probability 1/2: left-right (``mode="horizontal"``), top-bottom
    (``"vertical"``) or both at once (``"horizontal_and_vertical"``, the default)."""

    def __init__(
        self,
        mode: str = "horizontal_and_vertical",
        seed: int | None = None,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.mode = _choice("RandomFlip", "mode", mode, FLIP_MODES)

    def _draw(self, batch: int, height: int, width: int, seed: Any) -> dict[str, Any]:
        flips = random.uniform((batch, 1, 1, 1), seed=seed) <= 0.5
        return {"flips": flips}

    def _transform(self, images: Tensor, transformation: dict[str, Any]) -> Tensor:
        flips = transformation["flips"]
        last = self.data_format == "channels_last"
        if self.mode != "vertical":
            images = ops.where(flips, ops.flip(images, axis=-2 if last else -1), images)
        if self.mode != "horizontal":
            images = ops.where(flips, ops.flip(images, axis=-3 if last else -2), images)
        return images

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


class RandomRotation(_AffineAugmentation):
    """Rotate each image about its centre by a random angle of ``factor`` turns: ``factor=0.1``
    draws from ``[-36, 36]`` degrees, ``(lower, upper)`` from ``[360 lower, 360 upper]`` (positive
    angles turn counter-clockwise); ``factor`` lies in ``[-1, 1]``. The corners are filled as
    ``fill_mode`` says ("reflect", "wrap", "constant" with ``fill_value``, "nearest")."""

    def __init__(
        self,
        factor: Any,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.factor = _bounded_factor("RandomRotation", "factor", factor, -1.0, 1.0)

    def _draw(self, batch: int, height: int, width: int, seed: Any) -> dict[str, Any]:
        lower, upper = self.factor
        angle = random.uniform((batch,), lower * 360.0, upper * 360.0, seed=seed)
        return {
            "angle": angle,
            "rotation_matrix": _rotation_matrix(angle, height, width),
            "image_height": height,
            "image_width": width,
            "batch_size": batch,
        }

    def _transform(self, images: Tensor, transformation: dict[str, Any]) -> Tensor:
        return self._resample(images, transformation["rotation_matrix"])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor}


def _rotation_matrix(angle: Tensor, height: int, width: int) -> Tensor:
    """Rows ``[a0, a1, a2, b0, b1, b2, 0, 0]`` rotating by ``angle`` degrees about the centre."""
    radians = angle * (math.pi / 180.0)
    cos, sin = ops.cos(radians), ops.sin(radians)
    cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
    zero = ops.zeros_like(angle)
    rows = [cos, -sin, cx - cx * cos + cy * sin, sin, cos, cy - cx * sin - cy * cos, zero, zero]
    return ops.stack(rows, axis=1)


class RandomZoom(_AffineAugmentation):
    """Zoom each image about its centre: the height by ``1 + z`` with ``z`` drawn from
    ``height_factor`` (``0.2``: ``[-0.2, 0.2]``; a pair: that range; positive zooms out), the width
    likewise from ``width_factor``, or by the same ``z`` when it is None (keeping the aspect).
    Factors lie in ``(-1, 1]``; the border is filled as ``fill_mode`` says."""

    def __init__(
        self,
        height_factor: Any,
        width_factor: Any = None,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor = height_factor
        self.height_lower, self.height_upper = _shift_factor(
            "RandomZoom", "height_factor", height_factor, False
        )
        self.width_factor = width_factor
        if width_factor is not None:
            self.width_lower, self.width_upper = _shift_factor(
                "RandomZoom", "width_factor", width_factor, False
            )

    def _draw(self, batch: int, height: int, width: int, seed: Any) -> dict[str, Any]:
        height_zoom = random.uniform((batch, 1), 1.0 + self.height_lower, 1.0 + self.height_upper, seed=seed)
        width_zoom = height_zoom
        if self.width_factor is not None:
            width_zoom = random.uniform((batch, 1), 1.0 + self.width_lower, 1.0 + self.width_upper, seed=seed)
        return {"height_zoom": height_zoom, "width_zoom": width_zoom}

    def _transform(self, images: Tensor, transformation: dict[str, Any]) -> Tensor:
        _, height, width = self._sizes(images)
        zoom_x, zoom_y = (
            as_tensor(self.name, transformation["width_zoom"]),
            as_tensor(self.name, transformation["height_zoom"]),
        )
        zero = ops.zeros_like(zoom_x)
        offset_x, offset_y = (width - 1) / 2.0 * (1.0 - zoom_x), (height - 1) / 2.0 * (1.0 - zoom_y)
        matrix = ops.concat([zoom_x, zero, offset_x, zero, zoom_y, offset_y, zero, zero], axis=1)
        return self._resample(images, matrix)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "height_factor": self.height_factor,
            "width_factor": self.width_factor,
        }


class RandomTranslation(_AffineAugmentation):
    """Shift each image by a random fraction of its size: vertically by ``height_factor``
    (``0.2``: up to 20% either way; a pair ``(lower, upper)``: that range, negative is up), and
    horizontally by ``width_factor`` (negative is left). Factors lie in ``[-1, 1]``; the
    uncovered border is filled as ``fill_mode`` says."""

    def __init__(
        self,
        height_factor: Any,
        width_factor: Any,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        cls = "RandomTranslation"
        self.height_lower, self.height_upper = _shift_factor(cls, "height_factor", height_factor, True)
        self.width_lower, self.width_upper = _shift_factor(cls, "width_factor", width_factor, True)

    def _draw(self, batch: int, height: int, width: int, seed: Any) -> dict[str, Any]:
        down = random.uniform((batch, 1), self.height_lower, self.height_upper, seed=seed) * height
        right = random.uniform((batch, 1), self.width_lower, self.width_upper, seed=seed) * width
        return {"translations": ops.concat([right, down], axis=1)}

    def _transform(self, images: Tensor, transformation: dict[str, Any]) -> Tensor:
        shifts = as_tensor(self.name, transformation["translations"])
        one, zero = ops.ones_like(shifts[:, :1]), ops.zeros_like(shifts[:, :1])
        matrix = ops.concat([one, zero, -shifts[:, :1], zero, one, -shifts[:, 1:], zero, zero], axis=1)
        return self._resample(images, matrix)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "height_factor": self.height_factor,
            "width_factor": self.width_factor,
        }


class RandomContrast(_ImageAugmentation):
    """Scale each image's deviation from its mean (per channel) by a random factor:
    ``(x - mean) * c + mean`` clipped to ``value_range``, with ``c`` drawn from
    ``[1 - lower, 1 + upper]``. As Keras: ``factor=f`` gives ``(lower, upper) = (0, f)`` and a pair
    is sorted; factors lie in ``[0, 1]``. When not training the images pass unchanged."""

    def __init__(
        self, factor: Any, value_range: Any = (0, 255), seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(seed=seed, **kwargs)
        self.factor = _bounded_factor("RandomContrast", "factor", factor, 0.0, 1.0)
        if not (
            isinstance(value_range, (tuple, list))
            and len(value_range) == 2
            and all(map(_number, value_range))
        ):
            raise ArgumentTypeError(
                f"RandomContrast: value_range must be a pair of numbers, got {value_range!r}"
            )
        self.value_range = value_range

    def _draw(self, batch: int, height: int, width: int, seed: Any) -> dict[str, Any]:
        lower, upper = self.factor
        factor = random.uniform(
            (batch, 1, 1, 1), 1.0 - lower, 1.0 + upper, dtype=self.compute_dtype, seed=seed
        )
        return {"contrast_factor": factor}

    def transform_images(
        self, images: Any, transformation: dict[str, Any] | None, training: bool = True
    ) -> Tensor:
        if not training or transformation is None:
            return self._images(images)
        return super().transform_images(images, transformation, training)

    def _transform(self, images: Tensor, transformation: dict[str, Any]) -> Tensor:
        axes = (1, 2) if self.data_format == "channels_last" else (2, 3)
        mean = ops.mean(images, axis=axes, keepdims=True)
        out = (images - mean) * transformation["contrast_factor"] + mean
        return ops.clip(out, self.value_range[0], self.value_range[1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


__all__ = ["RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast"]
