"""Optimizers as small update rules written once over bridge ops, with Keras' definitions.

``opt.apply(grads, variables)`` (or ``apply_gradients(zip(grads, variables))``) updates the
variables in place. ``learning_rate`` is a float, a schedule, or a callable of the step.
``weight_decay`` is decoupled (as Keras and AdamW); ``clipnorm``, ``clipvalue`` and
``global_clipnorm`` clip gradients first. As Keras: ``exclude_from_weight_decay`` spares some
variables; ``use_ema`` keeps moving averages of the variables (``finalize_variable_values``
copies them in); ``gradient_accumulation_steps=n`` steps every n-th call with the mean gradient.
A variable's ``constraint`` (``Dense(kernel_constraint=...)``) is applied to it right after its
update, eagerly and inside compiled steps alike.

With ``check_finite`` (the default) a step whose gradients are not all finite changes no variable,
no slot and not ``iterations`` (as torch's GradScaler skips ``step()``): the choice is made with
tensors inside the step, the same eager and under ``br.jit``, with no host sync. (A skipped step
runs each rule with zero gradients and a learning rate of 0, and ``Optimizer.assign`` and its kin
keep every slot as it was: a rule written with them needs no case for it.) The optimizer then
halts (every later step changes nothing too) and remembers the step, so the weights stay those
from before it until someone looks: ``fit`` does once per epoch, a custom loop calls
``raise_if_nonfinite()`` when it likes, and ``reset_nonfinite()`` resumes.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from . import distribute, ops
from ._registry import Registry
from .dtypes import DType, float32, float64, int64
from .errors import InvalidArgumentError, NonFiniteError
from .ops.creation import tensor_like
from .schedules import (
    SCHEDULES,
    CosineDecay,
    ExponentialDecay,
    LearningRateSchedule,
    PiecewiseConstantDecay,
    number_in_range,
)
from .tensor import Tensor
from .variable import Variable


# --- optimizers ----------------------------------------------------------------------------
class Optimizer(ABC):
    """Base class. A new rule is a subclass that names its per-variable state in ``slot_names``
    and defines ``update_step``; for example sign SGD with momentum::

        class SignSGD(Optimizer):
            slot_names = ("momentum",)

            def __init__(self, learning_rate=0.01, beta=0.9, **kwargs):
                super().__init__(learning_rate, **kwargs)
                self.beta = beta

            def update_step(self, variable, gradient, learning_rate):
                m = self.slot(variable, "momentum")
                self.assign(m, m * self.beta + gradient * (1 - self.beta))
                self.assign_sub(variable, ops.sign(m) * learning_rate)

            def get_config(self):
                return {**super().get_config(), "beta": self.beta}

    ``apply`` calls ``update_step`` once per variable and step, after clipping and weight decay,
    with the gradient and learning rate (a scalar tensor) in the variable's dtype, then (after
    the moving average) applies the variable's ``constraint``;
    ``self.iterations`` counts the steps before this one. Slots start at 0 (``initial_slot_value``
    says otherwise). Change state with ``self.assign``, ``assign_add`` and ``assign_sub``: on a
    step whose gradients are not all finite (see the module docstring) they change nothing, so a
    rule needs no case for it. On that step the gradient is 0 and the learning rate 0 too, so a
    change proportional to the learning rate may also go straight to ``variable.assign_sub``; and a
    change scaled by ``self.gated(coefficient, dtype)`` (the coefficient, or 0 on that step) may go
    straight to ``assign_add`` too: a scalar product instead of a ``where`` over the tensor, which
    is how the built-in rules stay as cheap as they were before the check."""

    slot_names: tuple[str, ...] = ()

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule | Callable = 0.001,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        gradient_accumulation_steps: int | None = None,
        check_finite: bool = True,
        name: str | None = None,
    ) -> None:
        self.name = name or type(self).__name__.lower()
        if use_ema:  # checked only then, as Keras
            number_in_range(self.name, "ema_momentum", ema_momentum, 0.0, 1.0, high_open=False)
            frequency = ema_overwrite_frequency
            if frequency and (isinstance(frequency, bool) or not isinstance(frequency, int) or frequency < 1):
                raise InvalidArgumentError(
                    f"{self.name}: ema_overwrite_frequency must be an int >= 1 (or None or 0: never), "
                    f"got {frequency!r}"
                )
        steps = gradient_accumulation_steps
        if steps and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 2):
            raise InvalidArgumentError(
                f"{self.name}: gradient_accumulation_steps must be an int >= 2 (or None), got {steps!r}"
            )
        self.gradient_accumulation_steps = steps or None
        self._micro_steps: Variable | None = None  # calls of apply, with gradient accumulation
        self.use_ema, self.ema_momentum = use_ema, ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise InvalidArgumentError("use at most one of clipnorm, clipvalue and global_clipnorm")
        if not callable(learning_rate):
            learning_rate = number_in_range(self.name, "learning_rate", learning_rate)
        for argument, value in (
            ("weight_decay", weight_decay),
            ("clipnorm", clipnorm),
            ("clipvalue", clipvalue),
            ("global_clipnorm", global_clipnorm),
        ):
            if value is not None:
                number_in_range(self.name, argument, value)
        self._learning_rate = learning_rate
        self.weight_decay, self.check_finite = weight_decay, check_finite
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.iterations: Variable | None = None
        self._lr_variable: Variable | None = None
        self._nonfinite: Variable | None = None  # 0, or the number of the first non-finite step
        self._state: dict[int, dict[str, Variable]] = {}
        self._no_decay_ids: set[int] = set()  # see exclude_from_weight_decay
        self._no_decay_pattern: re.Pattern[str] | None = None
        self._go: Tensor | None = None  # inside a checked step: whether it may change anything
        self._per_step: dict[Any, Tensor] = {}

    # --- learning rate -------------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        """The current learning rate, a float: a schedule's value at the current step (step 0
        before the first)."""
        if callable(self._learning_rate):
            step = self.iterations if self.iterations is not None else ops.tensor(0, dtype=int64)
            return float(self._learning_rate(step))
        return float(self._lr_variable.numpy()) if self._lr_variable is not None else self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        if callable(self._learning_rate):
            raise InvalidArgumentError(f"{self.name}: the learning rate is a schedule; it cannot be set")
        self._learning_rate = number_in_range(self.name, "learning_rate", value)
        if self._lr_variable is not None:
            self._lr_variable.assign(self._learning_rate)

    @property
    def learning_rate_schedule(self) -> LearningRateSchedule | Callable | None:
        """The schedule (or callable of the step) that sets the learning rate at every step, so
        that it cannot be set; None for a float learning rate."""
        return self._learning_rate if callable(self._learning_rate) else None

    def _current_learning_rate(self, iterations: Variable) -> Tensor:
        if callable(self._learning_rate):
            return ops.tensor(self._learning_rate(iterations)).astype(float32)
        assert self._lr_variable is not None
        return self._lr_variable

    # --- state ---------------------------------------------------------------------------
    def initial_slot_value(self, name: str, variable: Variable) -> float:
        """The value slot ``name`` of ``variable`` starts at (0)."""
        return 0.0

    def initial_slot(self, name: str, variable: Variable) -> Tensor:
        """The tensor slot ``name`` of ``variable`` starts as: ``variable``'s shape, full of
        ``initial_slot_value`` (a rule with slots of other shapes overrides this)."""
        return ops.full_like(variable, self.initial_slot_value(name, variable))

    def slot(self, variable: Variable, name: str) -> Variable:
        """The slot ``name`` (one of ``slot_names``) of ``variable``."""
        slots = self._state.get(id(variable), {})
        if name not in slots:
            raise InvalidArgumentError(
                f"{self.name}: no slot {name!r} for variable {variable.name!r}; slots: {self.slot_names}"
            )
        return slots[name]

    def build(self, variables: Sequence[Variable]) -> None:
        """Create the step counter and per-variable state (done on the first ``apply``)."""
        first = variables[0]
        if self.iterations is None:
            workers = distribute.current()
            if workers is not None:  # before a compiled step, which cannot: the same model, rank 0's weights
                workers.share_variables(list(variables))
            self.iterations = Variable(
                tensor_like(0, first, int64), trainable=False, name=f"{self.name}/iterations"
            )
            if not callable(self._learning_rate):
                lr = tensor_like(float(self._learning_rate), first, float64)
                self._lr_variable = Variable(lr, trainable=False, name=f"{self.name}/learning_rate")
            self._nonfinite = Variable(
                tensor_like(0, first, int64), trainable=False, name=f"{self.name}/nonfinite_step"
            )
            if self.gradient_accumulation_steps:
                self._micro_steps = Variable(
                    tensor_like(0, first, int64), trainable=False, name=f"{self.name}/accumulation_step"
                )
        extra = (("average",) if self.use_ema else ()) + (
            ("gradient_accumulator",) if self.gradient_accumulation_steps else ()
        )
        for variable in variables:
            if id(variable) not in self._state:
                self._state[id(variable)] = {
                    slot: Variable(
                        self.initial_slot(slot, variable),
                        trainable=False,
                        name=f"{self.name}/{slot}",
                    )
                    for slot in self.slot_names + extra
                }

    @property
    def variables(self) -> list[Variable]:
        """The optimizer's own state: the step counter, learning rate and per-variable slots."""
        own = [v for v in (self.iterations, self._lr_variable, self._micro_steps) if v is not None]
        return own + [slot for slots in self._state.values() for slot in slots.values()]

    def named_state(self, variables: Mapping[str, Variable]) -> dict[str, Variable]:
        """The optimizer's state by name, as checkpoints hold it: ``iterations``,
        ``learning_rate`` (a float learning rate's), ``nonfinite_step``, and ``{name}/{slot}``
        for each of ``variables`` (names to Variables) that has slots. Empty before the first step."""
        if self.iterations is None or self._nonfinite is None:
            return {}
        counters = {
            "iterations": self.iterations,
            "learning_rate": self._lr_variable,
            "nonfinite_step": self._nonfinite,
            "accumulation_step": self._micro_steps,
        }
        named = {name: v for name, v in counters.items() if v is not None}
        for name, variable in variables.items():
            for slot, value in self._state.get(id(variable), {}).items():
                named[f"{name}/{slot}"] = value
        return named

    def to(self, device: str) -> Optimizer:
        """Move the optimizer's state to ``device`` (``Model.to`` does it with the weights)."""
        for variable in (*self.variables, *([self._nonfinite] if self._nonfinite is not None else [])):
            variable._relocate(device)
        return self

    def exclude_from_weight_decay(
        self, var_list: Iterable[Variable] | None = None, var_names: Iterable[str] | None = None
    ) -> None:
        """Spare ``var_list``, and every variable whose name contains a match of one of the
        regular expressions ``var_names`` (``["bias"]``: all biases), from weight decay, as
        Keras. Only before the first step; a second call replaces the first."""
        if self.iterations is not None:
            raise InvalidArgumentError(
                f"{self.name}: call exclude_from_weight_decay() before the first step (it is built)"
            )
        self._no_decay_ids = {id(variable) for variable in var_list or ()}
        names = set(var_names or ())
        self._no_decay_pattern = re.compile("|".join(sorted(names))) if names else None

    def _decays(self, variable: Variable) -> bool:
        if not self.weight_decay or id(variable) in self._no_decay_ids:
            return False
        return self._no_decay_pattern is None or self._no_decay_pattern.search(variable.name or "") is None

    # --- changing state within a step ----------------------------------------------------
    def assign(self, target: Variable, value: Any) -> None:
        """``target = value``, except on a step with non-finite gradients."""
        target.assign(value if self._go is None else ops.where(self._go, value, target))

    def assign_add(self, target: Variable, increment: Any) -> None:
        """``target += increment``, except on a step with non-finite gradients."""
        target.assign_add(increment if self._go is None else ops.where(self._go, increment, 0.0))

    def assign_sub(self, target: Variable, decrement: Any) -> None:
        """``target -= decrement``, except on a step with non-finite gradients."""
        target.assign_sub(decrement if self._go is None else ops.where(self._go, decrement, 0.0))

    def gated(self, coefficient: float, dtype: DType) -> Tensor | float:
        """``coefficient``, as a scalar of ``dtype`` that is 0 on a step with non-finite gradients
        (``coefficient`` itself when the check is off): a change scaled by it vanishes then."""
        if self._go is None:
            return coefficient
        return self._once_per_step(self._gate, dtype) * coefficient

    def _gate(self, dtype: DType) -> Tensor:
        assert self._go is not None
        return self._go.astype(dtype)

    def _once_per_step(self, compute: Callable[..., Tensor], *args: Any) -> Tensor:
        """``compute(*args)``, computed once per step and shared by every variable."""
        key = (compute, *args)
        if key not in self._per_step:
            self._per_step[key] = compute(*args)
        return self._per_step[key]

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

    def scale_loss(self, loss: Tensor) -> Tensor:
        """The loss to take gradients of (``LossScaleOptimizer`` scales it; here it is itself)."""
        return loss

    def apply(self, grads: Sequence[Any], variables: Sequence[Variable]) -> None:
        """Update ``variables`` in place with ``grads`` (one per variable, None to skip)."""
        self._apply(grads, variables, None)

    def _apply(
        self,
        grads: Sequence[Any],
        variables: Sequence[Variable],
        allowed: Tensor | None,
        averaged: bool = False,
    ) -> None:
        """``apply``, as a step that changes nothing where the bool tensor ``allowed`` is False.
        In a ``DataParallel`` scope the gradients are first averaged over the workers, unless
        ``averaged`` (a LossScaleOptimizer averages them before it checks them)."""
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
        gradients = [g if isinstance(g, Tensor) else ops.tensor(g) for g, _ in pairs]
        self.build([v for _, v in pairs])
        workers = distribute.current()
        if workers is not None and not averaged:  # every worker steps with the workers' average
            gradients = workers.average_gradients(gradients)
        iterations = self.iterations
        assert iterations is not None
        if self.gradient_accumulation_steps:
            gradients, update = self._accumulate(gradients, [v for _, v in pairs])
            allowed = update if allowed is None else ops.logical_and(allowed, update)
        go = self._finite_step(gradients, iterations) if self.check_finite else None
        if allowed is not None:
            go = allowed if go is None else ops.logical_and(go, allowed)
        if go is not None and _true_on_host(go):
            go = None  # seen here to be a step that goes: nothing to gate
        if go is not None:  # perhaps a skipped step: zero gradients, rate 0
            gradients = [ops.where(go, g, 0.0) for g in gradients]
        lr = self._current_learning_rate(iterations)
        self._go, self._per_step = go, {}
        try:
            # by dtype, each group's variables updated together (one variable's update reads no other)
            groups: dict[DType, list[tuple[Tensor, Variable]]] = {}
            for gradient, (_, variable) in zip(self._clip(gradients), pairs):
                if gradient.dtype is not variable.dtype:
                    gradient = gradient.astype(variable.dtype)
                groups.setdefault(variable.dtype, []).append((gradient, variable))
            for dtype, group in groups.items():
                rate = self._gated_rate(lr, dtype)
                for _, variable in group:
                    if self._decays(variable):
                        variable.assign_sub(variable * (rate * self.weight_decay))
                self._update_steps([v for _, v in group], [g for g, _ in group], rate)
                for _, variable in group:
                    if self.use_ema:
                        self._update_average(variable, iterations)
                    if variable.constraint is not None:  # last, as Keras
                        self.assign(variable, variable.constraint(variable))
        finally:
            self._go, self._per_step = None, {}
        step = iterations + 1
        iterations.assign(step if go is None else ops.where(go, step, iterations))

    def _accumulate(self, gradients: list[Tensor], variables: list[Variable]) -> tuple[list[Tensor], Tensor]:
        """Keras' gradient accumulation: add ``gradients`` to the slots ``gradient_accumulator``.
        Returns their means, and whether this call is a ``gradient_accumulation_steps``-th one,
        the only ones that step (``iterations`` counts those; the accumulators then restart)."""
        assert self._micro_steps is not None and self.gradient_accumulation_steps
        steps = self.gradient_accumulation_steps
        update = (self._micro_steps + 1) % steps == 0
        means = []
        for gradient, variable in zip(gradients, variables):
            accumulator = self.slot(variable, "gradient_accumulator")
            total = accumulator + gradient.astype(accumulator.dtype)
            accumulator.assign(ops.where(update, 0.0, total))
            means.append(total / steps)
        self._micro_steps.assign(self._micro_steps + 1)
        return means, update

    def _update_average(self, variable: Variable, iterations: Variable) -> None:
        """Keras' moving average of ``variable`` (slot ``average``; the first step copies it),
        copied into it every ``ema_overwrite_frequency`` steps."""
        average = self.slot(variable, "average")
        momentum = (iterations != 0).astype(variable.dtype) * self.ema_momentum
        self.assign(average, momentum * average + (1.0 - momentum) * variable)
        if self.ema_overwrite_frequency:
            overwrite = (iterations + 1) % self.ema_overwrite_frequency == 0
            self.assign(variable, ops.where(overwrite, average, variable))

    def finalize_variable_values(self, var_list: Sequence[Variable]) -> None:
        """With ``use_ema``, set each of ``var_list`` to its moving average (as Keras at the end of
        ``fit``); otherwise nothing."""
        if self.use_ema:
            for variable in var_list:
                variable.assign(self.slot(variable, "average"))

    def _gated_rate(self, lr: Tensor, dtype: DType) -> Tensor:
        rate = lr.astype(dtype)
        return rate if self._go is None else rate * self._go.astype(dtype)

    def _finite_step(self, grads: list[Tensor], iterations: Variable) -> Tensor | None:
        """Whether this step may change anything: its gradients are all finite and no earlier
        step was not; None where that is seen here to be so (``_true_on_host``). Records the
        first non-finite step in ``_nonfinite``; all as tensors."""
        assert self._nonfinite is not None
        finite = all_finite(grads)
        clean = self._nonfinite == 0
        go = ops.logical_and(finite, clean)
        if _true_on_host(go):
            return None
        self._nonfinite.assign(
            ops.where(ops.logical_and(clean, ops.logical_not(finite)), iterations + 1, self._nonfinite)
        )
        return go

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
    def update_step(self, variable: Variable, gradient: Tensor, learning_rate: Tensor) -> None:
        """Apply one step of the rule to ``variable`` and its slots, in place."""

    def _update_steps(
        self, variables: list[Variable], gradients: list[Tensor], learning_rate: Tensor
    ) -> None:
        """``update_step`` for each of ``variables`` (all of one dtype); a rule with a fused
        backend kernel (a fast path) runs it here instead, when the rule is not overridden."""
        for variable, gradient in zip(variables, gradients):
            self.update_step(variable, gradient, learning_rate)

    # --- configuration -------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments (Keras' keys); a schedule as its config, another callable
        learning rate as itself."""
        rate = self._learning_rate
        return {
            "name": self.name,
            "learning_rate": SCHEDULES.serialize(rate) if callable(rate) else rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
            "check_finite": self.check_finite,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        """A new optimizer (without state) from ``get_config``'s output."""
        rate = config.get("learning_rate")
        if isinstance(rate, dict):
            config = {**config, "learning_rate": SCHEDULES.deserialize(rate)}
        return cls(**config)


class SGD(Optimizer):
    """Stochastic gradient descent, with (Nesterov) momentum as Keras: ``m = momentum*m - lr*g``."""

    def __init__(
        self, learning_rate: Any = 0.01, momentum: float = 0.0, nesterov: bool = False, **kwargs: Any
    ):
        super().__init__(learning_rate, **kwargs)
        # in [0, 1], as Keras
        self.momentum = number_in_range(self.name, "momentum", momentum, 0.0, 1.0, high_open=False)
        self.nesterov = nesterov
        self.slot_names = ("momentum",) if momentum else ()

    def update_step(self, variable: Variable, gradient: Tensor, learning_rate: Tensor) -> None:
        step = gradient * learning_rate
        if not self.momentum:
            variable.assign_sub(step)
            return
        m, dtype = self.slot(variable, "momentum"), variable.dtype
        m.assign_add(m * self.gated(self.momentum - 1.0, dtype) - step)  # m = momentum * m - step
        variable.assign_add(
            m * self.gated(self.momentum, dtype) - step if self.nesterov else m * self.gated(1.0, dtype)
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


def _adam_arguments(name: str, beta_1: float, beta_2: float, epsilon: float) -> tuple[float, float, float]:
    """The Adam family's ``beta_1`` and ``beta_2`` (each in [0, 1), as torch.optim.Adam) and
    ``epsilon`` (>= 0), checked for optimizer ``name``."""
    return (
        number_in_range(name, "beta_1", beta_1, 0.0, 1.0),
        number_in_range(name, "beta_2", beta_2, 0.0, 1.0),
        number_in_range(name, "epsilon", epsilon),
    )


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
        self.beta_1, self.beta_2, self.epsilon = _adam_arguments(self.name, beta_1, beta_2, epsilon)
        self.amsgrad = amsgrad
        self.slot_names = ("m", "v", "v_max") if amsgrad else ("m", "v")

    def _bias_correction(self, dtype: DType) -> Tensor:
        assert self.iterations is not None
        t = (self.iterations + 1).astype(dtype)
        return ops.sqrt(1.0 - ops.power(self.beta_2, t)) / (1.0 - ops.power(self.beta_1, t))

    def update_step(self, variable: Variable, gradient: Tensor, learning_rate: Tensor) -> None:
        m, v = self.slot(variable, "m"), self.slot(variable, "v")
        m.assign_add((gradient - m) * self.gated(1.0 - self.beta_1, variable.dtype))
        v.assign_add((ops.square(gradient) - v) * self.gated(1.0 - self.beta_2, variable.dtype))
        second = v
        if self.amsgrad:  # v is unchanged on a skipped step, so is its running maximum
            second = self.slot(variable, "v_max")
            second.assign(ops.maximum(second, v))
        alpha = learning_rate * self._once_per_step(self._bias_correction, variable.dtype)
        variable.assign_sub(m * alpha / (ops.sqrt(second) + self.epsilon))

    def _update_steps(
        self, variables: list[Variable], gradients: list[Tensor], learning_rate: Tensor
    ) -> None:
        backend = variables[0]._backend
        fusable = "adam_update" in backend.fast_paths and type(self).update_step is Adam.update_step
        # the kernel updates in place: a gradient of another shape or device gets the composite's
        # broadcasting, or its clear error
        if not fusable or any(
            g.shape != v.shape or g.device != v.device for g, v in zip(gradients, variables)
        ):
            return super()._update_steps(variables, gradients, learning_rate)
        dtype = variables[0].dtype
        alpha = learning_rate * self._once_per_step(self._bias_correction, dtype)
        beta_1_rate, beta_2_rate = (
            rate._native if isinstance(rate, Tensor) else rate
            for rate in (self.gated(1.0 - self.beta_1, dtype), self.gated(1.0 - self.beta_2, dtype))
        )
        slots = {name: [self.slot(v, name)._stored for v in variables] for name in self.slot_names}
        backend.adam_update(
            [v._stored for v in variables],
            [g._native for g in gradients],
            slots["m"],
            slots["v"],
            slots.get("v_max"),
            beta_1_rate,
            beta_2_rate,
            alpha._native,
            self.epsilon,
        )

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
        self.rho = number_in_range(self.name, "rho", rho, 0.0, 1.0)
        self.momentum = number_in_range(self.name, "momentum", momentum)  # as torch.optim.RMSprop
        self.epsilon, self.centered = number_in_range(self.name, "epsilon", epsilon), centered
        self.slot_names = ("v",) + (("momentum",) if momentum else ()) + (("mean_grad",) if centered else ())

    def update_step(self, variable: Variable, gradient: Tensor, learning_rate: Tensor) -> None:
        v = self.slot(variable, "v")
        rate = self.gated(1.0 - self.rho, variable.dtype)
        v.assign_add((ops.square(gradient) - v) * rate)  # v = rho*v + (1-rho)*g^2
        denominator = v + self.epsilon
        if self.centered:
            mean_grad = self.slot(variable, "mean_grad")
            mean_grad.assign_add((gradient - mean_grad) * rate)
            denominator = denominator - ops.square(mean_grad)
        increment = gradient * learning_rate * ops.rsqrt(denominator)
        if self.momentum:
            m = self.slot(variable, "momentum")
            m.assign_add(m * self.gated(self.momentum - 1.0, variable.dtype) + increment)
            variable.assign_sub(m * self.gated(1.0, variable.dtype))
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

    slot_names = ("accumulator",)

    def __init__(
        self,
        learning_rate: Any = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        **kwargs: Any,
    ):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = number_in_range(
            self.name, "initial_accumulator_value", initial_accumulator_value
        )
        self.epsilon = number_in_range(self.name, "epsilon", epsilon)

    def initial_slot_value(self, name: str, variable: Variable) -> float:
        return self.initial_accumulator_value

    def update_step(self, variable: Variable, gradient: Tensor, learning_rate: Tensor) -> None:
        accumulator = self.slot(variable, "accumulator")
        accumulator.assign_add(ops.square(gradient))  # a skipped step's gradient is zero
        variable.assign_sub(gradient * learning_rate / ops.sqrt(accumulator + self.epsilon))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }


def all_finite(tensors: Sequence[Tensor]) -> Tensor:
    """Whether every element of ``tensors`` is finite, as a bool tensor (no host sync)."""
    backend = tensors[0]._backend
    if "all_finite" in backend.fast_paths:
        return Tensor(backend.all_finite([t._native for t in tensors]), backend)
    # g * 0 is 0 where g is finite and NaN elsewhere: exact, and cheaper than isfinite + all
    return ops.isfinite(ops.sum(ops.stack([ops.sum(g * 0.0).astype(float32) for g in tensors])))


class LossScaleOptimizer(Optimizer):
    """Dynamic loss scaling around ``inner_optimizer``, as Keras' ``LossScaleOptimizer`` (the
    default under the ``"mixed_float16"`` policy in ``Model.compile``): ``fit`` takes gradients of
    ``scale_loss(loss)`` (the loss times ``dynamic_scale``, so that small float16 gradients do
    not flush to zero), and ``apply`` divides them by the scale again. A step whose gradients are
    not all finite changes no variable and halves the scale; after ``dynamic_growth_steps``
    finite steps in a row the scale doubles. Decided with tensors: no host sync, the same under
    ``br.jit``. Everything else (learning rate, iterations, slots) is the inner optimizer's."""

    def __init__(
        self,
        inner_optimizer: Any,
        initial_scale: float = 2.0**15,
        dynamic_growth_steps: int = 2000,
        name: str | None = None,
    ) -> None:  # the inner optimizer holds the learning rate and the rest: no Optimizer.__init__
        self.name = name or "loss_scale_optimizer"
        self.inner_optimizer = get(inner_optimizer)
        if isinstance(self.inner_optimizer, LossScaleOptimizer):
            raise InvalidArgumentError(f"{self.name}: the inner optimizer already scales the loss")
        self.initial_scale = number_in_range(self.name, "initial_scale", initial_scale)
        if (
            isinstance(dynamic_growth_steps, bool)
            or not isinstance(dynamic_growth_steps, int)
            or dynamic_growth_steps < 1
        ):
            raise InvalidArgumentError(
                f"{self.name}: dynamic_growth_steps must be an int >= 1, got {dynamic_growth_steps!r}"
            )
        self.dynamic_growth_steps = dynamic_growth_steps
        self.dynamic_scale: Variable | None = None  # float32, made on the first apply
        self.step_counter: Variable | None = None  # finite steps since the scale last changed

    # --- the inner optimizer's ----------------------------------------------------------------
    @property
    def iterations(self) -> Variable | None:  # type: ignore[override]
        return self.inner_optimizer.iterations

    @property
    def learning_rate(self) -> float:
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self.inner_optimizer.learning_rate = value

    @property
    def learning_rate_schedule(self) -> LearningRateSchedule | Callable | None:
        return self.inner_optimizer.learning_rate_schedule

    @property
    def slot_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.inner_optimizer.slot_names

    @property
    def nonfinite_step(self) -> int | None:
        return self.inner_optimizer.nonfinite_step

    def reset_nonfinite(self) -> None:
        self.inner_optimizer.reset_nonfinite()

    def slot(self, variable: Variable, name: str) -> Variable:
        return self.inner_optimizer.slot(variable, name)

    def exclude_from_weight_decay(
        self, var_list: Iterable[Variable] | None = None, var_names: Iterable[str] | None = None
    ) -> None:
        self.inner_optimizer.exclude_from_weight_decay(var_list, var_names)

    def finalize_variable_values(self, var_list: Sequence[Variable]) -> None:
        self.inner_optimizer.finalize_variable_values(var_list)

    def update_step(self, variable: Variable, gradient: Tensor, learning_rate: Tensor) -> None:
        self.inner_optimizer.update_step(variable, gradient, learning_rate)

    # --- state ---------------------------------------------------------------------------------
    def build(self, variables: Sequence[Variable]) -> None:
        if self.dynamic_scale is None:
            first = variables[0]
            self.dynamic_scale = Variable(
                tensor_like(float(self.initial_scale), first, float32),
                trainable=False,
                name=f"{self.name}/dynamic_scale",
            )
            self.step_counter = Variable(
                tensor_like(0, first, int64), trainable=False, name=f"{self.name}/step_counter"
            )
        self.inner_optimizer.build(variables)

    @property
    def variables(self) -> list[Variable]:
        own = [v for v in (self.step_counter, self.dynamic_scale) if v is not None]
        return own + self.inner_optimizer.variables

    def named_state(self, variables: Mapping[str, Variable]) -> dict[str, Variable]:
        """The inner optimizer's state, and ``dynamic_scale`` and ``step_counter``."""
        named = self.inner_optimizer.named_state(variables)
        if named and self.dynamic_scale is not None and self.step_counter is not None:
            named.update(dynamic_scale=self.dynamic_scale, step_counter=self.step_counter)
        return named

    def to(self, device: str) -> LossScaleOptimizer:
        for variable in (self.step_counter, self.dynamic_scale):
            if variable is not None:
                variable._relocate(device)
        self.inner_optimizer.to(device)
        return self

    # --- scaling -------------------------------------------------------------------------------
    def scale_loss(self, loss: Tensor) -> Tensor:
        """``loss`` times the current scale."""
        scale = self.dynamic_scale if self.dynamic_scale is not None else self.initial_scale
        return loss * (scale.astype(loss.dtype) if isinstance(scale, Tensor) else scale)

    def _apply(
        self,
        grads: Sequence[Any],
        variables: Sequence[Variable],
        allowed: Tensor | None,
        averaged: bool = False,
    ) -> None:
        grads, variables = list(grads), list(variables)
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        if len(grads) != len(variables) or not pairs:
            self.inner_optimizer._apply(grads, variables, allowed, averaged)  # its errors, or nothing to do
            return
        self.build([v for _, v in pairs])
        scale, counter = self.dynamic_scale, self.step_counter
        assert scale is not None and counter is not None
        gradients = [g if isinstance(g, Tensor) else ops.tensor(g) for g, _ in pairs]
        workers = distribute.current()
        if workers is not None and not averaged:  # checked once averaged: every worker decides alike
            gradients = workers.average_gradients(gradients)
        finite = all_finite(gradients)
        if allowed is not None:
            finite = ops.logical_and(finite, allowed)
        unscaled = [ops.where(finite, g / scale.astype(g.dtype), 0.0) for g in gradients]
        self.inner_optimizer._apply(unscaled, [v for _, v in pairs], finite, averaged=True)
        grow = ops.logical_and(finite, counter == self.dynamic_growth_steps - 1)
        scale.assign(ops.where(finite, ops.where(grow, scale * 2.0, scale), scale * 0.5))
        counter.assign(ops.where(ops.logical_and(finite, ops.logical_not(grow)), counter + 1, 0))

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "inner_optimizer": serialize(self.inner_optimizer),
            "initial_scale": self.initial_scale,
            "dynamic_growth_steps": self.dynamic_growth_steps,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        return cls(**{**config, "inner_optimizer": deserialize(config["inner_optimizer"])})


REGISTRY = Registry(
    "optimizer",
    {
        "sgd": SGD,
        "adam": Adam,
        "adamw": AdamW,
        "rmsprop": RMSprop,
        "adagrad": Adagrad,
        "loss_scale_optimizer": LossScaleOptimizer,
    },
    base=Optimizer,
    callables=False,
)

# --- more rules, as Keras 3 defines them ------------------------------------------------------


class Nadam(Optimizer):
    """Nadam (Adam with Nesterov momentum) as Keras, with its momentum schedule
    ``u_t = beta_1 * (1 - 0.5 * 0.96^t)`` and their running product ``u_product`` (one scalar
    of state besides the slots, saved with them)."""

    slot_names = ("momentum", "velocity")

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        **kwargs: Any,
    ):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = _adam_arguments(self.name, beta_1, beta_2, epsilon)
        self.u_product: Variable | None = None

    def build(self, variables: Sequence[Variable]) -> None:
        if self.u_product is None:
            first = variables[0]
            self.u_product = Variable(
                tensor_like(1.0, first, first.dtype), trainable=False, name=f"{self.name}/u_product"
            )
        super().build(variables)

    @property
    def variables(self) -> list[Variable]:
        return super().variables + ([self.u_product] if self.u_product is not None else [])

    def named_state(self, variables: Mapping[str, Variable]) -> dict[str, Variable]:
        """``Optimizer.named_state`` and ``u_product``."""
        named = super().named_state(variables)
        if named and self.u_product is not None:
            named["u_product"] = self.u_product
        return named

    def _momentum_schedule(self, step: Tensor) -> Tensor:
        return self.beta_1 * (1.0 - 0.5 * ops.power(0.96, step))

    def _advance_u_product(self) -> Tensor:
        """Multiply ``u_product`` by this step's ``u_t`` (once per step); its new value."""
        assert self.u_product is not None and self.iterations is not None
        step = (self.iterations + 1).astype(self.u_product.dtype)
        self.assign(self.u_product, self.u_product * self._momentum_schedule(step))
        return self.u_product

    def update_step(self, variable: Variable, gradient: Tensor, learning_rate: Tensor) -> None:
        assert self.iterations is not None
        dtype = variable.dtype
        u_product = self._once_per_step(self._advance_u_product).astype(dtype)
        step = (self.iterations + 1).astype(dtype)
        u_t, u_next = self._momentum_schedule(step), self._momentum_schedule(step + 1.0)
        m, v = self.slot(variable, "momentum"), self.slot(variable, "velocity")
        m.assign_add((gradient - m) * self.gated(1.0 - self.beta_1, dtype))
        v.assign_add((ops.square(gradient) - v) * self.gated(1.0 - self.beta_2, dtype))
        m_hat = u_next * m / (1.0 - u_product * u_next) + (1.0 - u_t) * gradient / (1.0 - u_product)
        v_hat = v / (1.0 - ops.power(self.beta_2, step))
        variable.assign_sub(m_hat * learning_rate / (ops.sqrt(v_hat) + self.epsilon))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Adamax(Optimizer):
    """Adamax (Adam with the infinity norm) as Keras: ``u = max(beta_2 * u, |g|)``,
    ``var -= lr * m / ((1 - beta_1^t) * (u + epsilon))``."""

    slot_names = ("momentum", "norm")

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        **kwargs: Any,
    ):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = _adam_arguments(self.name, beta_1, beta_2, epsilon)

    def update_step(self, variable: Variable, gradient: Tensor, learning_rate: Tensor) -> None:
        assert self.iterations is not None
        m, u = self.slot(variable, "momentum"), self.slot(variable, "norm")
        m.assign_add((gradient - m) * self.gated(1.0 - self.beta_1, variable.dtype))
        self.assign(u, ops.maximum(u * self.beta_2, ops.abs(gradient)))
        correction = 1.0 - ops.power(self.beta_1, (self.iterations + 1).astype(variable.dtype))
        variable.assign_sub(learning_rate * m / (correction * (u + self.epsilon)))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Lamb(Optimizer):
    """LAMB as Keras: Adam's bias-corrected step ``u = m_hat / (sqrt(v_hat) + epsilon)`` scaled
    per variable by the trust ratio ``||var|| / ||u||`` (1 where either norm is 0):
    ``var -= lr * ratio * u``. For large-batch training."""

    slot_names = ("momentum", "velocity")

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        **kwargs: Any,
    ):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = _adam_arguments(self.name, beta_1, beta_2, epsilon)

    def update_step(self, variable: Variable, gradient: Tensor, learning_rate: Tensor) -> None:
        assert self.iterations is not None
        m, v = self.slot(variable, "momentum"), self.slot(variable, "velocity")
        m.assign_add((gradient - m) * self.gated(1.0 - self.beta_1, variable.dtype))
        v.assign_add((ops.square(gradient) - v) * self.gated(1.0 - self.beta_2, variable.dtype))
        t = (self.iterations + 1).astype(variable.dtype)
        m_hat = m / (1.0 - ops.power(self.beta_1, t))
        update = m_hat / (ops.sqrt(v / (1.0 - ops.power(self.beta_2, t))) + self.epsilon)
        weight_norm = ops.sqrt(ops.sum(ops.square(variable)))
        update_norm = ops.sqrt(ops.sum(ops.square(update)))
        both = ops.logical_and(weight_norm > 0, update_norm > 0)
        ratio = ops.where(both, weight_norm / ops.where(both, update_norm, 1.0), 1.0)
        variable.assign_sub(ratio * learning_rate * update)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Lion(Optimizer):
    """Lion as Keras: ``var -= lr * sign(beta_1 * m + (1 - beta_1) * g)``, then
    ``m = beta_2 * m + (1 - beta_2) * g``."""

    slot_names = ("momentum",)

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.99, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        if number_in_range(self.name, "beta_1", beta_1, 0.0, 1.0, high_open=False) == 0.0:
            raise InvalidArgumentError(f"{self.name}: beta_1 must be in (0, 1], got 0.0 (that is SignSGD)")
        self.beta_1 = float(beta_1)
        self.beta_2 = number_in_range(self.name, "beta_2", beta_2, 0.0, 1.0)

    def update_step(self, variable: Variable, gradient: Tensor, learning_rate: Tensor) -> None:
        m = self.slot(variable, "momentum")
        variable.assign_sub(learning_rate * ops.sign(m * self.beta_1 + gradient * (1.0 - self.beta_1)))
        m.assign_add((gradient - m) * self.gated(1.0 - self.beta_2, variable.dtype))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


class Adadelta(Optimizer):
    """Adadelta as Keras: ``delta = -sqrt(acc_delta + eps) / sqrt(acc_grad + eps) * g``,
    ``var += lr * delta``, both accumulators moving averages with ``rho``."""

    slot_names = ("accumulated_grad", "accumulated_delta_var")

    def __init__(self, learning_rate: Any = 0.001, rho: float = 0.95, epsilon: float = 1e-7, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.rho = number_in_range(self.name, "rho", rho, 0.0, 1.0, high_open=False)
        self.epsilon = number_in_range(self.name, "epsilon", epsilon)

    def update_step(self, variable: Variable, gradient: Tensor, learning_rate: Tensor) -> None:
        grads = self.slot(variable, "accumulated_grad")
        deltas = self.slot(variable, "accumulated_delta_var")
        rate = self.gated(1.0 - self.rho, variable.dtype)
        grads.assign_add((ops.square(gradient) - grads) * rate)
        delta = -ops.sqrt(deltas + self.epsilon) * gradient / ops.sqrt(grads + self.epsilon)
        deltas.assign_add((ops.square(delta) - deltas) * rate)
        variable.assign_add(learning_rate * delta)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adafactor(Optimizer):
    """Adafactor as Keras: the second moment of a weight of rank >= 2 kept factored, as running
    means of the squared gradient over its rows (slot ``r``) and columns (``c``); steps
    relative to the weight's RMS and clipped to an RMS of ``clip_threshold``. ``r`` and ``c``
    are scalars (unused) for a weight of rank < 2, which keeps the full ``velocity``."""

    slot_names = ("r", "c", "velocity")

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_2_decay: float = -0.8,
        epsilon_1: float = 1e-30,
        epsilon_2: float = 1e-3,
        clip_threshold: float = 1.0,
        relative_step: bool = True,
        **kwargs: Any,
    ):
        super().__init__(learning_rate, **kwargs)
        self.beta_2_decay = number_in_range(
            self.name, "beta_2_decay", beta_2_decay, -math.inf, 0.0, high_open=False
        )
        self.epsilon_1 = number_in_range(self.name, "epsilon_1", epsilon_1)
        self.epsilon_2 = number_in_range(self.name, "epsilon_2", epsilon_2)
        self.clip_threshold = number_in_range(self.name, "clip_threshold", clip_threshold)
        if self.clip_threshold == 0.0:
            raise InvalidArgumentError(f"{self.name}: clip_threshold must be > 0, got 0.0")
        self.relative_step = relative_step

    def initial_slot(self, name: str, variable: Variable) -> Tensor:
        if name == "velocity":
            return ops.zeros_like(variable)
        if variable.ndim < 2:
            return tensor_like(0.0, variable, variable.dtype)
        return ops.mean(ops.zeros_like(variable), axis=-1 if name == "r" else -2)

    def update_step(self, variable: Variable, gradient: Tensor, learning_rate: Tensor) -> None:
        assert self.iterations is not None
        step = (self.iterations + 1).astype(variable.dtype)
        # Keras caps the rate at 1/sqrt(t) with relative_step, then caps it so again in any case
        rho = ops.minimum(learning_rate, ops.rsqrt(step))
        alpha = ops.maximum(self.epsilon_2, _rms(variable)) * rho
        squared = ops.square(gradient) + self.epsilon_1
        beta_2 = 1.0 - ops.power(step, self.beta_2_decay)
        v = self.slot(variable, "velocity")
        if variable.ndim >= 2:
            r, c = self.slot(variable, "r"), self.slot(variable, "c")
            self.assign(r, beta_2 * r + (1.0 - beta_2) * ops.mean(squared, axis=-1))
            self.assign(c, beta_2 * c + (1.0 - beta_2) * ops.mean(squared, axis=-2))
            rows = r / ops.mean(r, axis=-1, keepdims=True)
            self.assign(v, ops.expand_dims(rows, -1) * ops.expand_dims(c, -2))
        else:
            self.assign(v, beta_2 * v + (1.0 - beta_2) * squared)
        u = gradient / ops.sqrt(v)
        u = u / ops.maximum(1.0, _rms(u) / self.clip_threshold)
        self.assign_sub(variable, alpha * u)  # gated: v may be 0 before a first, skipped step

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "beta_2_decay": self.beta_2_decay,
            "epsilon_1": self.epsilon_1,
            "epsilon_2": self.epsilon_2,
            "clip_threshold": self.clip_threshold,
            "relative_step": self.relative_step,
        }


def _rms(x: Tensor) -> Tensor:
    return ops.sqrt(ops.mean(ops.square(x)))


class Ftrl(Optimizer):
    """FTRL-Proximal as Keras (McMahan et al., 2013), with L1, L2 and L2-shrinkage
    regularization: the weight is set from the slots ``accumulator`` (of squared gradients,
    from ``initial_accumulator_value``) and ``linear`` at each step."""

    slot_names = ("accumulator", "linear")

    def __init__(
        self,
        learning_rate: Any = 0.001,
        learning_rate_power: float = -0.5,
        initial_accumulator_value: float = 0.1,
        l1_regularization_strength: float = 0.0,
        l2_regularization_strength: float = 0.0,
        l2_shrinkage_regularization_strength: float = 0.0,
        beta: float = 0.0,
        **kwargs: Any,
    ):
        super().__init__(learning_rate, **kwargs)
        self.learning_rate_power = number_in_range(
            self.name, "learning_rate_power", learning_rate_power, -math.inf, 0.0, high_open=False
        )
        self.initial_accumulator_value = number_in_range(
            self.name, "initial_accumulator_value", initial_accumulator_value
        )
        self.l1_regularization_strength = number_in_range(
            self.name, "l1_regularization_strength", l1_regularization_strength
        )
        self.l2_regularization_strength = number_in_range(
            self.name, "l2_regularization_strength", l2_regularization_strength
        )
        self.l2_shrinkage_regularization_strength = number_in_range(
            self.name, "l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength
        )
        self.beta = number_in_range(self.name, "beta", beta)

    def initial_slot_value(self, name: str, variable: Variable) -> float:
        return self.initial_accumulator_value if name == "accumulator" else 0.0

    def update_step(self, variable: Variable, gradient: Tensor, learning_rate: Tensor) -> None:
        # not proportional to the learning rate (it divides by it): every change goes through
        # the gated assign, which keeps the state on a skipped step
        accumulator, linear = self.slot(variable, "accumulator"), self.slot(variable, "linear")
        power = -self.learning_rate_power
        l2 = self.l2_regularization_strength + self.beta / (2.0 * learning_rate)
        shrunk = gradient + 2.0 * self.l2_shrinkage_regularization_strength * variable
        new_accumulator = accumulator + ops.square(gradient)
        sigma = (ops.power(new_accumulator, power) - ops.power(accumulator, power)) / learning_rate
        self.assign(linear, linear + shrunk - sigma * variable)
        quadratic = ops.power(new_accumulator, power) / learning_rate + 2.0 * l2
        l1 = self.l1_regularization_strength
        self.assign(variable, (ops.clip(linear, -l1, l1) - linear) / quadratic)
        self.assign(accumulator, new_accumulator)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "learning_rate_power": self.learning_rate_power,
            "initial_accumulator_value": self.initial_accumulator_value,
            "l1_regularization_strength": self.l1_regularization_strength,
            "l2_regularization_strength": self.l2_regularization_strength,
            "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
            "beta": self.beta,
        }


REGISTRY.register(Nadam, Adamax, Lamb, Lion, Adadelta, Adafactor, Ftrl)


def get(identifier: Any) -> Optimizer:
    """An optimizer from a name (default settings), a config, or an Optimizer."""
    return REGISTRY.get(identifier)


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """``{"class_name", "config"}`` for an optimizer."""
    return REGISTRY.serialize(optimizer)


def deserialize(config: Any, custom_objects: dict[str, Any] | None = None) -> Optimizer:
    """The optimizer ``serialize`` described (without state)."""
    return REGISTRY.deserialize(config, custom_objects)


def _true_on_host(flag: Tensor) -> bool:
    """Whether the bool ``flag`` is known True here without waiting for a device: an eager CPU
    tensor is read (a finite step then skips the pass that zeroes its gradients); under jit or
    on a GPU it is not known, and the step stays free of host reads."""
    return not flag._backend.tracing() and flag.device == "cpu" and bool(flag.numpy())


__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "Nadam",
    "Adamax",
    "Lamb",
    "Lion",
    "Adadelta",
    "Adafactor",
    "Ftrl",
    "LossScaleOptimizer",
    "LearningRateSchedule",
    "ExponentialDecay",
    "CosineDecay",
    "PiecewiseConstantDecay",
    "get",
    "serialize",
    "deserialize",
]
