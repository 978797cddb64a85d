"""Shape ops: reshape, transpose, joining, splitting, tiling, padding, flipping."""

from __future__ import annotations

import builtins
import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..dtypes import int64
from ..errors import ArgumentTypeError, AxisError, InvalidArgumentError, ShapeError
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
from .math import maximum


def _shape_tuple(shape: Any) -> tuple[int, ...]:
    """A shape as ints; floats (``2.5``) are refused rather than truncated."""
    if isinstance(shape, (int, np.integer)):
        return (operator.index(shape),)
    try:
        return tuple(operator.index(n) for n in shape)
    except TypeError:
        raise ArgumentTypeError(f"shape must be an int or a sequence of ints, got {shape!r}") from None


def _reshape_target(shape: tuple[int | None, ...], target: tuple[int, ...]) -> tuple[int, ...]:
    """``target`` with its -1 resolved for a tensor of ``shape``, as ``numpy.reshape`` (which also
    refuses a -1 next to a 0, whose length nothing determines); unresolved while a dim is unknown."""
    if builtins.any(n < -1 for n in target) or target.count(-1) > 1:
        raise ShapeError(f"reshape: invalid target shape {target}: sizes are >= 0 with at most one -1")
    dims = [n for n in shape if n is not None]
    if len(dims) < len(shape):
        return target
    size = math.prod(dims)
    known = math.prod([n for n in target if n != -1])  # a list: torch.compile traces no generator here
    if -1 in target and known and size % known == 0:
        return tuple(size // known if n == -1 else n for n in target)
    if -1 not in target and size == known:
        return target
    raise ShapeError(f"reshape: cannot reshape {shape} ({size} elements) into {target}")


@op()
def reshape(x: Any, shape: Any) -> Tensor:
    """``x`` with a new shape of the same size; one entry may be -1."""
    x = as_tensor("reshape", x)
    shape = _reshape_target(x.shape, _shape_tuple(shape))
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
    for name, axes in (("source", src), ("destination", dst)):
        require(len(set(axes)) == len(axes), AxisError, f"moveaxis: repeated axis in {name} {axes}")
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
    rank = x.ndim + (len(axis) if isinstance(axis, (tuple, list)) else 1)
    axes = axes_tuple("expand_dims", axis, rank)
    key = tuple(None if a in axes else slice(None) for a in range(rank))  # any size may be unknown
    return Tensor(x._backend.slice(x._native, key), x._backend)


@op()
def flatten(x: Any) -> Tensor:
    """A 1-D copy of ``x`` in row-major order."""
    return reshape(x, (-1,))


def _joined(op_name: str, xs: Sequence[Any], axis: Any, new_axis: bool):
    """(backend, natives of the common dtype, axis) for :func:`concat` (``new_axis`` False) or
    :func:`stack`; shapes that do not fit are refused as NumPy refuses them."""
    require(len(xs) > 0, ShapeError, f"{op_name}: needs at least one tensor")
    backend, natives = tensor_args(op_name, *xs)
    natives, _ = promote_natives(backend, natives)
    shapes = [backend.shape(n) for n in natives]
    ndim = len(shapes[0])
    require(new_axis or ndim > 0, ShapeError, f"{op_name}: 0-d tensors cannot be concatenated")
    axis = axis_index(op_name, axis, ndim + new_axis)
    where = "along a new axis" if new_axis else "along axis"
    for shape in shapes[1:]:
        fits = len(shape) == ndim and builtins.all(
            a == b or a is None or b is None or (i == axis and not new_axis)
            for i, (a, b) in enumerate(zip(shape, shapes[0]))
        )
        require(
            fits,
            ShapeError,
            f"{op_name}: shapes {', '.join(map(str, shapes))} do not fit together {where} {axis}",
        )
    return backend, natives, axis


@op()
def concat(xs: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    backend, natives, axis = _joined("concat", xs, axis, new_axis=False)
    return Tensor(backend.concat(natives, axis), backend)


@op()
def stack(xs: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors of one shape along a new axis."""
    backend, natives, axis = _joined("stack", xs, axis, new_axis=True)
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
    backend = x._backend
    if "split" in backend.fast_paths and bounds == sorted(bounds):  # consecutive pieces: one op
        pieces = backend.split(x._native, [stop - start for start, stop in zip(bounds, bounds[1:])], axis)
        return [Tensor(piece, backend) for piece in pieces]
    prefix = (slice(None),) * axis
    return [x[(*prefix, slice(start, builtins.max(start, stop)))] for start, stop in zip(bounds, bounds[1:])]


@op()
def unstack(x: Any, num: int | None = None, axis: int = 0) -> list[Tensor]:
    """``x``'s slices along ``axis``, each without that axis (``x[:, i]`` for ``axis=1``), as
    ``keras.ops.unstack``; ``num``, when given, must be that axis' length."""
    x = as_tensor("unstack", x)
    require(x.ndim > 0, ShapeError, "unstack: a 0-d tensor has no axis to unstack")
    axis = axis_index("unstack", axis, x.ndim)
    n = x.shape[axis]
    require(n is not None, ShapeError, f"unstack: axis {axis} of shape {x.shape} has no known length")
    require(
        num is None or num == n,
        ShapeError,
        f"unstack: num={num} but axis {axis} of shape {x.shape} has length {n}",
    )
    backend = x._backend
    if "unstack" in backend.fast_paths:
        return [Tensor(piece, backend) for piece in backend.unstack(x._native, axis)]
    prefix = (slice(None),) * axis
    return [x[(*prefix, i)] for i in range(n)]


@op()
def tile(x: Any, reps: Any) -> Tensor:
    """``x`` repeated ``reps`` times along each axis, as ``numpy.tile``."""
    x = as_tensor("tile", x)
    reps = _shape_tuple(reps)
    require(
        builtins.all(n >= 0 for n in reps),
        InvalidArgumentError,
        f"tile: reps must not be negative, got {reps}",
    )
    ndim = builtins.max(len(reps), x.ndim)
    x = reshape(x, (1,) * (ndim - x.ndim) + x.shape)
    reps = (1,) * (ndim - len(reps)) + reps
    return Tensor(x._backend.tile(x._native, reps), x._backend)


@op()
def repeat(x: Any, repeats: Any, axis: int | None = None) -> Tensor:
    """Repeat each element ``repeats`` times (an int, or one count per element or a single one)
    along ``axis``, as ``numpy.repeat``."""
    x = as_tensor("repeat", x)
    if axis is None:
        x, axis = flatten(x), 0
    axis = axis_index("repeat", axis, x.ndim)
    backend = x._backend
    if isinstance(repeats, (int, float, np.number)):
        repeats = integer_arg("repeat", "repeats", repeats)
    else:
        if isinstance(repeats, (list, tuple)) and not repeats:  # no counts: int, not the default float
            repeats = np.zeros(0, np.int64)
        repeats = _repeat_counts(as_tensor("repeat", repeats), x, axis)
    return Tensor(backend.repeat(x._native, repeats, axis), backend)


def _repeat_counts(repeats: Tensor, x: Tensor, axis: int) -> Any:
    """Counts for :func:`repeat` as a native int64 vector of ``x``'s backend with one entry per
    element of ``axis`` (a single count is broadcast). Negative counts raise in eager code and
    count as 0 inside ``br.jit``, where values are not known."""
    if repeats.dtype.kind not in "iu":  # 1.5 is not truncated (NumPy raises a TypeError too)
        raise ArgumentTypeError(f"repeat: repeats must be integers, got {repeats.dtype}")
    n = x.shape[axis]
    require(
        repeats.ndim <= 1 and repeats.size in (1, n),
        ShapeError,
        f"repeat: repeats of shape {repeats.shape} do not fit axis {axis} of length {n} in {x.shape}",
    )
    repeats = Tensor(to_native(repeats, x._backend, dtype=int64, device=x.device, op="repeat"), x._backend)
    if x._backend.tracing():
        repeats = maximum(repeats, 0)
    elif repeats.size and x._backend.to_numpy(x._backend.min(repeats._native, None, False)) < 0:
        raise InvalidArgumentError(f"repeat: repeats must not be negative, got {repeats.numpy().tolist()}")
    return broadcast_to(repeats, (n,))._native


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
    "unstack",
    "tile",
    "repeat",
    "broadcast_to",
    "pad",
    "flip",
]
