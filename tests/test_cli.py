"""The command line: ``python -m bridge info | demo | check`` and the ``bridge`` console script.

Each command runs once for real in a subprocess, as a user runs it; the cases that need an
unusual environment (a framework or a plugin missing, iproute2's ``bridge`` on the PATH) run
in-process against :mod:`bridge._info`, with a real missing framework or a fake ``bridge``."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

import bridge as br
from bridge import _dispatch, _info, cli, demo
from bridge._plugins import installed_backends
from bridge.backend import CONTRACT_VERSION
from bridge.testing import REFERENCE_BACKENDS, plugin

SCRIPT = Path(sysconfig.get_path("scripts")) / ("bridge.exe" if os.name == "nt" else "bridge")
INFO_KEYS = {
    "bridge",
    "default_backend",
    "default_backend_problem",
    "backends",
    "plugins_not_loaded",
    "reference_backends",
    "environment",
    "missing",
    "command",
}


def run(
    *args: str, program: list[str] | None = None, merged: bool = False, **env: str
) -> subprocess.CompletedProcess[str]:
    """``python -m bridge ARGS`` (or ``program ARGS``) with ``env`` added to the environment;
    ``merged``: stderr into stdout, as a terminal shows them."""
    return subprocess.run(
        [*(program or [sys.executable, "-m", "bridge"]), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merged else subprocess.PIPE,
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
    assert facts["default_backend_problem"] is None
    assert facts["reference_backends"] == REFERENCE_BACKENDS
    for name, backend in backends.items():
        assert backend["error"] is None, backend
        # the framework's own version (torch.__version__, tf.__version__)
        assert backend["framework_version"] == importlib.import_module(backend["framework"]).__version__
        assert backend["devices"][0] == "cpu"
        assert backend["contract_version"] == CONTRACT_VERSION
        assert backend["build"] == ("cpu-only" if _info.cpu_only_build(backend["framework"]) else None)
        ep = entry_points[name]
        assert backend["plugin"]["distribution"] == ep.dist.name
        assert backend["plugin"]["entry_point"] == f"{name} = {ep.value}"
    missing = {item["what"] for item in facts["missing"]}
    for name, (distribution, *_) in _info.KNOWN_PLUGINS.items():
        assert (distribution in missing) == (name not in entry_points)
    # the environment's own console script comes first on this PATH: no clash
    assert facts["command"]["clash"] is False
    assert facts["command"]["on_path"] == facts["command"]["console_script"] == str(SCRIPT)


def nested_parentheses(text: str) -> list[str]:
    """The lines of ``text`` with a parenthesis inside another."""
    return [line for line in text.splitlines() if re.search(r"\([^)]*\(", line)]


@pytest.mark.needs("torch", "tensorflow")  # both plugins installed: nothing else is missing
def test_info_text_names_the_plugins_variables_and_the_iproute2_clash(fake_bridge):
    # plugin autoload off: no framework is imported, so this takes a second
    path = f"{fake_bridge}{os.pathsep}{os.environ['PATH']}"
    done = run("info", PATH=path, BRIDGE_DISABLE_PLUGIN_AUTOLOAD="1", BRIDGE_HYPOTHESIS_EXAMPLES="7")
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert out.startswith(f"bridge {br.__version__} (")
    plugins = ", ".join(sorted(_info.plugin_entry_points()))
    # one coherent story: the plugins are installed, not loaded, and their frameworks not checked
    assert (
        "backends (default: none):\n  none loaded: BRIDGE_DISABLE_PLUGIN_AUTOLOAD is set, so bridge "
        f"does not load the installed plugins {plugins}\n\n"
    ) in out
    assert "none installed" not in out
    assert (
        "\nmissing:\n  nothing found, but the frameworks of the plugins not loaded were not checked\n" in out
    )
    # the reference backend in its own section, not among the backends
    assert (
        "\nreference backends, for `check` only:\n  numpy       python -m bridge check --backend numpy\n"
        in out
    )
    assert "  BRIDGE_HYPOTHESIS_EXAMPLES=7   (hypothesis examples per property test" in out
    assert (
        f"`bridge` on your PATH is {fake_bridge / 'bridge'}, not bridge's: use `python -m bridge`, or " in out
    )
    assert nested_parentheses(out) == []


def test_info_flags_a_default_backend_that_is_not_installed():
    facts = _info.gather({"BRIDGE_BACKEND": "torhc"})
    assert facts["default_backend"] == "torhc"
    assert (
        facts["default_backend_problem"]
        == "BRIDGE_BACKEND names torhc, which is not installed: bridge fails on it"
    )
    text = _info.render(facts)
    assert "backends (default: torhc, not installed):\n" in text
    assert "\n  BRIDGE_BACKEND names torhc, which is not installed: bridge fails on it\n" in text
    assert nested_parentheses(text) == []
    assert _info.gather({})["default_backend_problem"] is None


def test_info_and_bridge_agree_on_the_default_backend(monkeypatch):
    assert _dispatch.default_backend_name({"BRIDGE_BACKEND": "tensorflow"}) == "tensorflow"
    assert _dispatch.default_backend_name({}) == (installed_backends() or [None])[0]
    monkeypatch.setenv("BRIDGE_BACKEND", "torhc")
    assert _dispatch.default_backend_name() == "torhc"  # os.environ by default, as bridge reads it
    assert _info.gather()["default_backend"] == "torhc"


def test_the_clash_is_told_from_this_and_other_environments_scripts(fake_bridge, tmp_path):
    assert _info.command_facts(str(fake_bridge))["clash"] is True
    ours = _info.command_facts(str(SCRIPT.parent))
    assert ours["clash"] is False and ours["advice"] is None
    activate = SCRIPT.parent / ("activate.bat" if os.name == "nt" else "activate")
    if activate.is_file():  # a virtual environment: the advice says how to activate it
        assert (
            f"or activate this environment, `source {activate}`, so that `bridge` is {SCRIPT}"
            in (_info.command_facts(str(fake_bridge))["advice"])
        )
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
    python = _info.python_command(_info.source_tree())
    assert backends["ghost"]["installed"] is False
    assert backends["ghost"]["error"] == f"ghost_fw is not installed: {python} -m pip install ghost-fw"
    assert backends["ghost"]["plugin"]["in_process"] is True
    assert backends["broken"]["installed"] is True
    assert backends["broken"]["error"].startswith(
        "ModuleNotFoundError: No module named 'bridge_no_such_module'"
    )
    cwd = str(_info.source_tree()) if _info.source_tree() else None
    ghost = {"what": "ghost_fw", "for": "the ghost backend", "install": f"{python} -m pip install ghost-fw"}
    assert {**ghost, "cwd": cwd} in facts["missing"]
    text = _info.render(facts)
    for name in set(installed_backends()) - {"broken"}:  # the real ones: version and devices
        version, devices = backends[name]["framework_version"], ", ".join(backends[name]["devices"])
        assert f"  {name:<12}{backends[name]['framework']} {version}, devices: {devices}\n" in text
    assert f"ghost       error: ghost_fw is not installed: {python} -m pip install ghost-fw" in text
    assert "broken      error: ModuleNotFoundError" in text


@pytest.mark.needs("torch", "tensorflow")  # both plugins installed: nothing else is missing
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
    facts = _info.gather()
    missing = {item["what"]: item for item in facts["missing"]}
    root = _info.source_tree()
    # this environment's pip, not the first on the PATH: the command runs without activating it
    pip = f"{_info.python_command(root)} -m pip install"
    if root is not None:  # a clone: the README's way, the editable plugin, run in the clone
        assert missing["bridge-torch"]["install"] == f"{pip} torch==2.13.0 -e plugins/torch"
        assert missing["scikit-learn"]["install"] == f'{pip} -e ".[examples]"'
        assert missing["scikit-learn"]["cwd"] == missing["bridge-torch"]["cwd"] == str(root)
        text = _info.render(facts)
        assert f'\n    {pip} -e ".[examples]"   (in {root})\n' in text
    else:
        assert missing["bridge-torch"]["install"] == f"{pip} bridge-torch"
        assert missing["scikit-learn"]["install"] == f'{pip} "bridge[examples]"'
        assert missing["scikit-learn"]["cwd"] is None
    assert "bridge demo" in missing["scikit-learn"]["for"]
    assert "[testing]" in missing["hypothesis"]["install"] and "bridge check" in missing["hypothesis"]["for"]
    assert "pytest" not in missing and "bridge-tensorflow" not in missing


def test_install_commands_name_this_environments_python(monkeypatch, tmp_path):
    venv = tmp_path / "project" / ".venv" / "bin" / "python"
    monkeypatch.setattr(sys, "executable", str(venv))
    # relative to the folder the command runs in, where that is shorter
    assert _info.python_command(tmp_path / "project") == os.path.join(".venv", "bin", "python")
    assert _info.python_command(tmp_path / "other") == str(venv)  # not inside: the full path
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    assert _info.python_command(tmp_path) == os.path.join(".", "python")  # never a bare name
    (tmp_path / "project").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    monkeypatch.setattr(sys, "executable", str(venv))
    monkeypatch.setattr(_info, "source_tree", lambda: None)  # bridge from PyPI: run it anywhere
    assert _info.pip_install('"bridge[testing]"') == {
        "install": f'{os.path.join(".venv", "bin", "python")} -m pip install "bridge[testing]"',
        "cwd": None,
    }
    assert _info.extra_install("testing").startswith(os.path.join(".venv", "bin", "python") + " -m pip ")


def test_info_flags_cpu_only_builds(monkeypatch):
    version = type("version", (), {"cuda": None, "hip": None})
    fake_torch = type("torch", (), {"__version__": "2.13.0", "version": version})
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    monkeypatch.setattr(sys, "platform", "linux")
    assert _info.cpu_only_build("torch") is True
    version.cuda = "12.6"
    assert _info.cpu_only_build("torch") is False
    fake_torch.__version__ = "2.13.0+cpu"
    assert _info.cpu_only_build("torch") is True
    version.cuda, fake_torch.__version__, version.hip = None, "2.13.0", "6.3"  # a ROCm build
    assert _info.cpu_only_build("torch") is False
    monkeypatch.setattr(sys, "platform", "darwin")  # no torch for macOS has CUDA: no advice
    assert _info.cpu_only_build("torch") is False

    def distribution(name: str) -> object:
        if name == "tensorflow-cpu" and cpu:
            return object()
        raise _info.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(_info.metadata, "distribution", distribution)
    cpu = True
    assert _info.cpu_only_build("tensorflow") is True
    cpu = False
    assert _info.cpu_only_build("tensorflow") is False
    assert _info.cpu_only_build("jax") is False


def test_info_text_says_what_to_install_instead_of_a_cpu_only_build():
    facts = _info.gather()
    for backend in facts["backends"]:
        backend["build"] = "cpu-only"
    text = _info.render(facts)
    if "torch" in installed_backends():
        assert "\n              CPU-only build: on a GPU machine install `torch` instead\n" in text
    if "tensorflow" in installed_backends():
        assert "CPU-only build: on a GPU machine install `tensorflow[and-cuda]` instead\n" in text


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("info", "Report bridge's version, the installed backends"),
        ("demo", "under a minute on two CPU cores"),
        ("check", "Run bridge's backend test suite, the conformance kit"),
    ],
)
def test_each_command_has_a_description(command, says, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
    assert says in out


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


INTRO = "Test accuracy on a held-out 20% of each data set, after training on the other 80%."


def table(out: str) -> tuple[list[str], list[list[str]]]:
    """The header and the rows, split on spaces, of the table in ``demo``'s output ``out``."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("problem "))
    header, *rows = lines[start:]
    return header.split(), [row.split() for row in rows[: rows.index("") if "" in rows else None]]


@pytest.mark.slow
@pytest.mark.needs("torch", "tensorflow")
def test_demo_runs_the_lab_on_both_backends_side_by_side():
    done = run("demo", "--problem", "iris", "--model", "multi", "--epochs", "5", merged=True)
    assert done.returncode == 0, done.stdout[-3000:]
    # what TensorFlow prints as it starts (oneDNN's notice), before the report, not inside it
    report = done.stdout[done.stdout.index(INTRO) :]
    assert report.splitlines()[:3] == [
        INTRO,
        "Every backend starts from the same seed, so the columns should agree.",
        "",
    ]
    header, rows = table(report)
    assert header == ["problem", "network", "torch", "accuracy", "tensorflow", "accuracy"]
    assert len(rows) == 1
    problem, network, torch_accuracy, tensorflow_accuracy = rows[0]
    assert (problem, network) == ("iris", "multi-layer")
    assert torch_accuracy == tensorflow_accuracy and float(torch_accuracy) > 0.5
    assert report.endswith("\n\ntorch and tensorflow agree.\n")


def test_demo_loads_the_backends_before_the_table_and_says_whether_they_agree(monkeypatch):
    events: list[str] = []
    split = tuple(np.zeros((4, 2)) for _ in range(4))
    monkeypatch.setattr(demo, "load", lambda problem: split)
    monkeypatch.setattr(demo, "load_backend", lambda name: events.append(f"load {name}"))
    accuracy = {("a", "single"): 0.9, ("b", "single"): 0.9, ("a", "multi"): 0.95, ("b", "multi"): 0.9}
    monkeypatch.setattr(demo, "run", lambda backend, split, kind, *rest: accuracy[backend, kind])
    differ = demo.lab(["a", "b"], ["iris"], ["single", "multi"], write=events.append)
    assert differ == ["iris multi-layer"]
    assert events[:3] == ["load a", "load b", INTRO]
    assert events[-2:] == ["", "a and b differ on iris multi-layer."]
    header, rows = table("\n".join(events))
    assert rows == [["iris", "single-layer", "0.9000", "0.9000"], ["iris", "multi-layer", "0.9500", "0.9000"]]
    accuracy["b", "multi"] = 0.95
    assert demo.lab(["a", "b"], ["iris"], write=events.append) == []
    assert events[-1] == "a and b agree."
    events.clear()
    demo.lab(["a"], ["iris"], ["single"], write=events.append)  # one backend: nothing to agree on
    assert events[:3] == ["load a", INTRO, ""]
    assert table("\n".join(events)) == (
        ["problem", "network", "a", "accuracy"],
        [["iris", "single-layer", "0.9000"]],
    )
    assert len(events) == 5


@pytest.mark.needs("tensorflow")
def test_info_prints_what_tensorflow_prints_before_its_report():
    done = run("info", merged=True)
    assert done.returncode == 0, done.stdout[-3000:]
    report = done.stdout[done.stdout.index(f"bridge {br.__version__} (") :]
    assert "absl" not in report and "oneDNN" not in report
    assert report.rstrip().splitlines()[-2] == "command:"


def test_demo_without_scikit_learn_says_what_to_install(tmp_path):
    shadow = tmp_path / "sklearn"  # an importable sklearn that fails, as an absent one does
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('No module named sklearn')\n")
    done = run("demo", "--backend", next(iter(_info.plugin_entry_points())), PYTHONPATH=str(tmp_path))
    assert done.returncode == 2
    assert "scikit-learn, which is not installed" in done.stderr and "[examples]" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_the_missing_data_sets_error_is_a_bridge_error_and_an_import_error():
    assert issubclass(demo.MissingDataSetsError, br.BridgeError)
    assert issubclass(demo.MissingDataSetsError, ImportError)


def test_demo_refuses_a_backend_that_is_not_installed(capsys):
    assert cli.main(["demo", "--backend", "nosuch"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("bridge demo: not installed: nosuch; installed backends: ")


@pytest.mark.parametrize("epochs", ["0", "-3", "two"])
def test_demo_refuses_epochs_that_are_not_a_positive_whole_number(epochs, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["demo", "--epochs", epochs])
    assert exit_.value.code == 2
    assert "argument --epochs: expected" in capsys.readouterr().err


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


def test_check_refuses_a_backend_that_is_not_installed_before_running_pytest(monkeypatch, capsys):
    import pytest as pytest_module

    monkeypatch.setattr(pytest_module, "main", lambda args: pytest.fail("pytest ran"))
    assert cli.main(["check", "--backend", "numpy,nosuch"]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # not even the pytest command line
    installed = ", ".join(name for name in installed_backends() if name != "numpy") or "none"
    assert err == (
        f"bridge check: not installed: nosuch; installed backends: {installed}; "
        "reference backends, for check only: numpy\n"
    )


def test_the_pytest_plugin_names_each_backend_once(scratch_registry):
    with pytest.raises(pytest.UsageError) as error:
        plugin._selected(["numpy", "nosuch"])  # registers numpy, as --bridge-backends does
    installed = ", ".join(name for name in installed_backends() if name != "numpy") or "none"
    assert str(error.value) == (
        f"--bridge-backends names nosuch, not installed (installed: {installed}; also available: numpy)"
    )


@pytest.mark.needs("torch", "tensorflow")  # it names both backends
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
    assert cli.main(["check"]) == 2  # a setup error, not pytest's 1 (tests failed)
    error = capsys.readouterr().err
    assert "hypothesis not installed" in error and "[testing]" in error


@pytest.mark.parametrize(
    ("given", "suggested"),
    [
        (["-q"], "check -- -q"),
        (["--backend", "numpy", "-q", "-k", "dtype"], "check --backend numpy -- -q -k dtype"),
        (["-x", "--backend=numpy", "--", "-q"], "check --backend=numpy -- -x -q"),
        (["tests_dtypes"], "check -- tests_dtypes"),
    ],
)
def test_pytest_options_go_after_a_double_dash(given, suggested, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["/venv/lib/bridge/__main__.py"])  # as python -m bridge sets it
    with pytest.raises(SystemExit) as exit_:
        cli.main(["check", *given])
    assert exit_.value.code == 2
    assert f"error: pytest options go after --: python -m bridge {suggested}\n" in capsys.readouterr().err


def test_other_commands_refuse_unknown_options(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["info", "-q"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: -q" in capsys.readouterr().err


def test_the_console_script_and_python_m_bridge_are_the_same_command():
    assert SCRIPT.is_file(), "pip install -e . makes the console script"
    for program, prog in ([str(SCRIPT)], "bridge"), ([sys.executable, "-m", "bridge"], "python -m bridge"):
        version = run("--version", program=program)
        assert (version.returncode, version.stdout) == (0, f"bridge {br.__version__}\n")
        usage = run("--help", program=program)
        assert usage.returncode == 0 and usage.stdout.startswith(f"usage: {prog} ")
        assert "{info,demo,check}" in usage.stdout
        # the other spelling is named only where it is another spelling
        assert ("`python -m bridge` is the same command" in usage.stdout) == (prog == "bridge")


def test_import_bridge_does_not_import_the_command_line():
    names = ("bridge.cli", "bridge.demo", "bridge._info", "sklearn", "pytest")
    code = f"import sys, bridge; print(sorted(m for m in sys.modules if m in {names!r}))"
    done = run(program=[sys.executable, "-c", code])
    assert done.stdout.strip() == "[]", done.stderr


def test_demo_exits_1_when_the_backends_disagree(monkeypatch):
    for differing, status in ((["iris multi-layer"], 1), ([], 0)):
        monkeypatch.setattr(demo, "lab", lambda *args, differing=differing, **kwargs: differing)
        assert cli.main(["demo", "--backend", br.get_backend()]) == status
