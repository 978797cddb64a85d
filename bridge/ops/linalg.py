"""Linear algebra: products, einsum, norms, and the ``bridge.linalg`` solvers."""

from __future__ import annotations

import builtins
import functools
from typing import Any

import numpy as np

from ..dtypes import bool_, int8, int16, int32, uint8
from ..errors import ArgumentTypeError, AxisError, InvalidArgumentError, ShapeError
from ..tensor import Tensor
from ._core import (
    as_tensor,
    axes_tuple,
    axis_index,
    backend_of,
    floating,
    known_shape,
    op,
    promote_natives,
    require,
    tensor_args,
)
from .creation import eye
from .math import abs, isfinite, isnan, multiply, power, sqrt, where
from .reduction import all as all_of
from .reduction import any as any_of
from .reduction import max, min, sum
from .shape import expand_dims, moveaxis, reshape, transpose


def _matmul_check(x1: Any, x2: Any) -> str | None:
    """Why two shapes do not multiply, or None (run only when the framework refused)."""
    sa, sb = _shape_of(x1), _shape_of(x2)
    if not sa or not sb:
        return f"matmul needs operands of rank >= 1, got shapes {sa} and {sb}"
    inner_a, inner_b = sa[-1], sb[-2] if len(sb) > 1 else sb[0]
    if inner_a != inner_b:
        return f"shapes {sa} and {sb}: inner dimensions {inner_a} and {inner_b} differ"
    try:
        np.broadcast_shapes(sa[:-2], sb[:-2])
    except ValueError:
        return f"batch dimensions of shapes {sa} and {sb} do not broadcast"
    return None


def _shape_of(x: Any) -> tuple[int, ...]:
    return x.shape if isinstance(x, Tensor) else tuple(np.shape(x))


@op(check=_matmul_check)
def matmul(x1: Any, x2: Any) -> Tensor:
    """Matrix product with NumPy rules: 1-D operands are promoted and the added axis removed,
    leading (batch) axes broadcast."""
    if isinstance(x1, Tensor) and isinstance(x2, Tensor) and x1._backend is x2._backend:
        backend, a, b = x1._backend, x1._native, x2._native
        if backend.dtype_of(a) is not backend.dtype_of(b):
            (a, b), _ = promote_natives(backend, [a, b])
    else:
        backend, natives = tensor_args("matmul", x1, x2)
        (a, b), _ = promote_natives(backend, natives)
    return Tensor(_native_matmul(backend, a, b), backend)


# dtypes some backends have no matmul kernel for (TensorFlow: all four, torch: bool)
_WIDENED_IN_MATMUL = frozenset((bool_, int8, uint8, int16))


def _native_matmul(backend: Any, a: Any, b: Any) -> Any:
    """``backend.matmul`` for operands of one dtype; bool and narrow ints are multiplied in int32
    and cast back: NumPy's result (bool: any product true; ints: wrapped around) on every backend."""
    dtype = backend.dtype_of(a)
    if dtype not in _WIDENED_IN_MATMUL:
        return _matrix_product(backend, a, b)
    return backend.cast(_matrix_product(backend, backend.cast(a, int32), backend.cast(b, int32)), dtype)


def _matrix_product(backend: Any, a: Any, b: Any) -> Any:
    """``backend.matmul`` on operands of rank >= 2: a 1-D ``a`` becomes a row, a 1-D ``b`` a
    column, and the added axis is removed from the result, as NumPy's matmul."""
    shape_a, shape_b = backend.shape(a), backend.shape(b)
    if len(shape_a) != 1 and len(shape_b) != 1:
        return backend.matmul(a, b)
    rows = backend.reshape(a, (1, *shape_a)) if len(shape_a) == 1 else a
    columns = backend.reshape(b, (*shape_b, 1)) if len(shape_b) == 1 else b
    out = backend.matmul(rows, columns)
    *batch, m, n = backend.shape(out)
    rows_kept, columns_kept = ((m,) if len(shape_a) > 1 else ()), ((n,) if len(shape_b) > 1 else ())
    return backend.reshape(out, (*batch, *rows_kept, *columns_kept))


@op()
def dot(x1: Any, x2: Any) -> Tensor:
    """``numpy.dot``: inner product of vectors, matrix product, or a sum over the last axis of
    ``x1`` and the second-to-last of ``x2``."""
    x1, x2 = as_tensor("dot", x1), as_tensor("dot", x2)
    if x1.ndim == 0 or x2.ndim == 0:
        return multiply(x1, x2)
    if x2.ndim == 1 or x1.ndim <= 2 and x2.ndim <= 2:
        return matmul(x1, x2)
    return tensordot(x1, x2, axes=([x1.ndim - 1], [x2.ndim - 2]))


@op()
def tensordot(x1: Any, x2: Any, axes: Any = 2) -> Tensor:
    """Sum of products over ``axes`` (an int: the last N of ``x1`` and first N of ``x2``; or two
    sequences of axes), as ``numpy.tensordot``."""
    x1, x2 = as_tensor("tensordot", x1), as_tensor("tensordot", x2)
    axes_a, axes_b = _tensordot_axes(axes, x1.shape, x2.shape)
    sizes_a = [x1.shape[a] for a in axes_a]
    sizes_b = [x2.shape[b] for b in axes_b]
    require(
        sizes_a == sizes_b,
        ShapeError,
        f"tensordot: axes {axes_a} of {x1.shape} and {axes_b} of {x2.shape} differ in size",
    )
    free_a = [a for a in range(x1.ndim) if a not in axes_a]
    free_b = [b for b in range(x2.ndim) if b not in axes_b]
    inner = int(np.prod(sizes_a, dtype=np.int64))
    a = reshape(transpose(x1, free_a + axes_a), (-1, inner))
    b = reshape(transpose(x2, axes_b + free_b), (inner, -1))
    return reshape(matmul(a, b), [x1.shape[i] for i in free_a] + [x2.shape[i] for i in free_b])


def _tensordot_axes(axes: Any, shape_a: tuple, shape_b: tuple) -> tuple[list[int], list[int]]:
    """The summed axes of each operand, normalized; bad ``axes`` raise as NumPy rejects them."""
    pairs: tuple[list[Any], ...]
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        n = int(axes)
        if n > len(shape_a) or n > len(shape_b):
            raise AxisError(f"tensordot: axes={n} needs operands of rank >= {n}, got {shape_a} and {shape_b}")
        pairs = (list(range(len(shape_a) - n, len(shape_a))), list(range(n))) if n > 0 else ([], [])
    else:
        try:
            pairs = tuple([a] if isinstance(a, (int, np.integer)) else list(a) for a in axes)
        except TypeError:
            raise ArgumentTypeError(
                f"tensordot: axes must be an int or two sequences of ints, got {axes!r}"
            ) from None
        require(
            len(pairs) == 2 and len(pairs[0]) == len(pairs[1]),
            ShapeError,
            f"tensordot: axes {axes!r} must name as many axes of each operand",
        )
    normalized = []
    for listed, shape in zip(pairs, (shape_a, shape_b)):
        found = [axis_index("tensordot", a, len(shape)) for a in listed]
        require(len(set(found)) == len(found), AxisError, f"tensordot: repeated axis in {listed}")
        normalized.append(found)
    return normalized[0], normalized[1]


@op()
def einsum(subscripts: str, *operands: Any) -> Tensor:
    """Einstein summation, as ``numpy.einsum`` (explicit or implicit output, ``...``)."""
    backend, natives = tensor_args("einsum", *operands)
    require(
        isinstance(subscripts, str),
        ArgumentTypeError,
        f"einsum: subscripts must be a str, got {subscripts!r}",
    )
    shapes = tuple(backend.shape(n) for n in natives)
    checkable = not backend.tracing() and all(known_shape(s) for s in shapes)  # NumPy checks, eagerly
    reason = _einsum_check(subscripts, shapes) if checkable else None
    if reason:  # (while tracing, the backend checks them)
        raise InvalidArgumentError(f"einsum: {reason}")
    natives, dtype = promote_natives(backend, natives)
    if dtype not in _WIDENED_IN_MATMUL:
        return Tensor(backend.einsum(subscripts, *natives), backend)
    wide = backend.einsum(subscripts, *(backend.cast(n, int32) for n in natives))
    return Tensor(backend.cast(wide, dtype), backend)


@functools.lru_cache(maxsize=512)
def _einsum_check(subscripts: str, shapes: tuple[tuple[int, ...], ...]) -> str | None:
    """Why NumPy rejects ``subscripts`` for operands of ``shapes`` (a wrong operand count, an
    unknown label, sizes that differ), or None: checked here so every backend rejects the same."""
    dummies = [np.broadcast_to(np.zeros((), np.float32), shape) for shape in shapes]
    try:
        np.einsum_path(subscripts, *dummies, optimize=False)
    except Exception as error:  # NumPy's parser raises ValueError, KeyError, IndexError
        return f"{subscripts!r} does not fit operands of shapes {list(shapes)}: {error}"
    return None


@op()
def outer(x1: Any, x2: Any) -> Tensor:
    """Outer product of the flattened inputs."""
    x1, x2 = as_tensor("outer", x1), as_tensor("outer", x2)
    return multiply(reshape(x1, (-1, 1)), reshape(x2, (1, -1)))


_MATRIX_ORDS = ("fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf)


@op()
def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A002
    """Vector or matrix norm, as ``numpy.linalg.norm``."""
    x = as_tensor("norm", x)
    x = Tensor(floating(x._backend, x._native), x._backend)
    if axis is None:
        if ord is None:
            return _keep(sqrt(sum(x * x)), x.ndim, tuple(range(x.ndim)), keepdims)
        axis = tuple(range(x.ndim))
        require(
            x.ndim in (1, 2),
            InvalidArgumentError,
            f"norm: ord={ord!r} with axis=None needs a 1-D or 2-D tensor, got shape {x.shape}",
        )
    axes = axes_tuple("norm", axis, x.ndim)
    if len(axes) == 1:
        out = _vector_norm(x, ord, axes[0])
    elif len(axes) == 2:
        out = _matrix_norm(x, ord, tuple(axis) if isinstance(axis, (tuple, list)) else axes)
    else:
        raise InvalidArgumentError(f"norm: axis must name 1 or 2 axes, got {axis!r}")
    return _keep(out, x.ndim, axes, keepdims)


def _keep(out: Tensor, ndim: int, axes: tuple[int, ...], keepdims: bool) -> Tensor:
    return expand_dims(out, axes) if keepdims and axes else out


def _vector_norm(x: Tensor, ord: Any, axis: int) -> Tensor:  # noqa: A002
    a = abs(x)
    if ord is None or ord == 2:
        return sqrt(sum(x * x, axis))
    if ord == np.inf:
        return max(a, axis)
    if ord == -np.inf:
        return min(a, axis)
    if ord == 0:
        return sum((x != 0).astype(x.dtype), axis)
    if ord == 1:
        return sum(a, axis)
    if isinstance(ord, str):
        raise InvalidArgumentError(f"norm: ord={ord!r} is a matrix norm; vector norms take numbers")
    return power(sum(power(a, float(ord)), axis), 1.0 / float(ord))


def _matrix_norm(x: Tensor, ord: Any, axes: tuple[int, int]) -> Tensor:  # noqa: A002
    row, col = (a % x.ndim for a in axes)
    if ord is None or ord == "fro":
        return sqrt(sum(x * x, (row, col)))
    require(
        builtins.any(ord == o for o in _MATRIX_ORDS),
        InvalidArgumentError,
        f"norm: unknown matrix ord {ord!r}; known: {', '.join(map(str, _MATRIX_ORDS))}",
    )
    if ord in ("nuc", 2, -2):
        singular = svdvals(moveaxis(x, (row, col), (-2, -1)))
        return {
            "nuc": lambda: sum(singular, -1),
            2: lambda: max(singular, -1),
            -2: lambda: min(singular, -1),
        }[ord]()
    a = abs(x)
    if ord in (1, -1):  # max/min column sum
        sums = sum(a, row)
        return (max if ord == 1 else min)(sums, col - (row < col))
    sums = sum(a, col)  # inf: max row sum
    return (max if ord == np.inf else min)(sums, row - (col < row))


def _square_check(a: Any, *rest: Any) -> str | None:
    shape = _shape_of(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        return f"needs square matrices (..., M, M), got shape {shape}"
    return None


def _square_floats(name: str, x: Any) -> Tensor:
    """``x`` as a tensor of square matrices in a float dtype, else a ShapeError naming ``name``."""
    x = as_tensor(name, x)
    reason = _square_check(x)
    if reason:
        raise ShapeError(f"{name}: {reason}")
    return Tensor(floating(x._backend, x._native), x._backend)


@op(check=_square_check)
def inv(x: Any) -> Tensor:
    """Inverse of square matrices (batched over leading axes); a singular matrix raises
    InvalidArgumentError (a ValueError, as NumPy's LinAlgError) on every backend, and a matrix
    holding a NaN or an infinity inverts to all NaN."""
    x = _square_floats("inv", x)
    return _nan_unless_finite(x, lambda n: _unless_singular("inv", x.shape, x._backend.inv, n), 2)


def _unless_singular(name: str, shape: tuple[int, ...], solver: Any, *natives: Any) -> Any:
    """``solver(*natives)``, called once shapes and dtypes are checked: a failure left is a
    singular matrix (each framework words and classes it differently, so the message is bridge's
    own, the same on every backend; the framework's error stays chained as ``__cause__``)."""
    try:
        return solver(*natives)
    except Exception as exc:
        raise InvalidArgumentError(f"{name}: singular matrix in a of shape {shape}") from exc


@op(check=_square_check)
def det(x: Any) -> Tensor:
    """Determinant of square matrices; NaN for a matrix holding a NaN or an infinity (the
    frameworks' pivoting makes any other answer an accident)."""
    x = _square_floats("det", x)
    return _nan_unless_finite(x, x._backend.det, 0)


@op(check=_square_check)
def cholesky(x: Any) -> Tensor:
    """Lower Cholesky factor ``L`` of symmetric positive-definite matrices (``x = L @ L.T``).

    A finite matrix that is not positive definite is an error (as NumPy); under ``br.jit``, where
    values are unknown, its factor is all NaN on every backend."""
    x = _square_floats("cholesky", x)
    factor = _nan_unless_finite(x, x._backend.cholesky, 2)
    backend = factor._backend
    if not backend.tracing() and bool(any_of(isnan(factor)).numpy()):
        finite = all_of(isfinite(x), axis=(-2, -1))
        failed = any_of(isnan(factor), axis=(-2, -1)) & finite
        if bool(any_of(failed).numpy()):
            raise InvalidArgumentError(
                f"cholesky: matrix is not positive definite (batch positions "
                f"{np.argwhere(failed.numpy()).tolist()} of shape {factor.shape})"
            )
    return factor


@op()
def svdvals(x: Any) -> Tensor:
    """Singular values of matrices, descending."""
    x = as_tensor("svdvals", x)
    require(x.ndim >= 2, ShapeError, f"svdvals: needs matrices, got shape {x.shape}")
    return _nan_unless_finite(x, x._backend.svdvals, 1)


def _nan_unless_finite(x: Tensor, decompose: Any, out_rank: int) -> Tensor:
    """``decompose`` of each matrix of ``x`` (in floats), all NaN for a matrix holding a NaN or an
    infinity: LAPACK may raise, loop or return garbage there, and each backend does differently."""
    x = Tensor(floating(x._backend, x._native), x._backend)
    finite = all_of(isfinite(x), axis=(-2, -1))
    identity = eye(x.shape[-2], x.shape[-1], dtype=x.dtype, backend=x.backend, device=x.device)
    clean = where(expand_dims(finite, (-2, -1)), x, identity)  # a stand-in any solver takes
    out = Tensor(decompose(clean._native), x._backend)
    keep = expand_dims(finite, tuple(range(-out_rank, 0)))
    return where(keep, out, float("nan")).astype(out.dtype)


@op(check=_square_check)
def solve(a: Any, b: Any) -> Tensor:
    """The ``x`` with ``a @ x == b``, as ``numpy.linalg.solve`` (NumPy 2): ``b`` is a vector (M,)
    when 1-D, else matrices (..., M, K); the batch axes of ``a`` and ``b`` broadcast. A singular
    ``a`` raises InvalidArgumentError (a ValueError, as NumPy's LinAlgError); an ``a`` holding a
    NaN or an infinity gives all NaN, as ``inv``."""
    a, b = _square_floats("solve", a), as_tensor("solve", b)
    backend = backend_of("solve", a, b)
    (na, nb), _ = promote_natives(backend, [a._native, floating(backend, b._native)])
    vector = b.ndim == 1
    b_shape = b.shape + (1,) if vector else b.shape
    require(
        len(b_shape) >= 2 and b_shape[-2] == a.shape[-1],
        ShapeError,
        f"solve: a of shape {a.shape} and b of shape {b.shape} differ in the number of rows",
    )
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b_shape[:-2])
    except ValueError:
        raise ShapeError(f"solve: batch axes of a {a.shape} and b {b.shape} do not broadcast") from None
    na = backend.broadcast_to(na, batch + a.shape[-2:]) if a.shape[:-2] != batch else na
    nb = backend.broadcast_to(backend.reshape(nb, b_shape), batch + b_shape[-2:])
    if a.device != b.device:  # diagnose names the devices
        return Tensor(backend.solve(na, nb), backend)
    solved = lambda n: _unless_singular("solve", a.shape, backend.solve, n, nb)  # noqa: E731
    out = _nan_unless_finite(Tensor(na, backend), solved, 2)
    return out.reshape(batch + b_shape[-2:-1]) if vector else out


__all__ = ["matmul", "dot", "tensordot", "einsum", "outer", "norm"]
LINALG = ["inv", "solve", "det", "cholesky", "svdvals", "norm"]
