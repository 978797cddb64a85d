"""``export(model, path, format=...)``: a bridge model as a native artifact that runs without
bridge: a TensorFlow SavedModel with a serving signature, or a ``torch.export`` program.

Both are written atomically: a failed export leaves ``path`` as it was (nothing, or the old one)."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from typing import Any

from .. import ops
from .._atomic import write_atomically
from .._dispatch import use_backend
from .._plugins import load_backend
from ..errors import (
    ArgumentTypeError,
    FileFormatError,
    InvalidArgumentError,
    NoSuchFileError,
    NotBuiltError,
    SerializationError,
    UnsupportedConversionError,
)
from ..nn.functional import Functional
from ..nn.model import Model
from ..saving.paths import weight_paths
from ..serialization import LAYERS, serialize
from ..tensor import Tensor
from ..tree import leaves, replace_leaves

#: format name -> the backend it is written from (``"tf_saved_model"``: Keras 3's name)
FORMATS = {"saved_model": "tensorflow", "tf_saved_model": "tensorflow", "torch": "torch"}


@dataclass(frozen=True)
class InputSpec:
    """One model input: its name in a serving signature, its shape (batch axis None), its dtype."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str


def export(model: Any, path: str | os.PathLike, format: str = "saved_model") -> None:
    """Write ``model`` (a built bridge model) to ``path`` as native code that runs without bridge.

    ``format="saved_model"`` (or Keras 3's ``"tf_saved_model"``): a TensorFlow SavedModel folder;
    ``tf.saved_model.load(path).signatures["serving_default"](**inputs)`` returns a dict of
    outputs, and ``.serve(*inputs)`` the outputs as the model returns them. A model on torch is
    copied onto TensorFlow for it (from its config and weights).
    ``format="torch"``: a ``torch.export`` program file (``torch.export.load(path).module()``),
    made from ``to_torch(model).eval()``, the batch axis dynamic where torch can make it so.

    Inputs and their signature names come from the model: a functional model's ``nn.Input``s
    (their names, or the keys of a dict of inputs), else the data it was first called (or built)
    on: ``inputs`` for one, ``input_0``, ``input_1``... for several (a dict's keys for a dict).
    Outputs are named by the functional model's output layers (a dict's keys), else ``output_0``,
    ``output_1``..."""

    if not isinstance(model, Model):
        raise ArgumentTypeError(f"export: expected a bridge.nn.Model, got {type(model).__name__}")
    backend = FORMATS.get(format)
    if backend is None:
        raise InvalidArgumentError(f"export: unknown format {format!r}; the formats are {sorted(FORMATS)}")
    specs = input_specs(model)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise NoSuchFileError(f"{path}: cannot be written: there is no folder {folder}")
    if backend == "torch":
        _export_torch(model, path, specs)
        return
    if os.path.exists(path) and not os.path.isdir(path):
        raise FileFormatError(f"{path}: is a file; a SavedModel is a folder: name a folder to write")
    _export_saved_model(model, path, specs)


def input_specs(model: Any) -> Any:
    """The model's inputs as ``InputSpec``s, in the structure the model takes them."""

    if isinstance(model, Functional):
        given = model.input
        if isinstance(given, dict):
            return {key: _spec(key, t.shape, t.dtype.name) for key, t in given.items()}
        return replace_leaves(given, [_spec(t.name, t.shape, t.dtype.name) for t in leaves(given)])
    recorded = getattr(model, "_input_spec", None)
    if recorded is not None:
        return _specs_of(recorded, "inputs")
    shape = getattr(model, "_input_shape", None)
    if shape is not None:
        return _spec("inputs", shape, getattr(model, "_input_dtype", None) or model.dtype.name)
    raise NotBuiltError(
        f"export: model {getattr(model, 'name', model)!r} was never built or called, so its inputs are "
        "unknown; call it on data, or model.build(input_shape), first"
    )


def _spec(name: str, shape: Any, dtype: str) -> InputSpec:
    return InputSpec(name, (None, *(None if n is None else int(n) for n in list(shape)[1:])), dtype)


def _specs_of(node: Any, name: str, top: bool = True) -> Any:
    """A model's recorded ``_input_spec`` (``{"shape", "dtype"}`` leaves) as ``InputSpec``s."""
    if isinstance(node, dict) and set(node) == {"shape", "dtype"}:
        return _spec(name, node["shape"], node["dtype"])
    if isinstance(node, dict):
        return {key: _specs_of(value, str(key), False) for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        prefix = "input" if top else name
        return type(node)(_specs_of(item, f"{prefix}_{i}", False) for i, item in enumerate(node))
    raise InvalidArgumentError(f"export: the model's recorded input spec holds {node!r}")


def output_names(model: Any, outputs: Any) -> list[str]:
    """A name per output leaf: a dict's keys, a functional model's output layers, else output_i."""
    if isinstance(outputs, dict) and all(not isinstance(v, (dict, list, tuple)) for v in outputs.values()):
        return [str(key) for key in outputs]
    names = getattr(model, "output_names", None)
    count = len(leaves(outputs))
    if names is not None and len(names) == count and len(set(names)) == count:
        return list(names)
    return [f"output_{i}" for i in range(count)]


def copy_to_backend(model: Any, backend: str) -> Any:
    """A copy of ``model`` on ``backend``: rebuilt from its config (a model holding a native piece
    such as ``nn.TorchModule`` cannot be), built on its inputs, given its weights (by path)."""

    if not isinstance(model, Model):
        raise UnsupportedConversionError(
            f"{model.name!r} ({type(model).__name__}) lives on {model.weights[0].backend}; only a model "
            f"(its inputs known) can be copied onto {backend}: put the layer in one, or make it on {backend}"
        )
    try:
        config = serialize(model)
    except SerializationError as error:
        raise SerializationError(
            f"{model.name!r} lives on {model.weights[0].backend}; copying it onto {backend} rebuilds it "
            f"from its config, which fails: {error}"
        ) from None
    with use_backend(backend):
        copy = LAYERS.deserialize(config)
        if not copy.built:
            copy(_zeros(input_specs(model)))
        mine = weight_paths(copy)
        for path, variable in weight_paths(model).items():
            mine[path].assign(variable.numpy())
    return copy


def _zeros(specs: Any, batch: int = 1) -> Any:
    """Zeros of each input's shape (``batch`` samples), bridge Tensors on the current backend."""

    return replace_leaves(
        specs,
        [
            ops.zeros((batch, *(1 if n is None else n for n in s.shape[1:])), dtype=s.dtype)
            for s in leaves(specs)
        ],
    )


# --- TensorFlow SavedModel --------------------------------------------------------------------
def _export_saved_model(model: Any, path: str, specs: Any) -> None:
    import tensorflow as tf

    if model.weights and model.weights[0].backend != "tensorflow":
        model = copy_to_backend(model, "tensorflow")
    backend = load_backend("tensorflow")
    traced: dict[str, Any] = {}  # the output structure and names, known once traced

    def flat_outputs(*natives: Any) -> list[Any]:
        inputs = replace_leaves(specs, [Tensor(x, backend) for x in natives])
        with use_backend("tensorflow"):
            outputs = model(inputs, training=False)
        traced.update(structure=outputs, names=output_names(model, outputs))
        return [y._native for y in leaves(outputs)]

    signature = [tf.TensorSpec(s.shape, s.dtype, name=s.name) for s in leaves(specs)]
    run = tf.function(flat_outputs, input_signature=signature, autograph=False).get_concrete_function()

    def serve(*natives: Any) -> Any:
        return replace_leaves(traced["structure"], run(*natives))

    def serving_default(*natives: Any) -> dict[str, Any]:
        return dict(zip(traced["names"], run(*natives)))

    root = tf.Module()
    root.variables_of_model = [v._stored for v in model._state_variables()]
    root.serve = tf.function(serve, input_signature=signature, autograph=False)
    root.serving_default = tf.function(serving_default, input_signature=signature, autograph=False)
    signatures = {"serving_default": root.serving_default.get_concrete_function()}
    _write_folder(path, lambda folder: tf.saved_model.save(root, folder, signatures=signatures))


def _write_folder(path: str, write: Any) -> None:
    """``write(folder)`` into a new folder beside ``path``, then put it at ``path`` (an old
    folder there is replaced only once the new one is complete)."""
    parent, base = os.path.split(os.path.abspath(path))
    temporary = tempfile.mkdtemp(prefix=f".{base}.", suffix=".tmp", dir=parent)
    try:
        write(temporary)
        if os.path.isdir(path):
            old = tempfile.mkdtemp(prefix=f".{base}.", suffix=".tmp", dir=parent)
            kept = os.path.join(old, base)
            os.replace(path, kept)
            try:
                os.replace(temporary, path)
            except BaseException:
                os.replace(kept, path)  # the old export goes back where it was
                raise
            finally:
                if os.path.exists(path):
                    shutil.rmtree(old)
        else:
            os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            shutil.rmtree(temporary)


# --- torch.export -------------------------------------------------------------------------------
def _export_torch(model: Any, path: str, specs: Any) -> None:
    import torch

    from .torch import to_torch  # import cycle: interop.torch builds on this module (and imports torch)

    module = to_torch(model).eval()
    flat = leaves(specs)
    with use_backend("torch"):
        examples = replace_leaves(specs, [x._native for x in leaves(_zeros(specs, batch=2))])
    arguments = tuple(examples) if isinstance(specs, (list, tuple)) else (examples,)
    batch = torch.export.Dim("batch")
    dynamic = (replace_leaves(arguments, [{0: batch} for _ in flat]),)  # forward takes *inputs
    with torch.no_grad():
        try:
            program = torch.export.export(module, arguments, dynamic_shapes=dynamic)
        except Exception as error:  # torch could not keep the batch axis symbolic (a guard on it)
            warnings.warn(
                f"export: {path}: the batch axis cannot be dynamic ({str(error).splitlines()[0]}); "
                "the program takes batches of 2 only",
                stacklevel=3,
            )
            program = torch.export.export(module, arguments)
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    write_atomically(path, buffer.getvalue())
