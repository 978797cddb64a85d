"""``require(package, what)``: import a framework that an interop piece needs, or say how to
install it (``br.FrameworkNotInstalledError``, worded as the backend plugins' error)."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import FrameworkNotInstalledError


def require(package: str, what: str) -> ModuleType:
    """The imported ``package`` (``"torch"``, ``"keras"``); if it is not installed, a
    ``FrameworkNotInstalledError`` naming ``what`` needs it and the pip command."""
    try:
        return importlib.import_module(package)
    except ImportError as error:
        if error.name != package:
            raise  # the package is there but one of its own imports failed: its error says more

        raise FrameworkNotInstalledError(
            f"{what} needs {package}, which is not installed: pip install {package}"
        ) from error
