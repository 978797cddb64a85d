"""Backend discovery: pluggy hook specs, the plugin manager and the backend registry.

Pluggy finds which backends exist (once, lazily); it is never on the per-op path. Registering a
plugin imports only the plugin's small module, never its framework: a backend's ``load`` runs on
first use of that backend.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pluggy

from .backend import Backend, missing_primitives
from .errors import BridgeError, FrameworkNotInstalledError, UnknownBackendError

ENTRY_POINT_GROUP = "bridge.backends"
AUTOLOAD_SWITCH = "BRIDGE_DISABLE_PLUGIN_AUTOLOAD"
hookspec = pluggy.HookspecMarker("bridge")
hookimpl = pluggy.HookimplMarker("bridge")

#: Where the plugins bridge knows of come from, for the "pip install" hint.
KNOWN_PLUGINS = {"torch": "bridge-torch", "tensorflow": "bridge-tensorflow"}


@dataclass(frozen=True)
class BackendInfo:
    """What a plugin declares about one backend, without importing its framework.

    ``load`` is a ``"module:attribute"`` path or a callable returning the Backend (or its class).
    ``framework`` is the import name of the framework (``None`` for none); ``pip_name`` what to
    install when it is missing; ``native_modules`` the top-level modules whose tensor types this
    backend owns (used to recognise native tensors by type, without importing anything).
    """

    name: str
    load: str | Callable[[], Backend | type[Backend]]
    framework: str | None = None
    pip_name: str | None = None
    native_modules: tuple[str, ...] = field(default=())


class BackendSpecs:
    """Hook specifications a backend plugin implements."""

    @hookspec
    def bridge_backends(self) -> list[BackendInfo]:
        """Return the backends this plugin provides."""


_lock = threading.RLock()
_manager: pluggy.PluginManager | None = None
_infos: dict[str, BackendInfo] | None = None
_loaded: dict[str, Backend] = {}


def plugin_manager() -> pluggy.PluginManager:
    """The plugin manager, loading the ``bridge.backends`` entry points on first call."""
    global _manager
    with _lock:
        if _manager is None:
            manager = pluggy.PluginManager("bridge")
            manager.add_hookspecs(BackendSpecs)
            if os.environ.get(AUTOLOAD_SWITCH, "") in ("", "0"):
                manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
            _manager = manager
        return _manager


def backend_infos() -> dict[str, BackendInfo]:
    """Every declared backend by name (first declaration wins)."""
    global _infos
    with _lock:
        if _infos is None:
            infos: dict[str, BackendInfo] = {}
            for declared in plugin_manager().hook.bridge_backends():
                for info in declared:
                    infos.setdefault(info.name, info)
            _infos = infos
        return _infos


def framework_installed(info: BackendInfo) -> bool:
    return info.framework is None or importlib.util.find_spec(info.framework) is not None


def installed_backends() -> list[str]:
    return [name for name, info in backend_infos().items() if framework_installed(info)]


@functools.cache
def _distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def framework_version(info: BackendInfo) -> str:
    """The installed framework's version, read from package metadata (nothing is imported)."""
    if info.framework is None:
        return ""
    for dist in _distributions().get(info.framework, []):
        return importlib.metadata.version(dist)
    return getattr(importlib.import_module(info.framework), "__version__", "")


class _InProcessPlugin:
    def __init__(self, info: BackendInfo) -> None:
        self.info = info

    @hookimpl
    def bridge_backends(self) -> list[BackendInfo]:
        return [self.info]


def register_backend(
    name: str,
    backend: Backend | type[Backend] | Callable[[], Backend] | str,
    *,
    framework: str | None = None,
    pip_name: str | None = None,
    native_modules: tuple[str, ...] = (),
) -> None:
    """Register a backend in this process, through the same plugin manager as installed plugins.

    ``backend`` is a Backend instance, a Backend class or factory, or a ``"module:attr"`` path.
    """
    global _infos
    load = (lambda: backend) if isinstance(backend, Backend) else backend
    info = BackendInfo(name, load, framework, pip_name, tuple(native_modules))
    with _lock:
        if name in backend_infos():
            raise BridgeError(f"a backend named {name!r} is already registered")
        plugin_manager().register(_InProcessPlugin(info), name=f"bridge-backend-{name}")
        _infos = None


def load_backend(name: str) -> Backend:
    """The Backend instance for ``name``, importing its framework on first use."""
    backend = _loaded.get(name)
    if backend is not None:
        return backend
    with _lock:
        if name not in _loaded:
            _loaded[name] = _instantiate(_info(name))
        return _loaded[name]


def _info(name: str) -> BackendInfo:
    info = backend_infos().get(name)
    if info is None:
        installed = ", ".join(installed_backends()) or "none"
        hint = (
            f"install it with: pip install {KNOWN_PLUGINS[name]}"
            if name in KNOWN_PLUGINS
            else "a third-party backend is installed as a plugin under the entry-point group "
            f"'{ENTRY_POINT_GROUP}', or registered with bridge.register_backend()"
        )
        raise UnknownBackendError(f"unknown backend {name!r} (installed: {installed}); {hint}")
    return info


def _instantiate(info: BackendInfo) -> Backend:
    try:
        if isinstance(info.load, str):
            module, _, attr = info.load.partition(":")
            loaded = getattr(importlib.import_module(module), attr)
        else:
            loaded = info.load()
    except ImportError as exc:
        if info.framework is not None and not framework_installed(info):
            raise FrameworkNotInstalledError(
                f"backend {info.name!r} needs {info.framework}, which is not installed: "
                f"pip install {info.pip_name or info.framework}"
            ) from exc
        raise
    backend = loaded() if isinstance(loaded, type) else loaded
    if not isinstance(backend, Backend):
        raise BridgeError(f"backend {info.name!r} loaded {backend!r}, which is not a bridge Backend")
    missing = missing_primitives(backend)
    if missing:
        raise BridgeError(f"backend {info.name!r} lacks primitives: {', '.join(missing)}")
    return backend


_native_owner: dict[type, str | None] = {}


def native_backend_name(x: object) -> str | None:
    """The backend owning a native tensor type, by module name, cached per type."""
    kind = type(x)
    try:
        return _native_owner[kind]
    except KeyError:
        pass
    root = kind.__module__.partition(".")[0]
    owner = None
    for name, info in backend_infos().items():
        if root in info.native_modules and load_backend(name).is_native(x):
            owner = name
            break
    _native_owner[kind] = owner
    return owner
