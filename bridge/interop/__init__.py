"""Interop with the frameworks themselves: bridge layers inside Keras 3 models
(``bridge.interop.keras.BridgeLayer``), export to native trainable code (``to_torch``,
``to_keras``, ``export``), and import of native models (``from_torch``, ``from_keras``), proven
with ``bridge.testing.assert_equivalent``.

Nothing here imports torch, TensorFlow or Keras until a function that needs it is called."""

from __future__ import annotations

import importlib
from typing import Any

# name -> the module of this package that defines it (imported on first use); no module is named
# after a function it defines: importing ``bridge.interop.export`` would make the package's
# ``export`` attribute that module
_LAZY = {
    "BridgeLayer": "keras",
    "to_keras": "keras",
    "to_torch": "torch",
    "export": "exporting",
    "from_torch": "torch_import",
    "from_keras": "keras_import",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'bridge.interop' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
