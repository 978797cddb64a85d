"""Batches and splits of in-memory data, in the same order on every backend for a seed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from . import random
from .errors import InvalidArgumentError
from .ops.creation import tensor
from .tensor import Tensor


def _length(name: str, arrays: list[Any]) -> int:
    lengths = {len(a) for a in arrays}
    if len(lengths) != 1:
        shapes = ", ".join(str(tuple(np.shape(a))) for a in arrays)
        raise InvalidArgumentError(f"{name}: inputs have different numbers of samples ({shapes})")
    return lengths.pop()


def _order(n: int, shuffle: bool, seed: int | None) -> np.ndarray:
    if not shuffle:
        return np.arange(n)
    seed = random.data_seed_from_stream() if seed is None else seed
    return np.random.default_rng(seed % 2**64).permutation(n)


def _take(array: Any, index: np.ndarray) -> Any:
    if isinstance(array, Tensor):
        return array[tensor(index, backend=array.backend, device=array.device)]
    return np.asarray(array)[index]


def _rows(array: Any, index: np.ndarray, contiguous: bool) -> Tensor:
    """The rows ``index`` of ``array`` as a Tensor (a slice when they are contiguous)."""
    if contiguous and isinstance(array, Tensor):
        return array[int(index[0]) : int(index[-1]) + 1]
    rows = _take(array, index)
    return rows if isinstance(rows, Tensor) else tensor(rows)


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
    n = _length("batches", arrays)
    order = _order(n, shuffle, seed)
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
    n = _length("train_test_split", list(arrays))
    n_test = int(np.ceil(test_size * n)) if isinstance(test_size, float) else int(test_size)
    if not 0 < n_test < n:
        raise InvalidArgumentError(
            f"train_test_split: test_size={test_size!r} leaves no train or no test sample of {n}"
        )
    order = _order(n, shuffle, seed)
    train, test = order[: n - n_test], order[n - n_test :]  # as scikit-learn: the test part last
    return [part for a in arrays for part in (_take(a, train), _take(a, test))]


__all__ = ["batches", "train_test_split"]
