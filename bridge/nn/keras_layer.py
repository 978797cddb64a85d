"""``KerasLayer``: a Keras 3 layer inside a bridge model, on the bridge backend that matches
Keras' own (``"torch"`` or ``"tensorflow"``). Its Keras variables are the bridge layer's
Variables (wrapped, not copied): bridge optimizers train them and bridge gradients reach them.

Keras is imported only inside the methods (``import bridge`` does not import it)."""

from __future__ import annotations

from typing import Any

from .._dispatch import current_backend
from ..errors import BackendMismatchError, InvalidArgumentError, SerializationError
from ..interop.frameworks import require
from ..serialization import LAYERS
from ..tensor import Tensor
from ..tree import leaves, map_leaves
from ..variable import Variable
from .layer import Layer


def _keras() -> Any:

    return require("keras", "nn.KerasLayer")


def _check_backend(layer: str, bridge_backend: str) -> None:
    """A BackendMismatchError unless ``bridge_backend`` is Keras' backend."""
    keras_backend = _keras().backend.backend()
    if bridge_backend != keras_backend:
        raise BackendMismatchError(
            f"{layer} (KerasLayer): the inputs are on bridge's {bridge_backend!r} backend but Keras runs "
            f"on {keras_backend!r}; use bridge's {keras_backend!r} backend (br.set_backend) or set "
            f"KERAS_BACKEND={bridge_backend!r} before importing keras"
        )


def _refuse_foreign(config: Any, where: str = "layer") -> None:
    """A SerializationError if a Keras object's config names a module other than Keras' own (or
    none, for a class of ``__main__``), for an object not registered with
    ``keras.saving.register_keras_serializable`` (Keras would import that module to find it)."""
    if isinstance(config, list):
        for i, item in enumerate(config):
            _refuse_foreign(item, f"{where}[{i}]")
        return
    if not isinstance(config, dict):
        return
    module = config.get("module")
    own = isinstance(module, str) and (module == "keras" or module.startswith("keras."))
    if "module" in config and not own:
        registered = config.get("registered_name")
        if not (isinstance(registered, str) and _keras().saving.get_registered_object(registered)):
            raise SerializationError(
                f"KerasLayer: the Keras config at {where} names class {config.get('class_name')!r} of "
                f"module {module!r}, neither Keras' own nor registered with "
                "keras.saving.register_keras_serializable; bridge does not import modules named in a file"
            )
    for key, value in config.items():
        _refuse_foreign(value, f"{where}.{key}")


class KerasLayer(Layer):
    """A bridge layer running the Keras 3 ``layer`` (``keras.layers.Dense(4)``, an LSTM, a whole
    ``keras.Model``) on bridge Tensors of Keras' backend; ``training`` is passed on. Inputs on
    another bridge backend are a ``BackendMismatchError`` naming both."""

    def __init__(
        self, layer: Any, name: str | None = None, trainable: bool = True, dtype: Any = None
    ) -> None:
        keras = _keras()
        if not isinstance(layer, keras.Layer):
            raise InvalidArgumentError(f"KerasLayer: expected a keras.Layer, got {type(layer).__name__}")
        super().__init__(name=name or layer.name, trainable=trainable, dtype=dtype)
        self.keras_layer = layer

    def build(self, input_shape: Any) -> None:
        """Build the Keras layer (if it is not built) and wrap each of its weights, in Keras'
        order, as a Variable of this layer."""
        backend = current_backend()
        _check_backend(self.name, backend.name)
        if not self.keras_layer.built:
            self.keras_layer.build(input_shape)
        for weight in self.keras_layer.weights:
            name = f"{self.name}/{weight.path.replace('/', '.')}"
            self._own_weights.append(Variable._wrap(weight.value, backend, weight.trainable, name))

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        first = next((x for x in leaves(inputs) if isinstance(x, Tensor)), None)
        if first is not None:
            _check_backend(self.name, first.backend)
        backend = first._backend if first is not None else current_backend()
        natives = map_leaves(lambda x: x._native if isinstance(x, Tensor) else x, inputs)
        outputs = self.keras_layer(natives, training=training)
        return map_leaves(lambda x: Tensor(x, backend) if backend.is_native(x) else x, outputs)

    def get_config(self) -> dict[str, Any]:
        """The base config and the Keras layer's, as ``keras.saving.serialize_keras_object``."""
        return {**super().get_config(), "layer": _keras().saving.serialize_keras_object(self.keras_layer)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> KerasLayer:
        """Rebuilt with Keras' ``deserialize_keras_object(..., safe_mode=True)``; a config naming a
        module other than Keras' own, for an object not registered with Keras, is refused."""
        config = dict(config)
        described = config.pop("layer")
        _refuse_foreign(described)
        layer = _keras().saving.deserialize_keras_object(described, safe_mode=True)
        return cls(layer, **config)


LAYERS.register(KerasLayer)
