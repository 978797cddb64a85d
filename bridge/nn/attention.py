"""``MultiHeadAttention``, as Keras 3's, over ``ops.scaled_dot_product_attention``."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np

from .. import constraints, initializers, ops, random, regularizers
from .._dispatch import device as on_device
from .._dispatch import use_backend
from ..errors import ArgumentTypeError, DTypeError, InvalidArgumentError, ShapeError
from ..ops._core import integer_arg
from ..ops.attention import attention_probabilities, causal_mask
from ..tensor import Tensor
from .layer import Layer, constraint_argument


def _positive(name: str, value: Any) -> int:
    return integer_arg("MultiHeadAttention", name, value, minimum=1)


def _output_shape(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    values = (value,) if not isinstance(value, (tuple, list)) else tuple(value)
    return tuple(integer_arg("MultiHeadAttention", "output_shape", n, minimum=1) for n in values)


class MultiHeadAttention(Layer):
    """Multi-head attention as Keras 3's ``MultiHeadAttention``: ``query`` (B, T, dim), ``value``
    (B, S, dim_v) and ``key`` (B, S, dim_k, default ``value``) are projected to ``num_heads``
    heads of ``key_dim`` (queries and keys) and ``value_dim`` (values, default ``key_dim``)
    features, attend with scale ``1 / sqrt(key_dim)``, and the heads are projected back to the
    query's ``dim`` (or ``output_shape``).

    Weights, in Keras' order and shapes: ``query_kernel`` (dim, heads, key_dim), ``query_bias``
    (heads, key_dim), the same for ``key``, then ``gate`` (with ``use_gate``) and ``value``
    (value_dim), ``output_kernel`` (heads, value_dim, *output_shape) and ``output_bias``; Keras
    names them ``query/kernel``, ``query/bias``, ... ``attention_output/kernel``.

    ``call(query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
    attention_mask=None, return_attention_scores=False, training=None, use_causal_mask=False)``:
    ``attention_mask`` (B, T, S), True where query ``t`` may attend to key ``s``; the (B, T) and
    (B, S) masks of query, value and key (by default the Keras masks the tensors carry) and the
    causal mask (aligned top-left) are and-ed with it. A query that may attend to no key attends
    to all of them uniformly, as in Keras. ``dropout`` drops attention probabilities in training
    (seeded by ``seed``); the scores returned are those before dropout, (B, heads, T, S).

    Differences from Keras: inputs are 3-D (B, seq, features) and ``attention_axes`` must be
    None or ``(1,)`` (the sequence axis); ``flash_attention`` and activity regularizers are not
    supported (on torch, ``ops.scaled_dot_product_attention`` uses torch's fused kernel anyway)."""

    supports_masking = True

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: int | None = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_shape: Any = None,
        attention_axes: Any = None,
        sliding_window: int | None = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        use_gate: bool = False,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_heads: int = _positive("num_heads", num_heads)
        self.key_dim: int = _positive("key_dim", key_dim)
        self.value_dim: int = self.key_dim if value_dim is None else _positive("value_dim", value_dim)
        if isinstance(dropout, bool) or not isinstance(dropout, Real) or not 0 <= dropout <= 1:
            raise InvalidArgumentError(
                f"MultiHeadAttention: dropout must be a float in [0, 1], got {dropout!r}"
            )
        self.dropout: float = float(dropout)
        self.use_bias: bool = bool(use_bias)
        self.use_gate: bool = bool(use_gate)
        self._projected_shape: tuple[int, ...] | None = _output_shape(output_shape)
        axes = (attention_axes,) if isinstance(attention_axes, int) else attention_axes
        if axes is not None and tuple(axes) not in ((1,), (-2,)):
            raise InvalidArgumentError(
                "MultiHeadAttention: only the default attention_axes (None: the sequence axis of "
                f"(batch, seq, features) inputs) is supported, got {attention_axes!r}"
            )
        self.attention_axes: tuple[int, ...] | None = None if axes is None else tuple(axes)
        self.sliding_window: int | None = (
            None if sliding_window is None else _positive("sliding_window", sliding_window)
        )
        self.seed: int | None = seed
        self.kernel_initializer: Any = initializers.get(kernel_initializer)
        self.bias_initializer: Any = initializers.get(bias_initializer)
        self.kernel_regularizer: Any = regularizers.get(kernel_regularizer)
        self.bias_regularizer: Any = regularizers.get(bias_regularizer)
        self.kernel_constraint: Any = constraint_argument(self, "kernel_constraint", kernel_constraint)
        self.bias_constraint: Any = constraint_argument(self, "bias_constraint", bias_constraint)

    # --- weights ---------------------------------------------------------------------------
    def build(self, query_shape: Any, value_shape: Any = None, key_shape: Any = None) -> None:
        """Create the weights from the input shapes. Called by the layer with the query's shape
        alone, it waits for the first call, which knows the value's."""
        if value_shape is not None:
            self._create_weights(tuple(query_shape), tuple(value_shape), tuple(key_shape or value_shape))

    def _projection(self, name: str, features: int, heads_dim: int) -> None:
        kernel = self.add_weight(
            f"{name}_kernel",
            (features, self.num_heads, heads_dim),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        setattr(self, f"{name}_kernel", kernel)
        if self.use_bias:
            bias = self.add_weight(
                f"{name}_bias",
                (self.num_heads, heads_dim),
                self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
            setattr(self, f"{name}_bias", bias)

    def _create_weights(
        self, query_shape: tuple[int, ...], value_shape: tuple[int, ...], key_shape: tuple[int, ...]
    ) -> None:
        self._check_shapes(query_shape, value_shape, key_shape)
        self._shapes = (query_shape[-1], value_shape[-1], key_shape[-1])
        self._projection("query", query_shape[-1], self.key_dim)
        self._projection("key", key_shape[-1], self.key_dim)
        if self.use_gate:
            self._projection("gate", query_shape[-1], self.value_dim)
        self._projection("value", value_shape[-1], self.value_dim)
        out = self._projected_shape or (query_shape[-1],)
        self.output_kernel = self.add_weight(
            "output_kernel",
            (self.num_heads, self.value_dim, *out),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        if self.use_bias:
            self.output_bias = self.add_weight(
                "output_bias",
                out,
                self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self.seed_generator = random.SeedGenerator(self.seed)

    def _check_shapes(self, query: tuple[int, ...], value: tuple[int, ...], key: tuple[int, ...]) -> None:
        shapes = f"query {query}, value {value}, key {key}"
        if not len(query) == len(value) == len(key) == 3:
            raise ShapeError(
                f"{self.name}: MultiHeadAttention takes 3-D (batch, seq, features) query, value and key, "
                f"got {shapes}"
            )
        if key[1] != value[1] or not query[0] == value[0] == key[0]:
            raise ShapeError(
                f"{self.name}: value and key need the same length and all three the same batch, got {shapes}"
            )
        built = getattr(self, "_shapes", None)
        if built is not None and built != (query[-1], value[-1], key[-1]):
            raise ShapeError(
                f"{self.name}: MultiHeadAttention was built for (query, value, key) features {built}, "
                f"got {shapes}"
            )

    # --- computation -----------------------------------------------------------------------
    def _project(self, x: Tensor, name: str) -> Tensor:
        y = ops.einsum("btd,dnh->btnh", x, getattr(self, f"{name}_kernel"))
        return y + getattr(self, f"{name}_bias") if self.use_bias else y

    def _tensor_mask(self, what: str, mask: Any, like: Tensor, shape: tuple[int, ...]) -> Tensor:
        """A mask as a bool Tensor (nonzero is True, as Keras casts), checked to broadcast to ``shape``."""
        mask = (
            ops.tensor(mask, device=like.device, backend=like.backend)
            if not isinstance(mask, Tensor)
            else mask
        )
        try:
            fits = mask.ndim <= len(shape) and np.broadcast_shapes(mask.shape, shape) == shape
        except ValueError:
            fits = False
        if not fits:
            raise ShapeError(f"{self.name}: {what} of shape {mask.shape} does not broadcast to {shape}")
        if mask.dtype.kind not in "biuf":
            raise DTypeError(f"{self.name}: {what} must be bool or numeric, got {mask.dtype}")
        return mask if mask.dtype.kind == "b" else mask != 0

    def _attention_mask(
        self,
        query: Tensor,
        value: Tensor,
        masks: tuple[Any, Any, Any],
        attention_mask: Any,
        use_causal_mask: bool,
    ) -> Tensor | None:
        """The (B, T, S) bool mask of everything given, as Keras' ``_compute_attention_mask``."""
        batch, target, source = query.shape[0], query.shape[1], value.shape[1]
        combined: Tensor | None = None

        def join(mask: Tensor) -> None:
            nonlocal combined
            combined = mask if combined is None else ops.logical_and(combined, mask)

        query_mask, value_mask, key_mask = masks
        if query_mask is not None:
            join(ops.expand_dims(self._tensor_mask("query_mask", query_mask, query, (batch, target)), -1))
        for what, mask in (("value_mask", value_mask), ("key_mask", key_mask)):
            if mask is not None:
                join(ops.expand_dims(self._tensor_mask(what, mask, query, (batch, source)), -2))
        if use_causal_mask:
            join(causal_mask(target, source, query)[None])
        if self.sliding_window is not None:
            rows = ops.arange(target, device=query.device, backend=query.backend)[:, None]
            columns = ops.arange(source, device=query.device, backend=query.backend)[None, :]
            join((ops.abs(rows - columns) < self.sliding_window)[None])
        if attention_mask is not None:
            join(self._tensor_mask("attention_mask", attention_mask, query, (batch, target, source)))
        return combined

    def call(
        self,
        query: Tensor,
        value: Any,
        key: Any = None,
        query_mask: Any = None,
        value_mask: Any = None,
        key_mask: Any = None,
        attention_mask: Any = None,
        return_attention_scores: bool = False,
        training: bool | None = None,
        use_causal_mask: bool = False,
    ) -> Any:
        if value is None:
            raise InvalidArgumentError(f"{self.name}: MultiHeadAttention needs a value tensor")
        masks = (
            query_mask if query_mask is not None else getattr(query, "_keras_mask", None),
            value_mask if value_mask is not None else getattr(value, "_keras_mask", None),
            key_mask if key_mask is not None else getattr(key, "_keras_mask", None),
        )
        value = self._standardize(value)
        key = value if key is None else self._standardize(key)
        if not all(isinstance(t, Tensor) and t.dtype.kind == "f" for t in (query, value, key)):
            raise ArgumentTypeError(
                f"{self.name}: MultiHeadAttention takes floating query, value and key tensors, got "
                f"{query.dtype}, {getattr(value, 'dtype', value)!r}, {getattr(key, 'dtype', key)!r}"
            )
        self._check_shapes(query.shape, value.shape, key.shape)
        if not hasattr(self, "query_kernel"):
            with use_backend(query.backend), on_device(query.device):
                self._create_weights(query.shape, value.shape, key.shape)
        causal_only = bool(use_causal_mask) and attention_mask is None and self.sliding_window is None
        causal_only = causal_only and all(m is None for m in masks)  # torch's causal kernel, as Keras
        mask = self._attention_mask(
            query, value, masks, attention_mask, bool(use_causal_mask) and not causal_only
        )
        q, k, v = self._project(query, "query"), self._project(key, "key"), self._project(value, "value")
        scale = 1.0 / math.sqrt(self.key_dim)
        mask4 = None if mask is None else ops.expand_dims(mask, -3)
        dropping = bool(training) and self.dropout > 0
        scores = None
        if dropping or return_attention_scores:
            if causal_only:
                mask4 = causal_mask(query.shape[1], value.shape[1], query)[None, None]
            scores = attention_probabilities(q, k, None, mask4, scale)
            kept = ops.dropout(scores, self.dropout, seed=self.seed_generator) if dropping else scores
            heads = ops.einsum("bnts,bsnh->btnh", kept, v)
        else:
            heads = ops.scaled_dot_product_attention(q, k, v, mask=mask4, scale=scale, is_causal=causal_only)
        if self.use_gate:
            heads = heads * ops.sigmoid(self._project(query, "gate"))
        out_axes = "opqrsuvwxyz"[: self.output_kernel.ndim - 2]  # the output_shape's axes
        out = ops.einsum(f"btnh,nh{out_axes}->bt{out_axes}", heads, self.output_kernel)
        if self.use_bias:
            out = out + self.output_bias
        return (out, scores) if return_attention_scores else out

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "output_shape": self._projected_shape,
            "attention_axes": self.attention_axes,
            "sliding_window": self.sliding_window,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "use_gate": self.use_gate,
            "seed": self.seed,
        }
