"""Linear algebra: products, einsum, norms, and the ``bridge.linalg`` solvers."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, ShapeError
from ..tensor import Tensor
from ._core import as_tensor, axes_tuple, backend_of, floating, op, promote_natives, require, tensor_args
from .math import abs, isfinite, isnan, multiply, power, sqrt
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
    return Tensor(backend.matmul(a, b), backend)


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
    if isinstance(axes, (int, np.integer)):
        axes_a = list(range(x1.ndim - int(axes), x1.ndim))
        axes_b = list(range(int(axes)))
    else:
        axes_a, axes_b = ([a] if isinstance(a, int) else list(a) for a in axes)
    axes_a = [a % x1.ndim for a in axes_a] if x1.ndim else axes_a
    axes_b = [b % x2.ndim for b in axes_b] if x2.ndim else axes_b
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


@op()
def einsum(subscripts: str, *operands: Any) -> Tensor:
    """Einstein summation, as ``numpy.einsum`` (explicit or implicit output, ``...``)."""
    backend, natives = tensor_args("einsum", *operands)
    natives, _ = promote_natives(backend, natives)
    return Tensor(backend.einsum(subscripts, *natives), backend)


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


def _linalg(name: str, x: Any) -> Tensor:
    x = as_tensor(name, x)
    reason = _square_check(x)
    if reason:
        raise ShapeError(f"{name}: {reason}")
    return Tensor(getattr(x._backend, name)(floating(x._backend, x._native)), x._backend)


@op(check=_square_check)
def inv(x: Any) -> Tensor:
    """Inverse of square matrices (batched over leading axes)."""
    return _linalg("inv", x)


@op(check=_square_check)
def det(x: Any) -> Tensor:
    """Determinant of square matrices."""
    return _linalg("det", x)


@op(check=_square_check)
def cholesky(x: Any) -> Tensor:
    """Lower Cholesky factor ``L`` of symmetric positive-definite matrices (``x = L @ L.T``).

    A finite matrix that is not positive definite is an error (as NumPy); under ``br.jit``, where
    values are unknown, its factor is all NaN on every backend."""
    factor = _linalg("cholesky", x)
    backend = factor._backend
    if not backend.tracing() and bool(any_of(isnan(factor)).numpy()):
        finite = all_of(isfinite(as_tensor("cholesky", x)), axis=(-2, -1))
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
    return Tensor(x._backend.svdvals(floating(x._backend, x._native)), x._backend)


@op(check=_square_check)
def solve(a: Any, b: Any) -> Tensor:
    """The ``x`` with ``a @ x == b``; ``b`` is a vector (..., M) when 1-D, else (..., M, K)."""
    a, b = as_tensor("solve", a), as_tensor("solve", b)
    reason = _square_check(a)
    if reason:
        raise ShapeError(f"solve: {reason}")
    backend = backend_of("solve", a, b)
    (na, nb), _ = promote_natives(backend, [floating(backend, a._native), floating(backend, b._native)])
    vector = b.ndim == 1
    if vector:
        nb = backend.reshape(nb, b.shape + (1,))
    rows = backend.shape(nb)[-2]
    require(
        rows == a.shape[-1],
        ShapeError,
        f"solve: a of shape {a.shape} and b of shape {b.shape} differ in the number of rows",
    )
    out = backend.solve(na, nb)
    return Tensor(backend.reshape(out, b.shape) if vector else out, backend)


__all__ = ["matmul", "dot", "tensordot", "einsum", "outer", "norm"]
LINALG = ["inv", "solve", "det", "cholesky", "svdvals", "norm"]
