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
import shutil
import sys
import sysconfig
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, cast

from . import __version__
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

#: The reference backends of bridge.testing that ``--bridge-backends`` registers on demand: those
#: of ``bridge.testing.plugin.REFERENCE_BACKENDS``, named here since that module needs pytest.
REFERENCE_BACKENDS = {"numpy": "bridge.testing.numpy_backend:NumpyBackend"}

#: The environment variables bridge reads, and those of the frameworks that change what it does.
ENVIRONMENT = {
    "BRIDGE_BACKEND": "the default backend",
    AUTOLOAD_SWITCH: "installed backend plugins are not loaded (register backends yourself)",
    "BRIDGE_HYPOTHESIS_EXAMPLES": "hypothesis examples per property test of the conformance kit",
    "CI": "the conformance kit's property tests are derandomized",
    "CUDA_VISIBLE_DEVICES": "the GPUs torch and TensorFlow see",
    "TF_CPP_MIN_LOG_LEVEL": "TensorFlow's log level",
    "TF_ENABLE_ONEDNN_OPTS": "TensorFlow's oneDNN kernels on the CPU",
    "TF_FORCE_GPU_ALLOW_GROWTH": "TensorFlow takes GPU memory as needed",
    "PYTORCH_CUDA_ALLOC_CONF": "torch's GPU memory allocator",
    "KERAS_BACKEND": "Keras 3's own backend (read by Keras, not by bridge)",
}

#: The backend plugins of this repository: distribution, what to install from PyPI, and from a
#: clone (the framework versions the README installs: torch's CPU build, tensorflow-cpu).
KNOWN_PLUGINS = {
    "torch": ("bridge-torch", "pip install bridge-torch", "pip install torch==2.13.0 -e plugins/torch"),
    "tensorflow": (
        "bridge-tensorflow",
        'pip install "bridge-tensorflow[cpu]"',
        "pip install tensorflow-cpu==2.21.0 -e plugins/tensorflow",
    ),
}

#: Optional packages: import name, distribution, bridge's extra that brings it, what needs it.
OPTIONAL = [
    ("sklearn", "scikit-learn", "examples", "`python -m bridge demo` (the lab's data sets)"),
    ("matplotlib", "matplotlib", "examples", "the plots of the examples and the lab notebook"),
    ("pytest", "pytest", "testing", "`python -m bridge check` (the conformance kit)"),
    ("hypothesis", "hypothesis", "testing", "`python -m bridge check` (the conformance kit)"),
]


def source_tree() -> Path | None:
    """The clone bridge runs from (an editable install), or None for an installed package."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "plugins").is_dir():
        return root
    return None


def extra_install(extra: str) -> str:
    """The command that installs one of bridge's extras, from a clone or from PyPI."""
    root = source_tree()
    return f'pip install -e ".[{extra}]"   (in {root})' if root else f'pip install "bridge[{extra}]"'


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
        "plugin": plugin,
        "error": None,
    }
    if not facts["installed"]:
        facts["error"] = f"{info.framework} is not installed: pip install {info.pip_name or info.framework}"
        return facts
    try:
        backend = load_backend(name)
        facts["framework_version"] = backend.version()
        facts["devices"] = list(backend.devices())
        facts["contract_version"] = type(backend).contract_version
    except Exception as exc:  # a broken install is reported, not raised: that is what info is for
        facts["error"] = f"{type(exc).__name__}: {exc}"
    return facts


def _default_backend(environ: Mapping[str, str]) -> str | None:
    chosen = environ.get("BRIDGE_BACKEND")
    if chosen:
        return chosen
    installed = installed_backends()
    return installed[0] if installed else None


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
        facts["advice"] = "no `bridge` on your PATH: use `python -m bridge` (or activate this environment)"
    elif not (ours.is_file() and os.path.samefile(found, ours)):
        if _is_bridge_script(Path(found)):
            facts["advice"] = (
                f"`bridge` on your PATH is {found}, another environment's: use `python -m bridge`"
            )
        else:
            facts["clash"] = True
            facts["advice"] = f"`bridge` on your PATH is {found}, not bridge's: use `python -m bridge`"
    return facts


def _is_bridge_script(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return b"bridge.cli" in file.read(4096)
    except OSError:
        return False


def _missing(backends: list[dict], entry_points: Mapping[str, metadata.EntryPoint]) -> list[dict]:
    root = source_tree()
    missing = []
    for name, (distribution, from_pypi, from_clone) in KNOWN_PLUGINS.items():
        if name not in entry_points:
            install = f"{from_clone}   (in {root})" if root else from_pypi
            missing.append({"what": distribution, "for": f"the {name} backend", "install": install})
    for backend in backends:
        if not backend["installed"]:
            missing.append(
                {
                    "what": backend["framework"],
                    "for": f"the {backend['name']} backend",
                    "install": backend["error"].partition(": ")[2],
                }
            )
    for module, distribution, extra, needed_by in OPTIONAL:
        if importlib.util.find_spec(module) is None:
            missing.append({"what": distribution, "for": needed_by, "install": extra_install(extra)})
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
        "default_backend": _default_backend(environ),
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
    lines = [
        f"bridge {core['version']} ({core['location']}), backend contract {core['contract_version']}",
        f"Python {core['python']} ({core['executable']})",
        "",
        f"backends (default: {facts['default_backend'] or 'none'}):",
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
            where = "registered in this process (bridge.register_backend)"
        else:
            where = (
                f"plugin {plugin['distribution']} {plugin['version']}, entry point {plugin['entry_point']}"
            )
        if backend["contract_version"] is not None:
            where += f", contract {backend['contract_version']}"
        lines.append(f"  {'':<12}{where}")
    if not facts["backends"]:
        lines.append("  none installed")
    for name in facts["plugins_not_loaded"]:
        lines.append(f"  plugin {name!r} is installed but not loaded ({AUTOLOAD_SWITCH} is set)")
    for name in facts["reference_backends"]:
        lines.append(f"  {name:<12}bridge's reference backend, for `python -m bridge check --backend {name}`")
    lines += ["", "environment:"]
    if facts["environment"]:
        for name, fact in facts["environment"].items():
            lines.append(f"  {name}={fact['value']}   ({fact['meaning']})")
    else:
        lines.append("  none of bridge's variables is set")
    lines += ["", "missing:"]
    if facts["missing"]:
        for item in facts["missing"]:
            lines.append(f"  {item['what']}, for {item['for']}:")
            lines.append(f"    {item['install']}")
    else:
        lines.append("  nothing")
    lines += ["", "command:"]
    command = facts["command"]
    if command["advice"]:
        lines.append(f"  {command['advice']}")
    else:
        lines.append(f"  `bridge` on your PATH is this environment's ({command['on_path']})")
    return "\n".join(lines)
