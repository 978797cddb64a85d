"""``to_torch(model)``: a bridge model as a ``torch.nn.Module`` that trains with ``torch.optim``.

On the torch backend its parameters ARE the model's Variables' ``torch.nn.Parameter``s (shared, not
copied): a ``torch.optim`` step changes the bridge model too, and a bridge optimizer step changes
the module. A model on another backend is copied onto torch first (from its config and weights;
then nothing is shared)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from .._dispatch import use_backend
from .._plugins import load_backend
from ..errors import ArgumentTypeError, NotBuiltError
from ..nn.layer import Layer
from ..saving.paths import weight_paths
from ..tensor import Tensor
from ..tree import map_leaves
from ..variable import Variable
from .exporting import copy_to_backend


class BridgeModule(torch.nn.Module):
    """A ``torch.nn.Module`` holding a bridge model (see ``to_torch``): ``forward(*inputs)`` runs
    the model on the torch backend with ``training=self.training`` (``train()``/``eval()``), on
    torch tensors, and returns torch tensors in the model's output structure."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.bridge_model = model
        self.bridge_weights = [
            (_register(self, path.split("/"), variable), variable)
            for path, variable in weight_paths(model).items()
        ]

    def forward(self, *inputs: Any) -> Any:
        backend = load_backend("torch")
        tensors = map_leaves(lambda x: Tensor(x, backend) if isinstance(x, torch.Tensor) else x, inputs)
        with use_backend("torch"), self._reading_registered():
            outputs = self.bridge_model(
                tensors[0] if len(tensors) == 1 else list(tensors), training=self.training
            )
        return map_leaves(lambda y: y._native if isinstance(y, Tensor) else y, outputs)

    @contextmanager
    def _reading_registered(self) -> Iterator[None]:
        """The model reads the tensors registered here now: the same Parameters, except where
        torch swaps them for others (``torch.export``, ``torch.func.functional_call``)."""
        held = [variable._held for _, variable in self.bridge_weights]
        for (owner, name), variable in self.bridge_weights:
            variable._native = getattr(owner, name)
        try:
            yield
        finally:
            for (_, variable), native in zip(self.bridge_weights, held):
                variable._native = native

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("bridge_model", "bridge_weights"):  # not submodules or state for torch
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)


def _register(module: torch.nn.Module, parts: list[str], variable: Variable) -> tuple[torch.nn.Module, str]:
    """Register ``variable``'s Parameter under ``parts`` (a weight path split at '/'): one child
    module per layer on the path, the parameter named by the last part. Returns (owner, name)."""
    name = _torch_name(parts[0], module)
    if len(parts) == 1:
        if isinstance(variable._stored, torch.nn.Parameter):
            module.register_parameter(name, variable._stored)
        else:  # a buffer of a torch module inside the model (``nn.TorchModule``)
            module.register_buffer(name, variable._stored)
        return module, name
    child = module._modules.get(name)
    if child is None:
        child = torch.nn.Module()
        module.add_module(name, child)
    return _register(child, parts[1:], variable)


def _torch_name(part: str, module: torch.nn.Module) -> str:
    """A weight-path part as a name ``module`` can register: '.' (a ``TorchModule``'s
    ``0.weight``) becomes '_', and a name the module already uses for something else (``to``,
    ``training``, ``bridge_model``) gets a trailing '_'."""
    name = part.replace(".", "_") or "_"
    return f"{name}_" if hasattr(module, name) and name not in module._modules else name


def to_torch(model: Any) -> BridgeModule:
    """``model`` (a built bridge layer or model) as a ``torch.nn.Module``.

    On the torch backend the module's parameters are the model's own (shared, no copy); a model
    on TensorFlow is first copied onto torch (rebuilt from its config, its weights set), and the
    module trains that copy. Parameters are registered by the weight paths ``save_weights`` uses,
    one child module per layer: ``dense/kernel`` is ``state_dict()`` key ``dense.kernel``.
    Non-trainable weights (moving statistics) are parameters with ``requires_grad=False``."""

    if not isinstance(model, Layer):
        raise ArgumentTypeError(f"to_torch: expected a bridge layer or model, got {type(model).__name__}")
    if not model.built:
        raise NotBuiltError(
            f"to_torch: model {model.name!r} is not built, so it has no weights yet: call it on data, "
            "or model.build(input_shape), first"
        )
    weights = model.weights
    if weights and weights[0].backend != "torch":
        model = copy_to_backend(model, "torch")
    return BridgeModule(model)
