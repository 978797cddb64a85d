"""Bridge layers that compute what a torch module computes, with its arguments, inputs, outputs
and parameterization, where Keras' layers differ from torch's: ``from_torch`` ports torch's
``LSTM``, ``GRU``, ``MultiheadAttention``, ``TransformerEncoderLayer`` and ``TransformerEncoder``
to them, so that a ported model trains exactly as the torch one (an optimizer step moves each
torch parameter, and so the same bridge weight). They are plain bridge layers made of
``nn.LSTM``, ``nn.GRU``, ``nn.MultiHeadAttention``, ``nn.Dense`` and ``nn.LayerNormalization``
(Keras' weight layouts), run on every backend, and save and load as any other (registered as
``"bridge.torch>Name"``; ``bridge.nn`` imports this module, so ``nn.load_model`` finds them).

The ``Torch`` prefix says "torch's definition", not "holds a torch module" (that is
``nn.TorchModule``). This module does not import torch."""

from __future__ import annotations

import math
from typing import Any

from .. import initializers, ops
from .._registry import register_serializable
from ..autodiff import stop_gradient
from ..errors import DTypeError, InvalidArgumentError, ShapeError
from ..ops._core import as_tensor, integer_arg
from ..tensor import Tensor
from .attention import MultiHeadAttention
from .core import Dense, Dropout, Embedding
from .layer import Layer
from .normalization import BatchNormalization, LayerNormalization
from .recurrent import GRU, LSTM, Recurrent

_PACKAGE = "bridge.torch"


class _TwoBiasLSTM(LSTM):
    """Keras' LSTM with torch's second bias: ``recurrent_bias`` (4 * units,), gate blocks i, f,
    c, o, added to the recurrent product (torch's ``bias_hh``; ``bias`` is ``bias_ih``). The sum
    is the same function, but an optimizer moves two biases twice as far as one."""

    def build(self, input_shape: tuple[int, ...]) -> None:
        super().build(input_shape)
        if self.use_bias:
            self.recurrent_bias = self.add_weight(
                "recurrent_bias", (4 * self.units,), self.bias_initializer, regularizer=self.bias_regularizer
            )

    def _recurrent(self, h: Tensor, masks: list[Tensor] | None, gates: range) -> Tensor:
        product = super()._recurrent(h, masks, gates)
        if not self.use_bias:
            return product
        return product + self.recurrent_bias[gates.start * self.units : gates.stop * self.units]

    def _fused_biases(self) -> tuple[Tensor, Tensor]:
        return self.bias, self.recurrent_bias


def _torch_uniform(units: int) -> Any:
    """torch's recurrent initialization: every weight uniform in ``±1/sqrt(hidden_size)``."""
    bound = 1.0 / math.sqrt(units)
    return initializers.RandomUniform(-bound, bound)


class _TorchRecurrent(Layer):
    """What ``TorchLSTM`` and ``TorchGRU`` share: a stack of ``num_layers`` recurrent layers
    (each a forward and, if ``bidirectional``, a backward one, their outputs concatenated),
    ``dropout`` between them in training, torch's input and state layouts."""

    _states = 1  # states per layer and direction (LSTM: h and c)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        kind = type(self).__name__
        self.input_size = integer_arg(kind, "input_size", input_size, minimum=1)
        self.hidden_size = integer_arg(kind, "hidden_size", hidden_size, minimum=1)
        self.num_layers = integer_arg(kind, "num_layers", num_layers, minimum=1)
        self.bias, self.batch_first, self.bidirectional = bool(bias), bool(batch_first), bool(bidirectional)
        self.dropout = float(dropout)
        if not 0 <= self.dropout < 1:
            raise InvalidArgumentError(f"{kind}: dropout must be in [0, 1), got {dropout}")
        directions = ("", "_reverse") if self.bidirectional else ("",)
        self.cells = [
            [self._cell(f"{self.name}_l{k}{suffix}", bool(suffix)) for suffix in directions]
            for k in range(self.num_layers)
        ]
        self.between = [
            Dropout(self.dropout, name=f"{self.name}_dropout_l{k}", dtype=self.dtype_policy)
            for k in range(self.num_layers - 1)
        ]

    def _cell(self, name: str, backwards: bool) -> Recurrent:
        raise NotImplementedError

    def _cell_arguments(self, name: str, backwards: bool) -> dict[str, Any]:
        uniform = _torch_uniform(self.hidden_size)
        return {
            "units": self.hidden_size,
            "use_bias": self.bias,
            "kernel_initializer": uniform,
            "recurrent_initializer": uniform,
            "bias_initializer": uniform,
            "return_sequences": True,
            "return_state": True,
            "go_backwards": backwards,
            "name": name,
            "dtype": self.dtype_policy,
        }

    def call(self, input: Tensor, hx: Any = None, training: bool = False) -> Any:
        """``input`` (time, batch, input_size), (batch, time, input_size) with ``batch_first``,
        or unbatched (time, input_size); ``hx``: torch's initial states (LSTM: ``(h_0, c_0)``),
        each (num_layers * directions, batch, hidden_size). Returns torch's outputs."""
        kind = type(self).__name__
        if input.ndim not in (2, 3) or input.shape[-1] != self.input_size:
            raise ShapeError(
                f"{self.name}: {kind} takes inputs of shape (time, batch, {self.input_size}) "
                f"(batch first: (batch, time, {self.input_size}); unbatched: (time, {self.input_size})), "
                f"got {input.shape}"
            )
        unbatched = input.ndim == 2
        x = ops.expand_dims(input, 0) if unbatched else input
        if not self.batch_first and not unbatched:
            x = ops.transpose(x, (1, 0, 2))
        given = self._given_states(hx, x.shape[0], unbatched)
        finals: list[list[Tensor]] = [[] for _ in range(self._states)]
        for k, directions in enumerate(self.cells):
            outputs = []
            for d, cell in enumerate(directions):
                index = k * len(directions) + d
                initial = None if given is None else [s[index] for s in given]
                sequence, *states = cell(x, initial_state=initial, training=training)
                outputs.append(ops.flip(sequence, axis=1) if d else sequence)
                for kept, state in zip(finals, states):
                    kept.append(state)
            x = outputs[0] if len(outputs) == 1 else ops.concat(outputs, axis=-1)
            if k < len(self.between):
                x = self.between[k](x, training=training)
        stacked = [ops.stack(kept, axis=0) for kept in finals]
        if unbatched:
            return self._outputs(ops.squeeze(x, 0), [ops.squeeze(s, 1) for s in stacked])
        output = x if self.batch_first else ops.transpose(x, (1, 0, 2))
        return self._outputs(output, stacked)

    def _outputs(self, output: Tensor, states: list[Tensor]) -> Any:
        return output, states[0]

    def _given_states(self, hx: Any, batch: int, unbatched: bool) -> list[Tensor] | None:
        """torch's initial states as (layers * directions, batch, hidden) tensors, checked."""
        if hx is None:
            return None
        given = list(hx) if self._states > 1 else [hx]
        if len(given) != self._states or any(s is None for s in given):
            raise InvalidArgumentError(
                f"{self.name}: {type(self).__name__} takes hx as "
                f"{'(h_0, c_0)' if self._states > 1 else 'h_0'}, got {hx!r}"
            )
        expected = (self.num_layers * (2 if self.bidirectional else 1), batch, self.hidden_size)
        states = []
        for state in given:
            state = as_tensor(self.name, state)
            state = ops.expand_dims(state, 1) if unbatched and state.ndim == 2 else state
            if state.shape != expected:
                raise ShapeError(
                    f"{self.name}: {type(self).__name__}'s initial states must have shape "
                    f"(num_layers * directions, batch, hidden_size) = {expected}, got {state.shape}"
                )
            states.append(state.astype(self.compute_dtype))
        return states


@register_serializable(_PACKAGE)
class TorchLSTM(_TorchRecurrent):
    """``torch.nn.LSTM`` (without ``proj_size``): ``call(input, hx=None)`` returns
    ``(output, (h_n, c_n))`` in torch's layouts. Its ``l{k}`` / ``l{k}_reverse`` layers hold
    Keras' ``kernel`` (``weight_ih.T``), ``recurrent_kernel`` (``weight_hh.T``), ``bias``
    (``bias_ih``) and torch's second bias, ``recurrent_bias`` (``bias_hh``); gate order i, f, g, o
    in both."""

    _states = 2

    def _cell(self, name: str, backwards: bool) -> Recurrent:
        return _TwoBiasLSTM(unit_forget_bias=False, **self._cell_arguments(name, backwards))

    def _outputs(self, output: Tensor, states: list[Tensor]) -> Any:
        return output, (states[0], states[1])


@register_serializable(_PACKAGE)
class TorchGRU(_TorchRecurrent):
    """``torch.nn.GRU``: ``call(input, hx=None)`` returns ``(output, h_n)`` in torch's layouts.
    Its ``l{k}`` / ``l{k}_reverse`` layers are Keras GRUs with ``reset_after=True`` (torch's
    GRU): gate blocks z, r, h (torch: r, z, n), ``bias`` (2, 3 * units) holds torch's
    ``bias_ih`` and ``bias_hh``."""

    def _cell(self, name: str, backwards: bool) -> Recurrent:
        return GRU(reset_after=True, **self._cell_arguments(name, backwards))


def _bool_mask(layer: str, what: str, mask: Any) -> Tensor | None:
    """A torch boolean mask (True: not allowed) as a bridge Tensor; float masks are refused."""
    if mask is None:
        return None
    mask = as_tensor(layer, mask)
    if mask.dtype.kind != "b":
        raise DTypeError(
            f"{layer}: {what} must be a bool tensor (True where attention is not allowed); additive "
            f"float masks are not supported, got {mask.dtype}"
        )
    return mask


@register_serializable(_PACKAGE)
class TorchMultiheadAttention(Layer):
    """``torch.nn.MultiheadAttention`` (without ``add_bias_kv`` and ``add_zero_attn``):
    ``call(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` returns ``(attn_output, attn_weights)`` in
    torch's layouts, the weights averaged over heads (or per head), None without
    ``need_weights``. Masks are torch's boolean ones (True: not allowed): ``key_padding_mask``
    (batch, S), ``attn_mask`` (L, S) or (batch, L, S) with one head; ``is_causal=True`` is torch's
    hint that ``attn_mask`` is causal and, as in torch, needs it (the mask is used as given). Its
    ``mha`` layer is Keras'
    ``MultiHeadAttention`` (key_dim = embed_dim / num_heads); docs/topics/attention.md maps
    ``in_proj_weight`` to its kernels. In training, the weights returned are those before dropout
    (torch returns them after)."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.embed_dim = integer_arg("TorchMultiheadAttention", "embed_dim", embed_dim, minimum=1)
        self.num_heads = integer_arg("TorchMultiheadAttention", "num_heads", num_heads, minimum=1)
        if self.embed_dim % self.num_heads:
            raise InvalidArgumentError(
                f"TorchMultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads "
                f"({num_heads})"
            )
        self.kdim, self.vdim = kdim or self.embed_dim, vdim or self.embed_dim
        self.batch_first = bool(batch_first)
        head_dim = self.embed_dim // self.num_heads
        self.mha = MultiHeadAttention(
            self.num_heads,
            head_dim,
            dropout=dropout,
            use_bias=bias,
            name=f"{self.name}_mha",
            dtype=self.dtype_policy,
        )

    def call(
        self,
        query: Tensor,
        key: Any,
        value: Any,
        key_padding_mask: Any = None,
        need_weights: bool = True,
        attn_mask: Any = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
        training: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        key, value = as_tensor(self.name, key), as_tensor(self.name, value)
        features = (query.shape[-1], key.shape[-1], value.shape[-1])
        if not query.ndim == key.ndim == value.ndim == 3 or features != (
            self.embed_dim,
            self.kdim,
            self.vdim,
        ):
            raise ShapeError(
                f"{self.name}: TorchMultiheadAttention takes batched 3-D query, key and value of "
                f"{self.embed_dim}, {self.kdim} and {self.vdim} features, got {query.shape}, {key.shape}, "
                f"{value.shape}"
            )
        if not self.batch_first:
            query, key, value = (ops.transpose(t, (1, 0, 2)) for t in (query, key, value))
        padding = _bool_mask(self.name, "key_padding_mask", key_padding_mask)
        allowed = _bool_mask(self.name, "attn_mask", attn_mask)
        if allowed is not None and allowed.ndim == 3 and self.num_heads > 1:
            raise ShapeError(
                f"{self.name}: a per-head attn_mask (batch * num_heads, L, S) is not supported, got "
                f"{allowed.shape} with {self.num_heads} heads"
            )
        if is_causal and allowed is None:
            raise InvalidArgumentError(
                f"{self.name}: TorchMultiheadAttention: is_causal=True needs attn_mask (torch: "
                "'Need attn_mask if specifying the is_causal hint'); pass the causal mask, e.g. "
                "torch.nn.Transformer.generate_square_subsequent_mask's as a bool mask"
            )
        arguments = {
            "key": key,
            "value_mask": None if padding is None else ~padding,
            "attention_mask": None if allowed is None else ~allowed,
            "training": training,
        }
        scores: Tensor | None = None
        if need_weights:
            out, scores = self.mha(query, value, return_attention_scores=True, **arguments)
        else:
            out = self.mha(query, value, **arguments)
        if not self.batch_first:
            out = ops.transpose(out, (1, 0, 2))
        if scores is not None and average_attn_weights:
            scores = ops.mean(scores, axis=1)
        return out, scores


_ACTIVATIONS = ("relu", "gelu")


@register_serializable(_PACKAGE)
class TorchTransformerEncoderLayer(Layer):
    """``torch.nn.TransformerEncoderLayer``: self-attention (``self_attn``, a
    ``TorchMultiheadAttention``) and a feed-forward block (``linear1``, ``activation`` "relu" or
    "gelu" (exact, torch's), ``linear2``), each with a residual add and a ``LayerNormalization``
    (``norm1``, ``norm2``) after it, or before it with ``norm_first``; dropout as torch's.
    ``call(src, src_mask=None, src_key_padding_mask=None, is_causal=False)`` with torch's boolean
    masks (True: not allowed). ``bias=False`` drops the Dense and LayerNormalization biases."""

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if activation not in _ACTIVATIONS:
            raise InvalidArgumentError(
                f"TorchTransformerEncoderLayer: activation must be one of {_ACTIVATIONS}, got {activation!r}"
            )
        self.activation, self.batch_first, self.norm_first = activation, bool(batch_first), bool(norm_first)
        name, policy = self.name, self.dtype_policy
        self.self_attn = TorchMultiheadAttention(
            d_model,
            nhead,
            dropout=dropout,
            bias=bias,
            batch_first=True,
            name=f"{name}_self_attn",
            dtype=policy,
        )
        self.linear1 = Dense(dim_feedforward, use_bias=bias, name=f"{name}_linear1", dtype=policy)
        self.linear2 = Dense(d_model, use_bias=bias, name=f"{name}_linear2", dtype=policy)
        self.norm1, self.norm2 = (
            LayerNormalization(epsilon=layer_norm_eps, center=bias, name=f"{name}_norm{k}", dtype=policy)
            for k in (1, 2)
        )
        self.dropout, self.dropout1, self.dropout2 = (
            Dropout(dropout, name=f"{name}_dropout{suffix}", dtype=policy) for suffix in ("", "1", "2")
        )

    def call(
        self,
        src: Tensor,
        src_mask: Any = None,
        src_key_padding_mask: Any = None,
        is_causal: bool = False,
        training: bool = False,
    ) -> Tensor:
        if src.ndim != 3:
            raise ShapeError(
                f"{self.name}: TorchTransformerEncoderLayer takes batched 3-D inputs, got shape {src.shape}"
            )
        x = src if self.batch_first else ops.transpose(src, (1, 0, 2))

        def attention(h: Tensor) -> Tensor:
            out, _ = self.self_attn(
                h,
                h,
                h,
                attn_mask=src_mask,
                key_padding_mask=src_key_padding_mask,
                need_weights=False,
                is_causal=is_causal,
                training=training,
            )
            return self.dropout1(out, training=training)

        def feed_forward(h: Tensor) -> Tensor:
            h = self.linear1(h)
            h = ops.relu(h) if self.activation == "relu" else ops.gelu(h, approximate=False)
            h = self.linear2(self.dropout(h, training=training))
            return self.dropout2(h, training=training)

        if self.norm_first:
            x = x + attention(self.norm1(x))
            x = x + feed_forward(self.norm2(x))
        else:
            x = self.norm1(x + attention(x))
            x = self.norm2(x + feed_forward(x))
        return x if self.batch_first else ops.transpose(x, (1, 0, 2))


@register_serializable(_PACKAGE)
class TorchTransformerEncoder(Layer):
    """``torch.nn.TransformerEncoder`` of ``num_layers`` ``TorchTransformerEncoderLayer``s
    (``layers_{k}``, each made with ``layer``'s arguments, a config dict) and, with
    ``norm_eps``, a final ``LayerNormalization`` (``norm``; ``norm_bias`` as torch's LayerNorm's
    ``bias``). ``call(src, mask=None, src_key_padding_mask=None, is_causal=None)``.

    ``nested``: torch's nested-tensor fast path (``enable_nested_tensor`` and a layer it
    accepts: torch's ``use_nested_tensor``), taken by torch in eval mode under ``torch.no_grad()``
    with a ``src_key_padding_mask``, no ``mask``, and (with ``mask_check``) padding at the end
    of every sequence: the layers' outputs at padded positions are then zeros (before ``norm``).
    With ``nested``, this layer does so whenever not training."""

    def __init__(
        self,
        layer: dict[str, Any],
        num_layers: int,
        norm_eps: float | None = None,
        norm_bias: bool = True,
        nested: bool = False,
        mask_check: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.nested, self.mask_check = bool(nested), bool(mask_check)
        count = integer_arg("TorchTransformerEncoder", "num_layers", num_layers, minimum=1)
        policy = self.dtype_policy
        self.encoder_layers = [
            TorchTransformerEncoderLayer(**layer, name=f"{self.name}_layers_{k}", dtype=policy)
            for k in range(count)
        ]
        self.norm = (
            None
            if norm_eps is None
            else LayerNormalization(
                epsilon=norm_eps, center=norm_bias, name=f"{self.name}_norm", dtype=policy
            )
        )

    def call(
        self,
        src: Tensor,
        mask: Any = None,
        src_key_padding_mask: Any = None,
        is_causal: bool | None = None,
        training: bool = False,
    ) -> Tensor:
        x = src
        for layer in self.encoder_layers:
            x = layer(
                x,
                src_mask=mask,
                src_key_padding_mask=src_key_padding_mask,
                is_causal=bool(is_causal),
                training=training,
            )
        if self.nested and not training and mask is None and src_key_padding_mask is not None:
            x = self._zero_padding(x, src_key_padding_mask)
        return x if self.norm is None else self.norm(x)

    def _zero_padding(self, x: Tensor, src_key_padding_mask: Any) -> Tensor:
        """``x`` (batch first, as torch's fast path needs) zeroed where the mask is True, where
        torch's fast path applies (with ``mask_check``: every row's padding at its end)."""
        padding = _bool_mask(self.name, "src_key_padding_mask", src_key_padding_mask)
        assert padding is not None
        if self.mask_check and padding.shape[1] > 1:
            left_aligned = ops.all(padding[:, 1:] | ~padding[:, :-1])
            padding = padding & left_aligned
        return ops.where(ops.expand_dims(padding, -1), ops.zeros_like(x), x)


# ---------------------------------------------------------------------------------------------
# from_torch's layers for convolutional models (appended by the fromtorch helper)


@register_serializable(_PACKAGE)
class TorchBatchNormalization(BatchNormalization):
    """``BatchNormalization`` with torch's running-variance convention: in training it normalizes
    with the biased batch variance (as Keras) but updates ``moving_variance`` with the unbiased
    one (``n / (n - 1)`` times it), as ``torch.nn.BatchNorm*d`` does."""

    def _moved_variance(self, variance: Tensor, count: int) -> Tensor:
        return variance * (count / max(count - 1, 1))


@register_serializable(_PACKAGE)
class SpatialPad(Layer):
    """Pad the spatial axes of a channels-last ``(batch, *spatial, channels)`` tensor with
    ``value``: ``padding`` is one ``(before, after)`` pair per spatial axis. ``value`` ``-inf``
    is torch's max-pooling padding."""

    def __init__(self, padding: Any, value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.padding = tuple((int(a), int(b)) for a, b in padding)
        self.value = float(value)

    def call(self, x: Tensor) -> Tensor:
        if x.ndim != len(self.padding) + 2:
            raise ShapeError(
                f"{self.name}: SpatialPad has {len(self.padding)} (before, after) pairs, "
                f"needs inputs of rank {len(self.padding) + 2}, got shape {x.shape}"
            )
        return ops.pad(x, [(0, 0), *self.padding, (0, 0)], constant_values=self.value)

    def get_config(self) -> dict[str, Any]:
        value: Any = self.value if math.isfinite(self.value) else str(self.value)
        return {**super().get_config(), "padding": [list(p) for p in self.padding], "value": value}


#: torch activations with an argument Keras' names do not carry: function -> allowed options
_ACTIVATION_OPTIONS = {
    "gelu": ("approximate",),
    "leaky_relu": ("negative_slope",),
    "elu": ("alpha",),
    "softmax": ("axis",),
    "log_softmax": ("axis",),
}


@register_serializable(_PACKAGE)
class TorchActivation(Layer):
    """``ops.<function>(x, **options)`` for the activations whose torch form takes an argument:
    gelu (``approximate``: torch's default is the exact erf form, Keras' the tanh one),
    leaky_relu (``negative_slope``), elu (``alpha``), softmax / log_softmax (``axis``)."""

    def __init__(self, function: str, options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        options = dict(options or {})
        if function not in _ACTIVATION_OPTIONS or not set(options) <= set(_ACTIVATION_OPTIONS[function]):
            raise InvalidArgumentError(
                f"TorchActivation: {function!r} with options {sorted(options)} is not one of "
                + ", ".join(f"{f}({', '.join(o)})" for f, o in _ACTIVATION_OPTIONS.items())
            )
        self.function, self.options = function, options

    def call(self, x: Tensor) -> Tensor:
        return getattr(ops, self.function)(x, **self.options)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "function": self.function, "options": self.options}


@register_serializable(_PACKAGE)
class Mean(Layer):
    """``x.mean(axis, keepdims)`` (torch's ``mean(dim, keepdim)``), ``axis`` never the batch."""

    def __init__(self, axis: Any, keepdims: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = tuple(int(a) for a in (axis if isinstance(axis, (list, tuple)) else (axis,)))
        self.keepdims = bool(keepdims)

    def call(self, x: Tensor) -> Tensor:
        return ops.mean(x, axis=self.axis, keepdims=self.keepdims)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": list(self.axis), "keepdims": self.keepdims}


@register_serializable(_PACKAGE)
class TorchEmbedding(Embedding):
    """``Embedding`` with torch's ``padding_idx``: the rows looked up at that id get no
    gradient (torch zeroes that row's gradient), so optimizer steps leave the padding row as it
    is; the forward is ``Embedding``'s."""

    def __init__(
        self, input_dim: int, output_dim: int, padding_idx: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(input_dim, output_dim, **kwargs)
        if padding_idx is not None:
            padding_idx = integer_arg("TorchEmbedding", "padding_idx", padding_idx, minimum=0)
            if padding_idx >= self.input_dim:
                raise InvalidArgumentError(
                    f"TorchEmbedding: padding_idx must be in [0, {self.input_dim}), got {padding_idx}"
                )
        self.padding_idx = padding_idx

    def call(self, x: Tensor) -> Tensor:
        rows = super().call(x)
        if self.padding_idx is None:
            return rows
        padding = ops.expand_dims(ops.equal(x, self.padding_idx), -1)
        return ops.where(padding, stop_gradient(rows), rows)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding_idx": self.padding_idx}


def _index_item(item: Any) -> Any:
    """One item of a saved ``Index``: an int, ``[start, stop, step]``, ``"..."`` or None."""
    if isinstance(item, list):
        return slice(*item)
    return Ellipsis if item == "..." else item


@register_serializable(_PACKAGE)
class Index(Layer):
    """``x[:, *index]``: basic indexing that keeps the batch axis whole (torch's ``x[:, -1]``,
    ``x[..., :2]``). ``index``: one item per position, each an int, a ``[start, stop, step]``
    slice (None for a default), ``"..."`` or None (a new axis); a leading ``"..."`` already
    covers the batch axis."""

    def __init__(self, index: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = [list(i) if isinstance(i, (list, tuple)) else i for i in index]
        for item in self.index:
            if not (item is None or item == "..." or isinstance(item, (int, list))):
                raise InvalidArgumentError(
                    f"Index: {item!r} is not an int, [start, stop, step], '...' or None"
                )

    def call(self, x: Tensor) -> Tensor:
        key = tuple(_index_item(i) for i in self.index)
        return x[key if key[:1] == (Ellipsis,) else (slice(None), *key)]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "index": self.index}


_SCALAR_OPS = ("add", "subtract", "multiply", "divide")


@register_serializable(_PACKAGE)
class ScalarOp(Layer):
    """``x <op> value`` (or ``value <op> x`` with ``reverse``) for a Python number ``value``:
    torch's ``x * 0.5``, ``1 - x``, ``x / d``; ``op`` one of add, subtract, multiply, divide."""

    def __init__(self, op: str, value: float, reverse: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if op not in _SCALAR_OPS:
            raise InvalidArgumentError(f"ScalarOp: op must be one of {_SCALAR_OPS}, got {op!r}")
        self.op, self.value, self.reverse = op, float(value), bool(reverse)

    def call(self, x: Tensor) -> Tensor:
        fn = getattr(ops, self.op)
        return fn(self.value, x) if self.reverse else fn(x, self.value)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "op": self.op, "value": self.value, "reverse": self.reverse}
