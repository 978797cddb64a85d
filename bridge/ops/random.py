"""Random numbers that are identical on every backend for the same seed (the ops layer's draws;
``bridge.random`` is the public module, with ``SeedGenerator`` beside them).

The generator is counter-based and written once over integer primitives: element ``i`` of a
draw is ``hash(hash(i ^ k1) ^ k2)``, where ``k1, k2`` come from the seed and ``hash`` is
Chris Wellons' ``triple32`` integer hash (32-bit arithmetic kept exact in int64). Integer
arithmetic is exact on every framework, so uniform and integer draws match bit for bit; normal
draws go through Box-Muller in float64 and are rounded to the requested dtype, which makes
float32 (and narrower) draws match bit for bit in practice (float64 draws agree to a few ulp).

Without ``seed=``, each call takes the next seed of a global stream set by ``seed``.
"""

from __future__ import annotations

import itertools
import math
import operator
import os
import threading
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..dtypes import DType, as_dtype, bool_, default_float, float32, float64, int64
from ..errors import InvalidArgumentError
from ..tensor import Tensor
from ._core import as_tensor, floating, integer_arg, op, require, size_tuple
from .creation import arange
from .indexing import argsort, take, take_along_axis
from .math import abs, clip, cos, log, sqrt, where
from .reduction import argmax
from .shape import reshape

MASK32 = 0xFFFFFFFF
_ROUNDS = ((17, 0xED5AD4BB), (11, 0xAC4C1B51), (15, 0x31848BAB), (14, None))
_ROUNDS_OF_REDRAWS = 4
_MANTISSA_BITS = {"float16": 11, "bfloat16": 8, "float32": 24}

_lock = threading.Lock()
_global_seed = int.from_bytes(os.urandom(8), "little")
_draws = itertools.count()
_data_draws = itertools.count()


def seed(value: int) -> None:
    """Restart the global stream of seeds used by calls without ``seed=`` (and the data-order
    stream beside it)."""
    global _global_seed, _draws, _data_draws
    with _lock:
        _global_seed, _draws, _data_draws = operator.index(value), itertools.count(), itertools.count()


def seed_from_stream() -> int:
    """The next seed of the global stream (what calls without ``seed=`` use)."""
    with _lock:
        return _global_seed * 0x9E3779B1 + next(_draws) * 0x85EBCA77


def data_seed_from_stream() -> int:
    """The next seed of the data-order stream (shuffling without ``seed=``: ``fit``,
    ``data.batches``): apart from the global stream, so how the data is fed never changes the
    numbers that initialize weights; ``seed`` restarts both."""
    with _lock:
        return (_global_seed ^ 0xD1B54A32D192ED03) * 0x9E3779B1 + next(_data_draws) * 0x85EBCA77


@runtime_checkable
class SeedStream(Protocol):
    """A source of seeds passed as ``seed=`` (``bridge.random.SeedGenerator``): each draw takes
    ``next()``, an int64 seed tensor."""

    def next(self) -> Tensor: ...


def seed_keys(seed: Any) -> tuple[Any, Any]:
    """Two 32-bit keys from a seed: ints give ints; int tensors and seed streams give tensors, so
    the draw can run inside br.jit with a seed that changes from call to call."""
    if seed is None:
        seed = seed_from_stream()
    if isinstance(seed, SeedStream):
        seed = seed.next()
    value: Tensor | int
    if isinstance(seed, Tensor):
        if seed.dtype.kind not in "iu":
            raise InvalidArgumentError(f"random: a seed tensor must hold an integer, got {seed.dtype}")
        value = seed.astype(int64)
    else:
        try:
            value = operator.index(seed)
        except TypeError:
            raise InvalidArgumentError(f"random: seed must be an int, got {seed!r}") from None
    k1 = hash32((value & MASK32) ^ 0x9E3779B9)
    k2 = hash32(((value >> 32) & MASK32) ^ k1 ^ 0x85EBCA6B)
    return k1, k2


def _mul32(x: Any, factor: int) -> Any:
    """``(x * factor) mod 2**32`` for x < 2**32, with no intermediate above 2**49 (ints or
    int64 tensors alike)."""
    low, high = x & 0xFFFF, x >> 16
    return (low * factor + (((high * factor) & 0xFFFF) << 16)) & MASK32


def hash32(x: Any) -> Any:
    """Chris Wellons' ``triple32`` hash of 32-bit words (ints or int64 tensors)."""
    for shift, factor in _ROUNDS:
        x = x ^ (x >> shift)
        if factor is not None:
            x = _mul32(x, factor)
    return x


def _words(count: int, keys: tuple[Any, Any], backend: str | None, device: str | None) -> Tensor:
    """``count`` uniformly distributed 32-bit words as int64."""
    if backend is None and isinstance(keys[0], Tensor):
        backend, device = keys[0].backend, device or keys[0].device
    counter = arange(count, dtype=int64, backend=backend, device=device)
    return hash32(hash32(counter ^ keys[0]) ^ keys[1])


def _size(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def _unit(shape: tuple[int, ...], dtype: DType, seed: Any, backend: str | None, device: str | None) -> Tensor:
    """Uniform values in [0, 1) with as many random bits as ``dtype`` can hold exactly."""
    n = _size(shape)
    words = _words(2 * n if dtype is float64 else n, seed_keys(seed), backend, device)
    if dtype is float64:
        pairs = reshape(words, (n, 2))
        bits = (pairs[:, 0] >> 6) * (1 << 27) + (pairs[:, 1] >> 5)
        return reshape(bits.astype(float64) * 2.0**-53, shape)
    mantissa = _MANTISSA_BITS[dtype.name]
    values = (words >> (32 - mantissa)).astype(float32) * 2.0**-mantissa
    return reshape(values, shape).astype(dtype)


def _check_range(name: str, value: Any, low: float, high: float = math.inf) -> None:
    """Raise unless ``low <= value <= high`` (NaN fails); tensors are checked in eager code only,
    since their values are unknown while ``br.jit`` traces."""
    if isinstance(value, Tensor):
        if value._backend.tracing():
            return
        value = value.numpy()
    values = np.asarray(value, dtype=np.float64)
    inside = bool(np.all((values >= low) & (values <= high)))
    if not inside:
        bounds = f"in [{low}, {high}]" if high != math.inf else f">= {low}"
        raise InvalidArgumentError(f"{name} must be {bounds}, got {value!r}")


def _float_dtype(dtype: Any) -> DType:
    dtype = default_float if dtype is None else as_dtype(dtype)
    if dtype.kind != "f":
        raise InvalidArgumentError(f"random: needs a floating dtype, got {dtype}")
    return dtype


@op()
def uniform(
    shape: Any,
    minval: float = 0.0,
    maxval: float = 1.0,
    dtype: Any = None,
    seed: Any = None,
    backend: str | None = None,
    device: str | None = None,
) -> Tensor:
    """Uniform floats in ``[minval, maxval)``."""
    dtype = _float_dtype(dtype)
    unit = _unit(size_tuple("uniform", shape), dtype, seed, backend, device)
    return unit * (maxval - minval) + minval


@op()
def normal(
    shape: Any,
    mean: float = 0.0,
    stddev: float = 1.0,
    dtype: Any = None,
    seed: Any = None,
    backend: str | None = None,
    device: str | None = None,
) -> Tensor:
    """Normally distributed floats (Box-Muller in float64, rounded to ``dtype``)."""
    dtype = _float_dtype(dtype)
    shape = size_tuple("normal", shape)
    _check_range("stddev", stddev, 0.0)
    n = _size(shape)
    pairs = reshape(_words(2 * n, seed_keys(seed), backend, device).astype(float64), (n, 2))
    u1 = (pairs[:, 0] + 1.0) * 2.0**-32  # (0, 1]
    u2 = pairs[:, 1] * 2.0**-32  # [0, 1)
    z = sqrt(log(u1) * -2.0) * cos(u2 * (2.0 * math.pi))
    if dtype is not float64:  # round through float32 everywhere: frameworks differ on float64 -> half
        z = z.astype(float32)
    return reshape(z, shape).astype(dtype) * stddev + mean


@op()
def truncated_normal(
    shape: Any,
    mean: float = 0.0,
    stddev: float = 1.0,
    dtype: Any = None,
    seed: Any = None,
    backend: str | None = None,
    device: str | None = None,
) -> Tensor:
    """Normal values redrawn until within two standard deviations of the mean (as Keras)."""
    shape = size_tuple("truncated_normal", shape)
    _check_range("stddev", stddev, 0.0)
    n = _size(shape)
    candidates = normal((_ROUNDS_OF_REDRAWS, n), dtype=float32, seed=seed, backend=backend, device=device)
    inside = abs(candidates) <= 2.0
    first = argmax(inside, axis=0, keepdims=True)  # the first draw inside, per element
    z = clip(take_along_axis(candidates, first, 0), -2.0, 2.0)  # all 4 outside: p = 2e-6
    return reshape(z, shape).astype(_float_dtype(dtype)) * stddev + mean


@op()
def randint(
    shape: Any,
    minval: int,
    maxval: int,
    dtype: Any = int64,
    seed: Any = None,
    backend: str | None = None,
    device: str | None = None,
) -> Tensor:
    """Uniform integers in ``[minval, maxval)``."""
    span = int(maxval) - int(minval)
    if not 0 < span <= 2**31:
        raise InvalidArgumentError(
            f"randint: needs minval < maxval with a range of at most 2**31, got [{minval}, {maxval})"
        )
    shape = size_tuple("randint", shape)
    words = _words(_size(shape), seed_keys(seed), backend, device)
    values = ((words * span) >> 32) + int(minval)
    return reshape(values, shape).astype(dtype)


@op()
def permutation(x: Any, seed: Any = None, backend: str | None = None, device: str | None = None) -> Tensor:
    """A random permutation of ``range(x)`` for an int, else ``x`` shuffled along axis 0."""
    if isinstance(x, (int, float, np.number)):
        x = arange(integer_arg("permutation", "x", x), backend=backend, device=device)
    x = as_tensor("permutation", x)
    n = x.shape[0]
    pairs = reshape(_words(2 * n, seed_keys(seed), x.backend, x.device), (n, 2))
    order = argsort(pairs[:, 0] * (1 << 31) + (pairs[:, 1] >> 1))
    return take(x, order, axis=0)


@op()
def bernoulli(
    p: Any = 0.5, shape: Any = None, seed: Any = None, backend: str | None = None, device: str | None = None
) -> Tensor:
    """Bool tensor, each element true with probability ``p`` (a float or a tensor)."""
    _check_range("p", p, 0.0, 1.0)
    if shape is None:
        shape = as_tensor("bernoulli", p).shape if not isinstance(p, (int, float)) else ()
    backend = p.backend if isinstance(p, Tensor) and backend is None else backend
    return (uniform(shape, seed=seed, backend=backend, device=device) < p).astype(bool_)


@op()
def dropout(x: Any, rate: float, seed: Any = None) -> Tensor:
    """Zero elements with probability ``rate`` and scale the rest by ``1 / (1 - rate)``;
    the same ``seed`` drops the same elements on every backend."""
    x = as_tensor("dropout", x)
    x = Tensor(floating(x._backend, x._native), x._backend)
    require(0 <= rate < 1, InvalidArgumentError, f"dropout: rate must be in [0, 1), got {rate}")
    if rate == 0:
        return x
    keep = uniform(x.shape, dtype=x.dtype, seed=seed, backend=x.backend, device=x.device) >= rate
    return where(keep, x / (1.0 - rate), 0.0)
