"""Dot-product attention, as Keras 3's ``keras.ops.dot_product_attention``: layout
(batch, seq, heads, dim)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..dtypes import bool_, float16, float32, result_type
from ..errors import ArgumentTypeError, DTypeError, ShapeError
from ..tensor import Tensor
from ._core import floating, op, promote_natives, require, tensor_args
from .creation import arange
from .linalg import einsum
from .math import logical_and, where
from .nn import softmax
from .reduction import any as ops_any
from .shape import repeat, reshape, transpose

_NAME = "scaled_dot_product_attention"


def _large_negative(dtype: Any) -> float:
    """What masked logits become (Keras' value): far below any logit, yet finite, so that a row
    with every position masked attends uniformly instead of giving NaN."""
    return -0.7 * (65500.0 if dtype is float16 else 3.38953e38)


def causal_mask(target: int, source: int, like: Tensor) -> Tensor:
    """Bool (target, source): query ``t`` sees keys ``s <= t`` (aligned top-left, as Keras)."""
    rows = arange(target, device=like.device, backend=like.backend)
    columns = arange(source, device=like.device, backend=like.backend)
    return rows[:, None] >= columns[None, :]


def _broadcastable(what: str, x: Tensor, shape: tuple[int, ...], query: Tensor, key: Tensor) -> None:
    try:
        fits = np.broadcast_shapes(x.shape, shape) == shape and x.ndim <= 4
    except ValueError:
        fits = False
    require(
        fits,
        ShapeError,
        f"{_NAME}: {what} of shape {x.shape} does not broadcast to (batch, heads, target, source) "
        f"{shape} of query {query.shape} and key {key.shape}",
    )


def _inputs(query: Any, key: Any, value: Any) -> tuple[Tensor, Tensor, Tensor]:
    """query, key and value of one backend and float dtype, checked; key and value repeated
    to the query's heads (grouped-query attention)."""
    backend, natives = tensor_args(_NAME, query, key, value)
    natives, _ = promote_natives(backend, [floating(backend, n) for n in natives])
    q, k, v = (Tensor(n, backend) for n in natives)
    shapes = f"query {q.shape}, key {k.shape}, value {v.shape}"
    require(
        q.ndim == k.ndim == v.ndim == 4,
        ShapeError,
        f"{_NAME}: query, key and value must be 4-D (batch, seq, heads, dim), got {shapes}",
    )
    require(
        q.shape[0] == k.shape[0] == v.shape[0] and k.shape[1:3] == v.shape[1:3] and q.shape[3] == k.shape[3],
        ShapeError,
        f"{_NAME}: expected query (B, T, N, H), key (B, S, K, H) and value (B, S, K, Hv), got {shapes}",
    )
    heads, kv_heads = q.shape[2], k.shape[2]
    require(
        kv_heads > 0 and heads % kv_heads == 0,
        ShapeError,
        f"{_NAME}: the query's heads ({heads}) must be a multiple of the key's ({kv_heads}), got {shapes}",
    )
    if heads != kv_heads:
        k, v = repeat(k, heads // kv_heads, axis=2), repeat(v, heads // kv_heads, axis=2)
    return q, k, v


def _mask(mask: Any, is_causal: bool, shape: tuple[int, ...], q: Tensor, k: Tensor) -> Tensor | None:
    """The 4-D bool mask (True: attend) that ``mask`` and ``is_causal`` make together, or None."""
    if mask is not None:
        backend, (_, native) = tensor_args(_NAME, q, mask)
        mask = Tensor(native, backend)
        require(
            mask.dtype is bool_, DTypeError, f"{_NAME}: mask must be bool (True: attend), got {mask.dtype}"
        )
        _broadcastable("mask", mask, shape, q, k)
    if is_causal:
        causal = causal_mask(shape[2], shape[3], q)
        mask = causal if mask is None else logical_and(mask, causal)
    return None if mask is None else reshape(mask, (1,) * (4 - mask.ndim) + mask.shape)


def _bias(bias: Any, shape: tuple[int, ...], q: Tensor, k: Tensor) -> Tensor | None:
    if bias is None:
        return None
    backend, (_, native) = tensor_args(_NAME, q, bias)
    bias = Tensor(native, backend)
    require(bias.dtype.kind in "fiu", DTypeError, f"{_NAME}: bias must be numeric, got {bias.dtype}")
    _broadcastable("bias", bias, shape, q, k)
    return bias


def _scale(scale: Any, q: Tensor) -> float:
    if scale is None:
        return 1.0 / math.sqrt(q.shape[-1])
    require(
        isinstance(scale, (int, float, np.number)) and not isinstance(scale, bool),
        ArgumentTypeError,
        f"{_NAME}: scale must be a Python number or None, got {scale!r}",
    )
    return float(scale)


def attention_probabilities(
    query: Tensor, key: Tensor, bias: Tensor | None, mask: Tensor | None, scale: float
) -> Tensor:
    """softmax over the source of the (B, N, T, S) logits ``query . key * scale + bias``, masked
    positions set to ``_large_negative``; computed in float32 at least, returned in the inputs' dtype."""
    logits_dtype = result_type(query.dtype, float32)
    logits = einsum("btnh,bsnh->bnts", query, key).astype(logits_dtype) * scale
    if bias is not None:
        logits = logits + bias.astype(logits_dtype)
    if mask is not None:
        logits = where(mask, logits, _large_negative(logits_dtype))
    return softmax(logits, axis=-1).astype(key.dtype)


def _fused(
    q: Tensor, k: Tensor, v: Tensor, bias: Tensor | None, mask: Any, is_causal: bool, scale: float, shape: Any
) -> Tensor:
    """The backend's fused kernel, masks folded into its additive bias. A query allowed no key
    gets a zero query and bias, so that it attends uniformly with zero gradients, as in the
    composite (a large negative bias alone leaves torch's gradient as if it were unmasked)."""
    fused_causal = is_causal and mask is None and bias is None
    allowed = _mask(mask, is_causal and not fused_causal, shape, q, k)
    additive = None if bias is None else bias.astype(q.dtype)
    if allowed is not None:
        blocked = where(allowed, 0.0 if additive is None else additive, _large_negative(q.dtype))
        some = ops_any(allowed, axis=-1, keepdims=True)  # (B, N, T, 1), broadcast
        additive = where(some, blocked, 0.0).astype(q.dtype)
        q = q * transpose(some, (0, 2, 1, 3)).astype(q.dtype)
    native = None if additive is None else additive._native
    out = q._backend.dot_product_attention(q._native, k._native, v._native, native, scale, fused_causal)
    return Tensor(out, q._backend)


@op()
def scaled_dot_product_attention(
    query: Any,
    key: Any,
    value: Any,
    bias: Any = None,
    mask: Any = None,
    scale: float | None = None,
    is_causal: bool = False,
) -> Tensor:
    """``softmax(query . key * scale + bias) . value``, as ``keras.ops.dot_product_attention``.

    ``query`` is (B, T, N, H), ``key`` (B, S, K, H) and ``value`` (B, S, K, Hv), with N a multiple
    of K (grouped-query attention; K = 1 is multi-query). ``bias`` (added to the logits) and the
    bool ``mask`` (True: attend) broadcast to (B, N, T, S); both may be given (Keras' torch backend
    refuses that). ``scale`` defaults to ``1 / sqrt(H)``; ``is_causal`` lets query ``t`` see keys
    ``s <= t`` only. Masked logits become a large negative number, as in Keras: a query that may
    see no key attends to all of them uniformly. Logits and softmax are computed in float32 at
    least. Returns (B, T, N, Hv). Backends with a fused kernel (torch's
    ``scaled_dot_product_attention``) use it."""
    q, k, v = _inputs(query, key, value)
    shape = (q.shape[0], q.shape[2], q.shape[1], k.shape[1])
    require(
        isinstance(is_causal, (bool, np.bool_)),
        ArgumentTypeError,
        f"{_NAME}: is_causal must be a bool, got {is_causal!r}",
    )
    scale = _scale(scale, q)
    bias_tensor = _bias(bias, shape, q, k)
    if "dot_product_attention" in q._backend.fast_paths:
        return _fused(q, k, v, bias_tensor, mask, bool(is_causal), scale, shape)
    probabilities = attention_probabilities(
        q, k, bias_tensor, _mask(mask, bool(is_causal), shape, q, k), scale
    )
    return einsum("bnts,bsnh->btnh", probabilities, v)


__all__ = ["scaled_dot_product_attention"]
