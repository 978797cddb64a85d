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
from ..tree import leaves, leaves_with_paths, map_leaves, replace_leaves
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
    """In-memory Tensors ``(x, y[, sample_weight])``, each a Tensor or a structure of them (a dict,
    tuple or list: several inputs or targets), held for the whole fit. Unshuffled, the batches are
    cut once and reused (TensorFlow copies slices); shuffled, each epoch gathers the rows once in
    that epoch's order (``seed`` plus the epoch's index), then slices batches."""

    def __init__(self, data: Sequence[Any], batch_size: int, shuffle: bool, seed: int | None) -> None:
        self.data = tuple(data)
        self.tensors: list[Tensor] = leaves(self.data)
        self.batch_size, self.shuffle = batch_size, shuffle
        self.seed = 0 if not shuffle else random.data_seed_from_stream() if seed is None else seed
        self.size = len(self.tensors[0])
        self.num_batches = -(-self.size // batch_size)
        self._unshuffled: list[Any] | None = None

    def epoch(self, index: int) -> Iterator[Any]:
        if not self.shuffle:
            if self._unshuffled is None:
                self._unshuffled = list(self._cut(self.tensors))
            return iter(self._unshuffled)
        order = sample_order(self.size, True, self.seed + index)
        rows = ops.tensor(order, backend=self.tensors[0].backend)
        return self._cut([ops.take(t, rows, axis=0) for t in self.tensors])

    def _cut(self, tensors: list[Tensor]) -> Iterator[Any]:
        for start in range(0, self.size, self.batch_size):
            yield replace_leaves(self.data, [t[start : start + self.batch_size] for t in tensors])


class ArrayAdapter(TensorAdapter):
    """NumPy arrays (and array-likes), alone or in structures: made Tensors of the current
    backend once, then batched as a ``TensorAdapter``."""

    def __init__(self, data: Sequence[Any], batch_size: int, shuffle: bool, seed: int | None) -> None:
        tensors = map_leaves(lambda a: a if isinstance(a, Tensor) else ops.tensor(np.asarray(a)), tuple(data))
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
    arrays or Tensors ``x, y[, sample_weight]`` (``x`` alone for predict), each one array or,
    as Keras reads them, several (a dict of arrays, or a tuple or list whose items are all arrays:
    several inputs, targets or per-output weights); or ``x`` an iterable of batches that hold
    their targets (without ``y``, a tuple or list ``x`` of fit or evaluate is batches)."""
    source_backend = pipeline_backend(x)
    if source_backend is not None or (y is None and not _is_data(op, x)):
        if y is not None or sample_weight is not None:
            raise InvalidArgumentError(
                f"{op}: x is an iterable of batches ({type(x).__name__}), which hold their own targets "
                "and sample weights; give y and sample_weight inside its batches, not as arguments"
            )
        return IterableAdapter(x) if source_backend is None else PipelineAdapter(x, source_backend)
    if y is None and op != "predict":
        raise InvalidArgumentError(f"{op}: arrays need their targets: {op}(x, y, ...)")
    named = {
        n: as_arrays(a) for n, a in (("x", x), ("y", y), ("sample_weight", sample_weight)) if a is not None
    }
    _check_samples(op, named)
    given = tuple(named.values())
    if all(isinstance(a, Tensor) for a in leaves(given)):
        return TensorAdapter(given, batch_size, shuffle, seed)
    return ArrayAdapter(given, batch_size, shuffle, seed)


def _is_array(item: Any) -> bool:
    """An array or tensor of any framework, with at least one axis (not a number or a row list)."""
    return hasattr(item, "shape") and getattr(item, "ndim", 0) >= 1


def is_several(value: Any) -> bool:
    """Whether ``value`` holds several arrays rather than one, as Keras reads it: a dict, or a
    tuple or list whose items are all arrays or tensors (a list of rows, numbers or lists, is
    one array)."""
    if isinstance(value, dict):
        return True
    return isinstance(value, (tuple, list)) and bool(value) and all(_is_array(item) for item in value)


def _is_data(op: str, x: Any) -> bool:
    """Whether ``x`` given without ``y`` is arrays rather than an iterable of batches."""
    if isinstance(x, (np.ndarray, Tensor, dict)):
        return True
    return op == "predict" and (isinstance(x, list) or is_several(x))


def as_arrays(value: Any) -> Any:
    """One array, or each of several (``is_several``), as a Tensor or NumPy array."""
    if isinstance(value, dict):
        return {key: as_arrays(item) for key, item in value.items()}
    if is_several(value):
        return type(value)([as_arrays(item) for item in value])
    return value if isinstance(value, Tensor) else np.asarray(value)


def _check_samples(op: str, named: dict[str, Any]) -> None:
    """Raise unless every array of x and y has as many samples as the first, and the sample
    weights one value per sample."""
    counts = [
        (path, length(a))
        for name in ("x", "y")
        if name in named
        for path, a in leaves_with_paths(named[name], name)
    ]
    if not counts:
        raise InvalidArgumentError(f"{op}: x holds no array")
    first, samples = counts[0]
    for path, count in counts[1:]:
        if count != samples:
            raise InvalidArgumentError(
                f"{op}: {first} has {samples} samples but {path} has {count}; they must have one row "
                "per sample"
            )
    check_sample_weight(op, named.get("sample_weight"), samples, first)


def check_sample_weight(op: str, sample_weight: Any, samples: int | None, first: str = "x") -> None:
    """Raise unless ``sample_weight`` is None or holds one weight per sample (each of its
    arrays, where there are weights per output)."""
    if sample_weight is None:
        return
    for path, weights in leaves_with_paths(as_arrays(sample_weight), "sample_weight"):
        if length(weights) != samples:
            raise InvalidArgumentError(
                f"{op}: {path} has {length(weights)} values but {first} has {samples} samples; give "
                "one weight per sample"
            )
