"""The example programs run, and say the same thing on every backend. CI runs them here only (not
also from .ci/run): here their output is checked. They take a good part of the suite's time, so
they are ``slow``; most compare torch with TensorFlow, so they need both."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from bridge.testing import assert_training_parity

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

pytestmark = pytest.mark.slow
both = pytest.mark.needs("torch", "tensorflow")


def run_example(name: str, *args: str) -> str:
    """The output of ``python examples/NAME ARGS``, or of ``python -m bridge ARGS`` for ``-m``."""
    program = ["-m", "bridge"] if name == "-m" else [str(EXAMPLES / name)]
    done = subprocess.run(
        [sys.executable, *program, *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@both
def test_tensor_demo_shows_the_backends_agree():
    out = run_example("tensor_demo.py")
    assert "torch and tensorflow agree." in out
    assert "DIFFERENT" not in out


@both
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_low_level_course_path_is_identical_on_both_backends(jit):
    flags = ["--jit"] if jit else []
    outputs = {b: run_example("low_level.py", "--backend", b, *flags) for b in ("torch", "tensorflow")}
    for out in outputs.values():
        assert "analytic" in out and "accuracy 0.9" in out
    same = {b: out.replace(b, "BACKEND").split("\n", 1)[1] for b, out in outputs.items()}  # no version line
    assert same["torch"] == same["tensorflow"]


@both
def test_custom_training_loop_learns_the_same_on_both_backends():
    outputs = {b: run_example("custom_training_loop.py", "--backend", b) for b in ("torch", "tensorflow")}
    same = {b: out.replace(b, "BACKEND") for b, out in outputs.items()}
    assert same["torch"] == same["tensorflow"]
    accuracy = float(outputs["torch"].strip().splitlines()[-1].split()[-1])
    assert accuracy > 0.9


@both
@pytest.mark.parametrize(("problem", "epochs"), [("iris", "100"), ("digits", "15")])
def test_the_lab_gives_the_same_accuracy_on_both_backends(problem, epochs):
    # The course's lab is `python -m bridge demo` (bridge/demo.py).
    # Iris has 96 training rows (3 steps an epoch): it needs the lab's default 100 epochs
    out = run_example("-m", "demo", "--problem", problem, "--epochs", epochs)
    # a line or two on what the numbers are, the table, then a verdict after a blank line
    lines = out.strip().splitlines()
    header, *lines = lines[next(i for i, line in enumerate(lines) if line.startswith("problem ")) :]
    assert header.split()[-4:] == ["torch", "accuracy", "tensorflow", "accuracy"], header
    rows = [line.split() for line in lines[: lines.index("")]]
    assert lines[-1] == "torch and tensorflow agree.", out
    assert len(rows) == 2
    for row in rows:
        torch_accuracy, tensorflow_accuracy = float(row[-2]), float(row[-1])
        assert torch_accuracy == tensorflow_accuracy and torch_accuracy >= 0.75, row


@pytest.mark.needs("tensorflow")
def test_overfitting_example_plots_and_dropout_narrows_the_gap(tmp_path):
    out = run_example(
        "overfitting.py", "--backend", "tensorflow", "--epochs", "30", "--out", str(tmp_path / "o.png")
    )
    gaps = [float(line.split("gap")[1].split()[0]) for line in out.splitlines() if "gap" in line]
    assert len(gaps) == 2 and gaps[1] < gaps[0]
    assert (tmp_path / "o.png").read_bytes()[:4] == b"\x89PNG"


@both
def test_port_from_pytorch_proves_fine_tunes_saves_and_exports():
    # 1 epoch: after 2, on some CPUs (AMD EPYC) a near tie (a max-pool window or a ReLU at 0)
    # makes one SGD step of the proof route a gradient differently in torch and TensorFlow
    out = run_example("port_from_pytorch.py", "--epochs", "1")
    lines = out.strip().splitlines()
    assert lines[-1] == "ported, proven, fine-tuned, saved and exported.", out
    proof = next(line for line in lines if line.startswith("assert_equivalent: torch against bridge"))
    assert proof.endswith("passed"), proof
    assert not any(line.endswith("FAIL") for line in lines), out
    accuracy = next(line for line in lines if "test accuracy on TensorFlow" in line)
    assert float(accuracy.split()[-2]) > 0.9, accuracy  # after fine-tuning
    for start in ("loaded on torch", "SavedModel outputs"):
        moved = next(line.strip() for line in lines if line.strip().startswith(start))
        assert float(moved.split()[-1]) < 1e-4, moved  # same weights: float32 rounding only


def load_example(name: str) -> types.ModuleType:
    """An example program as a module (its ``main`` not run), to reuse its data and model."""
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), EXAMPLES / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ARCHITECTURES = ["sequence_lstm.py", "text_transformer.py"]


@both
@pytest.mark.parametrize("name", ARCHITECTURES)
def test_the_architecture_examples_agree_and_move_between_backends(name):
    out = run_example(name, "--epochs", "3")
    lines = out.strip().splitlines()
    assert lines[-1] == "torch and tensorflow agree.", out
    moved = next(line for line in lines if line.startswith("saved on torch, loaded on tensorflow"))
    assert float(moved.split()[-1]) < 1e-5, moved  # same weights: float32 rounding only
    rows = [line.split() for line in lines[1 : lines.index("")]]
    assert len(rows) == 3 and all(row[1] == row[len(row) // 2 + 1] for row in rows), rows  # losses


@both
@pytest.mark.parametrize("name", ARCHITECTURES)
def test_the_architecture_examples_pass_assert_training_parity(name):
    example = load_example(name)
    x, y = example.make_data(256)
    assert_training_parity(example.build_model, x, y, epochs=2, batch_size=32)
