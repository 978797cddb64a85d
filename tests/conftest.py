"""Test-suite setup: the NumPy reference backend joins the built-in plugins, hypothesis gets a
profile that fits CI on two cores, and tests marked ``needs("torch")`` (a framework as their
reference, or both backends at once) are deselected, and counted in the summary, where that
framework is not installed: CI runs the suite with only one plugin installed too."""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import bridge as br
from bridge import _plugins
from bridge.testing.conformance.strategies import QUICK_JIT
from bridge.testing.numpy_backend import NumpyBackend

br.register_backend("numpy", NumpyBackend, framework="numpy")

#: Hypothesis examples per property test: 25, or 5 in the quick loop (``-m "not slow"``);
#: ``BRIDGE_HYPOTHESIS_EXAMPLES`` overrides both.
EXAMPLES, QUICK_EXAMPLES = "25", "5"


def _load_hypothesis_profile(examples: str) -> None:
    settings.register_profile(
        "bridge",
        max_examples=int(examples),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=bool(os.environ.get("CI")),
    )
    settings.load_profile("bridge")


_load_hypothesis_profile(os.environ.get("BRIDGE_HYPOTHESIS_EXAMPLES", EXAMPLES))


def pytest_configure(config: pytest.Config) -> None:
    """``-m "not slow"`` is the quick loop: fewer hypothesis examples, unless the environment
    chose a count (the conformance kit reads the same variable when its modules are collected)."""
    if (
        config.option.markexpr.replace(" ", "") == "notslow"
        and "BRIDGE_HYPOTHESIS_EXAMPLES" not in os.environ
    ):
        os.environ["BRIDGE_HYPOTHESIS_EXAMPLES"] = QUICK_EXAMPLES
        _load_hypothesis_profile(QUICK_EXAMPLES)


pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def quick_model_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Models compile their steps on torch with the quick "aot_eager" compiler: inductor builds C++
    kernels for a whole step, 20 s to minutes each on two cores, in every test of ``jit=True``.
    (test_jit_whole_step.py compiles fit's steps with inductor too.)"""
    import bridge.nn.model as model_module

    monkeypatch.setattr(model_module, "compile_function", functools.partial(br.jit, **QUICK_JIT))


@pytest.fixture
def scratch_registry() -> Iterator[None]:
    """Backends registered by a test are gone after it."""
    manager = _plugins.plugin_manager()
    before = {name for name, _ in manager.list_name_plugin()}
    yield
    for name, plugin in manager.list_name_plugin():
        if name not in before:
            manager.unregister(plugin)
    _plugins._infos = None
    for name in set(_plugins._loaded) - set(_plugins.backend_infos()):
        del _plugins._loaded[name]


@pytest.fixture
def backend(bridge_backend: str) -> str:
    """The project's own short name for the bridge plugin's ``bridge_backend`` fixture."""
    return bridge_backend


FRAMEWORKS = ("torch", "tensorflow", "keras")
_LEFT_OUT = pytest.StashKey[list[str]]()


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _left_out(config: pytest.Config) -> list[str]:
    return config.stash.setdefault(_LEFT_OUT, [])


def _module_imports(path: Path) -> set[str]:
    """The top-level packages that a test module imports at module level."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A test module that imports an absent framework at module level is not collected."""
    if collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    absent = sorted(m for m in _module_imports(collection_path) if m in FRAMEWORKS and not _installed(m))
    if not absent:
        return None
    _left_out(config).append(f"{collection_path.name} (imports {', '.join(absent)})")
    return True


#: Modules of a minute or more on two cores (``--durations``), run first, longest first: pytest-xdist's
#: ``--dist loadfile`` hands modules out in collection order, and one of them started last keeps a
#: worker busy alone at the end of the run.
LONG_MODULES = (
    "test_notebook.py",
    "test_benchmarks.py",
    "test_jit_whole_step.py",
    "test_examples.py",
    "test_ported_architectures.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the tests whose ``needs`` names a framework that is not installed; the long
    modules first."""
    first = {name: rank for rank, name in enumerate(LONG_MODULES)}
    items.sort(key=lambda item: first.get(item.path.name, len(first)))  # stable: the rest in order
    counts: dict[str, int] = {}
    kept: list[pytest.Item] = []
    deselected: list[pytest.Item] = []
    for item in items:
        absent = sorted({m for mark in item.iter_markers("needs") for m in mark.args if not _installed(m)})
        (deselected if absent else kept).append(item)
        for module in absent:
            counts[module] = counts.get(module, 0) + 1
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
    _left_out(config).extend(f"{count} tests that need {module}" for module, count in sorted(counts.items()))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    left_out = _left_out(config)
    if left_out:
        terminalreporter.write_line(f"bridge: left out, their framework not installed: {'; '.join(left_out)}")
