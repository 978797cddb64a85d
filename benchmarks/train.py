"""Training speed and peak memory of bridge against native torch, native TensorFlow and Keras 3.

Each model is trained by every contender: native torch (eager, torch.compile), native TensorFlow
(tf.function, XLA), Keras 3 fit on torch and on TensorFlow (each in a server process of its own),
bridge fit and a bridge custom loop on each backend in each jit mode. All are built and warmed up
first; then every round times --steps steps of each contender in turn (A B C A B C ...). The
table gives ms per step (min, median, spread = (max - min) / median over the rounds) and ratios to
the same framework's native baseline computed round by round. A contender that fails, or whose
framework is missing, is reported with its error and the run goes on.

Peak memory is each contender's steady training peak above what was in use before it was built:
on a GPU from the framework's allocator, on the CPU from the resident set of a fresh process that
runs that contender alone. --quick (2 rounds of 2 steps at batch 4, Keras contenders and the CPU
memory pass left out) checks the harness itself.

    python benchmarks/train.py [--models mlp cnn] [--rounds 5] [--steps 20] [--device gpu]
                               [--json out.json] [--quick] [--contenders "bridge fit" compile]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import importlib.metadata
import json
import math
import os
import platform
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")

from contenders import Contender, all_contenders, prepare, select  # noqa: E402
from keras_server import KerasServer  # noqa: E402
from memory import ResidentSet, gpu_meter  # noqa: E402
from rounds import interleave, per_round_ratios, seconds_of, short_error, summarize  # noqa: E402
from workloads import WORKLOADS, workload  # noqa: E402

QUICK = {"rounds": 2, "steps": 2}
MEMORY_STEPS = 3  # steps per run in the CPU memory pass


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--models", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per contender per round")
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--json", type=Path, help="write the results there (see bench_schema)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2 rounds x 2 steps at batch 4; no Keras, no CPU memory pass, torch.compile without Inductor",
    )
    parser.add_argument("--contenders", nargs="+", metavar="SUBSTRING", help="only contenders whose "
                        "'name | framework | mode' contains one of these (baselines always run)")  # fmt: skip
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)  # internal: one contender's CPU memory pass
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.steps = QUICK["rounds"], QUICK["steps"]
    return args


def version(*distributions: str) -> str | None:
    for name in distributions:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            return importlib.metadata.version(name)
    return None


def cpu_name() -> str:
    """The CPU's model name (Linux), else the machine type."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def meta(args: argparse.Namespace) -> dict[str, Any]:
    device_name = cpu_name()
    if args.device == "gpu" and version("torch"):
        import torch

        device_name = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return {
        "device": args.device,
        "device_name": device_name,
        "torch": version("torch"),
        "tensorflow": version("tensorflow", "tensorflow-cpu"),
        "keras": version("keras"),
        "bridge": version("bridge"),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "rounds": args.rounds,
        "steps": args.steps,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "quick": args.quick,
    }


def start(
    contender: Contender, model: str, args: argparse.Namespace, stack: contextlib.ExitStack
) -> tuple[Callable[[], float], float | None]:
    """Build and warm up ``contender``: a function timing one run (seconds), and its GPU peak memory."""
    if contender.keras_backend is not None:
        server = stack.enter_context(
            contextlib.closing(
                KerasServer(contender.keras_backend, model, args.steps, args.device, args.quick)
            )
        )
        return server.run, server.peak_memory_mb
    spec = workload(model, args.quick)
    meter = gpu_meter(contender.framework) if args.device == "gpu" else None
    run, peak = prepare(contender, spec, spec.data(args.steps), args.device, meter)
    return (lambda: seconds_of(run)), peak


def cpu_memory(contender: Contender, model: str, args: argparse.Namespace) -> float | None:
    """``contender``'s peak resident set in MB, from a fresh process of its own (None if that fails)."""
    env = {**os.environ, **({"KERAS_BACKEND": contender.keras_backend} if contender.keras_backend else {})}
    command = [sys.executable, __file__, "--models", model, "--memory-of", contender.key]
    done = subprocess.run(
        command + (["--quick"] if args.quick else []), capture_output=True, text=True, env=env
    )
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]) if done.returncode == 0 and lines else None


def memory_pass(args: argparse.Namespace) -> None:
    """Print the peak resident set (MB) of the one contender ``--memory-of`` names: after imports
    and data, build it, warm it up, reset the peak, run ``MEMORY_STEPS`` steps."""
    contender = next(c for c in all_contenders() if c.key == args.memory_of)
    for module in (*contender.needs, contender.module):
        importlib.import_module(module)
    spec = workload(args.models[0], args.quick)
    data = spec.data(MEMORY_STEPS)
    _, peak = prepare(contender, spec, data, "cpu", ResidentSet())
    print(json.dumps(peak))


def bench_model(model: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every selected contender's row for ``model``."""
    contenders = select(all_contenders(keras=not args.quick, gpu=args.device == "gpu"), args.contenders)
    errors: dict[str, str] = {}
    runs: dict[str, Callable[[], float]] = {}
    memory: dict[str, float | None] = {}
    with contextlib.ExitStack() as stack:
        for contender in contenders:
            missing = contender.missing()
            if missing:
                errors[contender.key] = f"{missing} is not installed"
                continue
            began = time.perf_counter()
            try:
                runs[contender.key], memory[contender.key] = start(contender, model, args, stack)
            except Exception as exc:  # a contender that cannot be built is a row with its error
                errors[contender.key] = short_error(exc)
            took = time.perf_counter() - began
            print(
                f"  {model}: {contender.key} built and warmed up in {took:.1f} s", file=sys.stderr, flush=True
            )
        print(f"  timing {model}: {args.rounds} rounds", file=sys.stderr, flush=True)
        times = interleave(runs, args.rounds, errors)
        del runs
    gc.collect()
    if args.device == "cpu" and not args.quick:
        for contender in contenders:
            if contender.key in times:
                print(f"  {model}: memory of {contender.key}", file=sys.stderr, flush=True)
                memory[contender.key] = cpu_memory(contender, model, args)
    return rows(model, contenders, times, memory, errors, args.steps)


def rows(
    model: str,
    contenders: list[Contender],
    times: dict[str, list[float]],
    memory: dict[str, float | None],
    errors: dict[str, str],
    steps: int,
) -> list[dict[str, Any]]:
    """The results rows of ``model`` in the JSON schema: ms per step, ratios per round to the
    framework's baseline, memory and its ratio, or the error."""
    baselines = {c.framework: c.key for c in contenders if c.is_baseline}
    out = []
    for contender in contenders:
        row: dict[str, Any] = {
            "model": model,
            "contender": contender.name,
            "framework": contender.framework,
            "mode": contender.mode,
            "baseline": contender.baseline,
            "ms_per_step": None,
            "ratio": None,
            "peak_memory_mb": memory.get(contender.key),
            "memory_ratio": None,
            "error": errors.get(contender.key),
        }
        base = baselines.get(contender.framework)
        if contender.key in times:
            row["ms_per_step"] = summarize([s / steps * 1e3 for s in times[contender.key]])
            if base in times:
                row["ratio"] = summarize(per_round_ratios(times[contender.key], times[base]))
        base_memory = memory.get(base) if base else None
        if row["peak_memory_mb"] is not None and base_memory:
            row["memory_ratio"] = row["peak_memory_mb"] / base_memory
        out.append(row)
    return out


def table(results: list[dict[str, Any]]) -> str:
    """The results as a text table, one line per contender."""
    head = (
        f"{'model':<12}{'contender':<26}{'framework':<11}{'mode':<12}{'ms min':>9}{'ms med':>9}{'spread':>7}"
        f"{'x min':>7}{'x med':>7}{'mem MB':>8}{'x mem':>7}"
    )
    lines = [head, "-" * len(head)]
    for row in results:
        start = f"{row['model']:<12}{row['contender']:<26}{row['framework']:<11}{row['mode']:<12}"
        if row["error"]:
            lines.append(f"{start}error: {row['error'][:80]}")
            continue
        ms, ratio = row["ms_per_step"], row["ratio"] or {}
        lines.append(
            f"{start}{ms['min']:>9.3f}{ms['median']:>9.3f}{ms['spread']:>7.2f}"
            f"{_number(ratio.get('min'), 7, 2)}{_number(ratio.get('median'), 7, 2)}"
            f"{_number(row['peak_memory_mb'], 8, 1)}{_number(row['memory_ratio'], 7, 2)}"
        )
    return "\n".join(lines)


def _number(value: float | None, width: int, digits: int) -> str:
    return f"{value:>{width}.{digits}f}" if value is not None and math.isfinite(value) else f"{'-':>{width}}"


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.memory_of:
        memory_pass(args)
        return
    if args.quick and version("torch"):
        importlib.import_module("models_torch").cheapen_compile()
    report: dict[str, Any] = {"meta": meta(args), "results": []}
    for model in args.models:
        report["results"] += bench_model(model, args)
        if args.json:  # after each model, so that an interrupted run keeps what it measured
            args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(table(report["results"]))


if __name__ == "__main__":
    main()
