"""Interleaved timing rounds (A B C A B C ...) and their statistics: min, median, max, spread
and per-round ratios to a baseline. Standard library only, so tests load it without frameworks."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence


def summarize(values: Sequence[float]) -> dict[str, float | list[float]]:
    """``min``, ``median``, ``max``, ``spread`` ((max - min) / median) and the ``rounds`` themselves."""
    low, mid, high = min(values), statistics.median(values), max(values)
    return {"min": low, "median": mid, "max": high, "spread": (high - low) / mid, "rounds": list(values)}


def per_round_ratios(times: Sequence[float], baseline: Sequence[float]) -> list[float]:
    """Each round's time divided by the baseline's time in the same round."""
    if len(times) != len(baseline):
        raise ValueError(f"{len(times)} rounds against a baseline of {len(baseline)}")
    return [t / b for t, b in zip(times, baseline)]


def seconds_of(run: Callable[[], None]) -> float:
    """Wall time of one call of ``run`` (which waits for its device before returning)."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def interleave(
    runs: Mapping[str, Callable[[], float]], rounds: int, errors: dict[str, str]
) -> dict[str, list[float]]:
    """Call every run in turn, ``rounds`` times over (A B C A B C ...); each returns the seconds
    of its timed steps. A run that raises is dropped from later rounds and its message goes to
    ``errors``; the others go on."""
    times: dict[str, list[float]] = {key: [] for key in runs}
    for _ in range(rounds):
        for key, run in runs.items():
            if key in errors:
                continue
            try:
                times[key].append(run())
            except Exception as exc:  # a failing contender must not stop the others
                errors[key] = short_error(exc)
    return {key: values for key, values in times.items() if key not in errors}


def short_error(exc: BaseException) -> str:
    """``Type: first line of the message``, at most 300 characters."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]
