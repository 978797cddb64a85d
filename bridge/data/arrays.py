"""Batches and splits of in-memory data, in the same order on every backend for a seed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import random
from ..errors import InvalidArgumentError
from ..ops.creation import tensor, tensor_like
from ..tensor import Tensor


def sample_count(name: str, arrays: list[Any]) -> int:
    """The number of rows the arrays share; raises naming ``name`` when they differ."""
    lengths = {len(a) for a in arrays}
    if len(lengths) != 1:
        shapes = ", ".join(str(tuple(np.shape(a))) for a in arrays)
        raise InvalidArgumentError(f"{name}: inputs have different numbers of samples ({shapes})")
    return lengths.pop()


def sample_order(n: int, shuffle: bool, seed: int | None) -> np.ndarray:
    """``0..n-1``, or its permutation for ``seed`` (a seed from bridge's random stream if None)."""
    if not shuffle:
        return np.arange(n)
    seed = random.data_seed_from_stream() if seed is None else seed
    return np.random.default_rng(seed % 2**64).permutation(n)


def _take(array: Any, index: np.ndarray) -> Any:
    if isinstance(array, Tensor):
        return array[tensor_like(index, array)]
    return np.asarray(array)[index]


def batches(
    x: Any,
    y: Any = None,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int | None = None,
    drop_remainder: bool = False,
) -> Iterator[Any]:
    """Yield ``(x_batch, y_batch)`` Tensors (``x_batch`` alone without ``y``), NumPy or Tensor
    inputs alike; ``shuffle`` with a ``seed`` gives the same order on every backend."""
    if batch_size <= 0:
        raise InvalidArgumentError(f"batches: batch_size must be positive, got {batch_size}")
    arrays = [x] if y is None else [x, y]
    n = sample_count("batches", arrays)
    order = sample_order(n, shuffle, seed)
    stop = n - n % batch_size if drop_remainder else n
    for start in range(0, stop, batch_size):
        index = order[start : start + batch_size]
        parts = [
            a[index[0] : index[-1] + 1] if not shuffle and isinstance(a, Tensor) else _take(a, index)
            for a in arrays
        ]
        parts = [p if isinstance(p, Tensor) else tensor(p) for p in parts]
        yield parts[0] if y is None else tuple(parts)


def train_test_split(
    *arrays: Any, test_size: float | int = 0.25, shuffle: bool = True, seed: int | None = None
) -> list[Any]:
    """Split arrays into train and test parts, as scikit-learn: ``x_train, x_test, y_train, y_test``."""
    if not arrays:
        raise InvalidArgumentError("train_test_split: needs at least one array")
    n = sample_count("train_test_split", list(arrays))
    n_test = int(np.ceil(test_size * n)) if isinstance(test_size, float) else int(test_size)
    if not 0 < n_test < n:
        raise InvalidArgumentError(
            f"train_test_split: test_size={test_size!r} leaves no train or no test sample of {n}"
        )
    order = sample_order(n, shuffle, seed)
    train, test = order[: n - n_test], order[n - n_test :]  # as scikit-learn: the test part last
    return [part for a in arrays for part in (_take(a, train), _take(a, test))]


def train_validation_split(
    arrays: tuple[Any, ...], fraction: float
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The arrays' first rows and their last ``ceil(n * fraction)`` rows (Keras'
    ``validation_split``: the held-out part is the tail, taken before any shuffling); a None
    array (no sample weights) stays None in both."""
    n = sample_count("validation_split", [a for a in arrays if a is not None])
    cut = n - int(np.ceil(n * fraction))

    def rows(array: Any, index: slice) -> Any:
        if array is None:
            return None
        return array[index] if isinstance(array, Tensor) else np.asarray(array)[index]

    return tuple(rows(a, slice(0, cut)) for a in arrays), tuple(rows(a, slice(cut, None)) for a in arrays)
