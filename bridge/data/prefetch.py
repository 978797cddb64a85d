"""Batches made ahead on a background thread, so that reading a batch (Python code, a framework's
pipeline) and copying it to an accelerator overlap the step before it, as tf.data's ``prefetch``
does for Keras (a torch DataLoader prefetches its workers' batches, not the copy to the GPU)."""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Iterator
from typing import Any, TypeVar

T = TypeVar("T")

DEPTH = 2  # batches made ahead: one being copied while one waits is enough to hide the copy
_END = object()


class _Raised:
    """An exception the producer met, handed on in the batches' place."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(batches: Iterator[T], depth: int = DEPTH) -> Iterator[T]:
    """``batches``, each made up to ``depth`` ahead on a thread that runs in the caller's context
    (its backend and device). The order is kept; an exception is raised where its batch would
    have come; the thread has stopped, and ``batches`` is closed, once the iteration ends or is
    abandoned (so that nothing reads on from a source shared with later epochs)."""
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_on(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not hand_on(batch):
                    break
            else:
                hand_on(_END)
        except BaseException as error:  # noqa: BLE001 (raised again on the consumer's side)
            hand_on(_Raised(error))
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(
        target=contextvars.copy_context().run, args=(produce,), name="bridge-prefetch", daemon=True
    )
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join()
