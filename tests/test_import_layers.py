"""The core's import graph has layers (``.ci/import_layers.py``), and ``import bridge`` imports no
framework."""

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "import_layers.py"


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


def layers_of(stdout: str) -> dict[str, int]:
    found = {}
    for line in stdout.splitlines():
        label, _, modules = line.partition(": ")
        for module in modules.split(", "):
            found[module] = int(label.removeprefix("layer "))
    return found


def test_the_core_has_layers_without_cycles_or_unmarked_local_imports():
    result = run_script()
    assert result.returncode == 0, result.stderr
    layer = layers_of(result.stdout)
    assert layer["bridge.errors"] == 0
    assert layer["bridge.dtypes"] < layer["bridge.tensor"] < layer["bridge.ops._core"] < layer["bridge.ops"]
    # the counter-based generator is an op; SeedGenerator (in bridge.random) sits above Variable
    assert (
        layer["bridge.ops.random"] < layer["bridge.ops"] < layer["bridge.variable"] < layer["bridge.random"]
    )
    assert layer["bridge.random"] < layer["bridge.nn.layer"] < layer["bridge"]


def write_package(root: Path, modules: dict[str, str]) -> Path:
    for name, source in {"__init__": "", **modules}.items():
        path = root / "bridge" / f"{name.replace('.', '/')}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return root


def test_a_cycle_fails_and_is_named(tmp_path):
    root = write_package(tmp_path, {"a": "from . import b\n", "b": "from .a import x\n"})
    result = run_script(str(root))
    assert result.returncode == 1
    assert "import cycle: bridge.a -> bridge.b -> bridge.a" in result.stderr


def test_imports_under_type_checking_and_in_functions_are_not_edges(tmp_path):
    root = write_package(
        tmp_path,
        {
            "a": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import b\n",
            "b": "from . import a\n",
        },
    )
    result = run_script(str(root))
    assert result.returncode == 0, result.stderr
    assert layers_of(result.stdout) == {"bridge": 0, "bridge.a": 0, "bridge.b": 1}


def test_a_function_local_import_must_break_a_real_cycle(tmp_path):
    unmarked = {"a": "def f():\n    from . import b\n", "b": ""}
    result = run_script(str(write_package(tmp_path / "unmarked", unmarked)))
    assert result.returncode == 1
    assert "bridge/a.py:2: from . import b: function-local import" in result.stderr

    no_cycle = {"a": "def f():\n    from . import b  # import cycle: b needs a\n", "b": ""}
    result = run_script(str(write_package(tmp_path / "no_cycle", no_cycle)))
    assert result.returncode == 1
    assert "marked as breaking a cycle, but no cycle" in result.stderr

    cycle = {**no_cycle, "b": "from . import a\n"}
    result = run_script(str(write_package(tmp_path / "cycle", cycle)))
    assert result.returncode == 0, result.stderr


def test_importing_a_submodule_runs_its_package(tmp_path):
    """``from .pkg.mod import x`` from outside ``pkg`` runs ``pkg/__init__.py`` too: a cycle
    through the package counts."""
    modules = {
        "pkg.__init__": "from . import mod\n",
        "pkg.mod": "from .. import c\n",
        "c": "from .pkg.mod import x\n",
    }
    result = run_script(str(write_package(tmp_path, modules)))
    assert result.returncode == 1
    assert "import cycle: bridge.c -> bridge.pkg -> bridge.pkg.mod -> bridge.c" in result.stderr


def test_import_bridge_imports_no_framework():
    code = "import sys, bridge; print(sorted({'torch', 'tensorflow'} & sys.modules.keys()))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
