"""The command line: ``python -m bridge info | demo | check`` and the ``bridge`` console script.

Each command runs once for real in a subprocess, as a user runs it; the cases that need an
unusual environment (a framework or a plugin missing, iproute2's ``bridge`` on the PATH) run
in-process against :mod:`bridge._info`, with a real missing framework or a fake ``bridge``."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import bridge as br
from bridge import _info, cli
from bridge._plugins import installed_backends
from bridge.backend import CONTRACT_VERSION
from bridge.testing.plugin import REFERENCE_BACKENDS

SCRIPT = Path(sysconfig.get_path("scripts")) / ("bridge.exe" if os.name == "nt" else "bridge")
INFO_KEYS = {
    "bridge",
    "default_backend",
    "backends",
    "plugins_not_loaded",
    "reference_backends",
    "environment",
    "missing",
    "command",
}


def run(*args: str, program: list[str] | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m bridge ARGS`` (or ``program ARGS``) with ``env`` added to the environment."""
    return subprocess.run(
        [*(program or [sys.executable, "-m", "bridge"]), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **env},
    )


@pytest.fixture(scope="module")
def fake_bridge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding an executable ``bridge`` that is not bridge's (as iproute2's is)."""
    folder = tmp_path_factory.mktemp("sbin")
    fake = folder / "bridge"
    fake.write_text("#!/bin/sh\necho 'Usage: bridge [ OPTIONS ] OBJECT { COMMAND | help }'\n")
    fake.chmod(0o755)
    return folder


def test_info_json_reports_versions_backends_plugins_and_what_is_missing():
    done = run("info", "--json", PATH=f"{SCRIPT.parent}{os.pathsep}{os.environ['PATH']}")
    assert done.returncode == 0, done.stderr[-3000:]
    facts = json.loads(done.stdout)  # one JSON object, nothing else on stdout
    assert set(facts) == INFO_KEYS
    assert facts["bridge"]["version"] == br.__version__
    assert facts["bridge"]["contract_version"] == CONTRACT_VERSION
    entry_points = _info.plugin_entry_points()
    backends = {b["name"]: b for b in facts["backends"]}
    assert set(backends) == set(entry_points)  # the subprocess registers nothing of its own
    assert facts["default_backend"] == os.environ.get("BRIDGE_BACKEND", next(iter(backends), None))
    for name, backend in backends.items():
        assert backend["error"] is None, backend
        # the framework's own version (torch.__version__, tf.__version__)
        assert backend["framework_version"] == importlib.import_module(backend["framework"]).__version__
        assert backend["devices"][0] == "cpu"
        assert backend["contract_version"] == CONTRACT_VERSION
        ep = entry_points[name]
        assert backend["plugin"]["distribution"] == ep.dist.name
        assert backend["plugin"]["entry_point"] == f"{name} = {ep.value}"
    missing = {item["what"] for item in facts["missing"]}
    for name, (distribution, *_) in _info.KNOWN_PLUGINS.items():
        assert (distribution in missing) == (name not in entry_points)
    # the environment's own console script comes first on this PATH: no clash
    assert facts["command"]["clash"] is False
    assert facts["command"]["on_path"] == facts["command"]["console_script"] == str(SCRIPT)


def test_info_text_names_the_plugins_variables_and_the_iproute2_clash(fake_bridge):
    # plugin autoload off: no framework is imported, so this takes a second
    path = f"{fake_bridge}{os.pathsep}{os.environ['PATH']}"
    done = run("info", PATH=path, BRIDGE_DISABLE_PLUGIN_AUTOLOAD="1", BRIDGE_HYPOTHESIS_EXAMPLES="7")
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert out.startswith(f"bridge {br.__version__} (")
    assert "backends (default: none):\n  none installed\n" in out
    for name in _info.plugin_entry_points():
        assert f"  plugin {name!r} is installed but not loaded (BRIDGE_DISABLE_PLUGIN_AUTOLOAD is set)" in out
    assert "  BRIDGE_HYPOTHESIS_EXAMPLES=7   (hypothesis examples per property test" in out
    assert f"`bridge` on your PATH is {fake_bridge / 'bridge'}, not bridge's: use `python -m bridge`" in out


def test_the_clash_is_told_from_this_and_other_environments_scripts(fake_bridge, tmp_path):
    assert _info.command_facts(str(fake_bridge))["clash"] is True
    ours = _info.command_facts(str(SCRIPT.parent))
    assert ours["clash"] is False and ours["advice"] is None
    nowhere = _info.command_facts(str(tmp_path))
    assert nowhere["on_path"] is None and "use `python -m bridge`" in nowhere["advice"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "bridge").write_text("#!/other/python\nfrom bridge.cli import main\nmain()\n")
    (other / "bridge").chmod(0o755)
    facts = _info.command_facts(str(other))
    assert facts["clash"] is False and "another environment's" in facts["advice"]


def test_info_reports_a_missing_framework_and_a_broken_backend_without_crashing(scratch_registry):
    br.register_backend("ghost", "bridge_ghost:GhostBackend", framework="ghost_fw", pip_name="ghost-fw")
    br.register_backend("broken", "bridge_no_such_module:Backend", framework="numpy")
    facts = _info.gather()
    backends = {b["name"]: b for b in facts["backends"]}
    assert backends["ghost"]["installed"] is False
    assert backends["ghost"]["error"] == "ghost_fw is not installed: pip install ghost-fw"
    assert backends["ghost"]["plugin"]["in_process"] is True
    assert backends["broken"]["installed"] is True
    assert backends["broken"]["error"].startswith(
        "ModuleNotFoundError: No module named 'bridge_no_such_module'"
    )
    assert {"what": "ghost_fw", "for": "the ghost backend", "install": "pip install ghost-fw"} in facts[
        "missing"
    ]
    text = _info.render(facts)
    for name in set(installed_backends()) - {"broken"}:  # the real ones: version and devices
        version, devices = backends[name]["framework_version"], ", ".join(backends[name]["devices"])
        assert f"  {name:<12}{backends[name]['framework']} {version}, devices: {devices}\n" in text
    assert "ghost       error: ghost_fw is not installed: pip install ghost-fw" in text
    assert "broken      error: ModuleNotFoundError" in text


def test_info_says_how_to_install_a_missing_plugin_and_the_extras(monkeypatch):
    installed = _info.plugin_entry_points()
    monkeypatch.setattr(
        _info, "plugin_entry_points", lambda: {k: v for k, v in installed.items() if k != "torch"}
    )
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("sklearn", "hypothesis") else find_spec(name, *a),
    )
    missing = {item["what"]: item for item in _info.gather()["missing"]}
    root = _info.source_tree()
    if root is not None:  # a clone: the README's way, the editable plugin
        assert (
            missing["bridge-torch"]["install"] == f"pip install torch==2.13.0 -e plugins/torch   (in {root})"
        )
        assert missing["scikit-learn"]["install"] == f'pip install -e ".[examples]"   (in {root})'
    else:
        assert missing["bridge-torch"]["install"] == "pip install bridge-torch"
        assert missing["scikit-learn"]["install"] == 'pip install "bridge[examples]"'
    assert "bridge demo" in missing["scikit-learn"]["for"]
    assert "[testing]" in missing["hypothesis"]["install"] and "bridge check" in missing["hypothesis"]["for"]
    assert "pytest" not in missing and "bridge-tensorflow" not in missing


def test_info_reports_the_environment_variables_in_effect():
    environ = {
        "BRIDGE_BACKEND": "tensorflow",
        "BRIDGE_BAKCEND": "torch",
        "CUDA_VISIBLE_DEVICES": "",
        "HOME": "/",
    }
    facts = _info.gather(environ)
    assert facts["default_backend"] == "tensorflow"
    assert list(facts["environment"]) == ["BRIDGE_BACKEND", "CUDA_VISIBLE_DEVICES", "BRIDGE_BAKCEND"]
    assert facts["environment"]["BRIDGE_BAKCEND"]["meaning"] == "not a variable bridge reads"
    assert "  CUDA_VISIBLE_DEVICES=   (the GPUs torch and TensorFlow see)" in _info.render(facts)


def test_info_names_the_reference_backends_of_the_pytest_plugin():
    assert _info.REFERENCE_BACKENDS == REFERENCE_BACKENDS


@pytest.mark.slow
@pytest.mark.needs("torch", "tensorflow")
def test_demo_runs_the_lab_on_both_backends_side_by_side():
    done = run("demo", "--problem", "iris", "--model", "multi", "--epochs", "5")
    assert done.returncode == 0, done.stderr[-3000:]
    header, *rows = done.stdout.strip().splitlines()
    assert header.split() == ["problem", "network", "torch", "accuracy", "tensorflow", "accuracy"]
    assert len(rows) == 1
    problem, network, torch_accuracy, tensorflow_accuracy = rows[0].split()
    assert (problem, network) == ("iris", "multi-layer")
    assert torch_accuracy == tensorflow_accuracy and float(torch_accuracy) > 0.5


def test_demo_without_scikit_learn_says_what_to_install(tmp_path):
    shadow = tmp_path / "sklearn"  # an importable sklearn that fails, as an absent one does
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('No module named sklearn')\n")
    done = run("demo", "--backend", next(iter(_info.plugin_entry_points())), PYTHONPATH=str(tmp_path))
    assert done.returncode == 1
    assert "scikit-learn, which is not installed" in done.stderr and "[examples]" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_demo_refuses_a_backend_that_is_not_installed():
    done = run("demo", "--backend", "nosuch")
    assert done.returncode == 2 and "nosuch not installed" in done.stderr


def test_check_runs_the_conformance_kit_and_returns_pytests_status():
    done = run("check", "--backend", "numpy", "--", "-q", "-k", "python_scalars_are_weak")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    expected = (
        "pytest --pyargs bridge.testing.conformance --bridge-backends=numpy -q -k python_scalars_are_weak"
    )
    assert lines[0] == expected
    assert "10 passed" in lines[-1] and "failed" not in done.stdout
    assert run("check", "--backend", "numpy", "--", "-q", "-k", "no_test_is_named_so").returncode == 5
    unknown = run("check", "--backend", "nosuch")
    assert unknown.returncode == 4 and "--bridge-backends names nosuch, not installed" in unknown.stderr


def test_check_defaults_to_the_installed_backends_and_passes_pytest_options_on(monkeypatch, capsys):
    import pytest as pytest_module

    seen: list[list[str]] = []
    monkeypatch.setattr(pytest_module, "main", lambda args: seen.append(args) or 3)
    assert cli.main(["check", "--backend", "numpy,torch", "--backend", "tensorflow", "--", "-x"]) == 3
    assert cli.main(["check"]) == 3
    assert "--bridge-backends=numpy,torch,tensorflow" in seen[0] and seen[0][-1] == "-x"
    assert f"--bridge-backends={','.join(installed_backends())}" in seen[1]
    assert seen[1][seen[1].index("--pyargs") + 1] == "bridge.testing.conformance"
    capsys.readouterr()


def test_check_without_hypothesis_says_what_to_install(monkeypatch, capsys):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "hypothesis" else find_spec(name, *a)
    )
    assert cli.main(["check"]) == 1
    error = capsys.readouterr().err
    assert "hypothesis not installed" in error and "[testing]" in error


def test_pytest_options_go_after_a_double_dash(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["check", "-x"])
    assert exit_.value.code == 2
    assert "-x" in capsys.readouterr().err


def test_the_console_script_and_python_m_bridge_are_the_same_command():
    assert SCRIPT.is_file(), "pip install -e . makes the console script"
    for program, prog in ([str(SCRIPT)], "bridge"), ([sys.executable, "-m", "bridge"], "python -m bridge"):
        version = run("--version", program=program)
        assert (version.returncode, version.stdout) == (0, f"bridge {br.__version__}\n")
        usage = run("--help", program=program)
        assert usage.returncode == 0 and usage.stdout.startswith(f"usage: {prog} ")
        assert "{info,demo,check}" in usage.stdout


def test_import_bridge_does_not_import_the_command_line():
    names = ("bridge.cli", "bridge.demo", "bridge._info", "sklearn", "pytest")
    code = f"import sys, bridge; print(sorted(m for m in sys.modules if m in {names!r}))"
    done = run(program=[sys.executable, "-c", code])
    assert done.stdout.strip() == "[]", done.stderr
