"""Optimizers as small update rules written once over bridge ops, with Keras' definitions.

``opt.apply(grads, variables)`` (or ``apply_gradients(zip(grads, variables))``) updates the
variables in place. ``learning_rate`` is a float, a schedule, or a callable of the step.
``weight_decay`` is decoupled (as Keras and AdamW); ``clipnorm``, ``clipvalue`` and
``global_clipnorm`` clip gradients first.

With ``check_finite`` (the default) a step whose gradients are not all finite changes no variable,
no slot and not ``iterations`` (as torch's GradScaler skips ``step()``): the choice is made with
tensors inside the step, the same eager and under ``br.jit``, with no host sync. (A skipped step
runs the rule with zeroed gradients and a *gate* of 0 folded into the step's scalars, which costs
far less than selecting between old and new values of every variable and slot.) The optimizer then
halts (every later step changes nothing too) and remembers the step, so the weights stay those
from before it until someone looks: ``fit`` does once per epoch, a custom loop calls
``raise_if_nonfinite()`` when it likes, and ``reset_nonfinite()`` resumes.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from . import ops
from .dtypes import float32, float64, int64
from .errors import InvalidArgumentError, NonFiniteError
from .tensor import Tensor
from .variable import Variable


def _in_range(
    owner: str, name: str, value: Any, low: float = 0.0, high: float = math.inf, high_open: bool = True
) -> float:
    """``value`` as a float, checked to lie in ``[low, high)`` (``[low, high]`` without
    ``high_open``); NaN and non-numbers fail."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgumentError(f"{owner}: {name} must be a number, got {value!r}")
    value = float(value)
    if not (low <= value and (value < high if high_open else value <= high)):
        bounds = f">= {low}" if high == math.inf else f"in [{low}, {high}{')' if high_open else ']'}"
        raise InvalidArgumentError(f"{owner}: {name} must be {bounds}, got {value!r}")
    return value


def _positive_steps(owner: str, decay_steps: Any) -> float:
    if isinstance(decay_steps, bool) or not isinstance(decay_steps, numbers.Real) or not decay_steps > 0:
        raise InvalidArgumentError(f"{owner}: decay_steps must be > 0, got {decay_steps!r}")
    return float(decay_steps)


# --- learning-rate schedules ---------------------------------------------------------------
class LearningRateSchedule(ABC):
    """A learning rate as a function of the step (the optimizer's ``iterations``, or a Python int)."""

    @abstractmethod
    def __call__(self, step: Tensor | int) -> Tensor: ...


def _step_tensor(schedule: LearningRateSchedule, step: Tensor | int) -> Tensor:
    """The step as a Tensor (a Python int becomes one on the current backend)."""
    if isinstance(step, Tensor):
        return step
    return ops.tensor(_in_range(type(schedule).__name__, "step", step), dtype=float32)


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (floored with ``staircase``)."""

    def __init__(
        self, initial_learning_rate: float, decay_steps: int, decay_rate: float, staircase: bool = False
    ):
        self.initial_learning_rate = _in_range(
            "ExponentialDecay", "initial_learning_rate", initial_learning_rate
        )
        self.decay_steps = _positive_steps("ExponentialDecay", decay_steps)
        self.decay_rate = _in_range("ExponentialDecay", "decay_rate", decay_rate)
        self.staircase = staircase

    def __call__(self, step: Tensor | int) -> Tensor:
        step = _step_tensor(self, step)
        progress = step.astype(float32) / self.decay_steps
        if self.staircase:
            progress = ops.floor(progress)
        return ops.power(self.decay_rate, progress) * self.initial_learning_rate


class CosineDecay(LearningRateSchedule):
    """Cosine from ``initial_learning_rate`` down to ``alpha`` times it over ``decay_steps``."""

    def __init__(self, initial_learning_rate: float, decay_steps: int, alpha: float = 0.0):
        self.initial_learning_rate = _in_range("CosineDecay", "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive_steps("CosineDecay", decay_steps)
        self.alpha = _in_range("CosineDecay", "alpha", alpha)

    def __call__(self, step: Tensor | int) -> Tensor:
        step = _step_tensor(self, step)
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
        self.boundaries = list(boundaries)
        self.values = [_in_range("PiecewiseConstantDecay", "values", v) for v in values]

    def __call__(self, step: Tensor | int) -> Tensor:
        step = _step_tensor(self, step)
        rate = ops.full((), self.values[-1], dtype=float32, backend=step.backend, device=step.device)
        for boundary, value in reversed(list(zip(self.boundaries, self.values))):
            rate = ops.where(step <= boundary, value, rate)
        return rate


# --- optimizers ----------------------------------------------------------------------------
class Optimizer(ABC):
    """Base class. Subclasses define ``_slots`` (names of per-variable state, zeros-initialized
    unless ``_initial_slot`` says otherwise) and ``_update(variable, grad, coefficients, slots)``,
    which updates them in place. On a skipped step ``grad`` is zero, ``coefficients["lr"]`` is 0 and
    ``coefficients["gate"]`` is 0 (else 1): a rule must then change nothing, so it scales every
    other change (a slot's decay) by the gate, folded into a scalar where it can."""

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
        self.name = name or type(self).__name__.lower()
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise InvalidArgumentError("use at most one of clipnorm, clipvalue and global_clipnorm")
        if not callable(learning_rate):
            learning_rate = _in_range(self.name, "learning_rate", learning_rate)
        for argument, value in (
            ("weight_decay", weight_decay),
            ("clipnorm", clipnorm),
            ("clipvalue", clipvalue),
            ("global_clipnorm", global_clipnorm),
        ):
            if value is not None:
                _in_range(self.name, argument, value)
        self._learning_rate = learning_rate
        self.weight_decay, self.check_finite = weight_decay, check_finite
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.iterations: Variable | None = None
        self._lr_variable: Variable | None = None
        self._nonfinite: Variable | None = None  # 0, or the number of the first non-finite step
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
        self._learning_rate = _in_range(self.name, "learning_rate", value)
        if self._lr_variable is not None:
            self._lr_variable.assign(self._learning_rate)

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
            self._nonfinite = Variable(
                ops.zeros((), dtype=int64, backend=first.backend, device=first.device),
                trainable=False,
                name=f"{self.name}/nonfinite_step",
            )
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

    def to(self, device: str) -> Optimizer:
        """Move the optimizer's state to ``device`` (``Model.to`` does it with the weights)."""
        for variable in (*self.variables, *([self._nonfinite] if self._nonfinite is not None else [])):
            variable._relocate(device)
        return self

    # --- non-finite steps ----------------------------------------------------------------
    @property
    def nonfinite_step(self) -> int | None:
        """The number of the first step whose gradients were not all finite (the optimizer has
        halted since), or None. Reading it waits for the device."""
        step = 0 if self._nonfinite is None else int(self._nonfinite.numpy())
        return step or None

    def raise_if_nonfinite(self) -> None:
        """Raise ``NonFiniteError`` if a step had non-finite gradients (one host read)."""
        step = self.nonfinite_step
        if step is not None:
            raise NonFiniteError(
                f"{self.name}: step {step} produced non-finite gradients (a NaN or infinite loss?); "
                "no variable changed at that step or after it; the weights are those from before it "
                "(call reset_nonfinite() to train on)"
            )

    def reset_nonfinite(self) -> None:
        """Forget a non-finite step, so that later steps update the variables again."""
        if self._nonfinite is not None:
            self._nonfinite.assign(0)

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
        go = self._finite_step(grads) if self.check_finite else None
        if go is not None:  # a skipped step runs with zero gradients and a gate of 0
            grads = [ops.where(go, g, 0.0) for g in grads]
        grads = self._clip(grads)
        lr = self._current_learning_rate()
        step = self.iterations + 1
        per_dtype: dict[Any, dict[str, Tensor]] = {}  # step-wide numbers, computed once per dtype
        for grad, variable in zip(grads, variables):
            dtype = variable.dtype
            if dtype not in per_dtype:
                gate = 1.0 if go is None else go.astype(dtype)
                per_dtype[dtype] = {
                    **self._coefficients(lr.astype(dtype) * gate, step.astype(dtype), gate),
                    "gate": gate,
                }
            coefficients = per_dtype[dtype]
            if grad.dtype is not dtype:
                grad = grad.astype(dtype)
            if self.weight_decay:
                variable.assign_sub(variable * (coefficients["lr"] * self.weight_decay))
            self._update(variable, grad, coefficients, self._state[id(variable)])
        self.iterations.assign(step if go is None else ops.where(go, step, self.iterations))

    def _finite_step(self, grads: list[Tensor]) -> Tensor:
        """Whether this step may change anything: its gradients are all finite and no earlier
        step was not. Records the first non-finite step in ``_nonfinite``; all as tensors."""
        # g * 0 is 0 where g is finite and NaN elsewhere: exact, and cheaper than isfinite + all
        finite = ops.isfinite(ops.sum(ops.stack([ops.sum(g * 0.0).astype(float32) for g in grads])))
        clean = self._nonfinite == 0
        step = self.iterations + 1
        self._nonfinite.assign(
            ops.where(ops.logical_and(clean, ops.logical_not(finite)), step, self._nonfinite)
        )
        return ops.logical_and(finite, clean)

    def _coefficients(self, lr: Tensor, step: Tensor, gate: Any) -> dict[str, Tensor]:
        """Numbers shared by every variable of one dtype in a step: the learning rate (already
        times the gate), and decays of slots, times the gate."""
        return {"lr": lr}

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
        self, variable: Variable, grad: Tensor, coefficients: dict[str, Any], slots: dict[str, Variable]
    ) -> None:
        """Apply one step of the rule to ``variable`` and its slots, in place."""

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
        self.momentum = _in_range(self.name, "momentum", momentum, 0.0, 1.0, high_open=False)  # as Keras
        self.nesterov = nesterov
        self._slots = ("momentum",) if momentum else ()

    def _coefficients(self, lr, step, gate):
        return {"lr": lr, "decay": (self.momentum - 1.0) * gate, "momentum": self.momentum * gate}

    def _update(self, variable, grad, coefficients, slots):
        step = grad * coefficients["lr"]
        if not self.momentum:
            variable.assign_sub(step)
            return
        m = slots["momentum"]
        m.assign_add(m * coefficients["decay"] - step)  # m = momentum * m - lr * g
        if self.nesterov:
            variable.assign_add(m * coefficients["momentum"] - step)
        else:
            variable.assign_add(m * coefficients["gate"])

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
        self.beta_1 = _in_range(self.name, "beta_1", beta_1, 0.0, 1.0)  # as torch.optim.Adam
        self.beta_2 = _in_range(self.name, "beta_2", beta_2, 0.0, 1.0)
        self.epsilon, self.amsgrad = _in_range(self.name, "epsilon", epsilon), amsgrad
        self._slots = ("m", "v", "v_max") if amsgrad else ("m", "v")

    def _coefficients(self, lr, step, gate):
        alpha = lr * ops.sqrt(1.0 - ops.power(self.beta_2, step)) / (1.0 - ops.power(self.beta_1, step))
        return {"lr": lr, "alpha": alpha, "m": (1.0 - self.beta_1) * gate, "v": (1.0 - self.beta_2) * gate}

    def _update(self, variable, grad, coefficients, slots):
        m, v = slots["m"], slots["v"]
        m.assign_add((grad - m) * coefficients["m"])
        v.assign_add((ops.square(grad) - v) * coefficients["v"])
        second = v
        if self.amsgrad:  # v is unchanged on a skipped step, so is its running maximum
            slots["v_max"].assign(ops.maximum(slots["v_max"], v))
            second = slots["v_max"]
        variable.assign_sub(m * coefficients["alpha"] / (ops.sqrt(second) + self.epsilon))

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
        if weight_decay is None:  # as Keras: AdamW without decay is Adam
            raise InvalidArgumentError(
                "AdamW: weight_decay must be a float, got None (use Adam for no weight decay)"
            )
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
        self.rho = _in_range(self.name, "rho", rho, 0.0, 1.0)
        self.momentum = _in_range(self.name, "momentum", momentum)  # as torch.optim.RMSprop
        self.epsilon, self.centered = _in_range(self.name, "epsilon", epsilon), centered
        self._slots = ("v",) + (("momentum",) if momentum else ()) + (("mean_grad",) if centered else ())

    def _coefficients(self, lr, step, gate):
        return {"lr": lr, "average": (1.0 - self.rho) * gate, "decay": (self.momentum - 1.0) * gate}

    def _update(self, variable, grad, coefficients, slots):
        v = slots["v"]
        v.assign_add((ops.square(grad) - v) * coefficients["average"])  # v = rho*v + (1-rho)*g^2
        denominator = v + self.epsilon
        if self.centered:
            mean_grad = slots["mean_grad"]
            mean_grad.assign_add((grad - mean_grad) * coefficients["average"])
            denominator = denominator - ops.square(mean_grad)
        increment = grad * coefficients["lr"] * ops.rsqrt(denominator)
        if self.momentum:
            m = slots["momentum"]
            m.assign_add(m * coefficients["decay"] + increment)  # m = momentum * m + increment
            variable.assign_sub(m * coefficients["gate"])
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
        self.initial_accumulator_value = _in_range(
            self.name, "initial_accumulator_value", initial_accumulator_value
        )
        self.epsilon = _in_range(self.name, "epsilon", epsilon)

    def _initial_slot(self, name, variable):
        return self.initial_accumulator_value

    def _update(self, variable, grad, coefficients, slots):
        accumulator = slots["accumulator"]
        accumulator.assign_add(ops.square(grad))  # a skipped step's gradient is zero
        variable.assign_sub(grad * coefficients["lr"] / ops.sqrt(accumulator + self.epsilon))

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
