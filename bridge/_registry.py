"""Things given by name or by config (activations, initializers, layers, losses, metrics, ...).

One ``Registry`` per kind is the one place behind that module's ``get``, ``serialize`` and
``deserialize``. A config is Keras' ``{"class_name": ..., "config": {...}}``; classes and functions
of your own are found through ``register_serializable`` (every kind at once, by ``"package>Name"``)
or ``custom_objects``, which also reach nested configs (a ``Sequential``'s layers). Nothing is ever
imported by a name read from a config."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any, TypeVar

from .errors import ArgumentTypeError, InvalidArgumentError

_CUSTOM_OBJECTS: ContextVar[Mapping[str, Any]] = ContextVar(
    "bridge_custom_objects", default=MappingProxyType({})
)


T = TypeVar("T")

#: Classes and functions of your own, by their registered name ``"package>Name"``, and back.
_REGISTERED: dict[str, Any] = {}
_REGISTERED_NAMES: dict[Any, str] = {}


def register_serializable(package: str = "Custom", name: str | None = None) -> Callable[[T], T]:
    """Decorate a class (a layer, loss, metric, optimizer, schedule, ...) or a function so that
    configs find it by name, as Keras' ``register_keras_serializable``: it is saved under
    ``"package>Name"`` and loaded back by ``load_model`` without ``custom_objects``."""
    if callable(package):  # ``@register_serializable`` written without its parentheses
        raise ArgumentTypeError(
            f"register_serializable: write @register_serializable() (with parentheses) above "
            f"{getattr(package, '__name__', package)!r}, or @register_serializable(package='MyPackage')"
        )
    if not isinstance(package, str) or ">" in package:
        raise InvalidArgumentError(
            f"register_serializable: package must be a name without '>', got {package!r}"
        )

    def register(obj: T) -> T:
        key = f"{package}>{name or getattr(obj, '__name__', '')}"
        if key in _REGISTERED and _definition(_REGISTERED[key]) != _definition(obj):
            raise InvalidArgumentError(
                f"register_serializable: {key!r} is already registered to {_REGISTERED[key]!r}"
            )
        _REGISTERED[key], _REGISTERED_NAMES[obj] = obj, key
        return obj

    return register


def _definition(obj: Any) -> tuple[Any, ...]:
    """Where ``obj`` is defined: registering the same definition again (a notebook cell run
    twice, a module reloaded) replaces the old class, as Keras does; another one is an error.
    An object without a ``__qualname__`` (a ``functools.partial``) is only itself."""
    qualname = getattr(obj, "__qualname__", None)
    return (getattr(obj, "__module__", None), qualname) if qualname is not None else (id(obj),)


def registered_name(obj: Any) -> str | None:
    """The name ``register_serializable`` gave ``obj`` (a class or function), or None."""
    try:
        return _REGISTERED_NAMES.get(obj)
    except TypeError:  # unhashable
        return None


def snake_case(name: str) -> str:
    """``"MeanSquaredError"`` -> ``"mean_squared_error"``, as Keras names things
    (``"Conv2DTranspose"`` -> ``"conv2d_transpose"``, ``"AdamW"`` -> ``"adam_w"``)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _normal(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def config_of(obj: Any) -> dict[str, Any]:
    """``{"class_name": ..., "config": obj.get_config()}``, with ``"registered_name"`` for a class
    registered with ``register_serializable``."""
    registered = registered_name(type(obj))
    return {
        "class_name": type(obj).__name__,
        "config": obj.get_config(),
        **({"registered_name": registered} if registered else {}),
    }


@contextmanager
def custom_object_scope(custom_objects: Mapping[str, Any] | None) -> Iterator[None]:
    """Make ``custom_objects`` (names to classes or functions) known to every lookup inside."""
    token = _CUSTOM_OBJECTS.set({**_CUSTOM_OBJECTS.get(), **(custom_objects or {})})
    try:
        yield
    finally:
        _CUSTOM_OBJECTS.reset(token)


class Registry:
    """The built-in things of one ``kind`` by name (several names may share one thing).

    A name is found ignoring case, ``_`` and ``-``, so a class name (``"MeanSquaredError"``)
    finds the thing registered as ``"mean_squared_error"``. ``base`` is the class of instances
    that ``get`` passes through; ``callables`` says whether it passes other callables through."""

    def __init__(
        self, kind: str, known: Mapping[str, Any], base: type | None = None, callables: bool = True
    ) -> None:
        self.kind, self.known, self.base, self.callables = kind, dict(known), base, callables

    def register(self, *objects: Any) -> None:
        """Make classes (or functions) known by their ``__name__``."""
        self.known.update({obj.__name__: obj for obj in objects})

    def lookup(self, name: str, custom_objects: Mapping[str, Any] | None = None) -> Any:
        """The thing under ``name``: given in ``custom_objects`` (by its name, or by ``Name`` for a
        registered ``"package>Name"``), registered with ``register_serializable``, or built in (a
        plain ``Name`` also finds the one registered class of that name)."""
        custom = {**_CUSTOM_OBJECTS.get(), **(custom_objects or {})}
        short = name.rsplit(">", 1)[-1]
        for key in (name, short):
            if key in custom:
                return custom[key]
        if name in _REGISTERED:
            return _REGISTERED[name]
        if short == name:
            table = {_normal(key): value for key, value in {**self.known, **custom}.items()}
            if _normal(name) in table:
                return table[_normal(name)]
            registered = [value for key, value in _REGISTERED.items() if key.split(">", 1)[1] == name]
            if len(registered) == 1:
                return registered[0]
        known = ", ".join(sorted(self.known))
        raise InvalidArgumentError(
            f"unknown {self.kind} {name!r}; known: {known}. A class or function of your own is found "
            "when it is decorated with @bridge.nn.register_serializable() or given as "
            f"custom_objects={{{short!r}: ...}}"
        )

    def _function(self, name: Any, custom_objects: Mapping[str, Any] | None) -> Any:
        """A function of your own saved by name: from ``custom_objects`` or registered, only."""
        custom = {**_CUSTOM_OBJECTS.get(), **(custom_objects or {})}
        if isinstance(name, str):
            if name in custom:
                return custom[name]
            found = [value for key, value in _REGISTERED.items() if name in (key, key.split(">", 1)[1])]
            if len(found) == 1:
                return found[0]
        raise InvalidArgumentError(
            f"unknown {self.kind} function {name!r}: a function of your own is found when it is given "
            f"as custom_objects={{{name!r}: ...}} or decorated with @bridge.nn.register_serializable()"
        )

    def get(self, identifier: Any, custom_objects: Mapping[str, Any] | None = None) -> Any:
        """An object from a name (a class is instantiated with its defaults), a config dict, or
        an object passed through (an instance of ``base``, or a callable where allowed)."""
        if isinstance(identifier, dict):
            return self.deserialize(identifier, custom_objects)
        if isinstance(identifier, str):
            found = self.lookup(identifier, custom_objects)
            return found() if isinstance(found, type) else found
        if isinstance(identifier, type) and self.base is not None and issubclass(identifier, self.base):
            return identifier()
        if (self.base is not None and isinstance(identifier, self.base)) or (
            self.callables and callable(identifier)
        ):
            return identifier
        other = (
            "a callable" if self.callables or self.base is None else f"an instance of {self.base.__name__}"
        )
        raise ArgumentTypeError(f"{self.kind}: expected a name, a config or {other}, got {identifier!r}")

    def serialize(self, obj: Any) -> Any:
        """A config for an object with ``get_config``; the name of a built-in or registered
        function; for a function of your own, Keras' ``{"class_name": "function", "config":
        name}`` (found again only through ``custom_objects``, never taken for a built-in of the
        same name); anything else (a lambda) as itself, which no file can hold."""
        if not isinstance(obj, type) and hasattr(obj, "get_config"):
            return config_of(obj)
        name = registered_name(obj) or next(
            (name for name, value in self.known.items() if value is obj), None
        )
        if name is not None:
            return name
        if inspect.isfunction(obj) and obj.__name__ != "<lambda>":
            return {"class_name": "function", "config": obj.__name__}
        return obj

    def deserialize(self, config: Any, custom_objects: Mapping[str, Any] | None = None) -> Any:
        """The object ``serialize`` described: from a name, or from a config via the class's
        ``from_config`` (else its constructor)."""
        if isinstance(config, str):
            return self.get(config, custom_objects)
        if isinstance(config, dict) and config.get("class_name") == "function":
            return self._function(config.get("config"), custom_objects)
        try:
            name = config.get("registered_name") or config["class_name"]
            arguments = config.get("config", {})
        except (KeyError, TypeError, AttributeError):
            raise InvalidArgumentError(
                f"a {self.kind} config is {{'class_name': ..., 'config': {{...}}}}, got {config!r}"
            ) from None
        if not isinstance(name, str) or not isinstance(arguments, dict):
            raise InvalidArgumentError(f"a {self.kind} config names a class by a string, got {config!r}")
        with custom_object_scope(custom_objects):
            cls = self.lookup(name)
            from_config = getattr(cls, "from_config", None)
            return from_config(arguments) if from_config is not None else cls(**arguments)
