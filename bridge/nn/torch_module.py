"""``TorchModule``: a ``torch.nn.Module`` as a bridge layer, on the torch backend.

Its parameters and buffers become bridge Variables wrapping the module's own tensors (no copy):
bridge optimizers, ``GradientTape`` and ``fit`` train the module itself, and what the module
updates in place (BatchNorm's running statistics) is what the Variables read. torch is imported
only when a ``TorchModule`` is made."""

from __future__ import annotations

from typing import Any

from .._dispatch import resolve_device
from .._plugins import load_backend
from ..errors import ArgumentTypeError, BackendMismatchError, SerializationError
from ..interop.frameworks import require
from ..tensor import Tensor
from ..tree import leaves, map_leaves
from ..variable import Variable
from .layer import Layer


class _ModuleVariable(Variable):
    """A Variable around a parameter or buffer of a torch module: moving it to a device moves the
    tensor's data in place (as ``module.to`` moves parameters), so the module keeps seeing it."""

    __slots__ = ()

    def _relocate(self, device: str) -> None:
        target = resolve_device(self._backend, device)
        self._held.data = self._backend.to_device(self._held.data, target)


class TorchModule(Layer):
    """``module`` (a ``torch.nn.Module``) as a bridge layer; it runs on the torch backend only.

    ``weights``: the module's parameters (``named_parameters()`` order; trainable where they
    require grad) then its buffers (non-trainable), as Variables sharing the module's tensors and
    named ``f"{layer.name}/{torch name}"``. ``layer(x, *more)`` calls ``module(x, *more)`` on the
    native tensors, with ``module.train(training)`` for the call (each submodule's mode restored
    after), and returns bridge Tensors in the structure the module returns (tuples kept).

    The module moves (in place, as ``module.to``) to the current device: the one ``with
    bridge.device(...)`` names, else the first GPU where there is one, as Keras'
    ``TorchModuleWrapper`` does. A whole-model ``save`` refuses (a file cannot hold Python code);
    ``save_weights`` / ``load_weights`` work."""

    def __init__(self, module: Any, name: str | None = None, trainable: bool = True, **kwargs: Any) -> None:

        torch = require("torch", "nn.TorchModule")

        if not isinstance(module, torch.nn.Module):
            raise ArgumentTypeError(f"TorchModule: expected a torch.nn.Module, got {type(module).__name__}")
        super().__init__(name=name, trainable=trainable, **kwargs)
        backend = load_backend("torch")
        device = resolve_device(backend, None)  # as Keras' TorchModuleWrapper: the default device
        self.module = module.to("cpu" if device == "cpu" else f"cuda:{device.partition(':')[2]}")
        named = [*module.named_parameters(), *module.named_buffers()]
        self._own_weights = [
            _ModuleVariable._wrap(tensor, backend, tensor.requires_grad, f"{self.name}/{torch_name}")
            for torch_name, tensor in named
        ]
        self._torch_names = [torch_name for torch_name, _ in named]
        self.built = True

    def _label(self) -> str:
        return f"TorchModule {self.name!r} ({type(self.module).__name__})"

    def call(self, inputs: Any, *args: Any, training: bool | None = None) -> Any:
        backend = load_backend("torch")
        for x in leaves((inputs, args)):
            if isinstance(x, Tensor) and x.backend != backend.name:
                raise BackendMismatchError(
                    f"{self._label()}: a torch module runs on the torch backend; got a tensor of the "
                    f"{x.backend!r} backend (use bridge.use_backend('torch'), or bridge.convert(x, 'torch'))"
                )
        self._follow_module()
        modes = [(module, module.training) for module in self.module.modules()]
        self.module.train(bool(training))
        try:
            outputs = self.module(*map_leaves(_native, (inputs, *args)))
        finally:
            for module, mode in modes:
                module.training = mode
        return map_leaves(lambda y: Tensor(y, backend) if _is_torch_tensor(y) else y, outputs)

    def _follow_module(self) -> None:
        """Point the Variables at the module's current tensors: ``module.to(...)`` replaces buffers
        (and assigning a new Parameter replaces one) rather than changing them in place."""
        current = dict([*self.module.named_parameters(), *self.module.named_buffers()])
        for torch_name, variable in zip(self._torch_names, self._own_weights):
            if current.get(torch_name) is not None and current[torch_name] is not variable._held:
                variable._native = current[torch_name]

    def get_config(self) -> dict[str, Any]:
        raise SerializationError(
            f"{self._label()}: a model file cannot hold a torch module (Python code), so a model "
            "holding it cannot be saved whole; save its weights with model.save_weights(path) and "
            "load them into a model built the same way with model.load_weights(path)"
        )


def _native(x: Any) -> Any:
    return x._native if isinstance(x, Tensor) else x


def _is_torch_tensor(x: Any) -> bool:
    import torch

    return isinstance(x, torch.Tensor)
