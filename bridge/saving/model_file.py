"""Whole models and their weights in files: ``save_model`` / ``load_model`` and ``save_weights`` /
``load_weights``; also the training state ``BackupAndRestore`` keeps (``save_state`` /
``restore_state``).

Every file is a safetensors file (see ``files``). Its tensors are named by path (``paths``):

- a weights file: ``dense/kernel``, ``dense/bias``, ... (readable by any safetensors reader);
- a model file: ``weights/...`` the same, ``random/...`` each seed generator's state, and
  ``optimizer/...`` the optimizer's (``optimizer/iterations``, ``optimizer/dense/kernel/m``);
  its metadata holds the architecture (``config``), how it was compiled (``compile_config``) and
  built (``build_config``), as JSON;
- a backup file: a model file's tensors without the architecture, with where training goes on
  (``epoch``, ``batch``), the callbacks' state (``callbacks``, and ``callbacks/...`` arrays) and,
  within an epoch, the metrics' running state (``metrics/...``).

Loading rebuilds a model from its config through the registries (built-in classes, those
registered with ``register_serializable``, ``custom_objects``): it never imports a module and never
unpickles. Weights are assigned only once every one of them fits."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import losses, metrics, optim
from .._registry import custom_object_scope
from .._version import __version__
from ..dtypes import as_dtype
from ..errors import (
    BridgeError,
    FileFormatError,
    InvalidArgumentError,
    NotBuiltError,
    SerializationError,
    WeightsMismatchError,
)
from ..serialization import LAYERS, serialize
from ..variable import Variable
from . import files, loading
from .paths import seed_generator_paths, weight_paths

if TYPE_CHECKING:  # bridge.nn sits above saving (its Model.save calls here)
    from ..nn.layer import Layer
    from ..nn.model import Model

MODEL, WEIGHTS, BACKUP = "bridge.model", "bridge.weights", "bridge.backup"
_KINDS = {MODEL: "a whole model (model.save)", WEIGHTS: "weights (save_weights)", BACKUP: "a training backup"}
_LISTED = 10  # names listed per kind of mismatch; the rest are counted


# --- writing -------------------------------------------------------------------------------------
def _metadata(model: Layer, kind: str) -> dict[str, str]:
    weights = model.weights
    return {
        "format": kind,
        "format_version": str(files.FORMAT_VERSION),
        "layout_version": str(files.LAYOUT_VERSION),
        "bridge_version": __version__,
        "backend": weights[0].backend if weights else "",
        "dtype": model.dtype.name,
    }


def _json(what: str, value: Any) -> str:
    """``value`` as JSON (NumPy scalars as numbers), or a SerializationError naming where in it
    the thing JSON cannot hold is."""
    problem = _unwritable(value, "")
    if problem is not None:
        where, thing = problem
        raise SerializationError(
            f"{what} holds {thing!r} at {where or 'its top'}, which a file cannot hold; give a built-in "
            "name or object, or a function or class of your own with a name (a class with a get_config "
            "that returns plain values; register it with @bridge.nn.register_serializable() or pass "
            "custom_objects when loading)"
        )
    return json.dumps(value, default=lambda scalar: scalar.item())


def _unwritable(value: Any, where: str) -> tuple[str, Any] | None:
    """The first place in ``value`` that JSON cannot hold, and what is there; None if none."""
    if value is None or isinstance(value, (bool, int, float, str, np.generic)):
        return None
    if isinstance(value, dict):
        key = next((key for key in value if not isinstance(key, str)), None)
        if key is not None:
            return f"{where} (a key)", key
        children = [(f"{where}.{key}" if where else key, item) for key, item in value.items()]
    elif isinstance(value, (list, tuple)):
        children = [(f"{where}[{i}]", item) for i, item in enumerate(value)]
    else:
        return where, value
    return next((found for place, item in children if (found := _unwritable(item, place))), None)


def save_weights(model: Layer, path: str | os.PathLike) -> None:
    """Write ``model``'s weights to ``path`` as a safetensors file, each named by its path
    (``dense_1/kernel``), atomically."""
    tensors = {name: variable.numpy() for name, variable in _built_weights("save_weights", model).items()}
    files.write_atomically(path, files.encode(tensors, _metadata(model, WEIGHTS)))


def _built_weights(op: str, model: Layer) -> dict[str, Variable]:
    if not model.built:
        raise NotBuiltError(
            f"{op}: model {model.name!r} is not built, so it has no weights yet: call it on data, or "
            "model.build(input_shape), first"
        )
    return weight_paths(model)


def _state(model: Model) -> dict[str, np.ndarray]:
    """The model's weights, seed generators and optimizer state, by name."""
    weights = _built_weights("save", model)
    tensors = {f"weights/{name}": variable.numpy() for name, variable in weights.items()}
    for name, generator in seed_generator_paths(model).items():
        tensors[f"random/{name}"] = generator.get_state()
    if model.optimizer is not None:
        for name, variable in model.optimizer.named_state(weights).items():
            tensors[f"optimizer/{name}"] = variable.numpy()
    return tensors


def _compile_config(model: Model) -> dict[str, Any] | None:
    if not model.compiled or model.optimizer is None:
        return None
    arguments = model._compile_arguments
    config = {
        "optimizer": optim.serialize(model.optimizer),
        "loss": _per_output_json(arguments["loss"], losses.serialize),
        "metrics": _per_output_json(arguments["metrics"], metrics.serialize),
        "jit": arguments["jit"],
    }
    if arguments.get("weighted_metrics"):
        config["weighted_metrics"] = _per_output_json(arguments["weighted_metrics"], metrics.serialize)
    if arguments.get("loss_weights") is not None:
        config["loss_weights"] = arguments["loss_weights"]
    return config


def _per_output_json(value: Any, serialize: Callable[[Any], Any]) -> Any:
    """``compile``'s ``loss`` or ``metrics`` (one, or a list or dict per output, None for none) as
    JSON: names kept, the others serialized."""
    if isinstance(value, dict):
        return {key: _per_output_json(item, serialize) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_per_output_json(item, serialize) for item in value]
    return value if value is None or isinstance(value, str) else serialize(value)


def _per_output_objects(config: Any, deserialize: Callable[[Any], Any]) -> Any:
    """What ``_per_output_json`` described (a dict with a ``class_name`` is one object)."""
    if isinstance(config, dict) and "class_name" not in config:
        return {key: _per_output_objects(item, deserialize) for key, item in config.items()}
    if isinstance(config, list):
        return [_per_output_objects(item, deserialize) for item in config]
    return deserialize(config) if isinstance(config, dict) else config


def save_model(model: Model, path: str | os.PathLike) -> None:
    """Write ``model`` to ``path``: its architecture, weights, seed generators, optimizer state and
    compile settings, in one safetensors file, atomically. ``load_model`` reads it back, on any
    backend."""
    if not _is_model(model):
        raise InvalidArgumentError(f"save: expected a bridge.nn.Model, got {type(model).__name__}")
    metadata = {**_metadata(model, MODEL), **check_savable(model)}
    if model._input_shape is not None:
        build = {"input_shape": list(model._input_shape), "input_dtype": model._input_dtype}
        metadata["build_config"] = json.dumps(build)
    elif model._input_spec is not None:  # several inputs: their structure, shapes and dtypes
        metadata["build_config"] = json.dumps({"input_spec": model._input_spec})
    files.write_atomically(path, files.encode(_state(model), metadata))


def check_savable(model: Model) -> dict[str, str]:
    """The model's config and compile config as JSON (the metadata ``save_model`` writes), or a
    SerializationError saying what in them a file cannot hold."""
    configs = {"config": _json("the model's config", serialize(model))}
    compile_config = _compile_config(model)
    if compile_config is not None:
        configs["compile_config"] = _json("the compile config", compile_config)
    return configs


def save_state(
    model: Model,
    path: str | os.PathLike,
    epoch: int,
    batch: int = 0,
    callbacks: Sequence[Any] = (),
    learning_rate: float | None = None,
) -> None:
    """Write the training state (weights, seed generators, optimizer), where training goes on
    (``batch`` batches into epoch ``epoch``) and the state of the fit's ``callbacks`` (their
    ``get_state()``), for ``BackupAndRestore``; no config, so any model can be backed up. Within
    an epoch the metrics' running state is written too, and ``learning_rate`` (the one the epoch
    began with) in place of the current one, which callbacks set again as the epoch begins."""
    tensors = _state(model)
    if batch:
        for index, metric in enumerate(model.metrics):
            tensors.update({f"metrics/{index}/{name}": v.numpy() for name, v in metric._state.items()})
    if learning_rate is not None and "optimizer/learning_rate" in tensors:
        tensors["optimizer/learning_rate"] = np.array(learning_rate, dtype=np.float64)
    described = []
    for index, callback in enumerate(callbacks):
        plain, arrays = {}, {}
        for name, value in callback.get_state().items():
            if isinstance(value, list) and value and all(isinstance(a, np.ndarray) for a in value):
                arrays[name] = len(value)
                tensors.update({f"callbacks/{index}/{name}/{i}": a for i, a in enumerate(value)})
            else:
                plain[name] = value
        described.append({"class": type(callback).__name__, "state": plain, "arrays": arrays})
    metadata = {**_metadata(model, BACKUP), "epoch": str(epoch), "batch": str(batch)}
    metadata["callbacks"] = _json("the callbacks' state", described)
    files.write_atomically(path, files.encode(tensors, metadata))


# --- reading -------------------------------------------------------------------------------------
def _read(path: str | os.PathLike, kinds: tuple[str, ...]) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """A checked file of one of ``kinds``; where weights will do, a safetensors file of another
    program too (its tensors named as weight paths)."""
    metadata, tensors = files.read(path)
    shown = os.fspath(path)
    kind = metadata.get("format")
    if "checksum" not in metadata and (str(kind).startswith("bridge.") or "format_version" in metadata):
        raise FileFormatError(  # its "checksum" key damaged: without this, nothing would be checked
            f"{shown}: a bridge file without its checksum; the file is damaged: use a good copy"
        )
    if WEIGHTS in kinds and not str(kind).startswith("bridge.") and "format_version" not in metadata:
        # another program's, with no format or its own ({"format": "pt"}, as transformers writes)
        return metadata, tensors
    if kind not in kinds:
        wanted = " or ".join(_KINDS[k] for k in kinds)
        held = "is not a bridge file" if kind is None else f"holds {_KINDS.get(kind, f'format {kind!r}')}"
        hint = "; build the model in code and call model.load_weights(path)" if kind == WEIGHTS else ""
        raise FileFormatError(f"{shown}: {held}, where {wanted} was expected{hint}")
    for key, ours in (("format_version", files.FORMAT_VERSION), ("layout_version", files.LAYOUT_VERSION)):
        value = metadata.get(key, "")
        if not value.isdigit():
            raise FileFormatError(f"{shown}: its {key} is {value!r}, not a number")
        if int(value) > ours:
            raise FileFormatError(
                f"{shown}: written by a newer bridge ({metadata.get('bridge_version', '?')}) in {key} "
                f"{value}; this bridge ({__version__}) reads {key} {ours} and older: upgrade bridge"
            )
    return metadata, tensors


def _under(tensors: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {name[len(prefix) :]: array for name, array in tensors.items() if name.startswith(prefix)}


def _listing(what: str, names: list[str]) -> str:
    shown = "; ".join(names[:_LISTED]) + (
        f"; and {len(names) - _LISTED} more" if len(names) > _LISTED else ""
    )
    return f"{len(names)} {what}: {shown}"


def _fitting(
    targets: Mapping[str, Variable], arrays: Mapping[str, np.ndarray], what: str
) -> tuple[list[str], list[str]]:
    """The names of ``targets`` that ``arrays`` fit (same name, shape and dtype), and a
    description of each kind of misfit: missing, unexpected, of another shape or dtype."""
    missing = [name for name in targets if name not in arrays]
    unexpected = sorted(name for name in arrays if name not in targets)
    misfits, fitting = [], []
    for name, variable in targets.items():
        if name not in arrays:
            continue
        array = arrays[name]
        if tuple(array.shape) != variable.shape or np.dtype(array.dtype) != variable.dtype.numpy:
            misfits.append(f"{name} ({_described(array)} in the file, {_described(variable)} in the model)")
        else:
            fitting.append(name)
    problems = [
        _listing(f"{what}s of the model missing from the file", missing) if missing else "",
        _listing(f"{what}s in the file that the model lacks", unexpected) if unexpected else "",
        _listing(f"{what}s that do not fit", misfits) if misfits else "",
    ]
    return fitting, [p for p in problems if p]


def _described(value: Any) -> str:
    dtype = value.dtype.name if hasattr(value.dtype, "name") else str(value.dtype)
    return f"shape {tuple(value.shape)} {dtype}"


def _mismatch(op: str, path: str, problems: list[str], hint: str = "") -> WeightsMismatchError:
    lines = "".join(f"\n- {problem}" for problem in problems)
    return WeightsMismatchError(f"{op}: {path} does not fit the model. Nothing was assigned{hint}:{lines}")


def _layer_of(path: str) -> str:
    return path.rpartition("/")[0]


def load_weights(model: Layer, path: str | os.PathLike, skip_mismatch: bool = False) -> None:
    """Assign the weights in ``path`` (``save_weights``' file, a model file, or any safetensors
    file named by weight paths) to ``model``, matched by path; nothing is assigned unless all fit.
    ``skip_mismatch=True`` loads every layer whose weights all fit and leaves the others as they
    are (as Keras: never a layer half loaded), with a warning naming what did not fit."""
    metadata, tensors = _read(path, (WEIGHTS, MODEL, BACKUP))
    if metadata.get("format") in (MODEL, BACKUP):
        tensors = _under(tensors, "weights/")
    targets = _built_weights("load_weights", model)
    fitting, problems = _fitting(targets, tensors, "weight")
    if problems and not skip_mismatch:
        raise _mismatch(
            "load_weights", os.fspath(path), problems, " (skip_mismatch=True loads the layers that fit)"
        )
    if problems:
        warnings.warn(f"load_weights: {os.fspath(path)}: skipped " + "; ".join(problems), stacklevel=3)
    unfit_layers = {_layer_of(name) for name in targets if name not in fitting}
    for name in fitting:
        if _layer_of(name) not in unfit_layers:
            targets[name].assign(tensors[name])


def restore_state(model: Model, path: str | os.PathLike, tensors: Mapping[str, np.ndarray]) -> None:
    """Assign the weights, seed generators and (where the model is compiled) optimizer state of a
    model or backup file; nothing is assigned unless all of it fits."""
    shown = os.fspath(path)
    weights = _built_weights("load", model)
    generators = seed_generator_paths(model)
    arrays, randoms = _under(tensors, "weights/"), _under(tensors, "random/")
    _, problems = _fitting(weights, arrays, "weight")
    problems += _generator_problems(generators, randoms)
    if problems:
        raise _mismatch("load", shown, problems)
    optimizer_state = _under(tensors, "optimizer/")
    optimizer = model.optimizer if optimizer_state and weights else None
    optimizer_targets: dict[str, Variable] = {}
    if optimizer is not None:
        # slots for the weights the file has them for (a layer frozen since still has them), as
        # the steps that saved made them
        stepped = [
            variable
            for name, variable in weights.items()
            if any(f"{name}/{slot}" in optimizer_state for slot in optimizer.slot_names)
        ]
        optimizer.build(stepped or model.trainable_weights or list(weights.values()))
        optimizer_targets = optimizer.named_state(weights)
        _, optimizer_problems = _fitting(optimizer_targets, optimizer_state, "optimizer variable")
        if optimizer_problems:
            raise _mismatch("load", shown, optimizer_problems)
    for name, variable in weights.items():
        variable.assign(arrays[name])
    for name, variable in optimizer_targets.items():
        variable.assign(optimizer_state[name])
    for name, generator in generators.items():
        generator.set_state(randoms[name])
    model._restored(trained="iterations" in optimizer_state and int(optimizer_state["iterations"]) > 0)


def _generator_problems(generators: Mapping[str, Any], states: Mapping[str, np.ndarray]) -> list[str]:
    """What does not fit between a model's seed generators and the states in a file: a state is
    ``[key, key, count]``, int64, with keys of 32 bits and a count >= 0."""
    mismatched = sorted(set(generators) ^ set(states))
    problems = [_listing("seed generators in the model or the file only", mismatched)] if mismatched else []
    invalid = [
        f"{name} ({_described(states[name])}: {states[name].tolist()})"
        for name in generators
        if name in states
        and not (
            states[name].shape == (3,)
            and states[name].dtype == np.int64
            and 0 <= states[name][:2].min()
            and states[name][:2].max() < 2**32
            and states[name][2] >= 0
        )
    ]
    if invalid:
        problems.append(_listing("seed generator states that are not [key, key, count] (int64)", invalid))
    return problems


def restore_metrics(model: Model, tensors: Mapping[str, np.ndarray]) -> None:
    """Give the model's metrics the running state of a backup taken within an epoch (their
    ``metrics/<index>/<state>`` tensors), so that the resumed epoch logs what an uninterrupted one
    would; a state that does not fit is left out, with a warning (it changes only the logs)."""
    saved = _under(tensors, "metrics/")
    like = model.weights[0] if model.weights else None
    for index, metric in enumerate(model.metrics):
        names = [f"{index}/{state}" for state in metric._state_names]
        if like is None or not all(name in saved for name in names):
            continue
        state = metric._variables(like)
        arrays = [saved[name] for name in names]
        if any(a.shape != state[s].shape or a.dtype != state[s].dtype.numpy for a, s in zip(arrays, state)):
            warnings.warn(
                f"BackupAndRestore: the state of metric {metric.name!r} does not fit; not restored",
                stacklevel=3,
            )
            continue
        for array, variable in zip(arrays, state.values()):
            variable.assign(array)


@dataclass
class Backup:
    """A ``save_state`` file read back: where training goes on, the state of each callback
    (``{"class": name, "state": {...}}``, by position), and the tensors."""

    epoch: int
    batch: int
    callbacks: list[dict[str, Any]]
    tensors: dict[str, np.ndarray]


def read_backup(path: str | os.PathLike) -> Backup:
    """The ``save_state`` file at ``path``, checked."""
    metadata, tensors = _read(path, (BACKUP,))
    shown = os.fspath(path)
    where = []
    for key in ("epoch", "batch"):
        value = metadata.get(key, "")
        if not value.isdigit():
            raise FileFormatError(f"{shown}: its {key} is {value!r}, not a number")
        where.append(int(value))
    described = files.parse_json(shown, "callbacks", metadata.get("callbacks", "[]"))
    try:
        callbacks = [
            {
                "class": str(entry["class"]),
                "state": {
                    **entry["state"],
                    **{
                        name: [tensors[f"callbacks/{index}/{name}/{i}"] for i in range(int(count))]
                        for name, count in entry["arrays"].items()
                    },
                },
            }
            for index, entry in enumerate(described)
        ]
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise FileFormatError(f"{shown}: its callbacks' state is damaged ({error!r})") from None
    return Backup(where[0], where[1], callbacks, tensors)


def load_model(
    path: str | os.PathLike, custom_objects: Mapping[str, Any] | None = None, compile: bool = True
) -> Model:
    """The model ``save_model`` wrote to ``path``, on the current backend: rebuilt from its config
    (classes of your own found through ``register_serializable`` or ``custom_objects``), with its
    weights and seed generators, and compiled as it was with its optimizer state (unless
    ``compile=False``), so that ``fit`` continues where it stopped."""
    metadata, tensors = _read(path, (MODEL,))
    shown = os.fspath(path)
    if "config" not in metadata:
        raise FileFormatError(f"{shown}: its metadata has no 'config' (the architecture)")
    config = files.parse_json(shown, "config", metadata["config"])
    weight_elements = sum(array.size for name, array in tensors.items() if name.startswith("weights/"))
    with custom_object_scope(custom_objects), loading.loading(weight_elements):
        model = _rebuilt(shown, config)
        build = metadata.get("build_config")
        if not model.built and build is not None:
            _build(shown, model, files.parse_json(shown, "build_config", build))
        compile_config = metadata.get("compile_config") if compile else None
        if compile_config is not None:
            _compile(shown, model, files.parse_json(shown, "compile_config", compile_config))
    if not model.built:
        raise FileFormatError(
            f"{shown}: the model cannot be built again: it was saved before it was built (without a "
            "build_config); build it in code and use model.load_weights(path)"
        )
    if not compile:
        tensors = {name: array for name, array in tensors.items() if not name.startswith("optimizer/")}
    restore_state(model, shown, tensors)
    return model


def _refused(path: str, what: str, error: BaseException, hint: str = "") -> FileFormatError:
    return FileFormatError(f"{path}: cannot {what}: {error}{hint}")


def _cause(error: BaseException) -> BaseException | None:
    """The error to chain: another's (a TypeError in a from_config of yours) is shown; bridge's
    own, whose message the new one repeats, is not."""
    return None if isinstance(error, BridgeError) else error


def _rebuilt(path: str, config: Any) -> Model:
    try:
        model = LAYERS.deserialize(config)
    except (BridgeError, TypeError, ValueError, LookupError, AttributeError, RecursionError) as error:
        raise _refused(path, "rebuild the model from its config", error) from _cause(error)
    if not _is_model(model):
        raise FileFormatError(f"{path}: its config describes a {type(model).__name__}, not a Model")
    return model


def _is_model(obj: Any) -> bool:
    """Whether ``obj`` is a ``bridge.nn.Model`` (known by its class, without importing bridge.nn)."""
    return any(f"{c.__module__}.{c.__qualname__}" == "bridge.nn.model.Model" for c in type(obj).__mro__)


def _build(path: str, model: Model, build: Any) -> None:
    try:
        if "input_spec" in build:
            model._build_from_spec(build["input_spec"])
            return
        dtype = as_dtype(build["input_dtype"]) if build.get("input_dtype") else None
        model.build(tuple(build["input_shape"]), dtype)
    except (BridgeError, TypeError, ValueError, KeyError, AttributeError, RecursionError) as error:
        raise _refused(path, "build the model from its build_config", error) from _cause(error)


def _compile(path: str, model: Model, config: Any) -> None:
    try:
        model.compile(
            optimizer=optim.deserialize(config["optimizer"]),
            loss=_per_output_objects(config["loss"], losses.deserialize),
            loss_weights=config.get("loss_weights"),
            metrics=_per_output_objects(config.get("metrics") or [], metrics.deserialize),
            weighted_metrics=_per_output_objects(config.get("weighted_metrics") or [], metrics.deserialize),
            jit=config.get("jit", "auto"),
        )
    except (BridgeError, TypeError, ValueError, KeyError, AttributeError, RecursionError) as error:
        hint = " (load_model(path, compile=False) loads the model uncompiled)"
        raise _refused(path, "compile the model from its compile_config", error, hint) from _cause(error)
