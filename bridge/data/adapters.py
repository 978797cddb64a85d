"""Data adapters: whatever ``fit``, ``evaluate`` or ``predict`` is given, as batches of bridge
Tensors, one pass per epoch (Keras 3's data adapters, in bridge's smaller form).

``adapter_for`` picks one: ``ArrayAdapter`` for NumPy arrays, ``TensorAdapter`` for bridge
Tensors, ``PipelineAdapter`` for a framework's own input pipeline (a torch DataLoader, a
tf.data.Dataset: recognised by the backend plugins, never by module name here) and
``PyDatasetAdapter`` for a ``bridge.data.PyDataset`` and ``IterableAdapter`` for any other iterable of
batches (a list, a generator, ``br.data.batches``); ``StepsAdapter`` cuts epochs to
``steps_per_epoch`` batches. ``class_weight`` becomes sample weights (``class_weights``)."""

from __future__ import annotations

import itertools
import numbers
import warnings
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .. import ops, random
from .._dispatch import current_backend, get_backend, resolve_device
from .._plugins import pipeline_backend
from ..errors import InvalidArgumentError
from ..tensor import Tensor
from ..tree import leaves, leaves_with_paths, map_leaves, replace_leaves
from .arrays import sample_order
from .prefetch import prefetched
from .py_dataset import PyDataset


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
    #: whether each batch is read and converted as it comes (not sliced from Tensors made once)
    converts_batches = False

    @abstractmethod
    def epoch(self, index: int) -> Iterator[Any]:
        """The batches of epoch ``index`` (which seeds that epoch's shuffle, where there is one)."""

    def batches(self, index: int) -> Iterator[Any]:
        """``epoch(index)`` as ``fit``, ``evaluate`` and ``predict`` read it: batches converted as
        they come and bound for an accelerator are made ahead on a thread (``prefetched``), so
        that their copy overlaps the step before; on the CPU there is nothing to overlap (NumPy
        arrays become torch tensors without a copy), and no thread."""
        batches = self.epoch(index)
        if not self.converts_batches or resolve_device(current_backend(), None) == "cpu":
            return batches
        return prefetched(batches)

    def on_epoch_begin(self) -> None:  # noqa: B027 (a hook: most adapters need none)
        """Called by ``fit`` and ``evaluate`` as an epoch begins."""

    def on_epoch_end(self) -> None:  # noqa: B027
        """Called by ``fit`` and ``evaluate`` as an epoch ends."""


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
    to the current backend as it is read. A one-shot iterator (a generator) is read as the
    first epoch goes and, with ``keep``, its batches kept, so that every epoch sees the same
    batches; without ``keep`` (``fit`` with ``steps_per_epoch``) it is read on, never kept."""

    converts_batches = True

    def __init__(self, batches: Iterable[Any], keep: bool = True) -> None:
        self.source = batches
        self.one_shot = iter(batches) is batches
        self.keep = keep
        self.kept: list[Any] = []
        self.num_batches = length(batches)

    def epoch(self, index: int) -> Iterator[Any]:
        read = self._read() if self.one_shot else iter(self.source)
        return (_on_current_backend(batch) for batch in read)

    def _read(self) -> Iterator[Any]:
        yield from self.kept
        for batch in self.source:
            if self.keep:
                self.kept.append(batch)
            yield batch


def _standardized(batch: Any, class_weight: dict[int, float] | None) -> Any:
    """A ``PyDataset`` batch as Keras takes it: a dict (the inputs), or a tuple ``(x,)``,
    ``(x, y)`` or ``(x, y, sample_weight)``; with ``class_weight``, ``(x, y)`` gets its sample
    weights."""
    if isinstance(batch, dict):
        return batch
    batch = (batch,) if _is_array(batch) else tuple(batch) if isinstance(batch, list) else batch
    if not isinstance(batch, tuple) or len(batch) not in (1, 2, 3):
        raise InvalidArgumentError(
            "PyDataset: __getitem__ must return (x,), (x, y) or (x, y, sample_weight), or a dict of "
            f"inputs; got {type(batch).__name__}"
        )
    if class_weight is not None and len(batch) == 3:
        raise InvalidArgumentError("fit: give class_weight or sample weights in the batches, not both")
    if class_weight is not None and len(batch) == 2:
        return (*batch, class_weights("fit", batch[1], class_weight))
    return batch


class PyDatasetAdapter(DataAdapter):
    """A ``PyDataset``: its batches by index, in order or (``shuffle``) in an order drawn from
    ``seed`` plus the epoch's index; read by ``workers`` threads when it has several (or asks for
    ``use_multiprocessing``), at most ``max_queue_size`` batches ahead."""

    converts_batches = True

    def __init__(
        self, dataset: PyDataset, shuffle: bool, seed: int | None, class_weight: dict[int, float] | None
    ) -> None:
        self.dataset, self.class_weight = dataset, class_weight
        self.num_batches = dataset.num_batches
        self.shuffle = shuffle and self.num_batches is not None
        self.seed = 0 if not self.shuffle else random.data_seed_from_stream() if seed is None else seed
        workers = getattr(dataset, "workers", 1)  # a subclass may not call PyDataset.__init__
        threaded = workers > 1 or getattr(dataset, "use_multiprocessing", False)
        self.workers = workers if threaded else 0
        self.queue = getattr(dataset, "max_queue_size", 10)

    def epoch(self, index: int) -> Iterator[Any]:
        count = self.num_batches
        order = (
            itertools.count()
            if count is None
            else (int(i) for i in sample_order(count, self.shuffle, self.seed + index))
        )
        read = self._threaded(order) if self.workers else map(self.dataset.__getitem__, order)
        return (_on_current_backend(_standardized(batch, self.class_weight)) for batch in read)

    def _threaded(self, order: Iterator[int]) -> Iterator[Any]:
        pool = ThreadPoolExecutor(self.workers)
        pending: deque[Any] = deque()
        try:
            for index in order:
                pending.append(pool.submit(self.dataset.__getitem__, index))
                if len(pending) >= self.queue:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            pool.shutdown(cancel_futures=True)

    def on_epoch_begin(self) -> None:
        self.dataset.on_epoch_begin()

    def on_epoch_end(self) -> None:
        self.dataset.on_epoch_end()


class StepsAdapter(DataAdapter):
    """At most ``steps`` batches an epoch of ``adapter`` (Keras' ``steps_per_epoch``). With
    ``resume`` (``fit``'s training data, as Keras) an epoch goes on where the last one stopped,
    and once the data is through, the epoch ends early (a warning) and the next starts it again;
    without (``evaluate``, validation), each epoch is the first ``steps`` batches."""

    def __init__(self, adapter: DataAdapter, steps: int, resume: bool) -> None:
        self.adapter, self.steps, self.resume = adapter, steps, resume
        self.converts_batches = adapter.converts_batches
        self.num_batches = steps
        self._batches: Iterator[Any] | None = None
        self._seen = 0  # batches read from ``_batches``
        self._passes = 0  # through the data: seeds each pass' shuffle

    def epoch(self, index: int) -> Iterator[Any]:
        if not self.resume:
            return itertools.islice(self.adapter.epoch(index), self.steps)
        return self._resumed()

    def _resumed(self) -> Iterator[Any]:
        total = self.adapter.num_batches
        for _ in range(self.steps):
            if self._batches is None:
                self._batches, self._seen = self.adapter.epoch(self._passes), 0
                self._passes += 1
            batch = next(self._batches, _END) if total is None or self._seen < total else _END
            if batch is _END:
                self._batches = None
                warnings.warn(_RAN_OUT, stacklevel=2)
                return
            self._seen += 1
            yield batch
        if total is not None and self._seen >= total:
            self._batches = None

    def on_epoch_begin(self) -> None:
        self.adapter.on_epoch_begin()

    def on_epoch_end(self) -> None:
        self.adapter.on_epoch_end()


_END = object()
_RAN_OUT = (
    "fit: the data ran out before steps_per_epoch batches; the epoch ends early (give data for at "
    "least steps_per_epoch * epochs batches, as Keras asks)"
)


def class_weights(op: str, y: Any, class_weight: Any) -> np.ndarray:
    """``class_weight`` (a dict class index -> weight) as one float32 weight per sample of the
    targets ``y`` (class indices, or one-hot rows: their argmax), 1 for a class not in it; as
    Keras' ``class_weight_to_sample_weights``."""
    if not isinstance(class_weight, dict) or not all(
        isinstance(k, (int, np.integer)) and not isinstance(k, bool) and isinstance(v, numbers.Real)
        for k, v in class_weight.items()
    ):
        raise InvalidArgumentError(
            f"{op}: class_weight must be a dict of class index (int) -> weight (number), got {class_weight!r}"
        )
    if is_several(y):
        raise InvalidArgumentError(
            f"{op}: class_weight is only for a model of one output (one target array); for several, "
            "give sample_weight per output"
        )
    labels = y.numpy() if isinstance(y, Tensor) else np.asarray(y)
    if labels.ndim > 1:
        labels = labels.argmax(axis=-1) if labels.shape[-1] != 1 else labels.squeeze(-1)
    if labels.ndim != 1:
        raise InvalidArgumentError(
            f"{op}: class_weight needs one class per sample (class indices or one-hot rows), got targets "
            f"of shape {np.shape(y)}"
        )
    labels = np.round(labels).astype(np.int64)
    return np.array([class_weight.get(int(label), 1.0) for label in labels], dtype=np.float32)


class PipelineAdapter(IterableAdapter):
    """A framework's own input pipeline (a torch DataLoader, a tf.data.Dataset: what a backend's
    ``is_pipeline`` claims), read afresh every epoch (it shuffles itself, if asked to) and never
    held in memory; ``source_backend`` is the backend that claimed it."""

    def __init__(self, pipeline: Iterable[Any], source_backend: str) -> None:
        super().__init__(pipeline)
        self.source_backend = source_backend


def adapter_for(
    op: str,
    x: Any,
    y: Any = None,
    sample_weight: Any = None,
    *,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int | None = None,
    class_weight: Any = None,
    steps: int | None = None,
    resume: bool = False,
) -> DataAdapter:
    """The adapter for the data given to ``op`` (``"fit"``, ``"evaluate"``, ``"predict"``):
    arrays or Tensors ``x, y[, sample_weight]`` (``x`` alone for predict), each one array or,
    as Keras reads them, several (a dict of arrays, or a tuple or list whose items are all arrays:
    several inputs, targets or per-output weights); a ``PyDataset``; or ``x`` an iterable of
    batches that hold their targets (without ``y``, a tuple or list ``x`` of fit or evaluate is
    batches). ``class_weight`` (arrays and PyDatasets) gives the sample weights; ``steps`` cuts
    each epoch to that many batches (``StepsAdapter``, which ``resume``s for fit)."""
    adapter = _adapter(op, x, y, sample_weight, batch_size, shuffle, seed, class_weight, steps is not None)
    if steps is not None:
        return StepsAdapter(adapter, steps, resume)
    if isinstance(adapter, PyDatasetAdapter) and adapter.num_batches is None:
        raise InvalidArgumentError(
            f"{op}: the PyDataset has no end (num_batches is None); give the batches per epoch: fit's "
            "steps_per_epoch (validation_steps for validation data), evaluate's or predict's steps"
        )
    return adapter


def _adapter(
    op: str,
    x: Any,
    y: Any,
    sample_weight: Any,
    batch_size: int,
    shuffle: bool,
    seed: int | None,
    class_weight: Any,
    stepped: bool,
) -> DataAdapter:
    source_backend = pipeline_backend(x)
    if isinstance(x, PyDataset) or source_backend is not None or (y is None and not _is_data(op, x)):
        if y is not None or sample_weight is not None:
            raise InvalidArgumentError(
                f"{op}: x is an iterable of batches ({type(x).__name__}), which hold their own targets "
                "and sample weights; give y and sample_weight inside its batches, not as arguments"
            )
        if isinstance(x, PyDataset):
            if class_weight is not None:
                class_weights(op, np.zeros(0), class_weight)  # checks the dict
            return PyDatasetAdapter(x, shuffle, seed, class_weight)
        if class_weight is not None:
            raise InvalidArgumentError(
                f"{op}: class_weight is not supported for {type(x).__name__} inputs (as in Keras); give "
                "the batches their sample weights, (x, y, sample_weight), or use arrays or a PyDataset"
            )
        if source_backend is not None:
            return PipelineAdapter(x, source_backend)
        return IterableAdapter(x, keep=not stepped)
    if y is None and op != "predict":
        raise InvalidArgumentError(f"{op}: arrays need their targets: {op}(x, y, ...)")
    if class_weight is not None:
        if sample_weight is not None:
            raise InvalidArgumentError(f"{op}: give class_weight or sample_weight, not both")
        sample_weight = class_weights(op, as_arrays(y), class_weight)
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
