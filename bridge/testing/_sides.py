"""The two sides ``assert_equivalent`` compares, behind one interface: a torch module, a Keras 3
model (on Keras' torch or TensorFlow backend) and a bridge model. Each side runs its model on
NumPy inputs (eval or training mode, capturing the outputs of named layers), takes gradients of
a loss with respect to the inputs and every trainable weight, and takes optimizer steps, all
with its own framework; everything it hands back is NumPy.

Frameworks are imported inside the classes that need them, never at import time."""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import optim
from .._dispatch import use_backend
from ..autodiff import GradientTape
from ..dtypes import DType
from ..errors import InvalidArgumentError
from ..losses import MeanSquaredError, SparseCategoricalCrossentropy
from ..ops import mean, sqrt, square
from ..ops.creation import tensor
from ..tensor import Tensor
from ..tree import leaves, map_leaves
from ..variable import Variable

#: the named losses: of the outputs alone, or of each output leaf and its target
LOSSES = ("mean_square", "mse", "sparse_categorical_crossentropy")

#: attributes that hold a dropout rate: any layer's, and ``rate`` / torch's ``p`` on dropout layers
_DROPOUT_ATTRIBUTES = ("dropout", "recurrent_dropout", "_dropout")


@dataclass(frozen=True)
class Loss:
    """What is differentiated: a name of ``LOSSES`` or a pair of functions
    ``(native_fn, bridge_fn)``, each ``fn(outputs, targets) -> scalar`` in its framework."""

    name: str | None
    functions: tuple[Callable[..., Any], Callable[..., Any]] | None = None


@dataclass(frozen=True)
class OptimizerSpec:
    """The optimizer both sides use: ``"sgd"`` (with ``momentum``) or ``"adam"``."""

    name: str
    learning_rate: float
    momentum: float = 0.0


@dataclass
class Gradients:
    loss: float
    inputs: list[np.ndarray | None]  # one per input leaf (None for non-floating ones)
    weights: dict[str, np.ndarray]  # by weight name, trainable weights only


def as_numpy(x: Any) -> Any:
    """A framework tensor (or None, or a number) as a NumPy array, detached."""
    if x is None:
        return None
    if isinstance(x, Tensor):
        return x.numpy()
    if hasattr(x, "detach"):  # torch: a copy, which a later in-place op (ReLU(inplace=True)) cannot change
        return x.detach().cpu().numpy().copy()
    if hasattr(x, "dense_shape"):  # tf.IndexedSlices: the gradient of a gather (an embedding's)
        import tensorflow as tf

        return tf.convert_to_tensor(x).numpy()
    return np.asarray(x)


def _zero_rates(objects: Sequence[Any], is_dropout: Callable[[Any], bool]) -> list[tuple[Any, str, float]]:
    """Set every dropout rate of ``objects`` to 0; returns what was changed, to put back."""
    changed = []
    for obj in objects:
        names = _DROPOUT_ATTRIBUTES + (("rate", "p") if is_dropout(obj) else ())
        for name in names:
            value = getattr(obj, name, None)
            if isinstance(value, float) and value > 0:
                try:
                    setattr(obj, name, 0.0)
                except AttributeError:  # a read-only property: the cell below holds the rate
                    continue
                changed.append((obj, name, value))
    return changed


@contextmanager
def _rates_zeroed(changed: list[tuple[Any, str, float]]) -> Iterator[int]:
    try:
        yield len(changed)
    finally:
        for obj, name, value in reversed(changed):
            setattr(obj, name, value)


class Side(ABC):
    """One model and its framework. Subclasses implement the framework-specific parts."""

    framework: str

    @abstractmethod
    def weights(self) -> dict[str, np.ndarray]:
        """Every weight (trainable or not), by name, in the model's order."""

    @abstractmethod
    def trainable(self) -> list[str]:
        """The names of the trainable weights, in the model's order."""

    @abstractmethod
    def has_layer(self, name: str) -> bool:
        """Whether the model holds a layer (submodule) of that name."""

    @abstractmethod
    def run(self, inputs: Any, training: bool, capture: Sequence[str]) -> tuple[Any, dict[str, list[Any]]]:
        """The outputs (NumPy leaves, the model's structure) and, for each name in ``capture``,
        the outputs of each call of that layer (NumPy leaves)."""

    @abstractmethod
    def value_and_grads(self, inputs: Any, loss: Loss, targets: Any) -> tuple[Any, list[Any], list[Any]]:
        """In training mode: the loss, its gradients with respect to the floating input leaves
        and to the trainable weights (framework tensors; zeros where unconnected)."""

    @abstractmethod
    def train(self, inputs: Any, loss: Loss, targets: Any, spec: OptimizerSpec, steps: int) -> list[float]:
        """``steps`` optimizer steps in training mode; the loss before each, and after the last
        (one more forward, no step)."""

    @abstractmethod
    def kept(self) -> AbstractContextManager[None]:
        """Inside, the model may change (weights, statistics, modes): it is put back on exit."""

    @abstractmethod
    def dropout_off(self) -> AbstractContextManager[int]:
        """Inside, the model's dropout rates are 0; it gives how many were set."""

    def gradients(self, inputs: Any, loss: Loss, targets: Any) -> Gradients:
        value, input_grads, weight_grads = self.value_and_grads(inputs, loss, targets)
        found = iter(input_grads)
        return Gradients(
            float(as_numpy(value)),
            [as_numpy(next(found)) if _floating(a) else None for a in leaves(inputs)],
            {name: as_numpy(g) for name, g in zip(self.trainable(), weight_grads)},
        )


def _call(model: Any, inputs: Any, spread: bool, **kwargs: Any) -> Any:
    """``model`` called on ``inputs``: a list or tuple as positional arguments and a dict as
    keyword arguments where ``spread`` (torch's ``forward(x, y)``), else as one structure."""
    if spread and isinstance(inputs, (list, tuple)):
        return model(*inputs, **kwargs)
    if spread and isinstance(inputs, dict):
        return model(**inputs, **kwargs)
    return model(inputs, **kwargs)


def _floating(leaf: Any) -> bool:
    return isinstance(leaf, np.ndarray) and leaf.dtype.kind == "f"


# --- torch --------------------------------------------------------------------------------------
class TorchSide(Side):
    framework = "torch"

    def __init__(self, module: Any) -> None:
        import torch

        self.torch, self.module = torch, module
        first = next(module.parameters(), None)
        self.device = first.device if first is not None else None  # where the inputs go

    def weights(self) -> dict[str, np.ndarray]:
        return {name: as_numpy(value) for name, value in self.module.state_dict(keep_vars=True).items()}

    def trainable(self) -> list[str]:
        return [name for name, p in self.module.named_parameters() if p.requires_grad]

    def has_layer(self, name: str) -> bool:
        return name in dict(self.module.named_modules())

    def run(self, inputs: Any, training: bool, capture: Sequence[str]) -> tuple[Any, dict[str, list[Any]]]:
        captured: dict[str, list[Any]] = {name: [] for name in capture}
        modules = dict(self.module.named_modules())
        hooks = [
            modules[name].register_forward_hook(
                lambda _m, _a, out, name=name: captured[name].append(map_leaves(as_numpy, out))
            )
            for name in capture
        ]
        try:
            self.module.train(training)
            with self.torch.no_grad():
                outputs = _call(self.module, _torch_tensors(self.torch, self.device, inputs), spread=True)
        finally:
            for hook in hooks:
                hook.remove()
        return map_leaves(as_numpy, outputs), captured

    def _loss(self, outputs: Any, loss: Loss, targets: Any) -> Any:
        F = self.torch.nn.functional
        if loss.functions is not None:
            return loss.functions[0](outputs, _torch_tensors(self.torch, self.device, targets))
        out = [o for o in leaves(outputs) if isinstance(o, self.torch.Tensor) and o.is_floating_point()]
        if loss.name == "mean_square":
            return sum(o.square().mean() for o in out)
        pairs = _pairs(out, _torch_tensors(self.torch, self.device, targets))
        if loss.name == "mse":
            return sum(F.mse_loss(o, t) for o, t in pairs)
        return sum(F.cross_entropy(o.reshape(-1, o.shape[-1]), t.reshape(-1).long()) for o, t in pairs)

    def value_and_grads(self, inputs: Any, loss: Loss, targets: Any) -> tuple[Any, list[Any], list[Any]]:
        tensors = _torch_tensors(self.torch, self.device, inputs, watch=True)
        watched = [t for t in leaves(tensors) if isinstance(t, self.torch.Tensor) and t.requires_grad]
        params = [p for _, p in self.module.named_parameters() if p.requires_grad]
        self.module.train(True)
        value = self._loss(_call(self.module, tensors, spread=True), loss, targets)
        sources = watched + params
        grads = self.torch.autograd.grad(value, sources, allow_unused=True)
        grads = [g if g is not None else self.torch.zeros_like(s) for g, s in zip(grads, sources)]
        return value, grads[: len(watched)], grads[len(watched) :]

    def train(self, inputs: Any, loss: Loss, targets: Any, spec: OptimizerSpec, steps: int) -> list[float]:
        params = [p for _, p in self.module.named_parameters() if p.requires_grad]
        if spec.name == "adam":
            optimizer = self.torch.optim.Adam(params, lr=spec.learning_rate)
        else:
            optimizer = self.torch.optim.SGD(params, lr=spec.learning_rate, momentum=spec.momentum)
        losses = []
        self.module.train(True)
        for step in range(steps + 1):
            optimizer.zero_grad()
            with self.torch.set_grad_enabled(step < steps):
                value = self._loss(
                    _call(self.module, _torch_tensors(self.torch, self.device, inputs), spread=True),
                    loss,
                    targets,
                )
            losses.append(float(as_numpy(value)))
            if step < steps:
                value.backward()
                optimizer.step()
        return losses

    @contextmanager
    def kept(self) -> Iterator[None]:
        state = copy.deepcopy(self.module.state_dict())
        modes = {name: m.training for name, m in self.module.named_modules()}
        grads = [(p, None if p.grad is None else p.grad.detach().clone()) for p in self.module.parameters()]
        try:
            yield
        finally:
            self.module.load_state_dict(state)
            for name, m in self.module.named_modules():
                m.training = modes[name]
            for p, grad in grads:  # optimizer steps call backward(): put each .grad back
                p.grad = grad

    def dropout_off(self) -> Any:
        dropout = self.torch.nn.modules.dropout._DropoutNd
        modules = [m for _, m in self.module.named_modules()]
        return _rates_zeroed(_zero_rates(modules, lambda m: isinstance(m, dropout)))


# --- Keras 3 --------------------------------------------------------------------------------------
class KerasSide(Side):
    framework = "keras"

    def __init__(self, model: Any) -> None:
        import keras

        self.keras, self.model = keras, model
        self.backend = keras.backend.backend()

    def weights(self) -> dict[str, np.ndarray]:
        return {v.path: np.asarray(v.numpy()) for v in self.model.weights}

    def trainable(self) -> list[str]:
        return [v.path for v in self.model.trainable_weights]

    def _layers(self) -> list[Any]:
        return list(self.model._flatten_layers(include_self=False, recursive=True))

    def has_layer(self, name: str) -> bool:
        return any(layer.name == name for layer in self._layers())

    def _tensors(self, inputs: Any) -> Any:
        return map_leaves(
            lambda a: self.keras.ops.convert_to_tensor(a) if isinstance(a, np.ndarray) else a, inputs
        )

    def run(self, inputs: Any, training: bool, capture: Sequence[str]) -> tuple[Any, dict[str, list[Any]]]:
        captured: dict[str, list[Any]] = {name: [] for name in capture}
        layers = {layer.name: layer for layer in self._layers()}
        try:
            for name in capture:
                _record_calls(layers[name], captured[name])
            outputs = self.model(self._tensors(inputs), training=training)
        finally:
            for name in capture:
                del layers[name].call
        return map_leaves(as_numpy, outputs), captured

    def _loss(self, outputs: Any, loss: Loss, targets: Any) -> Any:
        ops = self.keras.ops
        if loss.functions is not None:
            return loss.functions[0](outputs, self._tensors(targets))
        out = [o for o in leaves(outputs) if o is not None and "float" in str(o.dtype)]
        if loss.name == "mean_square":
            return sum(ops.mean(ops.square(o)) for o in out)
        pairs = _pairs(out, self._tensors(targets))
        if loss.name == "mse":
            return sum(self.keras.losses.MeanSquaredError()(t, o) for o, t in pairs)
        scce = self.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        return sum(scce(t, o) for o, t in pairs)

    def value_and_grads(self, inputs: Any, loss: Loss, targets: Any) -> tuple[Any, list[Any], list[Any]]:
        variables = list(self.model.trainable_weights)
        if self.backend == "tensorflow":
            import tensorflow as tf

            tensors = self._tensors(inputs)
            watched = [t for t in leaves(tensors) if tf.is_tensor(t) and t.dtype.is_floating]
            with tf.GradientTape() as tape:
                tape.watch(watched)
                value = self._loss(self.model(tensors, training=True), loss, targets)
            grads = tape.gradient(value, watched + list(variables))
        elif self.backend == "torch":
            import torch

            tensors = _torch_tensors(torch, None, inputs, watch=True)
            watched = [t for t in leaves(tensors) if isinstance(t, torch.Tensor) and t.requires_grad]
            value = self._loss(self.model(tensors, training=True), loss, targets)
            sources = watched + [v.value for v in variables]
            grads = list(torch.autograd.grad(value, sources, allow_unused=True))
        else:
            raise InvalidArgumentError(
                f"assert_equivalent: Keras on backend {self.backend!r}; use its torch or tensorflow backend"
            )
        zeros = self.keras.ops.zeros_like
        grads = [g if g is not None else zeros(s) for g, s in zip(grads, watched + variables)]
        return value, grads[: len(watched)], grads[len(watched) :]

    def train(self, inputs: Any, loss: Loss, targets: Any, spec: OptimizerSpec, steps: int) -> list[float]:
        optimizers = self.keras.optimizers
        if spec.name == "adam":
            optimizer = optimizers.Adam(learning_rate=spec.learning_rate)
        else:
            optimizer = optimizers.SGD(learning_rate=spec.learning_rate, momentum=spec.momentum)
        losses = []
        for step in range(steps + 1):
            value, _, grads = self.value_and_grads(inputs, loss, targets)
            losses.append(float(as_numpy(value)))
            if step < steps:
                optimizer.apply(grads, self.model.trainable_weights)
        return losses

    @contextmanager
    def kept(self) -> Iterator[None]:
        state = self.model.get_weights()
        try:
            yield
        finally:
            self.model.set_weights(state)

    def dropout_off(self) -> Any:
        return _rates_zeroed(_zero_rates(self._layers(), lambda layer: "Dropout" in type(layer).__name__))


def _torch_tensors(torch: Any, device: Any, inputs: Any, watch: bool = False) -> Any:
    """NumPy leaves of ``inputs`` as torch tensors (copies, on ``device``); floating ones require
    grad where ``watch``."""

    def one(a: Any) -> Any:
        if not isinstance(a, np.ndarray):
            return a
        t = torch.tensor(a, device=device)
        return t.requires_grad_(True) if watch and a.dtype.kind == "f" else t

    return map_leaves(one, inputs)


def _record_calls(layer: Any, into: list[Any], sequence: list[str] | None = None) -> None:
    """Patch ``layer.call`` (on the instance) to append each call's outputs, as NumPy, to ``into``
    (and the layer's name to ``sequence``); ``del layer.call`` undoes it."""
    call = layer.call

    def recorded(*args: Any, **kwargs: Any) -> Any:
        out = call(*args, **kwargs)
        into.append(map_leaves(as_numpy, out))
        if sequence is not None:
            sequence.append(layer.name)
        return out

    layer.call = recorded


def _pairs(outputs: list[Any], targets: Any) -> list[tuple[Any, Any]]:
    given = leaves(targets)
    if len(given) != len(outputs):
        raise InvalidArgumentError(
            f"assert_equivalent: the loss pairs each floating output with a target; the model gives "
            f"{len(outputs)} output(s), targets holds {len(given)}"
        )
    return list(zip(outputs, given))


# --- bridge ---------------------------------------------------------------------------------------
class TorchAdam(optim.Adam):
    """Adam with torch's epsilon placement (``torch.optim.Adam``): epsilon is added to the
    bias-corrected ``sqrt(v_hat)``, which is Keras' rule with epsilon scaled by
    ``sqrt(1 - beta_2^t)`` at step t. What ``assert_equivalent`` trains a port of a torch module
    with, so that both sides take the same steps."""

    def __init__(self, learning_rate: float = 0.001, epsilon: float = 1e-8, **kwargs: Any) -> None:
        super().__init__(learning_rate, epsilon=epsilon, **kwargs)

    def update_step(self, variable: Variable, gradient: Tensor, learning_rate: Tensor) -> None:
        assert self.iterations is not None
        dtype: DType = variable.dtype
        m, v = self.slot(variable, "m"), self.slot(variable, "v")
        m.assign_add((gradient - m) * self.gated(1.0 - self.beta_1, dtype))
        v.assign_add((square(gradient) - v) * self.gated(1.0 - self.beta_2, dtype))
        t = (self.iterations + 1).astype(dtype)
        root = sqrt(1.0 - self.beta_2**t)
        alpha = learning_rate * root / (1.0 - self.beta_1**t)
        variable.assign_sub(m * alpha / (sqrt(v) + self.epsilon * root))


class BridgeSide(Side):
    framework = "bridge"

    def __init__(self, model: Any, native_framework: str) -> None:
        self.model, self.native_framework = model, native_framework
        self.call_sequence: list[str] = []
        first = model.weights[0] if model.weights else None
        self.backend = first.backend if first is not None else None

    def _on_backend(self) -> Any:
        return use_backend(self.backend) if self.backend else _nothing()

    def weights(self) -> dict[str, np.ndarray]:
        return {_name(w, i): w.numpy() for i, w in enumerate(self.model.weights)}

    def trainable(self) -> list[str]:
        index = {id(w): i for i, w in enumerate(self.model.weights)}
        return [_name(w, index[id(w)]) for w in self.model.trainable_weights]

    def layers(self) -> list[Any]:
        return [self.model, *self.model._all_sublayers()]

    def has_layer(self, name: str) -> bool:
        return any(layer.name == name for layer in self.layers())

    def _tensors(self, inputs: Any) -> Any:
        return map_leaves(lambda a: tensor(a) if isinstance(a, np.ndarray) else a, inputs)

    def run(self, inputs: Any, training: bool, capture: Sequence[str]) -> tuple[Any, dict[str, list[Any]]]:
        captured: dict[str, list[Any]] = {name: [] for name in capture}
        layers = {layer.name: layer for layer in self.layers()}
        self.call_sequence = []  # the captured layers' names, call after call
        try:
            for name in capture:
                _record_calls(layers[name], captured[name], self.call_sequence)
            with self._on_backend():
                outputs = _call(self.model, self._tensors(inputs), spread=False, training=training)
        finally:
            for name in capture:
                del layers[name].call
        return map_leaves(as_numpy, outputs), captured

    def _loss(self, outputs: Any, loss: Loss, targets: Any) -> Any:
        if loss.functions is not None:
            return loss.functions[1](outputs, self._tensors(targets))
        out = [o for o in leaves(outputs) if isinstance(o, Tensor) and o.dtype.kind == "f"]
        if loss.name == "mean_square":
            return sum(mean(square(o)) for o in out)
        pairs = _pairs(out, self._tensors(targets))
        fn = MeanSquaredError() if loss.name == "mse" else SparseCategoricalCrossentropy(from_logits=True)
        return sum(fn(t, o) for o, t in pairs)

    def value_and_grads(self, inputs: Any, loss: Loss, targets: Any) -> tuple[Any, list[Any], list[Any]]:
        with self._on_backend():
            tensors = self._tensors(inputs)
            watched = [t for t in leaves(tensors) if isinstance(t, Tensor) and t.dtype.kind == "f"]
            with GradientTape() as tape:
                tape.watch(watched)
                value = self._loss(self.model(tensors, training=True), loss, targets)
            grads = tape.gradient(
                value, [*watched, *self.model.trainable_weights], unconnected_gradients="zero"
            )
        return value, grads[: len(watched)], grads[len(watched) :]

    def optimizer(self, spec: OptimizerSpec) -> optim.Optimizer:
        """The bridge optimizer that steps as the native side's does (see ``TorchAdam``)."""
        if spec.name == "sgd":
            return optim.SGD(spec.learning_rate, momentum=spec.momentum, check_finite=False)
        if self.native_framework == "torch":
            return TorchAdam(spec.learning_rate, check_finite=False)
        return optim.Adam(spec.learning_rate, check_finite=False)

    def train(self, inputs: Any, loss: Loss, targets: Any, spec: OptimizerSpec, steps: int) -> list[float]:
        optimizer = self.optimizer(spec)
        losses = []
        for step in range(steps + 1):
            value, _, grads = self.value_and_grads(inputs, loss, targets)
            losses.append(float(value.numpy()))
            if step < steps:
                with self._on_backend():
                    optimizer.apply(grads, self.model.trainable_weights)
        return losses

    @contextmanager
    def kept(self) -> Iterator[None]:
        state = self.model.get_weights()
        try:
            yield
        finally:
            self.model.set_weights(state)

    def dropout_off(self) -> Any:
        return _rates_zeroed(_zero_rates(self.layers(), lambda layer: "Dropout" in type(layer).__name__))


def _name(weight: Variable, index: int) -> str:
    return weight.name or f"weight {index}"


@contextmanager
def _nothing() -> Iterator[None]:
    yield
