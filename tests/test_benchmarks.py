"""The benchmark harness (benchmarks/train.py): its statistics against hand-computed numbers, and the
JSON of a ``--quick`` run (every model and contender there, ratios consistent with the times).
Nothing here asserts on how long anything takes."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
MODELS = ("mlp", "cnn", "lstm", "transformer")
BASELINES = {"torch": ("native torch", "eager"), "tensorflow": ("native tensorflow", "tf.function")}
EXPECTED = (
    {
        ("native torch", "torch", "eager"),
        ("native torch", "torch", "compile"),
        ("native tensorflow", "tensorflow", "tf.function"),
        ("native tensorflow", "tensorflow", "xla"),
    }
    | {
        (kind, backend, mode)
        for kind in ("bridge fit", "bridge custom loop")
        for backend in ("torch", "tensorflow")
        for mode in ("eager", "jit")
    }
    | {("bridge fit", "tensorflow", "xla"), ("bridge custom loop", "tensorflow", "xla")}
    | {("bridge fit, host batches", "torch", "eager"), ("bridge fit, host batches", "tensorflow", "jit")}
)


def load(name: str) -> ModuleType:
    """A benchmarks module by path (they are scripts importing each other, not a package)."""
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rounds = load("rounds")  # standard library only


def test_summarize_gives_min_median_max_and_spread():
    summary = rounds.summarize([4.0, 2.0, 3.0, 5.0])
    assert summary["min"] == 2.0 and summary["max"] == 5.0 and summary["median"] == 3.5
    assert summary["spread"] == pytest.approx((5.0 - 2.0) / 3.5)
    assert summary["rounds"] == [4.0, 2.0, 3.0, 5.0]
    assert rounds.summarize([2.0, 2.0])["spread"] == 0.0


def test_ratios_are_taken_round_by_round():
    assert rounds.per_round_ratios([2.0, 6.0, 3.0], [1.0, 2.0, 4.0]) == [2.0, 3.0, 0.75]
    assert rounds.summarize(rounds.per_round_ratios([2.0, 6.0, 3.0], [1.0, 2.0, 4.0]))["median"] == 2.0
    with pytest.raises(ValueError, match="rounds"):
        rounds.per_round_ratios([1.0, 2.0], [1.0])


def test_interleave_runs_contenders_in_turn_and_drops_a_failing_one():
    calls: list[str] = []

    def timed(name: str, seconds: float):
        def run() -> float:
            calls.append(name)
            if name == "b" and calls.count("b") == 2:
                raise RuntimeError("out of memory\nmore detail")
            return seconds

        return run

    errors: dict[str, str] = {}
    times = rounds.interleave({"a": timed("a", 1.0), "b": timed("b", 2.0), "c": timed("c", 3.0)}, 3, errors)
    assert calls == ["a", "b", "c", "a", "b", "c", "a", "c"]
    assert times == {"a": [1.0, 1.0, 1.0], "c": [3.0, 3.0, 3.0]}
    assert errors == {"b": "RuntimeError: out of memory"}


def run_harness(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / "train.py"), *arguments],
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.needs("torch", "tensorflow")
def test_quick_run_writes_every_contender_with_consistent_ratios(tmp_path):
    out = tmp_path / "bench.json"
    done = run_harness("--quick", "--json", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["meta"]["quick"] is True
    assert (report["meta"]["rounds"], report["meta"]["steps"]) == (2, 2)
    rows = {(r["model"], r["contender"], r["framework"], r["mode"]): r for r in report["results"]}
    assert {(m, *c) for m in MODELS for c in EXPECTED} <= set(rows)
    for (model, name, framework, mode), row in rows.items():
        if (name, framework, mode) not in EXPECTED:
            continue  # a row no test expects (none today): its error, if any, says why
        assert row["error"] is None, (model, name, framework, mode, row["error"])
        times = row["ms_per_step"]
        assert len(times["rounds"]) == 2 and all(math.isfinite(t) and t > 0 for t in times["rounds"])
        assert times["min"] <= times["median"] <= times["max"]
        assert times["spread"] == pytest.approx((times["max"] - times["min"]) / times["median"])
        assert row["baseline"] == " ".join(BASELINES[framework])
        base = rows[(model, BASELINES[framework][0], framework, BASELINES[framework][1])]["ms_per_step"]
        expected = [t / b for t, b in zip(times["rounds"], base["rounds"])]
        assert row["ratio"]["rounds"] == pytest.approx(expected, rel=1e-9)
        if (name, mode) == BASELINES[framework]:
            assert row["ratio"]["rounds"] == [1.0, 1.0]


@pytest.mark.needs("torch")
def test_memory_pass_reports_a_positive_peak():
    done = run_harness("--models", "mlp", "--quick", "--memory-of", "native torch | torch | eager")
    assert done.returncode == 0, done.stderr[-3000:]
    peak = json.loads(done.stdout.strip().splitlines()[-1])
    assert 0 < peak < 2000
