"""Where each part of a ported model comes from in the native one: written by ``from_torch`` /
``from_keras`` on the model they return (``model._native_sources``), read by
``bridge.testing.assert_equivalent`` to compare layer outputs, gradients and weights."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

Convert = Callable[..., np.ndarray]


@dataclass(frozen=True)
class WeightSource:
    """A bridge weight made of native weights.

    ``native``: the native names, in the order ``convert`` takes them (torch: names of
    ``module.named_parameters()`` / ``named_buffers()``; Keras: ``variable.path``).
    ``convert``: native arrays -> the bridge weight's value (a transpose, a gate reorder, ...).
    ``gradient``: native gradients -> the bridge weight's gradient, where that is not ``convert``
    (a bridge bias that is the sum of two native biases has the gradient of either one); None:
    ``convert``. A native weight that no bridge weight holds is not listed."""

    native: tuple[str, ...]
    convert: Convert
    gradient: Convert | None = None

    def gradient_of(self, *native_gradients: np.ndarray) -> np.ndarray:
        return (self.gradient or self.convert)(*native_gradients)


@dataclass(frozen=True)
class LayerSource:
    """A bridge layer of the ported model and the native submodule (or Keras layer) it ports.

    ``layer``: the bridge layer's name (``model.get_layer(layer)``); ``native``: the submodule's
    qualified name (``module.get_submodule``) or the Keras layer's name; ``weights``: bridge
    ``Variable.name`` -> its source; ``output``: the native output -> the bridge layer's output
    layout (NCHW -> NHWC, ...), None where they are the same."""

    layer: str
    native: str
    weights: dict[str, WeightSource] = field(default_factory=dict)
    output: Convert | None = None
