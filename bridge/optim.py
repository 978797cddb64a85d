"""Optimizers as small update rules written once over bridge ops, with Keras' definitions.

``opt.apply(grads, variables)`` (or ``apply_gradients(zip(grads, variables))``) updates the
variables in place. ``learning_rate`` is a float, a schedule, or a callable of the step.
``weight_decay`` is decoupled (as Keras and AdamW); ``clipnorm``, ``clipvalue`` and
``global_clipnorm`` clip gradients first. In eager mode a step with a non-finite gradient raises
``NonFiniteError`` before touching any variable.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from . import ops
from .dtypes import float32, float64, int64
from .errors import InvalidArgumentError, NonFiniteError
from .tensor import Tensor
from .variable import Variable


# --- learning-rate schedules ---------------------------------------------------------------
class LearningRateSchedule(ABC):
    """A learning rate as a function of the step (the optimizer's ``iterations``)."""

    @abstractmethod
    def __call__(self, step: Tensor) -> Tensor: ...


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (floored with ``staircase``)."""

    def __init__(
        self, initial_learning_rate: float, decay_steps: int, decay_rate: float, staircase: bool = False
    ):
        self.initial_learning_rate, self.decay_steps = float(initial_learning_rate), float(decay_steps)
        self.decay_rate, self.staircase = float(decay_rate), staircase

    def __call__(self, step: Tensor) -> Tensor:
        progress = step.astype(float32) / self.decay_steps
        if self.staircase:
            progress = ops.floor(progress)
        return ops.power(self.decay_rate, progress) * self.initial_learning_rate


class CosineDecay(LearningRateSchedule):
    """Cosine from ``initial_learning_rate`` down to ``alpha`` times it over ``decay_steps``."""

    def __init__(self, initial_learning_rate: float, decay_steps: int, alpha: float = 0.0):
        self.initial_learning_rate, self.decay_steps, self.alpha = (
            float(initial_learning_rate),
            decay_steps,
            alpha,
        )

    def __call__(self, step: Tensor) -> Tensor:
        progress = ops.minimum(step.astype(float32), float(self.decay_steps)) / float(self.decay_steps)
        cosine = (ops.cos(progress * math.pi) + 1.0) * 0.5
        return (cosine * (1.0 - self.alpha) + self.alpha) * self.initial_learning_rate


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` up to ``boundaries[0]`` (inclusive), then ``values[1]``, and so on."""

    def __init__(self, boundaries: Sequence[int], values: Sequence[float]):
        if len(values) != len(boundaries) + 1:
            raise InvalidArgumentError(
                f"PiecewiseConstantDecay: needs one more value than boundaries, got {len(boundaries)} "
                f"boundaries and {len(values)} values"
            )
        self.boundaries, self.values = list(boundaries), [float(v) for v in values]

    def __call__(self, step: Tensor) -> Tensor:
        rate = ops.full((), self.values[-1], dtype=float32, backend=step.backend, device=step.device)
        for boundary, value in reversed(list(zip(self.boundaries, self.values))):
            rate = ops.where(step <= boundary, value, rate)
        return rate


# --- optimizers ----------------------------------------------------------------------------
class Optimizer(ABC):
    """Base class. Subclasses define ``_slots`` (names of per-variable state, zeros-initialized
    unless ``_initial_slot`` says otherwise) and ``_update(variable, grad, lr, slots, step)``."""

    _slots: tuple[str, ...] = ()

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule | Callable = 0.001,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        check_finite: bool = True,
        name: str | None = None,
    ) -> None:
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise InvalidArgumentError("use at most one of clipnorm, clipvalue and global_clipnorm")
        self._learning_rate = learning_rate
        self.weight_decay, self.check_finite = weight_decay, check_finite
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.name = name or type(self).__name__.lower()
        self.iterations: Variable | None = None
        self._lr_variable: Variable | None = None
        self._state: dict[int, dict[str, Variable]] = {}

    # --- learning rate -------------------------------------------------------------------
    @property
    def learning_rate(self) -> Any:
        """The current learning rate (a float, or the schedule's value at this step)."""
        if callable(self._learning_rate):
            return (
                self._learning_rate(self.iterations) if self.iterations is not None else self._learning_rate
            )
        return float(self._lr_variable.numpy()) if self._lr_variable is not None else self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        if callable(self._learning_rate):
            raise InvalidArgumentError(f"{self.name}: the learning rate is a schedule; it cannot be set")
        self._learning_rate = float(value)
        if self._lr_variable is not None:
            self._lr_variable.assign(float(value))

    def _current_learning_rate(self) -> Tensor:
        if callable(self._learning_rate):
            return ops.tensor(self._learning_rate(self.iterations)).astype(float32)
        return self._lr_variable

    # --- state ---------------------------------------------------------------------------
    def _initial_slot(self, name: str, variable: Variable) -> Any:
        return 0.0

    def build(self, variables: Sequence[Variable]) -> None:
        """Create the step counter and per-variable state (done on the first ``apply``)."""
        first = variables[0]
        if self.iterations is None:
            self.iterations = Variable(
                ops.zeros((), dtype=int64, backend=first.backend, device=first.device),
                trainable=False,
                name=f"{self.name}/iterations",
            )
            if not callable(self._learning_rate):
                lr = ops.full(
                    (), float(self._learning_rate), dtype=float64, backend=first.backend, device=first.device
                )
                self._lr_variable = Variable(lr, trainable=False, name=f"{self.name}/learning_rate")
        for variable in variables:
            if id(variable) not in self._state:
                self._state[id(variable)] = {
                    slot: Variable(
                        ops.full_like(variable, self._initial_slot(slot, variable)),
                        trainable=False,
                        name=f"{self.name}/{slot}",
                    )
                    for slot in self._slots
                }

    @property
    def variables(self) -> list[Variable]:
        """The optimizer's own state: the step counter, learning rate and per-variable slots."""
        own = [v for v in (self.iterations, self._lr_variable) if v is not None]
        return own + [slot for slots in self._state.values() for slot in slots.values()]

    # --- applying ------------------------------------------------------------------------
    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, Variable]]) -> None:
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def apply(self, grads: Sequence[Any], variables: Sequence[Variable]) -> None:
        """Update ``variables`` in place with ``grads`` (one per variable, None to skip)."""
        grads, variables = list(grads), list(variables)
        if len(grads) != len(variables):
            raise InvalidArgumentError(
                f"{self.name}.apply: {len(grads)} gradients for {len(variables)} variables; "
                "pass one per variable"
            )
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        if not pairs:
            return
        for _, v in pairs:
            if not isinstance(v, Variable):
                raise InvalidArgumentError(f"{self.name}.apply: expected Variables, got {type(v).__name__}")
        grads = [g if isinstance(g, Tensor) else ops.tensor(g) for g, _ in pairs]
        variables = [v for _, v in pairs]
        self.build(variables)
        if self.check_finite and not variables[0]._backend.tracing():
            self._check_finite(grads, variables)
        grads = self._clip(grads)
        lr = self._current_learning_rate()
        step = self.iterations + 1
        per_dtype: dict[Any, dict[str, Tensor]] = {}  # step-wide numbers, computed once per dtype
        for grad, variable in zip(grads, variables):
            dtype = variable.dtype
            if dtype not in per_dtype:
                per_dtype[dtype] = self._coefficients(lr.astype(dtype), step.astype(dtype))
            coefficients = per_dtype[dtype]
            if grad.dtype is not dtype:
                grad = grad.astype(dtype)
            if self.weight_decay:
                variable.assign_sub(variable * (coefficients["lr"] * self.weight_decay))
            self._update(variable, grad, coefficients, self._state[id(variable)])
        self.iterations.assign_add(1)

    def _coefficients(self, lr: Tensor, step: Tensor) -> dict[str, Tensor]:
        """Numbers shared by every variable of one dtype in a step (the learning rate, ...)."""
        return {"lr": lr}

    def _check_finite(self, grads: list[Tensor], variables: list[Variable]) -> None:
        total = ops.sum(ops.stack([ops.sum(ops.square(g.astype(float32))) for g in grads]))
        if bool(ops.isfinite(total)):
            return
        bad = [
            v.name or f"#{i}"
            for i, (g, v) in enumerate(zip(grads, variables))
            if not bool(ops.all(ops.isfinite(g)))
        ]
        raise NonFiniteError(
            f"{self.name}: step {int(self.iterations.numpy()) + 1} produced non-finite gradients for "
            f"{', '.join(map(str, bad)) or 'some variables'} (a NaN or infinite loss?); "
            "no variable was changed"
        )

    def _clip(self, grads: list[Tensor]) -> list[Tensor]:
        if self.clipvalue is not None:
            return [ops.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        if self.clipnorm is not None:
            return [g * ops.minimum(self.clipnorm / ops.maximum(ops.norm(g), 1e-12), 1.0) for g in grads]
        if self.global_clipnorm is not None:
            norm = ops.sqrt(ops.sum(ops.stack([ops.sum(ops.square(g.astype(float32))) for g in grads])))
            scale = ops.minimum(self.global_clipnorm / ops.maximum(norm, 1e-12), 1.0)
            return [g * scale.astype(g.dtype) for g in grads]
        return grads

    @abstractmethod
    def _update(
        self, variable: Variable, grad: Tensor, lr: Tensor, slots: dict[str, Variable], step: Tensor
    ) -> None:
        """Apply one step of the rule to ``variable``."""

    def get_config(self) -> dict[str, Any]:
        rate = self._learning_rate
        return {
            "name": self.name,
            "learning_rate": rate if not callable(rate) else type(rate).__name__,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "clipvalue": self.clipvalue,
            "global_clipnorm": self.global_clipnorm,
        }


class SGD(Optimizer):
    """Stochastic gradient descent, with (Nesterov) momentum as Keras: ``m = momentum*m - lr*g``."""

    def __init__(
        self, learning_rate: Any = 0.01, momentum: float = 0.0, nesterov: bool = False, **kwargs: Any
    ):
        super().__init__(learning_rate, **kwargs)
        self.momentum, self.nesterov = float(momentum), nesterov
        self._slots = ("momentum",) if momentum else ()

    def _update(self, variable, grad, coefficients, slots):
        lr = coefficients["lr"]
        if not self.momentum:
            variable.assign_sub(grad * lr)
            return
        m = slots["momentum"]
        m.assign(m * self.momentum - grad * lr)
        if self.nesterov:
            variable.assign_add(m * self.momentum - grad * lr)
        else:
            variable.assign_add(m)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam as Keras: ``var -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + epsilon)``.

    (torch.optim.Adam adds epsilon to the bias-corrected ``sqrt(v_hat)`` instead: the two agree
    up to that epsilon.)"""

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        **kwargs: Any,
    ):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad
        self._slots = ("m", "v", "v_max") if amsgrad else ("m", "v")

    def _coefficients(self, lr, step):
        alpha = lr * ops.sqrt(1.0 - ops.power(self.beta_2, step)) / (1.0 - ops.power(self.beta_1, step))
        return {"lr": lr, "alpha": alpha}

    def _update(self, variable, grad, coefficients, slots):
        alpha = coefficients["alpha"]
        m, v = slots["m"], slots["v"]
        m.assign_add((grad - m) * (1.0 - self.beta_1))
        v.assign_add((ops.square(grad) - v) * (1.0 - self.beta_2))
        second = v
        if self.amsgrad:
            slots["v_max"].assign(ops.maximum(slots["v_max"], v))
            second = slots["v_max"]
        variable.assign_sub(m * alpha / (ops.sqrt(second) + self.epsilon))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.004, as Keras)."""

    def __init__(self, learning_rate: Any = 0.001, weight_decay: float = 0.004, **kwargs: Any):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    """RMSprop as Keras: ``var -= lr * g / sqrt(v + epsilon)`` (epsilon inside the root), with
    optional momentum and centering."""

    def __init__(
        self,
        learning_rate: Any = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        **kwargs: Any,
    ):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered
        self._slots = ("v",) + (("momentum",) if momentum else ()) + (("mean_grad",) if centered else ())

    def _update(self, variable, grad, coefficients, slots):
        lr = coefficients["lr"]
        v = slots["v"]
        v.assign(v * self.rho + ops.square(grad) * (1.0 - self.rho))
        denominator = v + self.epsilon
        if self.centered:
            mean_grad = slots["mean_grad"]
            mean_grad.assign(mean_grad * self.rho + grad * (1.0 - self.rho))
            denominator = denominator - ops.square(mean_grad)
        increment = grad * lr * ops.rsqrt(denominator)
        if self.momentum:
            m = slots["momentum"]
            m.assign(m * self.momentum + increment)
            variable.assign_sub(m)
        else:
            variable.assign_sub(increment)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


class Adagrad(Optimizer):
    """Adagrad as Keras: ``acc += g^2; var -= lr * g / sqrt(acc + epsilon)``, ``acc`` starting
    at ``initial_accumulator_value``."""

    _slots = ("accumulator",)

    def __init__(
        self,
        learning_rate: Any = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        **kwargs: Any,
    ):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value, self.epsilon = initial_accumulator_value, epsilon

    def _initial_slot(self, name, variable):
        return self.initial_accumulator_value

    def _update(self, variable, grad, coefficients, slots):
        lr = coefficients["lr"]
        accumulator = slots["accumulator"]
        accumulator.assign_add(ops.square(grad))
        variable.assign_sub(grad * lr / ops.sqrt(accumulator + self.epsilon))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


def get(identifier: Any) -> Optimizer:
    """An optimizer from a name (default settings) or an Optimizer."""
    from ._registry import lookup

    found = lookup("optimizer", identifier, OPTIMIZERS)
    return found() if isinstance(found, type) else found


__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "LearningRateSchedule",
    "ExponentialDecay",
    "CosineDecay",
    "PiecewiseConstantDecay",
    "get",
]
