"""Backend discovery: pluggy hook specs, the plugin manager and the backend registry.

Pluggy finds which backends exist (once, lazily); it is never on the per-op path. Registering a
plugin imports only the plugin's small module, never its framework: a backend's ``load`` runs on
first use of that backend.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pluggy

from .backend import CONTRACT_VERSION, Backend
from .errors import BridgeError, FrameworkNotInstalledError, IncompatibleBackendError, UnknownBackendError

ENTRY_POINT_GROUP = "bridge.backends"
AUTOLOAD_SWITCH = "BRIDGE_DISABLE_PLUGIN_AUTOLOAD"
hookspec = pluggy.HookspecMarker("bridge")
hookimpl = pluggy.HookimplMarker("bridge")


@dataclass(frozen=True)
class BackendInfo:
    """What a plugin declares about one backend, without importing its framework.

    ``load`` is a ``"module:attribute"`` path or a callable returning the Backend (or its class).
    ``framework`` is the import name of the framework (``None`` for none); ``pip_name`` what to
    install when it is missing; ``native_modules`` the top-level modules whose tensor types this
    backend owns (used to recognise native tensors by type, without importing anything);
    ``priority`` ranks installed backends for the default one (highest first, then by name).
    """

    name: str
    load: str | Callable[[], Backend | type[Backend]]
    framework: str | None = None
    pip_name: str | None = None
    native_modules: tuple[str, ...] = field(default=())
    priority: int = 0


class BackendSpecs:
    """Hook specifications a backend plugin implements."""

    @hookspec
    def bridge_backends(self) -> list[BackendInfo]:  # type: ignore[empty-body]
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
            if not _autoload_disabled():
                manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
            _manager = manager
        return _manager


def _autoload_disabled() -> bool:
    return os.environ.get(AUTOLOAD_SWITCH, "") not in ("", "0")


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
    """Backends whose framework is installed, the preferred default first (see ``priority``)."""
    infos = backend_infos()
    installed = [name for name, info in infos.items() if framework_installed(info)]
    return sorted(installed, key=lambda name: (-infos[name].priority, name))


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
    priority: int = 0,
) -> None:
    """Register a backend in this process, through the same plugin manager as installed plugins.

    ``backend`` is a Backend instance, a Backend class or factory, or a ``"module:attr"`` path.
    """
    global _infos
    load = (lambda: backend) if isinstance(backend, Backend) else backend
    info = BackendInfo(name, load, framework, pip_name, tuple(native_modules), priority)
    with _lock:
        if name in backend_infos():
            raise BridgeError(f"a backend named {name!r} is already registered")
        plugin_manager().register(_InProcessPlugin(info), name=f"bridge-backend-{name}")
        _infos = None
        _native_owner.clear()  # a type seen before may belong to the new backend


def unregister_backend(name: str) -> None:
    """Remove a backend that ``register_backend`` added to this process (installed plugins stay).

    Afterwards ``name`` is unknown again, and free to register anew. Leave no ``use_backend``
    block or ``set_backend`` choice of it in force: those keep the Backend they chose."""
    global _infos
    manager = plugin_manager()
    with _lock:
        plugin = manager.get_plugin(f"bridge-backend-{name}")
        if not isinstance(plugin, _InProcessPlugin):
            raise UnknownBackendError(f"no backend named {name!r} was registered with register_backend()")
        manager.unregister(plugin)
        _infos = None
        _loaded.pop(name, None)
        _native_owner.clear()


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
            f"plugin autoload is off ({AUTOLOAD_SWITCH} is set): register the backend with "
            "bridge.register_backend()"
            if _autoload_disabled()
            else f"install its plugin (by convention: pip install bridge-{name}), a package "
            f"declaring the entry-point group '{ENTRY_POINT_GROUP}', or register it with "
            "bridge.register_backend()"
        )
        raise UnknownBackendError(f"unknown backend {name!r} (installed: {installed}); {hint}")
    return info


def _instantiate(info: BackendInfo) -> Backend:
    try:
        if isinstance(info.load, str):
            module, _, attr = info.load.partition(":")
            loaded = getattr(importlib.import_module(module), attr)
        elif isinstance(info.load, type):  # instantiated below, once its contract is checked
            loaded = info.load
        else:
            loaded = info.load()
    except ImportError as exc:
        if info.framework is not None and not framework_installed(info):
            raise FrameworkNotInstalledError(
                f"backend {info.name!r} needs {info.framework}, which is not installed: "
                f"pip install {info.pip_name or info.framework}"
            ) from exc
        raise
    kind = loaded if isinstance(loaded, type) else type(loaded)
    if not issubclass(kind, Backend):
        raise BridgeError(f"backend {info.name!r} loaded {loaded!r}, which is not a bridge Backend")
    _check_contract(info.name, kind)
    # The core finds a tensor's backend again by its name (``use_backend(x.backend)``): an instance
    # made here from a class registered under another name (NumpyBackend as "mine") takes the
    # registered one; an instance given ready-made may be in use under its own name, so it must agree.
    if isinstance(loaded, type):
        backend: Backend = loaded()
        backend.name = info.name
    elif getattr(loaded, "name", None) != info.name:
        raise BridgeError(
            f"backend {info.name!r} loaded an instance named {getattr(loaded, 'name', None)!r}: "
            f"register its class instead, or an instance whose name is {info.name!r}"
        )
    else:
        backend = loaded
    return backend


def _check_contract(name: str, kind: type[Backend]) -> None:
    """A backend implements this bridge's contract version, and all of its primitives."""
    version = getattr(kind, "contract_version", None)
    if version != CONTRACT_VERSION:
        stated = "states no contract_version" if version is None else f"implements contract {version}"
        advice = (
            "upgrade bridge"
            if isinstance(version, int) and version > CONTRACT_VERSION
            else "upgrade the backend's plugin (or install a bridge version it supports)"
        )
        raise IncompatibleBackendError(
            f"backend {name!r} ({kind.__qualname__}) {stated}, but this bridge implements Backend "
            f"contract {CONTRACT_VERSION}: {advice}"
        )
    missing = sorted(getattr(kind, "__abstractmethods__", ()))
    if missing:
        raise BridgeError(
            f"backend {name!r} ({kind.__qualname__}) does not implement these Backend methods: "
            f"{', '.join(missing)}"
        )


_native_owner: dict[type, str | None] = {}


def _owners(x: object) -> list[str]:
    """Backends whose ``native_modules`` hold the top-level module of ``type(x)``."""
    root = type(x).__module__.partition(".")[0]
    return [name for name, info in backend_infos().items() if root in info.native_modules]


def native_backend_name(x: object) -> str | None:
    """The backend owning a native tensor type, by module name, cached per type."""
    kind = type(x)
    try:
        return _native_owner[kind]
    except KeyError:
        pass
    owner = next((name for name in _owners(x) if load_backend(name).is_native(x)), None)
    _native_owner[kind] = owner
    return owner


def pipeline_backend(x: object) -> str | None:
    """The backend whose framework's input pipeline ``x`` is (``Backend.is_pipeline``), else None;
    only backends owning ``type(x)``'s module are asked, so nothing is imported for other objects."""
    return next((name for name in _owners(x) if load_backend(name).is_pipeline(x)), None)


def framework_versions() -> dict[str, str]:
    """Installed backends: name -> the framework's version as the framework itself reports it
    (``Backend.version()``): this loads each backend, importing its framework."""
    return {name: load_backend(name).version() for name in installed_backends()}
