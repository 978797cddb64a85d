"""Batches made ahead on a thread (``bridge.data.prefetch``): order, errors, stopping, context;
and ``fit``/``evaluate``/``predict`` reading through it as they do when batches go to a GPU."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import bridge as br
from bridge import losses, nn, optim
from bridge.data import adapters
from bridge.data.prefetch import prefetched


def prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "bridge-prefetch"]


class Source:
    """A generator of ``count`` items that records how many were read and whether it was closed;
    ``fail_at`` raises there; ``pause`` sleeps before each item (a slow reader)."""

    def __init__(self, count: int, fail_at: int | None = None, pause: float = 0.0) -> None:
        self.count, self.fail_at, self.pause = count, fail_at, pause
        self.read, self.closed = 0, False

    def __iter__(self):
        try:
            for i in range(self.count):
                time.sleep(self.pause)
                if i == self.fail_at:
                    raise KeyError(f"batch {i} is broken")
                self.read += 1
                yield i
        finally:
            self.closed = True


@pytest.mark.parametrize("pause", [0.0, 0.002])
def test_batches_come_in_order_and_the_thread_ends(pause):
    source = Source(20, pause=pause)
    seen = []
    for item in prefetched(iter(source)):
        time.sleep(0.002 - pause)  # consumer and producer slower in turn
        seen.append(item)
    assert seen == list(range(20))
    assert source.closed and not prefetch_threads()


def test_an_error_comes_where_its_batch_would_have():
    seen = []
    with pytest.raises(KeyError, match="batch 3 is broken"):
        for item in prefetched(iter(Source(10, fail_at=3))):
            seen.append(item)
    assert seen == [0, 1, 2] and not prefetch_threads()


def test_abandoning_stops_the_thread_reads_little_ahead_and_closes_the_source():
    source = Source(1000)
    batches = prefetched(iter(source), depth=2)
    assert [next(batches) for _ in range(3)] == [0, 1, 2]
    time.sleep(0.05)  # let the producer fill the queue
    batches.close()
    assert not prefetch_threads() and source.closed
    assert source.read <= 3 + 2 + 1  # taken, queued, and one in hand


def test_the_thread_runs_in_the_callers_backend_and_device():
    def what_it_sees():
        for _ in range(3):
            yield br.get_backend(), br.zeros((1,)).device

    with br.use_backend("numpy"), br.device("cpu"):
        seen = list(prefetched(what_it_sees()))
    assert seen == [("numpy", "cpu")] * 3


def read_ahead_as_on_a_gpu(monkeypatch) -> None:
    """From here on ``fit``, ``evaluate`` and ``predict`` read batches as they do when those go to
    a GPU: made ahead on a thread (the data stays on the CPU)."""
    monkeypatch.setattr(adapters, "resolve_device", lambda backend, name: "gpu:0")


def read_on(batches, threads: list[str]):
    """``batches``, recording the name of the thread that reads each."""
    for batch in batches:
        threads.append(threading.current_thread().name)
        yield batch


def data(batches: int = 6):
    rng = np.random.default_rng(0)
    return [(rng.standard_normal((4, 3)).astype(np.float32), rng.integers(0, 2, 4)) for _ in range(batches)]


def trained(batches, epochs: int = 2, **fit_options):
    br.random.seed(1)
    model = nn.Sequential([nn.Dense(5, activation="relu"), nn.Dense(2)])
    model.compile(optim.Adam(0.01), losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(batches, epochs=epochs, verbose=0, **fit_options)
    return model, history


def results(model, history, threads: list[str]):
    inputs = [x for x, _ in data()]
    evaluated = model.evaluate(read_on(data(), threads), verbose=0)
    return history.history["loss"], model.get_weights(), evaluated, model.predict(read_on(inputs, threads))


@pytest.mark.needs("torch")
def test_fit_evaluate_predict_reading_ahead_give_the_same_numbers(monkeypatch):
    on_the_caller, ahead = [], []
    with br.use_backend("torch"):
        expected = results(*trained(read_on(data(), on_the_caller)), on_the_caller)
        read_ahead_as_on_a_gpu(monkeypatch)
        found = results(*trained(read_on(data(), ahead)), ahead)
    assert set(on_the_caller) == {"MainThread"} and set(ahead) == {"bridge-prefetch"}
    assert len(ahead) == len(on_the_caller) == 6 + 6 + 6  # fit (kept for the 2nd epoch), evaluate, predict
    np.testing.assert_array_equal(found[0], expected[0])
    for a, b in zip(found[1], expected[1]):
        np.testing.assert_array_equal(a, b)
    assert found[2] == expected[2]
    np.testing.assert_array_equal(found[3], expected[3])
    assert not prefetch_threads()


@pytest.mark.needs("torch")
def test_steps_per_epoch_reads_no_batch_beyond_its_steps(monkeypatch):
    source, batch, threads = Source(100), data(1)[0], []
    read_ahead_as_on_a_gpu(monkeypatch)
    with br.use_backend("torch"):
        trained(read_on((batch for _ in source), threads), epochs=2, steps_per_epoch=3)
    assert threads == ["bridge-prefetch"] * 6 and source.read == 6
