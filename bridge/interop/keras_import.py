"""``from_keras``: a Keras 3 ``Sequential`` or functional model as the same bridge model.

bridge.nn follows Keras 3's layer arguments and weight layouts, so each Keras layer becomes the
bridge layer of the same class name, made from its config (keys bridge does not take are left
out where they hold their neutral value, refused where they would change the model) and given
its weights unchanged; a functional model's graph is replayed call by call from Keras' own
functional config. Keras is imported by the caller: nothing here imports it."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import initializers, nn, regularizers
from ..errors import BridgeError, UnsupportedConversionError
from ..nn.functional import Functional
from ..nn.layer import Layer
from ._sources import LayerSource, WeightSource
from .layouts import identity

#: Keras layer classes ported, by class name (the bridge layer of the same name)
SUPPORTED = (
    "Activation",
    "Add",
    "Average",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "BatchNormalization",
    "Concatenate",
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "Conv3D",
    "Conv3DTranspose",
    "Cropping1D",
    "Cropping2D",
    "Dense",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "Dot",
    "Dropout",
    "Embedding",
    "Flatten",
    "GRU",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "GroupNormalization",
    "LSTM",
    "LayerNormalization",
    "Masking",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "Maximum",
    "Minimum",
    "MultiHeadAttention",
    "Multiply",
    "Permute",
    "RMSNormalization",
    "RepeatVector",
    "Reshape",
    "SeparableConv1D",
    "SeparableConv2D",
    "SimpleRNN",
    "Subtract",
    "UpSampling1D",
    "UpSampling2D",
    "ZeroPadding1D",
    "ZeroPadding2D",
)

#: Keras config keys bridge layers do not take, with a value that makes leaving them out exact
#: (besides None and False, which are: no constraint, no regularizer, no synchronized or sparse...)
_NEUTRAL: dict[str, Any] = {"use_cudnn": "auto", "renorm_momentum": 0.99, "data_format": "channels_last"}


def from_keras(model: Any) -> nn.Model:
    """The bridge model equal to ``model`` (a built Keras 3 ``Sequential`` or functional model):
    same layers, names, configs, dtype policies and weights, on the current bridge backend.
    ``model._native_sources`` maps each bridge layer and weight to its Keras layer and variable
    path (identity conversions), for ``bridge.testing.assert_equivalent``.

    A layer without a bridge counterpart, or with an argument bridge cannot honour, raises
    ``UnsupportedConversionError`` naming it, its class and where it sits."""
    import keras

    sources: list[LayerSource] = []
    ported = _model(keras, model, sources)
    vars(ported).update(_native_sources=sources, _native_framework="keras")
    return ported


def _model(keras: Any, model: Any, sources: list[LayerSource]) -> nn.Model:
    if isinstance(model, keras.Sequential):
        return _sequential(keras, model, sources)
    if isinstance(model, keras.Model) and hasattr(model, "_operations") and model.inputs is not None:
        return _functional(keras, model, sources)
    raise UnsupportedConversionError(
        f"from_keras: {model.name!r} ({type(model).__name__}) is not a Sequential or functional Keras model "
        "(subclassed models have no graph to read): rebuild it with keras.Sequential or keras.Model(inputs, "
        "outputs)"
    )


def _sequential(keras: Any, model: Any, sources: list[LayerSource]) -> nn.Sequential:
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise UnsupportedConversionError(
            f"from_keras: Sequential {model.name!r} is not built; give it a keras.Input first or call it once"
        )
    stack: list[Any] = [_input(inputs[0].shape, inputs[0].dtype, None)]
    ported = [
        (_layer(layer, f"layer {i} of Sequential {model.name!r}"), layer)
        for i, layer in enumerate(model.layers)
    ]
    stack += [mine for mine, _ in ported]
    dtype = str(inputs[0].dtype)  # the model casts its input to its own policy: keep float64 float64
    result = nn.Sequential(stack, name=model.name, dtype=dtype if "float" in dtype else None)
    for mine, theirs in ported:
        _load(mine, theirs, sources)
    return result


def _functional(keras: Any, model: Any, sources: list[LayerSource]) -> nn.Model:
    config = model.get_config()
    results: dict[tuple[str, int], Any] = {}
    made: list[tuple[Layer, Any]] = []
    pending: list[tuple[Any, Any, list[dict[str, Any]]]] = []
    for spec in config["layers"]:
        name = spec["config"].get("name", spec.get("name"))
        if spec["class_name"] == "InputLayer":
            batch_shape = spec["config"]["batch_shape"]
            results[(name, 0)] = _input(batch_shape, spec["config"].get("dtype"), name)
            continue
        theirs = model.get_layer(name)
        if isinstance(theirs, keras.Model):
            mine: Layer = _model(keras, theirs, sources)
        else:
            mine = _layer(theirs, _where(model, spec))
        made.append((mine, theirs))
        pending.append((mine, theirs, list(spec.get("inbound_nodes", []))))
    calls: dict[str, int] = {}
    while any(nodes for _, _, nodes in pending):
        progressed = False
        for mine, theirs, nodes in pending:
            while nodes and _ready(nodes[0], results):
                node = nodes.pop(0)
                args = _decode(node.get("args", []), results)
                kwargs = {k: v for k, v in _decode(node.get("kwargs", {}), results).items() if v is not None}
                index = calls.get(theirs.name, 0)
                results[(theirs.name, index)] = mine(args[0], *args[1:], **kwargs)
                calls[theirs.name] = index + 1
                progressed = True
        if not progressed:
            stuck = [theirs.name for _, theirs, nodes in pending if nodes]
            raise UnsupportedConversionError(
                f"from_keras: the calls of layers {stuck} in {model.name!r} cannot be ordered"
            )
    ported = Functional(
        _decode(config["input_layers"], results), _decode(config["output_layers"], results), name=model.name
    )
    for mine, theirs in made:
        if not isinstance(theirs, keras.Model):
            _load(mine, theirs, sources)
    return ported


def _where(model: Any, spec: dict[str, Any]) -> str:
    callers = sorted(
        {ref[0] for node in spec.get("inbound_nodes", []) for ref in _references(node.get("args", []))}
    )
    return f"in functional model {model.name!r}, called on the outputs of {callers}"


def _references(tree: Any) -> list[list[Any]]:
    if isinstance(tree, dict) and tree.get("class_name") == "__keras_tensor__":
        return [tree["config"]["keras_history"]]
    children = tree.values() if isinstance(tree, dict) else tree if isinstance(tree, (list, tuple)) else []
    return [ref for child in children for ref in _references(child)]


def _is_reference(tree: Any) -> bool:
    return (
        isinstance(tree, (list, tuple))
        and len(tree) == 3
        and isinstance(tree[0], str)
        and all(isinstance(n, int) for n in tree[1:])
    )


def _decode(tree: Any, results: dict[tuple[str, int], Any]) -> Any:
    """Keras' config structure with its tensor references (``__keras_tensor__`` in node
    arguments, ``[layer, node, index]`` in ``input_layers``/``output_layers``) replaced by the
    bridge symbolic tensors made so far."""
    if isinstance(tree, dict) and tree.get("class_name") == "__keras_tensor__":
        return _decode(tree["config"]["keras_history"], results)
    if _is_reference(tree):
        name, node, index = tree
        out = results[(name, node)]
        return out[index] if isinstance(out, (list, tuple)) else out
    if isinstance(tree, dict):
        return {key: _decode(value, results) for key, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_decode(item, results) for item in tree]
    return tree


def _ready(node: dict[str, Any], results: dict[tuple[str, int], Any]) -> bool:
    return all((name, index) in results for name, index, _ in _references(node))


def _input(shape: Any, dtype: Any, name: str | None) -> nn.Input:
    return nn.Input(batch_shape=tuple(shape), dtype=str(dtype) if dtype is not None else None, name=name)


def _dtype(value: Any) -> Any:
    """A Keras dtype (policy) config as the policy name bridge takes."""
    if isinstance(value, dict):
        return value.get("config", {}).get("name", value)
    return value


def _accepted(cls: type) -> set[str]:
    """The argument names a bridge layer class takes (its ``__init__``s along the MRO, while they
    pass ``**kwargs`` on)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        parameters = inspect.signature(vars(klass)["__init__"]).parameters
        names |= {n for n, p in parameters.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
            break
    return names - {"self"}


def _translated(key: str, value: Any, where: Callable[[], str]) -> Any:
    """A Keras config value as bridge takes it (initializers and regularizers as
    ``{"class_name", "config"}``; an initializer bridge lacks is left to bridge's default: the
    weights come from Keras anyway)."""
    if key == "dtype":
        return _dtype(value)
    if not isinstance(value, dict) or "class_name" not in value:
        return value
    plain = {"class_name": value["class_name"], "config": value.get("config", {})}
    if key.endswith("_initializer"):
        try:
            return initializers.get(plain)
        except (BridgeError, TypeError, ValueError):  # an argument bridge's initializer lacks
            return _DEFAULT
    if key.endswith("_regularizer"):
        try:
            return regularizers.get(plain)
        except (BridgeError, TypeError, ValueError) as error:
            raise UnsupportedConversionError(
                f"from_keras: {where()}: {key} {value['class_name']}: {error}"
            ) from error
    return value


_DEFAULT = object()  # a translated value that leaves the argument to bridge's default


def _layer(layer: Any, where: str) -> Layer:
    """The bridge layer made from ``layer``'s config (not yet built: weights come in ``_load``)."""
    kind = type(layer).__name__

    def describe() -> str:
        return f"layer {layer.name!r} ({kind}, {where})"

    if kind in _AS_ACTIVATION:
        return _activation_layer(layer, describe)
    if kind not in SUPPORTED or not hasattr(nn, kind):
        raise UnsupportedConversionError(
            f"from_keras: {describe()} has no bridge counterpart; supported Keras layers: "
            + ", ".join(sorted((*SUPPORTED, *_AS_ACTIVATION)))
        )
    cls = getattr(nn, kind)
    accepted = _accepted(cls)
    arguments: dict[str, Any] = {}
    for key, value in layer.get_config().items():
        if key in accepted:
            translated = _translated(key, value, describe)
            if translated is not _DEFAULT:
                arguments[key] = translated
        elif value is None or value is False or _NEUTRAL.get(key, _DEFAULT) == value or key == "trainable":
            continue
        else:
            raise UnsupportedConversionError(
                f"from_keras: {describe()} sets {key}={value!r}, which bridge's {kind} cannot honour"
            )
    try:
        mine = cls(**arguments)
    except BridgeError as error:
        raise UnsupportedConversionError(f"from_keras: {describe()}: {error}") from error
    mine.trainable = layer.trainable
    return mine


#: Keras activation layers ported as ``nn.Activation``, with the config that makes them exactly it
_AS_ACTIVATION: dict[str, tuple[str, dict[str, Any]]] = {
    "ReLU": ("relu", {"max_value": None, "negative_slope": 0.0, "threshold": 0.0}),
    "Softmax": ("softmax", {"axis": -1}),
}


def _activation_layer(layer: Any, describe: Callable[[], str]) -> Layer:
    """``nn.Activation`` for a Keras activation layer (``ReLU``, ``Softmax``) in its plain form."""
    activation, plain = _AS_ACTIVATION[type(layer).__name__]
    config = layer.get_config()
    for key, value in plain.items():
        if config.get(key, value) != value and not (key == "axis" and config[key] in ([-1], (-1,))):
            raise UnsupportedConversionError(
                f"from_keras: {describe()} sets {key}={config[key]!r}; bridge ports it only with "
                f"{key}={value!r} (as nn.Activation({activation!r}))"
            )
    return nn.Activation(activation, name=layer.name, dtype=_dtype(config.get("dtype")))


def _load(mine: Layer, theirs: Any, sources: list[LayerSource]) -> None:
    """Give ``mine`` the Keras layer's weights, unchanged, and record where they came from."""
    values = [np.asarray(v.numpy()) for v in theirs.weights]
    shapes = [tuple(w.shape) for w in mine.weights]
    if shapes != [v.shape for v in values]:
        raise UnsupportedConversionError(
            f"from_keras: layer {theirs.name!r} ({type(theirs).__name__}) has weights of shapes "
            f"{[v.shape for v in values]}, its bridge port {shapes}"
        )
    mine.set_weights(values)
    sources.append(
        LayerSource(
            mine.name,
            theirs.name,
            {
                w.name: WeightSource((v.path,), identity)
                for w, v in zip(mine.weights, theirs.weights)
                if w.name
            },
        )
    )
