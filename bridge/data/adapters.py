"""Data adapters: whatever ``fit``, ``evaluate`` or ``predict`` is given, as batches of bridge
Tensors, one pass per epoch (Keras 3's data adapters, in bridge's smaller form).

``adapter_for`` picks one: ``ArrayAdapter`` for NumPy arrays, ``TensorAdapter`` for bridge
Tensors, ``PipelineAdapter`` for a framework's own input pipeline (a torch DataLoader, a
tf.data.Dataset: recognised by the backend plugins, never by module name here) and
``IterableAdapter`` for any other iterable of batches (a list, a generator, ``br.data.batches``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from .. import ops, random
from .._dispatch import get_backend
from .._plugins import pipeline_backend
from ..errors import InvalidArgumentError
from ..tensor import Tensor
from ..tree import map_leaves
from .arrays import sample_order


def length(x: Any) -> int | None:
    """``len(x)``, or None for what has no length (a generator, an unbounded pipeline)."""
    try:
        return len(x)
    except TypeError:
        return None


class DataAdapter(ABC):
    """Batches of bridge Tensors: ``epoch(index)`` iterates one epoch's; ``num_batches`` counts
    them when that is known ahead."""

    num_batches: int | None = None

    @abstractmethod
    def epoch(self, index: int) -> Iterator[Any]:
        """The batches of epoch ``index`` (which seeds that epoch's shuffle, where there is one)."""


class TensorAdapter(DataAdapter):
    """In-memory Tensors ``(x, y[, sample_weight])``, held for the whole fit. Unshuffled, the
    batches are cut once and reused (TensorFlow copies slices); shuffled, each epoch gathers the
    rows once in that epoch's order (``seed`` plus the epoch's index), then slices batches."""

    def __init__(self, tensors: Sequence[Tensor], batch_size: int, shuffle: bool, seed: int | None) -> None:
        self.tensors = list(tensors)
        self.batch_size, self.shuffle = batch_size, shuffle
        self.seed = 0 if not shuffle else random.data_seed_from_stream() if seed is None else seed
        self.size = len(self.tensors[0])
        self.num_batches = -(-self.size // batch_size)
        self._unshuffled: list[tuple[Tensor, ...]] | None = None

    def epoch(self, index: int) -> Iterator[tuple[Tensor, ...]]:
        if not self.shuffle:
            if self._unshuffled is None:
                self._unshuffled = list(self._cut(self.tensors))
            return iter(self._unshuffled)
        order = sample_order(self.size, True, self.seed + index)
        rows = ops.tensor(order, backend=self.tensors[0].backend)
        return self._cut([ops.take(t, rows, axis=0) for t in self.tensors])

    def _cut(self, tensors: list[Tensor]) -> Iterator[tuple[Tensor, ...]]:
        for start in range(0, self.size, self.batch_size):
            yield tuple(t[start : start + self.batch_size] for t in tensors)


class ArrayAdapter(TensorAdapter):
    """NumPy arrays (and array-likes): made Tensors of the current backend once, then batched
    as a ``TensorAdapter``."""

    def __init__(self, arrays: Sequence[Any], batch_size: int, shuffle: bool, seed: int | None) -> None:
        tensors = [a if isinstance(a, Tensor) else ops.tensor(np.asarray(a)) for a in arrays]
        super().__init__(tensors, batch_size, shuffle, seed)


def _on_current_backend(batch: Any) -> Any:
    """A batch's leaves (torch, TensorFlow or NumPy arrays, Tensors) as Tensors of the current
    backend; between frameworks through DLPack."""
    backend = get_backend()
    return map_leaves(lambda leaf: ops.tensor(leaf, backend=backend), batch)


class IterableAdapter(DataAdapter):
    """An iterable of batches (a list, a generator, ``br.data.batches(...)``), each batch moved
    to the current backend as it is read. A one-shot iterator is read once and kept, so that
    every epoch sees the same batches."""

    def __init__(self, batches: Iterable[Any]) -> None:
        self.source = list(batches) if iter(batches) is batches else batches
        self.num_batches = length(self.source)

    def epoch(self, index: int) -> Iterator[Any]:
        return (_on_current_backend(batch) for batch in self.source)


class PipelineAdapter(IterableAdapter):
    """A framework's own input pipeline (a torch DataLoader, a tf.data.Dataset: what a backend's
    ``is_pipeline`` claims), read afresh every epoch (it shuffles itself, if asked to) and never
    held in memory; ``source_backend`` is the backend that claimed it."""

    def __init__(self, pipeline: Iterable[Any], source_backend: str) -> None:
        self.source, self.source_backend = pipeline, source_backend
        self.num_batches = length(pipeline)


def adapter_for(
    op: str,
    x: Any,
    y: Any = None,
    sample_weight: Any = None,
    *,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int | None = None,
) -> DataAdapter:
    """The adapter for the data given to ``op`` (``"fit"``, ``"evaluate"``, ``"predict"``):
    arrays or Tensors ``x, y[, sample_weight]`` (``x`` alone for predict, where a list is an
    array too), or ``x`` an iterable of batches that hold their targets. The caller has checked
    ``check_single_input`` first (fit before it splits off validation data)."""
    source_backend = pipeline_backend(x)
    arrays = isinstance(x, (np.ndarray, Tensor)) or (op == "predict" and isinstance(x, list))
    if source_backend is not None or (y is None and not arrays):
        if y is not None or sample_weight is not None:
            raise InvalidArgumentError(
                f"{op}: x is an iterable of batches ({type(x).__name__}), which hold their own targets "
                "and sample weights; give y and sample_weight inside its batches, not as arguments"
            )
        return IterableAdapter(x) if source_backend is None else PipelineAdapter(x, source_backend)
    if y is None and op != "predict":
        raise InvalidArgumentError(f"{op}: arrays need their targets: {op}(x, y, ...)")
    given = tuple(a for a in (x, y, sample_weight) if a is not None)
    samples = [length(a) for a in given]
    if y is not None and samples[1] != samples[0]:
        raise InvalidArgumentError(
            f"{op}: x has {samples[0]} samples but y has {samples[1]}; they must have one row per sample"
        )
    check_sample_weight(op, sample_weight, samples[0])
    if all(isinstance(a, Tensor) for a in given):
        return TensorAdapter(given, batch_size, shuffle, seed)
    return ArrayAdapter(given, batch_size, shuffle, seed)


def _is_array(item: Any) -> bool:
    """An array or tensor of any framework, with at least one axis (not a number or a row list)."""
    return hasattr(item, "shape") and getattr(item, "ndim", 0) >= 1


def _several_arrays(value: Any) -> str | None:
    """How ``value`` holds several arrays rather than one, as Keras would read it: a dict, or a
    tuple or list whose items are all arrays or tensors; None for one array (an array, or a
    list of rows: numbers or lists)."""
    if isinstance(value, dict):
        count = f"{len(value)} array" + ("" if len(value) == 1 else "s")
        return f"a dict of {count} {tuple(value)}"
    if isinstance(value, (tuple, list)) and value and all(_is_array(item) for item in value):
        count = f"{len(value)} array" + ("" if len(value) == 1 else "s")
        return f"a {type(value).__name__} of {count}"
    return None


def check_single_input(op: str, x: Any, y: Any = None) -> None:
    """Raise a clear error for several input (or target) arrays: a dict, or a tuple or list of
    arrays. Models with several inputs are not supported by fit, evaluate and predict yet.

    ``x`` is read as data where it cannot be batches: with ``y``, or for predict; without ``y``,
    the tuple or list ``x`` of fit or evaluate is an iterable of batches (a dict never is)."""
    x_is_data = isinstance(x, dict) or y is not None or op == "predict"
    for name, value in (("x", x if x_is_data else None), ("y", y)):
        several = _several_arrays(value)
        if several is not None:
            rows = "" if isinstance(value, dict) else f"; if they are the rows of one array, np.stack({name})"
            raise InvalidArgumentError(
                f"{op}: {name} is {several}; several inputs or targets are not supported yet: give "
                f"one array for {name} (several inputs can be concatenated into one and split again "
                f"in the model's call{rows})"
            )


def check_sample_weight(op: str, sample_weight: Any, samples: int | None) -> None:
    """Raise unless ``sample_weight`` is None or holds one weight per sample."""
    if sample_weight is not None and length(sample_weight) != samples:
        raise InvalidArgumentError(
            f"{op}: sample_weight has {length(sample_weight)} values but x has {samples} samples; "
            "give one weight per sample"
        )
