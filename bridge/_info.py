"""What ``python -m bridge info`` reports: bridge's version, the backends (framework version,
devices, plugin distribution and entry point, contract version), the environment variables in
effect, what is missing with the command that installs it, and whether ``bridge`` on the PATH is
this environment's console script.

:func:`gather` collects the facts as one JSON-ready dict (``info --json`` prints it);
:func:`render` writes the same facts as text. Loading a backend imports its framework: ``info``
does that for every installed backend, so that it can ask each for its version and devices.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import shlex
import shutil
import sys
import sysconfig
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, cast

from . import __version__
from ._dispatch import default_backend_name
from ._plugins import (
    AUTOLOAD_SWITCH,
    ENTRY_POINT_GROUP,
    BackendInfo,
    backend_infos,
    framework_installed,
    installed_backends,
    load_backend,
    plugin_manager,
)
from .backend import CONTRACT_VERSION
from .testing import REFERENCE_BACKENDS

#: The environment variables bridge reads, and those of the frameworks that change what it does.
ENVIRONMENT = {
    "BRIDGE_BACKEND": "the default backend",
    AUTOLOAD_SWITCH: "installed backend plugins are not loaded: register backends yourself",
    "BRIDGE_HYPOTHESIS_EXAMPLES": "hypothesis examples per property test of the conformance kit",
    "CI": "the conformance kit's property tests are derandomized",
    "CUDA_VISIBLE_DEVICES": "the GPUs torch and TensorFlow see",
    "TF_CPP_MIN_LOG_LEVEL": "TensorFlow's log level",
    "TF_ENABLE_ONEDNN_OPTS": "TensorFlow's oneDNN kernels on the CPU",
    "TF_FORCE_GPU_ALLOW_GROWTH": "TensorFlow takes GPU memory as needed",
    "PYTORCH_CUDA_ALLOC_CONF": "torch's GPU memory allocator",
    "KERAS_BACKEND": "Keras 3's own backend, read by Keras, not by bridge",
}

#: The backend plugins of this repository: distribution, what ``pip install`` takes from PyPI,
#: and from a clone (the framework versions the README installs: torch 2.13, tensorflow-cpu).
KNOWN_PLUGINS = {
    "torch": ("bridge-torch", "bridge-torch", "torch==2.13.0 -e plugins/torch"),
    "tensorflow": (
        "bridge-tensorflow",
        '"bridge-tensorflow[cpu]"',
        "tensorflow-cpu==2.21.0 -e plugins/tensorflow",
    ),
}

#: What to install instead of a framework's CPU-only build on a GPU machine.
GPU_BUILDS = {"torch": "torch", "tensorflow": "tensorflow[and-cuda]"}

#: Optional packages: import name, distribution, bridge's extra that brings it, what needs it.
OPTIONAL = [
    ("sklearn", "scikit-learn", "examples", "the data sets of `python -m bridge demo`"),
    ("matplotlib", "matplotlib", "examples", "the plots of examples/ and its notebook lab.ipynb"),
    ("pytest", "pytest", "testing", "`python -m bridge check`, bridge's backend test suite"),
    ("hypothesis", "hypothesis", "testing", "`python -m bridge check`, bridge's backend test suite"),
]


def source_tree() -> Path | None:
    """The clone bridge runs from (an editable install), or None for an installed package."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "plugins").is_dir():
        return root
    return None


def python_command(folder: Path | None = None) -> str:
    """This Python as a shell command run in ``folder`` (default: the current one): its path
    relative to ``folder`` where it lies inside it (``.venv/bin/python``), else the absolute one.
    It is this environment's Python, so its pip installs here, activated or not."""
    executable = sys.executable or "python"
    try:
        relative = os.path.relpath(executable, folder or Path.cwd())
    except ValueError:  # another drive, on Windows
        relative = os.pardir
    if relative.split(os.sep)[0] == os.pardir or (os.altsep and relative.split(os.altsep)[0] == os.pardir):
        chosen = executable
    elif os.sep in relative or (os.altsep and os.altsep in relative):
        chosen = relative
    else:
        chosen = os.curdir + os.sep + relative  # a bare name would be looked up on the PATH
    return chosen if os.name == "nt" else shlex.quote(chosen)


def pip_install(arguments: str) -> dict[str, str | None]:
    """``{"install": command, "cwd": folder}``: the command that runs ``pip install ARGUMENTS``
    with this Python, and the folder to run it in (a clone's; None: anywhere)."""
    root = source_tree()
    command = f"{python_command(root)} -m pip install {arguments}"
    return {"install": command, "cwd": str(root) if root else None}


def extra_arguments(extra: str) -> str:
    """What ``pip install`` takes for one of bridge's extras: the clone, or bridge from PyPI."""
    return f'-e ".[{extra}]"' if source_tree() else f'"bridge[{extra}]"'


def install_text(command: Mapping[str, str | None]) -> str:
    """A :func:`pip_install` result as one line of text: the command, and where to run it."""
    return f"{command['install']}   (in {command['cwd']})" if command["cwd"] else str(command["install"])


def extra_install(extra: str) -> str:
    """The command that installs one of bridge's extras, from a clone or from PyPI, as text."""
    return install_text(pip_install(extra_arguments(extra)))


def plugin_entry_points() -> dict[str, metadata.EntryPoint]:
    """The installed entry points of the group ``bridge.backends``, by name (loaded or not)."""
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _declaring_plugins() -> dict[str, str]:
    """Backend name -> the name of the pluggy plugin that declares it (first declaration wins,
    as in the registry); for an entry-point plugin that is the entry point's name."""
    owners: dict[str, str] = {}
    for impl in reversed(plugin_manager().hook.bridge_backends.get_hookimpls()):  # call order
        for info in cast("list[BackendInfo]", impl.function()):
            owners.setdefault(info.name, impl.plugin_name)
    return owners


def _plugin_facts(plugin_name: str | None, entry_points: Mapping[str, metadata.EntryPoint]) -> dict:
    ep = entry_points.get(plugin_name or "")
    if ep is None:
        return {"distribution": None, "version": None, "entry_point": None, "in_process": True}
    dist = ep.dist
    return {
        "distribution": dist.name if dist else None,
        "version": dist.version if dist else None,
        "entry_point": f"{ep.name} = {ep.value}",
        "in_process": False,
    }


def _backend_facts(name: str, info: BackendInfo, plugin: dict) -> dict:
    facts: dict[str, Any] = {
        "name": name,
        "framework": info.framework,
        "installed": framework_installed(info),
        "framework_version": None,
        "devices": None,
        "contract_version": None,
        "build": None,
        "plugin": plugin,
        "error": None,
    }
    if not facts["installed"]:
        install = pip_install(_pip_arguments(info))["install"]
        facts["error"] = f"{info.framework} is not installed: {install}"
        return facts
    try:
        backend = load_backend(name)
        facts["framework_version"] = backend.version()
        facts["devices"] = list(backend.devices())
        facts["contract_version"] = type(backend).contract_version
    except Exception as exc:  # a broken install is reported, not raised: that is what info is for
        facts["error"] = f"{type(exc).__name__}: {exc}"
        return facts
    no_gpu = not any(device.startswith("gpu") for device in facts["devices"])
    if no_gpu and cpu_only_build(info.framework):
        facts["build"] = "cpu-only"
    return facts


def _pip_arguments(info: BackendInfo) -> str:
    """What ``pip install`` takes for a backend's missing framework: its ``pip_name`` less any
    remark in parentheses (``tensorflow  (or tensorflow-cpu)``: ``tensorflow``)."""
    return re.sub(r"\s*\(.*\)\s*$", "", info.pip_name or "") or str(info.framework)


def cpu_only_build(framework: str | None) -> bool:
    """Whether ``framework``, loaded already, is a CPU-only build, one that cannot use a GPU:
    torch built without CUDA or ROCm (``2.13.0+cpu``; not on macOS, where no build has CUDA),
    or the ``tensorflow-cpu`` distribution. Imports nothing that is not imported."""
    if framework == "torch":
        torch = sys.modules.get("torch")
        version = getattr(torch, "version", None)
        if torch is None or version is None or sys.platform == "darwin":
            return False
        if "+cpu" in str(getattr(torch, "__version__", "")):
            return True
        return getattr(version, "cuda", None) is None and getattr(version, "hip", None) is None
    if framework == "tensorflow":
        try:
            metadata.distribution("tensorflow-cpu")
        except metadata.PackageNotFoundError:
            return False
        return True
    return False


def default_backend_problem(name: str | None) -> str | None:
    """What is wrong with the default backend ``name`` (from ``BRIDGE_BACKEND``), or None: a
    name that is not an installed backend makes bridge fail where it needs a backend."""
    if name is None or name in installed_backends():
        return None
    return f"BRIDGE_BACKEND names {name}, which is not installed: bridge fails on it"


def environment_facts(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The variables of :data:`ENVIRONMENT` that are set, and any other ``BRIDGE_*`` one (which
    bridge does not read: a typo, most likely)."""
    facts = {
        name: {"value": environ[name], "meaning": meaning}
        for name, meaning in ENVIRONMENT.items()
        if name in environ
    }
    for name in sorted(environ):
        if name.startswith("BRIDGE_") and name not in facts and name not in ENVIRONMENT:
            facts[name] = {"value": environ[name], "meaning": "not a variable bridge reads"}
    return facts


def command_facts(path: str | None = None) -> dict[str, Any]:
    """Whether ``bridge`` on the PATH (``path``: that of the environment) is this environment's
    console script; iproute2's ``bridge`` (/sbin/bridge) is on most Linux systems."""
    ours = Path(sysconfig.get_path("scripts")) / ("bridge.exe" if os.name == "nt" else "bridge")
    found = shutil.which("bridge", path=path)
    facts: dict[str, Any] = {
        "console_script": str(ours) if ours.is_file() else None,
        "on_path": found,
        "clash": False,
        "advice": None,
    }
    if found is None:
        facts["advice"] = f"no `bridge` on your PATH: use `python -m bridge`{_activate(ours)}"
    elif not (ours.is_file() and os.path.samefile(found, ours)):
        if _is_bridge_script(Path(found)):
            whose = "another environment's"
        else:
            facts["clash"] = True
            whose = "not bridge's"
        facts["advice"] = (
            f"`bridge` on your PATH is {found}, {whose}: use `python -m bridge`{_activate(ours)}"
        )
    return facts


def _activate(script: Path) -> str:
    """How to make ``script``, this environment's ``bridge``, the one the shell finds (the end
    of the advice: empty where the environment has no such script)."""
    if not script.is_file():
        return ""
    folder = script.parent
    activate = folder / ("activate.bat" if os.name == "nt" else "activate")
    if activate.is_file():
        run = str(activate) if os.name == "nt" else f"source {activate}"
        return f", or activate this environment, `{run}`, so that `bridge` is {script}"
    return f", or put {folder} first on your PATH, so that `bridge` is {script}"


def _is_bridge_script(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return b"bridge.cli" in file.read(4096)
    except OSError:
        return False


def _missing(backends: list[dict], entry_points: Mapping[str, metadata.EntryPoint]) -> list[dict]:
    """What is missing: ``{"what", "for", "install", "cwd"}`` each, ``install`` a command to run
    in the folder ``cwd`` (None: anywhere)."""
    clone = source_tree() is not None
    missing = []
    for name, (distribution, from_pypi, from_clone) in KNOWN_PLUGINS.items():
        if name not in entry_points:
            install = pip_install(from_clone if clone else from_pypi)
            missing.append({"what": distribution, "for": f"the {name} backend", **install})
    infos = backend_infos()
    for backend in backends:
        if not backend["installed"]:
            info = infos[backend["name"]]
            missing.append(
                {
                    "what": backend["framework"],
                    "for": f"the {backend['name']} backend",
                    **pip_install(_pip_arguments(info)),
                }
            )
    for module, distribution, extra, needed_by in OPTIONAL:
        if importlib.util.find_spec(module) is None:
            missing.append({"what": distribution, "for": needed_by, **pip_install(extra_arguments(extra))})
    return missing


def gather(environ: Mapping[str, str] | None = None, path: str | None = None) -> dict[str, Any]:
    """Every fact ``info`` reports, JSON-ready. ``environ``: the environment to report (default
    ``os.environ``); ``path``: the PATH to look ``bridge`` up on (default the environment's)."""
    environ = os.environ if environ is None else environ
    entry_points = plugin_entry_points()
    owners = _declaring_plugins()
    backends = [
        _backend_facts(name, info, _plugin_facts(owners.get(name), entry_points))
        for name, info in backend_infos().items()
    ]
    return {
        "bridge": {
            "version": __version__,
            "location": str(Path(__file__).resolve().parent),
            "source_tree": str(source_tree()) if source_tree() else None,
            "contract_version": CONTRACT_VERSION,
            "python": platform.python_version(),
            "executable": sys.executable,
        },
        "default_backend": default_backend_name(environ),
        "default_backend_problem": default_backend_problem(default_backend_name(environ)),
        "backends": backends,
        "plugins_not_loaded": sorted(name for name in entry_points if not plugin_manager().has_plugin(name)),
        "reference_backends": dict(REFERENCE_BACKENDS),
        "environment": environment_facts(environ),
        "missing": _missing(backends, entry_points),
        "command": command_facts(path),
    }


def render(facts: Mapping[str, Any]) -> str:
    """``facts`` (from :func:`gather`) as the text ``info`` prints."""
    core = facts["bridge"]
    default = facts["default_backend"]
    problem = facts["default_backend_problem"]
    not_loaded = facts["plugins_not_loaded"]
    lines = [
        f"bridge {core['version']} ({core['location']}), backend contract {core['contract_version']}",
        f"Python {core['python']} ({core['executable']})",
        "",
        f"backends (default: {default or 'none'}{', not installed' if problem else ''}):",
    ]
    for backend in facts["backends"]:
        head = f"  {backend['name']:<12}"
        if backend["error"]:
            lines.append(f"{head}error: {backend['error']}")
        else:
            devices = ", ".join(backend["devices"])
            lines.append(f"{head}{backend['framework']} {backend['framework_version']}, devices: {devices}")
        plugin = backend["plugin"]
        if plugin["in_process"]:
            where = "registered in this process by bridge.register_backend"
        else:
            where = (
                f"plugin {plugin['distribution']} {plugin['version']}, entry point {plugin['entry_point']}"
            )
        if backend["contract_version"] is not None:
            where += f", contract {backend['contract_version']}"
        lines.append(f"  {'':<12}{where}")
        if backend["build"] == "cpu-only":
            gpu_build = GPU_BUILDS.get(backend["framework"], backend["framework"])
            lines.append(f"  {'':<12}CPU-only build: on a GPU machine install `{gpu_build}` instead")
    if not_loaded:
        lines.append(
            f"  {'none loaded' if not facts['backends'] else 'not loaded'}: {AUTOLOAD_SWITCH} is set, so "
            f"bridge does not load the installed plugins {', '.join(not_loaded)}"
        )
    elif not facts["backends"]:
        lines.append("  none installed: see what is missing below")
    if problem:
        lines.append(f"  {problem}")
    lines += ["", "reference backends, for `check` only:"]
    for name in facts["reference_backends"]:
        lines.append(f"  {name:<12}python -m bridge check --backend {name}")
    lines += ["", "environment:"]
    if facts["environment"]:
        for name, fact in facts["environment"].items():
            lines.append(f"  {name}={fact['value']}   ({fact['meaning']})")
    else:
        lines.append("  none of bridge's variables is set")
    lines += ["", "missing:"]
    for item in facts["missing"]:
        lines.append(f"  {item['what']}, for {item['for']}:")
        lines.append(f"    {install_text(item)}")
    unchecked = "the frameworks of the plugins not loaded were not checked"
    if not facts["missing"]:
        lines.append(f"  nothing found, but {unchecked}" if not_loaded else "  nothing")
    elif not_loaded:
        lines.append(f"  {unchecked}")
    lines += ["", "command:"]
    command = facts["command"]
    if command["advice"]:
        lines.append(f"  {command['advice']}")
    else:
        lines.append(f"  `bridge` on your PATH is this environment's: {command['on_path']}")
    return "\n".join(lines)
