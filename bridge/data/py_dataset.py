"""``PyDataset``: batches made by Python code, indexed (Keras 3's ``keras.utils.PyDataset``).

Subclass it, call ``super().__init__(**kwargs)``, and define ``__len__`` (the number of batches)
and ``__getitem__(index)`` (one whole batch: ``(x, y)``, ``(x, y, sample_weight)`` or ``(x,)``,
NumPy arrays or any framework's tensors); ``on_epoch_begin`` / ``on_epoch_end`` run around each
epoch of ``fit``. For batches without end, define ``num_batches`` returning None instead of
``__len__``, and give ``fit`` its ``steps_per_epoch``."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from ..errors import InvalidArgumentError


class PyDataset:
    """Batches by index, read by ``fit`` / ``evaluate`` / ``predict`` (as Keras reads a
    ``keras.utils.PyDataset``). ``workers`` threads (more than 1: ``fit`` reads the next batches
    while the model trains, up to ``max_queue_size`` ahead, in order); ``use_multiprocessing`` is
    accepted, as Keras, and reads in threads too (bridge's batches become Tensors in the training
    process)."""

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10) -> None:
        for name, value in (("workers", workers), ("max_queue_size", max_queue_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(f"PyDataset: {name} must be an int >= 1, got {value!r}")
        if not isinstance(use_multiprocessing, bool):
            raise InvalidArgumentError(
                f"PyDataset: use_multiprocessing must be True or False, got {use_multiprocessing!r}"
            )
        self.workers, self.use_multiprocessing = workers, use_multiprocessing
        self.max_queue_size = max_queue_size

    def __getitem__(self, index: int) -> Any:
        """The batch at ``index``."""
        raise NotImplementedError(f"{type(self).__name__}: define __getitem__(index), returning one batch")

    @property
    def num_batches(self) -> int | None:
        """How many batches (``len(self)``), or None for batches without end."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(
            f"{type(self).__name__}: define __len__, or a num_batches property (None: without end)"
        )

    def on_epoch_begin(self) -> None:
        """Called as each epoch begins."""

    def on_epoch_end(self) -> None:
        """Called as each epoch ends (e.g. to reshuffle)."""

    def __iter__(self) -> Iterator[Any]:
        count = self.num_batches
        for index in range(count) if count is not None else itertools.count():
            yield self[index]
