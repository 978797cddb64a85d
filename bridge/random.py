"""Random numbers that are identical on every backend for the same seed.

The draws are ops (``bridge.ops.random``: a counter-based generator written over integer ops,
see there); this module adds ``SeedGenerator``, a stream of seeds kept in a Variable, so it
sits at the Variable layer, above the ops.

Without ``seed=``, each call takes the next seed of a global stream set by ``seed``.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from .dtypes import int64
from .ops.creation import full
from .ops.random import (
    MASK32,
    bernoulli,
    data_seed_from_stream,
    dropout,
    hash32,
    normal,
    permutation,
    randint,
    seed,
    seed_from_stream,
    seed_keys,
    truncated_normal,
    uniform,
)
from .tensor import Tensor
from .variable import Variable


class SeedGenerator:
    """A stream of seeds kept in a Variable: each ``next()`` gives a new int64 seed tensor, also
    inside ``br.jit`` (where a Python seed would be fixed at trace time). Pass it as ``seed=``."""

    def __init__(
        self, seed: int | None = None, backend: str | None = None, device: str | None = None
    ) -> None:
        self._keys = seed_keys(seed_from_stream() if seed is None else operator.index(seed))
        self.state = Variable(
            full((), 0, int64, device=device, backend=backend), trainable=False, name="seed_state"
        )

    def get_state(self) -> np.ndarray:
        """The generator's whole state, ``[key_1, key_2, count]`` as int64: what a checkpoint
        keeps, so that a model loaded elsewhere draws the same numbers next."""
        return np.array([*map(int, self._keys), int(self.state.numpy())], dtype=np.int64)

    def set_state(self, state: Any) -> None:
        """Continue from ``get_state``'s output. (A step compiled before holds the old keys:
        models trace their steps again after a restore.)"""
        key_1, key_2, count = (int(n) for n in np.asarray(state, dtype=np.int64).reshape(3))
        self._keys = (key_1, key_2)
        self.state.assign(count)

    def next(self) -> Tensor:
        count = self.state.value
        self.state.assign_add(1)
        low = count & MASK32
        return (hash32(low ^ self._keys[0]) << 30) ^ hash32(low ^ self._keys[1])


__all__ = [
    "truncated_normal",
    "SeedGenerator",
    "seed_from_stream",
    "data_seed_from_stream",
    "seed",
    "uniform",
    "normal",
    "randint",
    "permutation",
    "bernoulli",
    "dropout",
]
