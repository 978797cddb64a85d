"""Indexing (NumPy rules, written once over ``slice`` and ``take``), functional updates,
gathering and sorting."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from ..dtypes import bool_, default_float, int64
from ..errors import DTypeError, IndexOutOfRangeError, InvalidArgumentError, ShapeError
from ..tensor import Tensor
from ._core import as_tensor, axis_index, backend_of, integer_arg, mismatch, op, require, to_native
from .math import add, clip, equal, less, multiply, where
from .shape import broadcast_to, expand_dims, flip, moveaxis, reshape, transpose


# --- getitem -----------------------------------------------------------------------------
def _index_entry(x: Tensor, entry: Any) -> Any:
    """An entry of a key as int, slice, None, Ellipsis, or an int64/bool Tensor."""
    if entry is None or entry is Ellipsis or isinstance(entry, slice):
        return entry
    if isinstance(entry, (int, np.integer)) and not isinstance(entry, (bool, np.bool_)):
        return int(entry)
    if isinstance(entry, (bool, np.bool_)):
        raise InvalidArgumentError("getitem: a Python bool is not a valid index; use a bool tensor mask")
    index = (
        entry
        if isinstance(entry, Tensor)
        else Tensor(to_native(entry, x._backend, device=x.device), x._backend)
    )
    if index._backend is not x._backend:
        raise mismatch("getitem", [x.backend, index.backend])
    dtype = index.dtype
    if dtype is bool_:
        return index
    if dtype.kind not in "iu":
        raise DTypeError(f"getitem: index arrays must be integer or bool, got {dtype}")
    return index if dtype is int64 else index.astype(int64)


def _consumed(entry: Any) -> int:
    if entry is None or entry is Ellipsis:
        return 0
    if isinstance(entry, Tensor) and entry.dtype is bool_:
        return entry.ndim
    return 1


def _normalize_key(x: Tensor, key: Any) -> list[Any]:
    """Key entries with Ellipsis expanded and masks replaced by their int64 coordinates."""
    entries = [_index_entry(x, e) for e in (key if isinstance(key, tuple) else (key,))]
    ellipses = [i for i, e in enumerate(entries) if e is Ellipsis]
    require(len(ellipses) <= 1, InvalidArgumentError, "getitem: an index can only have one ellipsis")
    used = builtins.sum(_consumed(e) for e in entries)
    ndim = x.ndim
    require(
        used <= ndim,
        InvalidArgumentError,
        f"getitem: too many indices ({used}) for a tensor of shape {x.shape}",
    )
    if ellipses:
        i = ellipses[0]
        entries[i : i + 1] = [slice(None)] * (ndim - used)
    key, axis = [], 0
    for entry in entries:
        if isinstance(entry, Tensor) and entry.dtype is bool_:
            mask_shape = x.shape[axis : axis + entry.ndim]
            require(
                entry.shape == mask_shape,
                ShapeError,
                f"getitem: boolean mask of shape {entry.shape} does not match axes "
                f"{axis}..{axis + entry.ndim - 1} of shape {x.shape}",
            )
            coords = Tensor(x._backend.argwhere(entry._native), x._backend)
            key.extend(coords[:, i] for i in range(entry.ndim))
            axis += entry.ndim
            continue
        if isinstance(entry, int):
            n = x.shape[axis]
            require(
                -n <= entry < n,
                IndexOutOfRangeError,
                f"getitem: index {entry} is out of bounds for axis {axis} of size {n}",
            )
            entry %= n
        elif isinstance(entry, Tensor):
            entry = checked_indices("getitem", entry, x.shape[axis], axis)
        key.append(entry)
        axis += _consumed(entry)
    return key


_PLAIN = (int, type(None), type(Ellipsis))


def _basic(x: Tensor, key: list[Any]) -> Tensor:
    """Basic indexing; negative steps become a flip and a positive step."""
    flips, plain, axis = [], [], 0
    for entry in key:
        if isinstance(entry, slice) and entry.step is not None and entry.step < 0:
            n = x.shape[axis]
            picked = range(*entry.indices(n))
            if len(picked) == 0:
                entry = slice(0, 0)
            else:
                first = n - 1 - picked[0]
                entry = slice(first, first + (len(picked) - 1) * -entry.step + 1, -entry.step)
            flips.append(axis)
        plain.append(entry)
        axis += entry is not None
    native = x._native if not flips else flip(x, tuple(flips))._native
    if builtins.all(isinstance(e, slice) and e == slice(None) for e in plain):
        return Tensor(native, x._backend)
    return Tensor(x._backend.slice(native, tuple(plain)), x._backend)


@op()
def getitem(x: Any, key: Any) -> Tensor:
    """``x[key]`` with NumPy semantics: ints, slices, ``...``, ``None``, bool masks, int arrays."""
    x = as_tensor("getitem", x)
    entries = key if isinstance(key, tuple) else (key,)
    if builtins.any(type(e) is slice and e.step == 0 for e in entries):
        raise InvalidArgumentError(f"getitem: slice step cannot be zero (key {key!r})")
    if builtins.all(
        type(e) in _PLAIN or (type(e) is slice and (e.step is None or e.step > 0)) for e in entries
    ):
        try:  # the common case: the framework's own basic indexing, checked only when it fails
            return Tensor(x._backend.slice(x._native, entries), x._backend)
        except Exception:
            pass  # out-of-range ints and the like: the general path below says what is wrong
    if isinstance(key, Tensor) and key.dtype.kind in "iu" and key._backend is x._backend:
        return take(x, key, axis=0)
    key = _normalize_key(x, key)
    if not builtins.any(isinstance(e, Tensor) for e in key):
        return _basic(x, key)
    # Advanced indexing: ints join the arrays, as in NumPy.
    arrays = [
        e if isinstance(e, Tensor) else Tensor(x._backend.full((), e, int64, x.device), x._backend)
        for e in key
        if isinstance(e, (Tensor, int))
    ]
    positions = [i for i, e in enumerate(key) if isinstance(e, (Tensor, int))]
    adjacent = positions == list(range(positions[0], positions[0] + len(positions)))
    basic_key, advanced_axes, out_axis = [], [], 0
    for entry in key:
        if isinstance(entry, (Tensor, int)):
            advanced_axes.append(out_axis)
            entry = slice(None)
        basic_key.append(entry)
        out_axis += 1
    y = _basic(x, basic_key)
    rest = [a for a in range(y.ndim) if a not in advanced_axes]
    y = transpose(y, advanced_axes + rest)
    sizes = y.shape[: len(arrays)]
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    linear = None
    for index, size in zip(arrays, sizes):  # each already in [0, size)
        linear = index if linear is None else add(multiply(linear, size), index)
    rows = int(np.prod(sizes, dtype=np.int64))  # not -1, which NumPy refuses beside a 0
    flat = reshape(y, (rows,) + y.shape[len(arrays) :])
    out = Tensor(x._backend.take(flat._native, broadcast_to(linear, shape)._native, 0), x._backend)
    if adjacent and advanced_axes[0] > 0:
        nb, start = len(shape), advanced_axes[0]
        order = list(range(nb, nb + start)) + list(range(nb)) + list(range(nb + start, out.ndim))
        out = transpose(out, order)
    return out


@op()
def index_update(x: Any, key: Any, value: Any, accumulate: bool = False) -> Tensor:
    """A new tensor: ``x`` with ``x[key]`` set to (or increased by) ``value``.

    Backs ``x.at[key].set(value)`` and ``x.at[key].add(value)``; repeated indices accumulate
    with ``add``."""
    x = as_tensor("index_update", x)
    backend = x._backend
    positions = backend.reshape(backend.arange(0, x.size, 1, int64, x.device), x.shape)
    selected = getitem(Tensor(positions, backend), key)
    values = Tensor(to_native(value, backend, dtype=x.dtype, device=x.device), backend)
    values = broadcast_to(values, selected.shape)
    out = backend.scatter(
        backend.reshape(x._native, (-1,)),
        backend.reshape(selected._native, (-1,)),
        backend.reshape(values._native, (-1,)),
        accumulate,
    )
    return Tensor(backend.reshape(out, x.shape), backend)


# --- gathering ---------------------------------------------------------------------------
_HOST_CHECK_SIZE = 1 << 16


def checked_indices(name: str, index: Tensor, size: int, axis: int, negative: bool = True) -> Tensor:
    """int64 ``index`` into an axis of ``size``, wrapped into ``[0, size)``.

    An index outside ``[-size, size)`` (``[0, size)`` when not ``negative``) raises
    ``IndexOutOfRangeError`` in eager code (one small host copy). Inside ``br.jit`` values are not
    known and a compiled graph cannot raise, so there an index is clamped to the nearest valid one
    (after negative ones wrap), on every backend alike."""
    low = -size if negative else 0
    backend, native = index._backend, index._native
    if backend.tracing():
        if negative:
            index = where(less(index, 0), add(index, size), index)
        return clip(index, 0, builtins.max(size - 1, 0))
    if not index.size:
        return index
    if index.size <= _HOST_CHECK_SIZE:  # copying a few indices beats two device reductions
        values = backend.to_numpy(native)
        lowest, highest = values.min(), values.max()
    else:
        lowest = backend.to_numpy(backend.min(native, None, False))
        highest = backend.to_numpy(backend.max(native, None, False))
    if lowest < low or highest >= size:
        values = backend.to_numpy(native)
        first = values[(values < low) | (values >= size)].flat[0]
        raise IndexOutOfRangeError(
            f"{name}: index {first} is out of range for axis {axis} of size {size} (valid: {low}..{size - 1})"
        )
    return where(less(index, 0), add(index, size), index) if lowest < 0 else index


def _indices(name: str, x: Tensor, indices: Any) -> Tensor:
    """``indices`` as an int64 Tensor of ``x``'s backend (a bridge Tensor of another backend is
    an error; NumPy, Python and native data are converted)."""
    backend = backend_of(name, x, indices)
    index = (
        indices
        if isinstance(indices, Tensor)
        else Tensor(to_native(indices, backend, device=x.device), backend)
    )
    if index.dtype.kind not in "iu":
        raise DTypeError(f"{name}: indices must be integers, got {index.dtype}")
    return index.astype(int64)


@op()
def take(x: Any, indices: Any, axis: int | None = None) -> Tensor:
    """Elements of ``x`` at ``indices`` along ``axis`` (of the flattened ``x`` when None).

    Negative indices count from the end; one outside the axis raises ``IndexOutOfRangeError``
    (clamped inside ``br.jit``)."""
    x = as_tensor("take", x)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    axis = axis_index("take", axis, x.ndim)
    index = checked_indices("take", _indices("take", x, indices), x.shape[axis], axis)
    return Tensor(x._backend.take(x._native, index._native, axis), x._backend)


@op()
def take_along_axis(x: Any, indices: Any, axis: int) -> Tensor:
    """Pick values along ``axis`` with an index tensor of the same rank (``numpy.take_along_axis``);
    out-of-range indices as in ``take``."""
    x = as_tensor("take_along_axis", x)
    index = _indices("take_along_axis", x, indices)
    require(
        index.ndim == x.ndim,
        ShapeError,
        f"take_along_axis: indices of rank {index.ndim} for a tensor of rank {x.ndim}",
    )
    axis = axis_index("take_along_axis", axis, x.ndim)
    n = x.shape[axis]
    index = checked_indices("take_along_axis", index, n, axis)
    x, index = moveaxis(x, axis, -1), moveaxis(index, axis, -1)
    batch = np.broadcast_shapes(x.shape[:-1], index.shape[:-1])
    x = broadcast_to(x, batch + (n,))
    index = broadcast_to(index, batch + index.shape[-1:])
    rows = int(np.prod(batch, dtype=np.int64))
    backend = x._backend
    offsets = Tensor(backend.reshape(backend.arange(0, rows * n, n, int64, x.device), batch + (1,)), backend)
    linear = add(index, offsets)
    picked = Tensor(backend.take(reshape(x, (-1,))._native, linear._native, 0), backend)
    return moveaxis(picked, -1, axis)


@op()
def one_hot(x: Any, num_classes: int, dtype: Any = None) -> Tensor:
    """One-hot encoding along a new last axis (default float dtype; out-of-range rows are zero)."""
    x = as_tensor("one_hot", x)
    require(x.dtype.kind in "iu", DTypeError, f"one_hot: needs integer class ids, got {x.dtype}")
    num_classes = integer_arg("one_hot", "num_classes", num_classes)
    classes = Tensor(x._backend.arange(0, num_classes, 1, x.dtype, x.device), x._backend)
    return equal(expand_dims(x, -1), classes).astype(dtype or default_float)


# --- sorting -----------------------------------------------------------------------------
@op()
def sort(x: Any, axis: int = -1) -> Tensor:
    """Values sorted ascending along ``axis``."""
    x = as_tensor("sort", x)
    return Tensor(x._backend.sort(x._native, axis_index("sort", axis, x.ndim)), x._backend)


@op()
def argsort(x: Any, axis: int = -1) -> Tensor:
    """Indices that sort ``x`` ascending along ``axis`` (stable: ties keep their order)."""
    x = as_tensor("argsort", x)
    return Tensor(x._backend.argsort(x._native, axis_index("argsort", axis, x.ndim)), x._backend)


@op()
def topk(x: Any, k: int) -> tuple[Tensor, Tensor]:
    """The ``k`` largest values along the last axis, descending, and their int64 indices."""
    x = as_tensor("topk", x)
    k = integer_arg("topk", "k", k, minimum=None)
    require(
        x.ndim >= 1 and 0 <= k <= x.shape[-1],
        InvalidArgumentError,
        f"topk: k={k} is outside [0, {x.shape[-1] if x.ndim else 0}] for shape {x.shape}",
    )
    values, indices = x._backend.topk(x._native, k)
    return Tensor(values, x._backend), Tensor(indices, x._backend)


__all__ = ["getitem", "index_update", "take", "take_along_axis", "one_hot", "sort", "argsort", "topk"]
