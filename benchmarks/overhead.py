"""Per-op overhead of bridge against the native framework call, on tiny tensors.

    python benchmarks/overhead.py [--repeat 7] [--number 20000]

Prints the median time per call of add, matmul, relu and sum on 2x2 float32 tensors, through
bridge and natively, for each backend, with the microseconds bridge adds. Goal: under 1 us added.
"""

from __future__ import annotations

import argparse
import os
import statistics
import timeit

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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


def median_us(fn, number: int, repeat: int) -> float:
    return statistics.median(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=20000)
    args = parser.parse_args()
    print(f"{'backend':<11} {'op':<7} {'native us':>10} {'bridge us':>10} {'added us':>9} {'ratio':>6}")
    for backend in ("torch", "tensorflow"):
        if backend not in br.backends():
            continue
        x = br.ones((2, 2), backend=backend)
        ours, theirs = bridge_ops(x), native_ops(backend, x.native)
        for name in ours:
            ours[name](), theirs[name]()  # warm up
            native = median_us(theirs[name], args.number, args.repeat)
            wrapped = median_us(ours[name], args.number, args.repeat)
            print(
                f"{backend:<11} {name:<7} {native:>10.2f} {wrapped:>10.2f} {wrapped - native:>9.2f} "
                f"{wrapped / native:>6.2f}"
            )


if __name__ == "__main__":
    main()
