"""Per-op overhead of bridge against the native framework call, on tiny tensors.

    python benchmarks/overhead.py [--rounds 7] [--number 20000]

Times add, matmul, relu and sum on 2x2 float32 tensors, through bridge and natively, for each
backend, in interleaved rounds (every op and side in turn, then again); prints the min and median
time per call over the rounds, the microseconds bridge adds (median of the per-round differences)
and the median per-round ratio. Goal: at most 0.5 us added on torch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import timeit
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from rounds import interleave, per_round_ratios, summarize  # noqa: E402

import bridge as br  # noqa: E402


def native_ops(backend: str, native):
    if backend == "torch":
        import torch

        return {
            "add": lambda: torch.add(native, native),
            "matmul": lambda: torch.matmul(native, native),
            "relu": lambda: torch.relu(native),
            "sum": lambda: torch.sum(native),
        }
    import tensorflow as tf

    return {
        "add": lambda: tf.math.add(native, native),
        "matmul": lambda: tf.linalg.matmul(native, native),
        "relu": lambda: tf.nn.relu(native),
        "sum": lambda: tf.reduce_sum(native),
    }


def bridge_ops(x: br.Tensor):
    return {
        "add": lambda: x + x,
        "matmul": lambda: x @ x,
        "relu": lambda: br.ops.relu(x),
        "sum": lambda: br.ops.sum(x),
    }


def per_call(fn: Callable[[], object], number: int) -> Callable[[], float]:
    """A round: ``number`` calls of ``fn``, returning the seconds per call."""
    return lambda: timeit.timeit(fn, number=number) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=20000)
    args = parser.parse_args()
    runs: dict[str, Callable[[], float]] = {}
    for backend in ("torch", "tensorflow"):
        if backend not in br.backends():
            continue
        x = br.ones((2, 2), backend=backend)
        ours, theirs = bridge_ops(x), native_ops(backend, x.native)
        for name in ours:
            ours[name](), theirs[name]()  # warm up
            runs[f"{backend} {name} native"] = per_call(theirs[name], args.number)
            runs[f"{backend} {name} bridge"] = per_call(ours[name], args.number)
    errors: dict[str, str] = {}
    times = interleave(runs, args.rounds, errors)
    for key, message in errors.items():
        print(f"{key}: {message}")
    print(
        f"{'backend':<11} {'op':<7} {'native us':>16} {'bridge us':>16} {'added us':>9} {'ratio':>6}\n"
        f"{'':<20}{'min':>8}{'median':>8} {'min':>8}{'median':>8}"
    )
    for key in [k for k in times if k.endswith(" native")]:
        backend, name, _ = key.split()
        native, wrapped = times[key], times.get(f"{backend} {name} bridge")
        if wrapped is None:
            continue
        n, w = summarize([t * 1e6 for t in native]), summarize([t * 1e6 for t in wrapped])
        added = statistics.median(b - a for a, b in zip(n["rounds"], w["rounds"]))
        ratio = summarize(per_round_ratios(wrapped, native))["median"]
        print(
            f"{backend:<11} {name:<7} {n['min']:>8.2f}{n['median']:>8.2f} "
            f"{w['min']:>8.2f}{w['median']:>8.2f} {added:>9.2f} {ratio:>6.2f}"
        )


if __name__ == "__main__":
    main()
