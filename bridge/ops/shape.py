"""Shape ops: reshape, transpose, joining, splitting, tiling, padding, flipping."""

from __future__ import annotations

import builtins
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ArgumentTypeError, InvalidArgumentError, ShapeError
from ..tensor import Tensor
from ._core import (
    as_tensor,
    axes_tuple,
    axis_index,
    integer_arg,
    numpy_array,
    op,
    promote_natives,
    require,
    tensor_args,
    to_native,
)


def _shape_tuple(shape: Any) -> tuple[int, ...]:
    """A shape as ints; floats (``2.5``) are refused rather than truncated."""
    if isinstance(shape, (int, np.integer)):
        return (operator.index(shape),)
    try:
        return tuple(operator.index(n) for n in shape)
    except TypeError:
        raise ArgumentTypeError(f"shape must be an int or a sequence of ints, got {shape!r}") from None


def _reshape_check(x: Any, shape: Any) -> str | None:
    size = int(np.prod(x.shape))
    target = _shape_tuple(shape)
    known = int(np.prod([n for n in target if n != -1]))
    ok = size == known if -1 not in target else (known and size % known == 0)
    return None if ok else f"cannot reshape {x.shape} ({size} elements) into {target}"


@op(check=_reshape_check)
def reshape(x: Any, shape: Any) -> Tensor:
    """``x`` with a new shape of the same size; one entry may be -1."""
    x = as_tensor("reshape", x)
    shape = _shape_tuple(shape)
    if shape.count(-1) > 1:
        raise ShapeError(f"reshape: only one -1 is allowed, got {shape}")
    return Tensor(x._backend.reshape(x._native, shape), x._backend)


@op()
def transpose(x: Any, axes: Sequence[int] | None = None) -> Tensor:
    """``x`` with its axes permuted (reversed when ``axes`` is None)."""
    x = as_tensor("transpose", x)
    ndim = x.ndim
    if axes is None:
        perm = tuple(range(ndim))[::-1]
    else:
        perm = tuple(axis_index("transpose", a, ndim) for a in axes)
        require(
            sorted(perm) == list(range(ndim)),
            ShapeError,
            f"transpose: axes {tuple(axes)} are not a permutation of the {ndim} axes of {x.shape}",
        )
    return Tensor(x._backend.transpose(x._native, perm), x._backend)


@op()
def moveaxis(x: Any, source: Any, destination: Any) -> Tensor:
    """Move axes ``source`` to positions ``destination``; the others keep their order."""
    x = as_tensor("moveaxis", x)
    ndim = x.ndim
    src = [
        axis_index("moveaxis", a, ndim) for a in (source if isinstance(source, (list, tuple)) else [source])
    ]
    dst = [
        axis_index("moveaxis", a, ndim)
        for a in (destination if isinstance(destination, (list, tuple)) else [destination])
    ]
    require(
        len(src) == len(dst),
        ShapeError,
        f"moveaxis: source {source} and destination {destination} differ in length",
    )
    order = [a for a in range(ndim) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, order)


@op()
def squeeze(x: Any, axis: Any = None) -> Tensor:
    """``x`` without the given length-1 axes (all of them when ``axis`` is None)."""
    x = as_tensor("squeeze", x)
    shape = x.shape
    if axis is None:
        axes = tuple(i for i, n in enumerate(shape) if n == 1)
    else:
        axes = axes_tuple("squeeze", axis, len(shape))
        wrong = [a for a in axes if shape[a] != 1]
        require(
            not wrong,
            ShapeError,
            f"squeeze: axis {wrong[0] if wrong else ''} of shape {shape} is not of length 1",
        )
    return reshape(x, tuple(n for i, n in enumerate(shape) if i not in axes))


@op()
def expand_dims(x: Any, axis: Any) -> Tensor:
    """``x`` with new length-1 axes at the positions ``axis`` of the result."""
    x = as_tensor("expand_dims", x)
    if axis is None:  # None means "all axes" elsewhere, which has no meaning here (NumPy: TypeError)
        raise ArgumentTypeError("expand_dims: axis must be an int or a tuple of ints, got None")
    shape = list(x.shape)
    axes = axes_tuple("expand_dims", axis, len(shape) + (len(axis) if isinstance(axis, (tuple, list)) else 1))
    for a in axes:
        shape.insert(a, 1)
    return reshape(x, tuple(shape))


@op()
def flatten(x: Any) -> Tensor:
    """A 1-D copy of ``x`` in row-major order."""
    return reshape(x, (-1,))


def _join_check(xs: Any, axis: int = 0) -> str | None:
    return (
        "shapes "
        + ", ".join(str(t.shape) for t in xs if isinstance(t, Tensor))
        + f" do not fit together along axis {axis}"
    )


def _joined(op_name: str, xs: Sequence[Any]):
    require(len(xs) > 0, ShapeError, f"{op_name}: needs at least one tensor")
    backend, natives = tensor_args(op_name, *xs)
    natives, _ = promote_natives(backend, natives)
    return backend, natives


@op(check=_join_check)
def concat(xs: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    backend, natives = _joined("concat", xs)
    axis = axis_index("concat", axis, len(backend.shape(natives[0])))
    return Tensor(backend.concat(natives, axis), backend)


@op(check=_join_check)
def stack(xs: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors of one shape along a new axis."""
    backend, natives = _joined("stack", xs)
    axis = axis_index("stack", axis, len(backend.shape(natives[0])) + 1)
    return Tensor(backend.stack(natives, axis), backend)


@op()
def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """Split into equal sections (an int) or at the given indices, as ``numpy.split``."""
    x = as_tensor("split", x)
    axis = axis_index("split", axis, x.ndim)
    n = x.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        require(
            sections > 0 and n % sections == 0,
            ShapeError,
            f"split: axis {axis} of length {n} does not split into {sections} equal sections",
        )
        bounds = [i * (n // sections) for i in range(sections + 1)]
    else:
        bounds = [
            0,
            *(
                builtins.min(builtins.max(int(i) + (n if int(i) < 0 else 0), 0), n)
                for i in indices_or_sections
            ),
            n,
        ]
    prefix = (slice(None),) * axis
    return [x[(*prefix, slice(start, builtins.max(start, stop)))] for start, stop in zip(bounds, bounds[1:])]


@op()
def tile(x: Any, reps: Any) -> Tensor:
    """``x`` repeated ``reps`` times along each axis, as ``numpy.tile``."""
    x = as_tensor("tile", x)
    reps = _shape_tuple(reps)
    ndim = builtins.max(len(reps), x.ndim)
    x = reshape(x, (1,) * (ndim - x.ndim) + x.shape)
    reps = (1,) * (ndim - len(reps)) + reps
    return Tensor(x._backend.tile(x._native, reps), x._backend)


@op()
def repeat(x: Any, repeats: Any, axis: int | None = None) -> Tensor:
    """Repeat each element ``repeats`` times (an int or one count per element) along ``axis``."""
    x = as_tensor("repeat", x)
    if axis is None:
        x, axis = flatten(x), 0
    axis = axis_index("repeat", axis, x.ndim)
    backend = x._backend
    if isinstance(repeats, (int, float, np.number)):
        repeats = integer_arg("repeat", "repeats", repeats)
    else:
        from ..dtypes import int64

        repeats = as_tensor("repeat", repeats)
        if repeats.dtype.kind not in "iu":  # 1.5 is not truncated (NumPy raises a TypeError too)
            raise ArgumentTypeError(f"repeat: repeats must be integers, got {repeats.dtype}")
        repeats = to_native(repeats, backend, dtype=int64, device=x.device)
    return Tensor(backend.repeat(x._native, repeats, axis), backend)


@op()
def broadcast_to(x: Any, shape: Any) -> Tensor:
    """``x`` broadcast to ``shape``."""
    x = as_tensor("broadcast_to", x)
    shape = _shape_tuple(shape)
    try:
        ok = np.broadcast_shapes(x.shape, shape) == shape
    except ValueError:
        ok = False
    require(ok, ShapeError, f"broadcast_to: shape {x.shape} cannot broadcast to {shape}")
    return Tensor(x._backend.broadcast_to(x._native, shape), x._backend)


def _pad_widths(pad_width: Any, ndim: int) -> tuple[tuple[int, int], ...]:
    widths = np.asarray(pad_width)
    if widths.dtype.kind not in "iu":  # 1.5 is not truncated (NumPy raises a TypeError too)
        raise ArgumentTypeError(f"pad: pad_width must hold ints, got {pad_width!r}")
    widths = widths.astype(np.int64)
    require(bool((widths >= 0).all()), ShapeError, f"pad: negative pad_width {pad_width!r}")
    try:
        widths = np.broadcast_to(
            widths.reshape(-1, 2) if widths.size == 2 and widths.ndim == 1 else widths, (ndim, 2)
        )
    except ValueError:
        raise ShapeError(f"pad: pad_width {pad_width!r} does not fit a tensor of rank {ndim}") from None
    return tuple((int(a), int(b)) for a, b in widths)


_PAD_MODES = ("constant", "reflect", "symmetric", "edge", "wrap")


@op()
def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: Any = 0) -> Tensor:
    """Pad as ``numpy.pad``: ``pad_width`` an int, a (before, after) pair, or one pair per axis;
    ``mode`` one of constant, reflect, symmetric, edge, wrap."""
    x = as_tensor("pad", x)
    widths = _pad_widths(pad_width, x.ndim)
    require(
        mode in _PAD_MODES,
        InvalidArgumentError,
        f"pad: unknown mode {mode!r}; known: {', '.join(_PAD_MODES)}",
    )
    if mode == "constant":
        value = numpy_array(constant_values, x.dtype, "pad").item()  # NaN into ints is an error
        if not widths:  # a 0-d tensor has nothing to pad (TensorFlow refuses empty paddings)
            return x
        return Tensor(x._backend.pad(x._native, widths, value), x._backend)
    if not widths:
        return x
    for axis, (before, after) in enumerate(widths):
        if before or after:
            x = concat(
                [_pad_piece(x, axis, before, mode, True), x, _pad_piece(x, axis, after, mode, False)], axis
            )
    return x


def _pad_piece(x: Tensor, axis: int, width: int, mode: str, leading: bool) -> Tensor:
    n = x.shape[axis]
    limit = {"reflect": n - 1, "symmetric": n, "edge": width, "wrap": n}[mode]
    require(
        width <= limit and n > 0,
        ShapeError,
        f"pad: a width of {width} is too large for mode {mode!r} on axis {axis} of length {n}",
    )

    def take(start: int, stop: int, step: int = 1) -> Tensor:
        return x[(slice(None),) * axis + (slice(start, stop, step),)]

    if width == 0:
        return take(0, 0)
    if mode == "edge":
        edge = take(0, 1) if leading else take(n - 1, n)
        return concat([edge] * width, axis)
    if mode == "wrap":
        return take(n - width, n) if leading else take(0, width)
    offset = 1 if mode == "reflect" else 0
    if leading:
        return flip(take(offset, offset + width), axis)
    return flip(take(n - offset - width, n - offset), axis)


@op()
def flip(x: Any, axis: Any = None) -> Tensor:
    """``x`` with the order of elements reversed along ``axis`` (all axes when None)."""
    x = as_tensor("flip", x)
    axes = axes_tuple("flip", axis, x.ndim)
    if not axes:
        return x
    return Tensor(x._backend.flip(x._native, axes), x._backend)


__all__ = [
    "reshape",
    "transpose",
    "moveaxis",
    "squeeze",
    "expand_dims",
    "flatten",
    "concat",
    "stack",
    "split",
    "tile",
    "repeat",
    "broadcast_to",
    "pad",
    "flip",
]
