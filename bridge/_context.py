"""``ContextValue``: a ``contextvars.ContextVar`` (threads and asyncio tasks keep their own) that
code traced by a framework's compiler can read and set. torch.compile stops at a ContextVar, so
while a ``bridge.jit`` function runs (``compiled_scope``) the values live in thread-locals, copied
from the caller's context on the way in; what the function sets there is gone on the way out
(bridge sets them only for a block: a tape, a ``use_backend``)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_scope = threading.local()  # ``on`` while a compiled function runs on this thread
_every: list[ContextValue[Any]] = []


class ContextValue(Generic[T]):
    """A value of the current context, ``default`` until ``set``; ``reset(token)`` undoes a ``set``."""

    def __init__(self, name: str, default: T) -> None:
        self._var: ContextVar[T] = ContextVar(name, default=default)
        self._compiled = threading.local()  # the value inside ``compiled_scope``
        _every.append(self)

    def get(self) -> T:
        if getattr(_scope, "on", False) and hasattr(self._compiled, "value"):
            return self._compiled.value
        return self._var.get()  # (also for a value made while a compiled function runs)

    def set(self, value: T) -> Any:
        """Set ``value``; returns the token for ``reset``."""
        if getattr(_scope, "on", False):
            token = self._compiled.value
            self._compiled.value = value
            return token
        return self._var.set(value)

    def reset(self, token: Any) -> None:
        if getattr(_scope, "on", False):
            self._compiled.value = token
        else:
            self._var.reset(token)


def compiling() -> bool:
    """Whether a ``bridge.jit`` function runs (is traced, or runs eagerly) on this thread."""
    return getattr(_scope, "on", False)


@contextlib.contextmanager
def compiled_scope() -> Iterator[None]:
    """Run a compiled function inside: every ContextValue as the caller's context has it."""
    if getattr(_scope, "on", False):  # a compiled function calling another
        yield
        return
    for value in _every:
        value._compiled.value = value._var.get()
    _scope.on = True
    try:
        yield
    finally:
        _scope.on = False
