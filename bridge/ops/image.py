"""Image ops written once over bridge ops, as ``keras.ops.image``: ``affine_transform``.

Sampling follows Keras' reference (SciPy's ``map_coordinates`` with its boundary fixed, what
Keras' NumPy, JAX and torch backends compute): each output pixel reads the input at the point
the transform maps it to, from the nearest pixel or the four around it, each pixel index
brought back into the image as ``fill_mode`` extends it. Keras' TensorFlow backend differs from
that reference for ``fill_mode="wrap"`` (Keras' own tests skip it there) and has no "mirror"."""

from __future__ import annotations

from typing import Any

from ..dtypes import float32, int64
from ..errors import InvalidArgumentError, ShapeError
from ..tensor import Tensor
from ._core import as_tensor, op, require, wider_float
from .creation import arange
from .indexing import take
from .math import abs, clip, floor, floor_divide, mod, round, where  # noqa: A004
from .shape import expand_dims, reshape, squeeze, transpose

INTERPOLATIONS = ("nearest", "bilinear")
FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")


def _mirror(index: Tensor, size: int) -> Tensor:
    """``(d c b | a b c d | c b a)``: indices reflected about the centres of the edge pixels."""
    if size == 1:
        return index * 0
    period = size - 1
    return abs(mod(index + period, 2 * period) - period)


def _within(index: Tensor, size: int, fill_mode: str) -> Tensor:
    """Integer pixel indices brought into ``[0, size)`` as ``fill_mode`` extends the image."""
    if fill_mode == "wrap":
        return mod(index, size)
    if fill_mode == "mirror":
        return _mirror(index, size)
    if fill_mode == "reflect":  # (d c b a | a b c d | d c b a): about the edges of the edge pixels
        return floor_divide(_mirror(2 * index + 1, 2 * size + 1) - 1, 2)
    return clip(index, 0, size - 1)  # "nearest"; "constant" masks the outside afterwards


def _nodes(coordinate: Tensor, interpolation: str) -> list[tuple[Tensor, Tensor | None]]:
    """The pixels a coordinate reads (int64) with their weights (None: the one pixel, weight 1)."""
    if interpolation == "nearest":
        return [(round(coordinate).astype(int64), None)]
    lower = floor(coordinate)
    upper_weight = coordinate - lower
    index = lower.astype(int64)
    return [(index, 1 - upper_weight), (index + 1, upper_weight)]


@op()
def affine_transform(
    images: Any,
    transform: Any,
    interpolation: str = "bilinear",
    fill_mode: str = "constant",
    fill_value: float = 0,
    data_format: str | None = None,
) -> Tensor:
    """Apply projective transforms to images, as ``keras.ops.image.affine_transform``.

    ``images`` is one image ``(height, width, channels)`` or a batch ``(batch, height, width,
    channels)`` (channels first for ``data_format="channels_first"``); ``transform`` is one row
    ``[a0, a1, a2, b0, b1, b2, c0, c1]`` or one per image. A row maps the output pixel ``(x, y)``
    (column, row) to the input point ``((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k)``, with
    ``k = c0 x + c1 y + 1``, read with ``interpolation`` ("bilinear" or "nearest"). Points outside
    the input are filled as ``fill_mode`` says: "constant" (``fill_value``), "nearest" (the edge
    pixel), "wrap" (the image tiled), "reflect" (``d c b a | a b c d | d c b a``) or "mirror"
    (``d c b | a b c d | c b a``). Integer images are rounded back to their dtype."""
    images, transform = as_tensor("affine_transform", images), as_tensor("affine_transform", transform)
    require(
        interpolation in INTERPOLATIONS,
        InvalidArgumentError,
        f"affine_transform: interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}",
    )
    require(
        fill_mode in FILL_MODES,
        InvalidArgumentError,
        f"affine_transform: fill_mode must be one of {FILL_MODES}, got {fill_mode!r}",
    )
    require(
        data_format in (None, "channels_last", "channels_first"),
        InvalidArgumentError,
        f"affine_transform: data_format must be 'channels_last' or 'channels_first', got {data_format!r}",
    )
    require(
        images.ndim in (3, 4),
        ShapeError,
        f"affine_transform: images must be 3-D (one image) or 4-D (a batch), got shape {images.shape}",
    )
    require(
        transform.ndim in (1, 2) and transform.shape[-1] == 8,
        ShapeError,
        f"affine_transform: transform must be (8,) or (batch, 8), got shape {transform.shape}",
    )
    require(
        transform.ndim == 1 or transform.shape[0] in (1, 1 if images.ndim == 3 else images.shape[0]),
        ShapeError,
        f"affine_transform: {transform.shape[0]} transforms for images of shape {images.shape}",
    )
    unbatched = images.ndim == 3
    x = expand_dims(images, 0) if unbatched else images
    if data_format == "channels_first":
        x = transpose(x, (0, 2, 3, 1))
    batch, height, width, channels = x.shape
    dtype = wider_float(x.dtype) if x.dtype.kind == "f" else float32
    rows = reshape(transform.astype(dtype), (-1, 8, 1, 1))
    a0, a1, a2, b0, b1, b2, c0, c1 = (rows[:, i] for i in range(8))
    cols = reshape(arange(width, dtype=dtype, backend=x.backend, device=x.device), (1, 1, width))
    lines = reshape(arange(height, dtype=dtype, backend=x.backend, device=x.device), (1, height, 1))
    k = c0 * cols + c1 * lines + 1
    x_in, y_in = (a0 * cols + a1 * lines + a2) / k, (b0 * cols + b1 * lines + b2) / k
    pixels = reshape(x.astype(dtype), (batch * height * width, channels))
    first = reshape(
        arange(batch, dtype=int64, backend=x.backend, device=x.device) * (height * width), (-1, 1, 1)
    )
    terms = []
    for row, row_weight in _nodes(y_in, interpolation):
        for col, col_weight in _nodes(x_in, interpolation):
            index = first + _within(row, height, fill_mode) * width + _within(col, width, fill_mode)
            value = reshape(take(pixels, reshape(index, (-1,)), axis=0), (batch, height, width, channels))
            if fill_mode == "constant":
                inside = (row >= 0) & (row < height) & (col >= 0) & (col < width)
                value = where(expand_dims(inside, -1), value, fill_value)
            if row_weight is not None and col_weight is not None:  # bilinear
                value = value * expand_dims(row_weight * col_weight, -1)
            terms.append(value)
    out = sum(terms[1:], terms[0])
    if data_format == "channels_first":
        out = transpose(out, (0, 3, 1, 2))
    if images.dtype.kind != "f":
        out = round(out)
    out = out.astype(images.dtype)
    return squeeze(out, 0) if unbatched else out


__all__ = ["affine_transform"]
