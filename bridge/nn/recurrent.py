"""Recurrent layers as Keras 3's: ``SimpleRNN``, ``LSTM``, ``GRU`` and ``Bidirectional``.

The loop over time steps is written once, in Python over bridge ops, for every backend: the
inputs are projected for all steps at once, then each step multiplies the state by the
recurrent kernel. Where Keras would use cuDNN (tanh, sigmoid gates, no recurrent dropout, GRU
``reset_after``, no mask), a backend's fused kernel runs instead (torch's RNN/LSTM/GRU).

Weights have Keras' layouts (gate blocks LSTM i,f,c,o; GRU z,r,h), so ``set_weights`` takes
Keras' ``get_weights`` as they are; docs/topics/recurrent.md maps them to torch's.
``activity_regularizer`` and ``use_cudnn`` are not taken."""

from __future__ import annotations

from numbers import Real
from typing import Any

from .. import activations, constraints, initializers, ops, random, regularizers
from ..errors import ArgumentTypeError, InvalidArgumentError, ShapeError
from ..ops._core import as_tensor, integer_arg
from ..serialization import deserialize, serialize
from ..tensor import Tensor
from ..variable import Variable
from .layer import Layer, constraint_argument


def _rate(layer: str, name: str, value: Any) -> float:
    """A dropout rate in [0, 1) (Keras clips other values silently; bridge refuses them)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ArgumentTypeError(f"{layer}: {name} must be a float in [0, 1), got {value!r}")
    if not 0 <= float(value) < 1:
        raise InvalidArgumentError(f"{layer}: {name} must be in [0, 1), got {value}")
    return float(value)


class _HeldStates:
    """A stateful layer's states between calls: Variables (assigned under ``br.jit`` too), held
    outside the layer's attributes so that they are not weights, as in Keras."""

    def __init__(self, states: list[Tensor], name: str) -> None:
        self.variables = [Variable(s, trainable=False, name=f"{name}/rnn_state") for s in states]
        self.reset = False  # zeroed by reset_states: the next call may take another batch size

    def assign(self, states: list[Tensor]) -> None:
        for variable, state in zip(self.variables, states):
            variable.assign(state)
        self.reset = False

    def zero(self) -> None:
        """Zeros in place, so that steps compiled before (``br.jit``) read them too."""
        for variable in self.variables:
            variable.assign(ops.zeros(variable.shape, dtype=variable.value.dtype))
        self.reset = True


class Recurrent(Layer):
    """What SimpleRNN, LSTM and GRU share: Keras' arguments, the weights and the time loop.

    A subclass sets ``_gates`` (blocks of ``units`` columns in the kernels) and ``_state_count``
    and defines ``_step(x_t, states, recurrent_masks) -> (output, states)``."""

    supports_masking = True
    _gates = 1
    _state_count = 1

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        kind = type(self).__name__
        self.units = integer_arg(kind, "units", units, minimum=1)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraint_argument(self, "kernel_constraint", kernel_constraint)
        self.recurrent_constraint = constraint_argument(self, "recurrent_constraint", recurrent_constraint)
        self.bias_constraint = constraint_argument(self, "bias_constraint", bias_constraint)
        self.dropout = _rate(kind, "dropout", dropout)
        self.recurrent_dropout = _rate(kind, "recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)  # accepted as Keras; the loop is always a Python loop
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self._held_states: _HeldStates | None = None

    # --- weights -----------------------------------------------------------------------------
    def _bias_shape(self) -> tuple[int, ...]:
        return (self._gates * self.units,)

    def _bias_init(self) -> Any:
        return self.bias_initializer

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) != 3:
            raise ShapeError(
                f"{self.name}: {type(self).__name__} needs inputs of shape (batch, time, features), "
                f"got shape {input_shape}"
            )
        width = self._gates * self.units
        self.kernel = self.add_weight(
            "kernel",
            (input_shape[-1], width),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel",
            (self.units, width),
            self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                "bias",
                self._bias_shape(),
                self._bias_init(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self.seed_generator = random.SeedGenerator(self.seed)

    def _input_bias(self) -> Tensor | None:
        return self.bias if self.use_bias else None

    # --- calling -----------------------------------------------------------------------------
    def call(
        self, sequences: Tensor, initial_state: Any = None, mask: Any = None, training: bool = False
    ) -> Any:
        """``sequences`` (batch, time, features); ``initial_state`` a list of (batch, units)
        tensors (LSTM: [h, c]); ``mask`` (batch, time) booleans, False steps skipped (the state
        carried over, the output repeated, or zeros with ``zero_output_for_mask``)."""
        x = self._check_sequences(sequences)
        batch, steps = x.shape[0], x.shape[1]
        states = self._initial_states(x, initial_state)
        mask = self._check_mask(mask, batch, steps)
        drop = bool(training) and self.dropout > 0
        recurrent_drop = bool(training) and self.recurrent_dropout > 0
        count = self._gates if self.recurrent_dropout > 0 else 1  # Keras' implementation 1 or 2
        input_masks = self._dropout_masks(x[:, 0], self.dropout, count) if drop else None
        recurrent_masks = (
            self._dropout_masks(states[0], self.recurrent_dropout, count) if recurrent_drop else None
        )
        mode = self._fused_kernel(x, mask, recurrent_masks)
        if mode is not None:
            sequence, states = self._fused(mode, x, states, input_masks)
            output = sequence[:, -1]
        else:
            outputs, states = self._loop(x, states, mask, input_masks, recurrent_masks)
            output = outputs[-1]
            sequence = ops.stack(outputs, axis=1) if self.return_sequences else output
        if self.stateful:
            if self._held_states is None:
                self._held_states = _HeldStates(states, self.name)
            else:
                self._held_states.assign(states)
        result = sequence if self.return_sequences else output
        return (result, *states) if self.return_state else result

    def _loop(
        self,
        x: Tensor,
        states: list[Tensor],
        mask: Tensor | None,
        input_masks: list[Tensor] | None,
        recurrent_masks: list[Tensor] | None,
    ) -> tuple[list[Tensor], list[Tensor]]:
        """The written-once recurrence: each step's output, in the order processed, and the
        final states."""
        inputs = ops.unstack(self._project(x, input_masks), axis=1)
        output = self._zeros(x)
        outputs = []
        for t in reversed(range(x.shape[1])) if self.go_backwards else range(x.shape[1]):
            new_output, new_states = self._step(inputs[t], states, recurrent_masks)
            if mask is not None:
                keep = ops.expand_dims(mask[:, t], -1)
                new_states = [ops.where(keep, new, old) for new, old in zip(new_states, states)]
                skipped = ops.zeros_like(new_output) if self.zero_output_for_mask else output
                new_output = ops.where(keep, new_output, skipped)
            output, states = new_output, new_states
            outputs.append(output)
        return outputs, states

    # --- the backend's fused recurrence (torch's own RNN kernels, cuDNN on GPU) ----------------
    #: Keras' gate blocks in the order torch's weights keep them
    _torch_order: tuple[int, ...] = (0,)

    def _fused_mode(self) -> str | None:
        """The fused kernel's mode that computes this layer (its activations), else None."""
        return None

    def _fused_kernel(
        self, x: Tensor, mask: Tensor | None, recurrent_masks: list[Tensor] | None
    ) -> str | None:
        """The fused kernel's mode where it computes this call, as Keras' conditions for cuDNN:
        tanh (and sigmoid gates), no recurrent dropout, no mask; and a backend that has it, not
        tracing (torch.compile's inductor fails on torch's CPU LSTM kernel; the traced loop is
        compiled instead)."""
        backend = x._backend
        fusable = mask is None and recurrent_masks is None and "recurrent" in backend.fast_paths
        fusable = fusable and not backend.tracing()
        return self._fused_mode() if fusable and self.activation is activations.get("tanh") else None

    def _fused(
        self, mode: str, x: Tensor, states: list[Tensor], input_masks: list[Tensor] | None
    ) -> tuple[Tensor, list[Tensor]]:
        """The fused kernel on the inputs (dropped out, reversed for ``go_backwards``): each
        step's output in the order processed, and the final states."""
        if input_masks is not None:
            x = x * ops.expand_dims(input_masks[0], 1)
        if self.go_backwards:
            x = ops.flip(x, axis=1)
        width = self._gates * self.units
        if self.use_bias:
            input_bias, recurrent_bias = self._fused_biases()
        else:
            input_bias = recurrent_bias = ops.zeros((width,), dtype=x.dtype)
        weights = [
            ops.transpose(self._torch_blocks(self.kernel)),
            ops.transpose(self._torch_blocks(self.recurrent_kernel)),
            self._torch_blocks(input_bias),
            self._torch_blocks(recurrent_bias),
        ]
        backend = x._backend
        sequence, final = backend.recurrent(
            mode, x._native, [s._native for s in states], [w._native for w in weights]
        )
        return Tensor(sequence, backend), [Tensor(s, backend) for s in final]

    def _fused_biases(self) -> tuple[Tensor, Tensor]:
        """The input and recurrent biases in Keras' block order (torch keeps both)."""
        return self.bias, ops.zeros_like(self.bias)

    def _torch_blocks(self, a: Tensor) -> Tensor:
        """``a``'s gate blocks (last axis) in torch's order."""
        if self._torch_order == tuple(range(self._gates)):
            return a
        u = self.units
        return ops.concat([a[..., g * u : (g + 1) * u] for g in self._torch_order], axis=-1)

    def _check_sequences(self, x: Tensor) -> Tensor:
        features = self.kernel.shape[0]
        if x.ndim != 3 or x.shape[-1] != features:
            raise ShapeError(
                f"{self.name}: {type(self).__name__} was built for inputs of shape "
                f"(batch, time, {features}), got shape {x.shape}"
            )
        if x.shape[1] == 0:
            raise ShapeError(
                f"{self.name}: {type(self).__name__} needs at least one time step, got shape {x.shape}"
            )
        return x

    def _zeros(self, x: Tensor) -> Tensor:
        """(batch, units) zeros, shaped from ``x`` (its batch may be unknown while tracing)."""
        return ops.zeros_like(x[:, 0, :1]) + ops.zeros((self.units,), dtype=x.dtype, device=x.device)

    def _initial_states(self, x: Tensor, initial_state: Any) -> list[Tensor]:
        batch, expected = x.shape[0], (x.shape[0], self.units)
        if initial_state is None:
            if self.stateful and self._held_states is not None:
                held = self._held_states.variables[0].shape
                if held[0] != batch and self._held_states.reset:
                    self._held_states = None  # new Variables for the new batch size, after this call
                    return [self._zeros(x)] * self._state_count
                if held[0] != batch:
                    raise ShapeError(
                        f"{self.name}: a stateful {type(self).__name__} holds states for a batch of "
                        f"{held[0]}, got inputs of shape {x.shape}; call reset_states() to start over"
                    )
                return [v.value for v in self._held_states.variables]
            return [self._zeros(x)] * self._state_count
        given = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        if len(given) != self._state_count:
            raise InvalidArgumentError(
                f"{self.name}: {type(self).__name__} takes {self._state_count} initial state(s), "
                f"got {len(given)}"
            )
        states = [as_tensor(self.name, s).astype(x.dtype) for s in given]
        for state in states:
            if state.shape != expected:
                raise ShapeError(
                    f"{self.name}: initial states must have shape {expected} for inputs of shape "
                    f"{x.shape}, got {state.shape}"
                )
        return states

    def _check_mask(self, mask: Any, batch: int, steps: int) -> Tensor | None:
        if mask is None:
            return None
        mask = as_tensor(self.name, mask)
        if mask.shape != (batch, steps):
            raise ShapeError(
                f"{self.name}: the mask must have shape (batch, time) = {(batch, steps)}, got {mask.shape}"
            )
        return mask if mask.dtype.kind == "b" else mask != 0

    def _dropout_masks(self, like: Tensor, rate: float, count: int) -> list[Tensor]:
        ones = ops.ones_like(like)
        return [ops.dropout(ones, rate, seed=self.seed_generator) for _ in range(count)]

    def _project(self, x: Tensor, masks: list[Tensor] | None) -> Tensor:
        """The inputs of every step times the kernel (per gate block where each has its own
        dropout mask), plus the input bias: (batch, time, gates * units)."""
        if masks is None:
            projected = ops.matmul(x, self.kernel)
        else:
            blocks = _blocks(self.kernel, self.units, range(len(masks)), len(masks) == 1)
            projected = ops.concat(
                [ops.matmul(x * ops.expand_dims(m, 1), k) for m, k in zip(masks, blocks)], axis=-1
            )
        bias = self._input_bias()
        return projected if bias is None else projected + bias

    def _recurrent(self, h: Tensor, masks: list[Tensor] | None, gates: range) -> Tensor:
        """``h`` (dropped out per gate where masks are given) times the recurrent kernel's
        blocks ``gates``."""
        kernel: Tensor = self.recurrent_kernel
        if masks is None or len(masks) == 1:
            h = h if masks is None else h * masks[0]
            if gates != range(self._gates):  # a slice of a weight has a weight-sized gradient
                kernel = kernel[:, gates.start * self.units : gates.stop * self.units]
            return ops.matmul(h, kernel)
        return ops.concat(
            [ops.matmul(h * masks[g], k) for g, k in zip(gates, _blocks(kernel, self.units, gates))], axis=-1
        )

    def _step(
        self, x: Tensor, states: list[Tensor], masks: list[Tensor] | None
    ) -> tuple[Tensor, list[Tensor]]:
        raise NotImplementedError

    def compute_mask(self, inputs: Any, previous_mask: Any) -> Any:
        """The input mask for sequences out (None otherwise), None for each returned state."""
        output_mask = previous_mask if self.return_sequences else None
        return [output_mask] + [None] * self._state_count if self.return_state else output_mask

    def reset_states(self) -> None:
        """A stateful layer starts again from zero states (its next call's batch size is free)."""
        if self._held_states is not None:
            self._held_states.zero()

    reset_state = reset_states

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        }


def _blocks(kernel: Tensor, units: int, gates: range, whole: bool = False) -> list[Tensor]:
    """The kernel's column blocks of ``units`` for ``gates`` (the whole kernel if ``whole``)."""
    return [kernel] if whole else [kernel[:, g * units : (g + 1) * units] for g in gates]


class SimpleRNN(Recurrent):
    """``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``, as Keras' SimpleRNN
    (and ``torch.nn.RNN`` with ``weight_ih = kernel.T``, ``weight_hh = recurrent_kernel.T``)."""

    def _step(
        self, x: Tensor, states: list[Tensor], masks: list[Tensor] | None
    ) -> tuple[Tensor, list[Tensor]]:
        h = self.activation(x + self._recurrent(states[0], masks, range(1)))
        return h, [h]

    def _fused_mode(self) -> str | None:
        return "RNN_TANH"


class LSTM(Recurrent):
    """Keras' LSTM: gate blocks i, f, c, o in ``kernel``, ``recurrent_kernel`` and ``bias``
    (torch's order i, f, g, o is the same); ``unit_forget_bias`` starts the f block of the bias
    at ones. States ``[h, c]``."""

    _gates = 4
    _state_count = 2
    _torch_order = (0, 1, 2, 3)

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        unit_forget_bias: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            units,
            activation,
            use_bias,
            kernel_initializer,
            recurrent_initializer,
            bias_initializer,
            **kwargs,
        )
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_init(self) -> Any:
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, draw = self.units, self.bias_initializer

        def forget_ones(shape: tuple[int, ...], dtype: Any = None) -> Tensor:
            return ops.concat(
                [
                    draw((units,), dtype=dtype),
                    ops.ones((units,), dtype=dtype),
                    draw((2 * units,), dtype=dtype),
                ]
            )

        return forget_ones

    def _step(
        self, x: Tensor, states: list[Tensor], masks: list[Tensor] | None
    ) -> tuple[Tensor, list[Tensor]]:
        h, c = states
        z = x + self._recurrent(h, masks, range(4))
        gate = self.recurrent_activation
        zi, zf, zc, zo = ops.split(z, 4, axis=-1)  # one op: slices would each have a z-sized gradient
        i, f, o = gate(zi), gate(zf), gate(zo)
        c = f * c + i * self.activation(zc)
        h = o * self.activation(c)
        return h, [h, c]

    def _fused_mode(self) -> str | None:
        return "LSTM" if self.recurrent_activation is activations.get("sigmoid") else None

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
        }


class GRU(Recurrent):
    """Keras' GRU: gate blocks z, r, h (torch: r, z, n). ``reset_after=True`` (the default, and
    torch's GRU) applies the reset gate after the recurrent product and keeps two biases,
    ``bias`` of shape (2, 3 * units): the input's, then the recurrent one's; ``reset_after=False``
    applies it to the state before, with one bias (3 * units,)."""

    _gates = 3
    _torch_order = (1, 0, 2)

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        reset_after: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            units,
            activation,
            use_bias,
            kernel_initializer,
            recurrent_initializer,
            bias_initializer,
            **kwargs,
        )
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)

    def _bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _input_bias(self) -> Tensor | None:
        if self.use_bias and self.reset_after:
            return self.bias[0]
        return super()._input_bias()

    def _step(
        self, x: Tensor, states: list[Tensor], masks: list[Tensor] | None
    ) -> tuple[Tensor, list[Tensor]]:
        (h,) = states
        gate = self.recurrent_activation
        xz, xr, xh = ops.split(x, 3, axis=-1)  # one op: slices would each have an x-sized gradient
        if self.reset_after:
            inner = self._recurrent(h, masks, range(3))
            if self.use_bias:
                inner = inner + self.bias[1]
            hz, hr, hh = ops.split(inner, 3, axis=-1)
        else:
            hz, hr = ops.split(self._recurrent(h, masks, range(2)), 2, axis=-1)
        z, r = gate(xz + hz), gate(xr + hr)
        if self.reset_after:
            candidate = r * hh
        else:
            h_masks = None if masks is None else [masks[-1]]
            candidate = self._recurrent(r * h, h_masks, range(2, 3))
        h = z * h + (1 - z) * self.activation(xh + candidate)
        return h, [h]

    def _fused_mode(self) -> str | None:
        sigmoid = self.recurrent_activation is activations.get("sigmoid")
        return "GRU" if sigmoid and self.reset_after else None

    def _fused_biases(self) -> tuple[Tensor, Tensor]:
        return self.bias[0], self.bias[1]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "reset_after": self.reset_after,
        }


_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _without(prefix: str, name: str) -> str:
    return name[len(prefix) :] if name.startswith(prefix) else name


class Bidirectional(Layer):
    """Run a recurrent ``layer`` forwards and a copy backwards (``go_backwards`` flipped, or
    ``backward_layer``), and merge their outputs: ``merge_mode`` "concat" (last axis), "sum",
    "mul", "ave", or None (both, as a tuple). The backward sequence outputs are flipped back
    into time order. Weights: the forward layer's, then the backward one's."""

    supports_masking = True

    def __init__(
        self,
        layer: Recurrent,
        merge_mode: str | None = "concat",
        backward_layer: Recurrent | None = None,
        **kwargs: Any,
    ) -> None:
        for what, value in (("layer", layer), ("backward_layer", backward_layer)):
            if value is not None and not isinstance(value, Recurrent):
                raise ArgumentTypeError(
                    f"Bidirectional: {what} must be a recurrent layer (SimpleRNN, LSTM, GRU), got {value!r}"
                )
        if merge_mode not in _MERGE_MODES:
            raise InvalidArgumentError(
                f"Bidirectional: merge_mode must be one of {_MERGE_MODES}, got {merge_mode!r}"
            )
        kwargs.setdefault("dtype", layer.dtype.name)
        super().__init__(**kwargs)
        self.merge_mode = merge_mode
        self.forward_layer = self._copy(layer, "forward_", {})
        self._backward_given = backward_layer is not None
        if backward_layer is None:
            backward_layer = self._copy(layer, "backward_", {"go_backwards": not layer.go_backwards})
        self.backward_layer = backward_layer
        forward = self.forward_layer
        if forward.go_backwards == backward_layer.go_backwards:
            raise InvalidArgumentError(
                "Bidirectional: the forward and backward layers must differ in go_backwards, "
                f"both have go_backwards={forward.go_backwards}"
            )
        for attribute in ("stateful", "return_sequences", "return_state"):
            if getattr(forward, attribute) != getattr(backward_layer, attribute):
                raise InvalidArgumentError(
                    f"Bidirectional: the forward and backward layers must have the same {attribute}, "
                    f"got {getattr(forward, attribute)} and {getattr(backward_layer, attribute)}"
                )
        for rnn in (forward, backward_layer):
            rnn.zero_output_for_mask = rnn.return_sequences  # as Keras
        self.return_sequences, self.return_state = forward.return_sequences, forward.return_state

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.forward_layer.build(input_shape)
        self.backward_layer.build(input_shape)

    @staticmethod
    def _copy(layer: Recurrent, prefix: str, changes: dict[str, Any]) -> Recurrent:
        config = serialize(layer)
        name = prefix + _without("forward_", _without("backward_", layer.name))
        config["config"] = {**config["config"], **changes, "name": name}
        rnn: Recurrent = deserialize(config)
        return rnn

    def call(
        self, sequences: Tensor, initial_state: Any = None, mask: Any = None, training: bool = False
    ) -> Any:
        """``initial_state``: the forward layer's states, then the backward layer's."""
        forward_state = backward_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            forward_state, backward_state = list(initial_state[:half]), list(initial_state[half:])
        y = self.forward_layer(sequences, initial_state=forward_state, mask=mask, training=training)
        y_rev = self.backward_layer(sequences, initial_state=backward_state, mask=mask, training=training)
        states: tuple[Tensor, ...] = ()
        if self.return_state:
            states = (*y[1:], *y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = ops.flip(y_rev, axis=1)
        if self.merge_mode is None:
            return (y, y_rev, *states) if self.return_state else (y, y_rev)
        merged = {
            "concat": lambda: ops.concat([y, y_rev], axis=-1),
            "sum": lambda: y + y_rev,
            "mul": lambda: y * y_rev,
            "ave": lambda: (y + y_rev) / 2,
        }[self.merge_mode]()
        return (merged, *states) if self.return_state else merged

    def compute_mask(self, inputs: Any, previous_mask: Any) -> Any:
        output_mask = previous_mask if self.return_sequences else None
        masks = [output_mask] * (2 if self.merge_mode is None else 1)
        if self.return_state:
            masks += [None] * (2 * self.forward_layer._state_count)
        return masks if len(masks) > 1 else output_mask

    def reset_states(self) -> None:
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    reset_state = reset_states

    def get_config(self) -> dict[str, Any]:
        config = {
            **super().get_config(),
            "merge_mode": self.merge_mode,
            "layer": serialize(self.forward_layer),
        }
        if self._backward_given:
            config["backward_layer"] = serialize(self.backward_layer)
        return config

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, type] | None = None
    ) -> Bidirectional:
        config = dict(config)
        layer = deserialize(config.pop("layer"), custom_objects)
        backward = config.pop("backward_layer", None)
        if backward is not None:
            config["backward_layer"] = deserialize(backward, custom_objects)
        return cls(layer, **config)
