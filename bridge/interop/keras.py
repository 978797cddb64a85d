"""Bridge layers inside Keras 3 models: ``BridgeLayer(layer)`` is a ``keras.Layer`` running a
bridge layer (or model) on the bridge backend that matches Keras' own (``"torch"`` or
``"tensorflow"``), and ``to_keras(model)`` a ``keras.Model`` around one.

The Keras variables and the bridge Variables are the same framework variables (a torch
Parameter on Keras' torch backend, a ``tf.Variable`` on its TensorFlow backend): a Keras
optimizer training one trains the other, and Keras' ``assign``/``load_weights`` write into them
in place. Keras is imported here, and this module only on first use of ``bridge.interop``'s
``BridgeLayer``/``to_keras``."""

from __future__ import annotations

from typing import Any

from .. import serialization
from .._dispatch import use_backend
from .._plugins import load_backend
from ..backend import Backend
from ..errors import BridgeError, InvalidArgumentError, UnknownBackendError
from ..nn.layer import Layer
from ..nn.symbolic import PROBES
from ..ops.creation import zeros
from ..tensor import Tensor
from ..tree import leaves, map_leaves
from .frameworks import require

require("keras", "bridge.interop.keras (BridgeLayer, to_keras)")

import keras  # noqa: E402

#: Keras backends that have a bridge backend of the same name (and the same native tensors).
KERAS_BACKENDS = ("torch", "tensorflow")


def matching_backend(what: str) -> str:
    """The bridge backend of Keras' current backend, or an error naming Keras' backend."""
    name = keras.backend.backend()
    if name not in KERAS_BACKENDS:
        raise UnknownBackendError(
            f"{what}: Keras runs on its {name!r} backend, which has no bridge backend; bridge runs "
            f"inside Keras on {' and '.join(repr(b) for b in KERAS_BACKENDS)} "
            "(set KERAS_BACKEND before importing keras)"
        )
    return name


def _is_shape(x: Any) -> bool:
    return isinstance(x, (tuple, list)) and all(n is None or isinstance(n, int) for n in x)


def _zeros(shape: Any, dtype: str, batch: int, size: int) -> Tensor:
    """Bridge zeros of ``shape``, its None sizes taken as ``batch`` on the first axis and
    ``size`` on the others."""
    return zeros(tuple((batch if i == 0 else size) if n is None else n for i, n in enumerate(shape)), dtype)


def _shapes_to_zeros(shapes: Any, dtype: str, batch: int, size: int) -> Any:
    """``_zeros`` for a shape, or for each shape of a list or dict of them."""
    if _is_shape(shapes):
        return _zeros(shapes, dtype, batch, size)
    if isinstance(shapes, dict):
        return {key: _shapes_to_zeros(value, dtype, batch, size) for key, value in shapes.items()}
    return [_shapes_to_zeros(value, dtype, batch, size) for value in shapes]


def _example(spec: Any, batch: int, size: int) -> Any:
    """``_zeros`` for each ``keras.KerasTensor`` of ``spec``, in its dtype."""
    return keras.tree.map_structure(lambda t: _zeros(t.shape, t.dtype, batch, size), spec)


def _explained(error: BridgeError, inputs: Any) -> BridgeError:
    """``error``, with a hint where an input has an open size: inside a compiled Keras step on
    TensorFlow (``tf.function``), a batch of unknown size, which bridge ops that need static sizes
    (a mean over the batch) cannot compute with."""
    open_sizes = [t.shape for t in leaves(inputs) if isinstance(t, Tensor) and None in t.shape]
    if not open_sizes:
        return error
    return type(error)(
        f"{error}\n(BridgeLayer: inputs of open shape {', '.join(map(str, open_sizes))} inside Keras' "
        "compiled step; bridge computes with static sizes: compile the Keras model with "
        "run_eagerly=True, or feed batches of one size, e.g. a tf.data.Dataset batched with "
        "drop_remainder=True)"
    )


def _layer_backend(layer: Layer) -> str | None:
    """The backend of a built layer's weights (None for a layer without weights)."""
    weights = layer.weights
    return weights[0].backend if weights else None


@keras.saving.register_keras_serializable(package="bridge")
class BridgeLayer(keras.Layer):
    """A Keras layer running the bridge ``layer`` (a Layer or Model) on the bridge backend of
    Keras' backend. Its Keras variables are the bridge layer's Variables (one per weight, same
    order, shape, dtype and trainability), so ``keras.Model.fit`` trains the bridge layer.

    ``input_dtype`` is the dtype of the zeros a bridge layer not yet built is built on (default:
    the layer's compute dtype); the other keyword arguments are ``keras.Layer``'s. A bridge layer
    built on the other backend is copied onto Keras' (its weights then are not shared)."""

    def __init__(self, layer: Layer, input_dtype: str | None = None, **kwargs: Any) -> None:
        if not isinstance(layer, Layer):
            raise InvalidArgumentError(
                f"BridgeLayer: expected a bridge.nn.Layer or Model, got {type(layer).__name__}"
            )
        self._backend_name = matching_backend("BridgeLayer")
        kwargs.setdefault("name", layer.name)
        super().__init__(**kwargs)
        self._layer = layer
        self._input_dtype = input_dtype
        self._backend: Backend = load_backend(self._backend_name)

    @property
    def bridge_layer(self) -> Layer:
        """The bridge layer inside (its Variables are this layer's Keras variables)."""
        return self._layer

    def build(self, input_shape: Any) -> None:
        """Build the bridge layer (on zeros of ``input_shape``, if it is not built), then make one
        Keras variable per bridge weight and point the bridge Variable at its native."""
        layer = self._layer
        dtype = self._input_dtype or getattr(layer, "_input_dtype", None) or layer.compute_dtype.name
        source = None
        with use_backend(self._backend_name):
            if layer.built and _layer_backend(layer) not in (None, self._backend_name):
                source = layer  # built on the other backend: copied (a functional model builds here)
                layer = self._layer = serialization.deserialize(serialization.serialize(source))
            if not layer.built:
                batch, size = PROBES[0]
                layer(_shapes_to_zeros(input_shape, dtype, batch, size), training=False)
                layer._reset_stateful()
        if source is not None:
            layer.set_weights(source.get_weights())
        trainable = {id(v) for v in layer.trainable_weights}
        for variable in layer.weights:
            stored = variable._stored
            shared = self.add_weight(
                shape=variable.shape,
                dtype=self._backend.dtype_of(stored).name,
                trainable=id(variable) in trainable,
                initializer="zeros",
                name=(variable.name or "weight").replace("/", "_"),
                autocast=variable._autocast,
            )
            shared.assign(self._backend.to_numpy(self._backend.read(stored)))
            variable._native = shared.value  # the same framework variable from now on

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        """The bridge layer on ``inputs`` (native tensors, wrapped without a copy); native outputs
        in the same structure."""
        backend = self._backend

        def wrap(x: Any) -> Any:
            return Tensor(x, backend) if x is not None and backend.is_native(x) else x

        inputs = map_leaves(wrap, inputs)
        try:
            with use_backend(self._backend_name):
                outputs = self._layer(inputs, training=training)
        except BridgeError as error:
            raise _explained(error, inputs) from error
        return map_leaves(lambda x: x._native if isinstance(x, Tensor) else x, outputs)

    def compute_output_spec(self, inputs: Any, training: bool | None = None) -> Any:
        """Output shapes and dtypes from running the bridge layer on zeros twice (open sizes tried
        as ``nn.symbolic.PROBES``; an output size that differs is open), without Keras tracing
        bridge code on symbolic tensors and without recording calls on the bridge layer."""
        runs = []
        with use_backend(self._backend_name):
            for batch, size in PROBES:
                runs.append(self._layer(_example(inputs, batch, size), training=False))
                self._layer._reset_stateful()

        def spec(*outputs: Any) -> Any:
            if not isinstance(outputs[0], Tensor):
                return outputs[0]
            shapes = [o.shape for o in outputs]
            shape = tuple(n if all(s[i] == n for s in shapes) else None for i, n in enumerate(shapes[0]))
            return keras.KerasTensor(shape, dtype=outputs[0].dtype.name)

        return map_leaves(spec, *runs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The output shapes (see ``compute_output_spec``) for inputs of the layer's dtype."""
        dtype = self._input_dtype or self._layer.compute_dtype.name

        def symbolic(shapes: Any) -> Any:
            if _is_shape(shapes):
                return keras.KerasTensor(tuple(shapes), dtype=dtype)
            if isinstance(shapes, dict):
                return {key: symbolic(value) for key, value in shapes.items()}
            return [symbolic(value) for value in shapes]

        return map_leaves(
            lambda t: tuple(t.shape) if isinstance(t, keras.KerasTensor) else t,
            self.compute_output_spec(symbolic(input_shape)),
        )

    def get_config(self) -> dict[str, Any]:
        """Keras' layer config, with the bridge layer's config as a bridge model file holds it."""
        return {
            **super().get_config(),
            "layer": serialization.serialize(self._layer),
            "input_dtype": self._input_dtype,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BridgeLayer:
        """Rebuilt with bridge's deserializer (classes found by name: bridge's own, or those of
        yours registered with ``bridge.nn.register_serializable``; nothing is imported)."""
        config = dict(config)
        layer = serialization.deserialize(config.pop("layer"))
        return cls(layer, **config)


def _keras_inputs(model: Layer, input_shape: Any) -> Any:
    """``keras.Input``s for ``model``'s inputs: ``input_shape`` (batch axis first) if given, else
    a functional model's ``inputs`` (their structure, shapes and dtypes), else the shape a built
    model recorded."""
    dtype = getattr(model, "_input_dtype", None) or model.compute_dtype.name
    shape = getattr(model, "_input_shape", None)
    inputs = getattr(model, "_inputs", None)
    if input_shape is None and inputs is not None:
        return map_leaves(lambda t: keras.Input(batch_shape=t.shape, dtype=t.dtype.name, name=t.name), inputs)
    shape = input_shape if input_shape is not None else shape
    if shape is None:
        raise InvalidArgumentError(
            f"to_keras: {model.name!r} records no input shape (it is not functional nor built); pass "
            "input_shape=(None, ...) with the batch axis first"
        )
    return keras.Input(batch_shape=tuple(shape), dtype=dtype)


def to_keras(model: Layer, input_shape: Any = None) -> keras.Model:
    """A ``keras.Model`` on Keras' current backend around ``model`` (a ``BridgeLayer``), taking
    the inputs of the bridge model's input spec (or of ``input_shape``, batch axis first). On the
    bridge model's own backend the weights are shared (``fit`` on either trains both); a model
    built on the other backend is copied onto Keras' (a new bridge model, weights copied)."""
    inputs = _keras_inputs(model, input_shape)
    dtype = getattr(model, "_input_dtype", None)
    outputs = BridgeLayer(model, input_dtype=dtype)(inputs)
    return keras.Model(inputs, outputs, name=model.name)


__all__ = ["BridgeLayer", "to_keras", "KERAS_BACKENDS", "matching_backend"]
