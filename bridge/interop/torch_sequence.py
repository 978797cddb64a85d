"""``from_torch`` converters of torch's sequence modules: ``LSTM``, ``GRU``,
``MultiheadAttention``, ``TransformerEncoderLayer`` and ``TransformerEncoder``, each ported to
the bridge layer of ``torch_layers`` that takes the same inputs and returns the same outputs,
with its weights' sources (gate blocks reordered, ``in_proj_weight`` split by heads).

Registered by class name: importing this module does not import torch."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from ..errors import UnsupportedConversionError
from ..nn.torch_layers import (
    TorchGRU,
    TorchLSTM,
    TorchMultiheadAttention,
    TorchTransformerEncoder,
    TorchTransformerEncoderLayer,
)
from ._sources import LayerSource
from .layouts import identity, linear_kernel
from .torch_converters import ConvertContext, Converted, converter

Spec = dict[str, tuple[tuple[str, ...], Callable[..., np.ndarray]]]


# --- weight layouts --------------------------------------------------------------------------
def gru_blocks(a: np.ndarray) -> np.ndarray:
    """torch's GRU gate blocks r, z, n (first axis) -> Keras' z, r, h."""
    r, z, n = np.split(np.asarray(a), 3, axis=0)
    return np.concatenate([z, r, n], axis=0)


def gru_kernel(w: np.ndarray) -> np.ndarray:
    """``weight_ih`` / ``weight_hh`` ``(3u, in)`` -> Keras' ``kernel`` ``(in, 3u)``, blocks z, r, h."""
    return linear_kernel(gru_blocks(w))


def gru_bias(bias_ih: np.ndarray, bias_hh: np.ndarray) -> np.ndarray:
    """torch's two GRU biases -> Keras' ``reset_after`` bias ``(2, 3u)`` (input's, recurrent one's)."""
    return np.stack([gru_blocks(bias_ih), gru_blocks(bias_hh)])


def _heads_kernel(part: int, heads: int, w: np.ndarray) -> np.ndarray:
    w = np.asarray(w)
    if part >= 0:  # a third of in_proj_weight (3E, E): the query's, key's or value's rows
        w = np.split(w, 3, axis=0)[part]
    return np.ascontiguousarray(w.T.reshape(w.shape[1], heads, -1))


def heads_kernel(heads: int, part: int = -1) -> Callable[[np.ndarray], np.ndarray]:
    """A projection weight ``(E, in)`` (with ``part`` 0, 1, 2: that third of the packed
    ``in_proj_weight`` ``(3E, E)``) -> Keras' ``(in, heads, E / heads)``."""
    return partial(_heads_kernel, part, heads)


def _heads_bias(part: int, heads: int, b: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.split(np.asarray(b), 3)[part].reshape(heads, -1))


def heads_bias(heads: int, part: int) -> Callable[[np.ndarray], np.ndarray]:
    """That third of ``in_proj_bias`` ``(3E,)`` -> Keras' ``(heads, E / heads)``."""
    return partial(_heads_bias, part, heads)


def _output_kernel(heads: int, w: np.ndarray) -> np.ndarray:
    w = np.asarray(w)
    return np.ascontiguousarray(w.T.reshape(heads, -1, w.shape[0]))


def output_kernel(heads: int) -> Callable[[np.ndarray], np.ndarray]:
    """``out_proj.weight`` ``(E, E)`` -> Keras' ``output_kernel`` ``(heads, E / heads, E)``."""
    return partial(_output_kernel, heads)


# --- helpers ---------------------------------------------------------------------------------
def _refuse(ctx: ConvertContext, module: Any, why: str, supported: str) -> UnsupportedConversionError:
    return UnsupportedConversionError(
        f"from_torch: {type(module).__name__} at {ctx.name!r}: {why}; supported: {supported}"
    )


def _merged(layer: Any, ctx: ConvertContext, parts: list[tuple[Any, Spec, str]]) -> LayerSource:
    """One ``LayerSource`` for ``layer`` from its sublayers' weights: ``(sublayer, {weight short
    name: (native names relative to ``prefix``, convert)}, prefix)``."""
    weights = {}
    for sublayer, spec, prefix in parts:
        named = {short: (tuple(prefix + n for n in natives), f) for short, (natives, f) in spec.items()}
        weights.update(ctx.source(sublayer, named).weights)
    return LayerSource(layer=layer.name, native=ctx.name, weights=weights)


# --- LSTM and GRU ----------------------------------------------------------------------------
def _recurrent_arguments(module: Any, ctx: ConvertContext) -> dict[str, Any]:
    if getattr(module, "proj_size", 0):
        raise _refuse(ctx, module, f"proj_size={module.proj_size}", "proj_size=0")
    return {
        "input_size": module.input_size,
        "hidden_size": module.hidden_size,
        "num_layers": module.num_layers,
        "bias": module.bias,
        "batch_first": module.batch_first,
        "dropout": float(module.dropout),
        "bidirectional": module.bidirectional,
        "name": ctx.layer_name(),
        "dtype": ctx.dtype,
    }


def _recurrent_source(layer: Any, ctx: ConvertContext, kernel: Any, bias: Callable[[Spec, str], None]) -> Any:
    parts = []
    for k, directions in enumerate(layer.cells):
        for cell in directions:
            suffix = f"_l{k}" + ("_reverse" if cell.go_backwards else "")
            spec: Spec = {
                "kernel": ((f"weight_ih{suffix}",), kernel),
                "recurrent_kernel": ((f"weight_hh{suffix}",), kernel),
            }
            if layer.bias:
                bias(spec, suffix)
            parts.append((cell, spec, ""))
    return _merged(layer, ctx, parts)


@converter("torch.nn.modules.rnn.LSTM")
def lstm(module: Any, ctx: ConvertContext) -> Converted:
    """``LSTM`` -> ``TorchLSTM``: kernels transposed (gate order i, f, g, o on both sides),
    ``bias_ih`` -> ``bias``, ``bias_hh`` -> ``recurrent_bias``."""
    layer = TorchLSTM(**_recurrent_arguments(module, ctx))

    def biases(spec: Spec, suffix: str) -> None:
        spec["bias"] = ((f"bias_ih{suffix}",), identity)
        spec["recurrent_bias"] = ((f"bias_hh{suffix}",), identity)

    return Converted(layer, _recurrent_source(layer, ctx, linear_kernel, biases))


@converter("torch.nn.modules.rnn.GRU")
def gru(module: Any, ctx: ConvertContext) -> Converted:
    """``GRU`` -> ``TorchGRU``: gate blocks r, z, n -> z, r, h, kernels transposed, the two
    biases stacked into Keras' ``reset_after`` bias."""
    layer = TorchGRU(**_recurrent_arguments(module, ctx))

    def biases(spec: Spec, suffix: str) -> None:
        spec["bias"] = ((f"bias_ih{suffix}", f"bias_hh{suffix}"), gru_bias)

    return Converted(layer, _recurrent_source(layer, ctx, gru_kernel, biases))


# --- attention -------------------------------------------------------------------------------
def _attention_spec(module: Any, ctx: ConvertContext) -> Spec:
    """The sources of a ``TorchMultiheadAttention``'s ``mha`` weights, relative to ``module``."""
    if module.bias_k is not None or module.add_zero_attn:
        raise _refuse(
            ctx,
            module,
            "add_bias_kv / add_zero_attn",
            "MultiheadAttention without add_bias_kv and add_zero_attn",
        )
    heads = module.num_heads
    spec: Spec = {}
    for part, which in enumerate(("query", "key", "value")):
        if module._qkv_same_embed_dim:
            spec[f"{which}_kernel"] = (("in_proj_weight",), heads_kernel(heads, part))
        else:
            spec[f"{which}_kernel"] = ((f"{which[0]}_proj_weight",), heads_kernel(heads))
        if module.in_proj_bias is not None:
            spec[f"{which}_bias"] = (("in_proj_bias",), heads_bias(heads, part))
    spec["output_kernel"] = (("out_proj.weight",), output_kernel(heads))
    if module.out_proj.bias is not None:
        spec["output_bias"] = (("out_proj.bias",), identity)
    return spec


def _attention_arguments(module: Any) -> dict[str, Any]:
    return {
        "embed_dim": module.embed_dim,
        "num_heads": module.num_heads,
        "dropout": float(module.dropout),
        "bias": module.in_proj_bias is not None,
        "kdim": module.kdim,
        "vdim": module.vdim,
        "batch_first": module.batch_first,
    }


@converter("torch.nn.modules.activation.MultiheadAttention")
def multihead_attention(module: Any, ctx: ConvertContext) -> Converted:
    """``MultiheadAttention`` -> ``TorchMultiheadAttention``: ``in_proj_weight`` split into the
    query, key and value kernels ``(E, heads, E / heads)``, ``out_proj`` into ``output_kernel``."""
    spec = _attention_spec(module, ctx)
    layer = TorchMultiheadAttention(**_attention_arguments(module), name=ctx.layer_name(), dtype=ctx.dtype)
    return Converted(layer, _merged(layer, ctx, [(layer.mha, spec, "")]))


# --- Transformer encoder ---------------------------------------------------------------------
def _activation(module: Any, ctx: ConvertContext) -> str:
    import torch

    activation = module.activation
    if activation is torch.nn.functional.relu or isinstance(activation, torch.nn.ReLU):
        return "relu"
    exact_gelu = isinstance(activation, torch.nn.GELU) and activation.approximate == "none"
    if activation is torch.nn.functional.gelu or exact_gelu:
        return "gelu"
    raise _refuse(
        ctx, module, f"activation {activation!r}", '"relu", "gelu" (F.relu, F.gelu, nn.ReLU, exact nn.GELU)'
    )


def _encoder_layer_arguments(module: Any, ctx: ConvertContext) -> dict[str, Any]:
    for norm in (module.norm1, module.norm2):
        if not norm.elementwise_affine:
            raise _refuse(ctx, module, "a LayerNorm without elementwise_affine", "affine LayerNorms")
    _attention_spec(module.self_attn, ctx)  # refuses what TorchMultiheadAttention cannot hold
    return {
        "d_model": module.self_attn.embed_dim,
        "nhead": module.self_attn.num_heads,
        "dim_feedforward": module.linear1.out_features,
        "dropout": float(module.dropout.p),
        "activation": _activation(module, ctx),
        "layer_norm_eps": float(module.norm1.eps),
        "batch_first": module.self_attn.batch_first,
        "norm_first": module.norm_first,
        "bias": module.linear1.bias is not None,
    }


def _norm_spec(norm: Any, prefix: str) -> Spec:
    spec: Spec = {"gamma": ((f"{prefix}weight",), identity)}
    if norm.bias is not None:
        spec["beta"] = ((f"{prefix}bias",), identity)
    return spec


def _encoder_layer_parts(
    layer: TorchTransformerEncoderLayer, module: Any, ctx: ConvertContext, prefix: str
) -> list[tuple[Any, Spec, str]]:
    """The sublayers of ``layer`` with their weights' sources in ``module`` (at ``prefix``)."""
    parts: list[tuple[Any, Spec, str]] = [
        (layer.self_attn.mha, _attention_spec(module.self_attn, ctx), f"{prefix}self_attn.")
    ]
    for name in ("linear1", "linear2"):
        spec: Spec = {"kernel": (("weight",), linear_kernel)}
        if getattr(module, name).bias is not None:
            spec["bias"] = (("bias",), identity)
        parts.append((getattr(layer, name), spec, f"{prefix}{name}."))
    for name in ("norm1", "norm2"):
        parts.append((getattr(layer, name), _norm_spec(getattr(module, name), ""), f"{prefix}{name}."))
    return parts


@converter("torch.nn.modules.transformer.TransformerEncoderLayer")
def transformer_encoder_layer(module: Any, ctx: ConvertContext) -> Converted:
    """``TransformerEncoderLayer`` -> ``TorchTransformerEncoderLayer`` (attention as
    ``MultiheadAttention``'s, ``linear1``/``linear2`` transposed, norms as they are)."""
    layer = TorchTransformerEncoderLayer(
        **_encoder_layer_arguments(module, ctx), name=ctx.layer_name(), dtype=ctx.dtype
    )
    return Converted(layer, _merged(layer, ctx, _encoder_layer_parts(layer, module, ctx, "")))


@converter("torch.nn.modules.transformer.TransformerEncoder")
def transformer_encoder(module: Any, ctx: ConvertContext) -> Converted:
    """``TransformerEncoder`` -> ``TorchTransformerEncoder``: its layers must share one
    configuration (torch deep-copies one layer); the final ``norm`` a ``LayerNorm`` or None;
    torch's nested-tensor fast path (zeros at padded positions in inference) followed."""
    import torch

    arguments = [_encoder_layer_arguments(m, ctx) for m in module.layers]
    if any(a != arguments[0] for a in arguments):
        raise _refuse(
            ctx, module, "layers of different configurations", "copies of one TransformerEncoderLayer"
        )
    norm = module.norm
    if norm is not None and not (isinstance(norm, torch.nn.LayerNorm) and norm.elementwise_affine):
        raise _refuse(ctx, module, f"final norm {norm!r}", "None or an affine LayerNorm")
    layer = TorchTransformerEncoder(
        arguments[0],
        len(module.layers),
        norm_eps=None if norm is None else float(norm.eps),
        norm_bias=norm is not None and norm.bias is not None,
        nested=bool(getattr(module, "use_nested_tensor", False))
        and torch.backends.mha.get_fastpath_enabled(),
        mask_check=bool(getattr(module, "mask_check", True)),
        name=ctx.layer_name(),
        dtype=ctx.dtype,
    )
    parts = [
        part
        for k, (sub, native) in enumerate(zip(layer.encoder_layers, module.layers))
        for part in _encoder_layer_parts(sub, native, ctx, f"layers.{k}.")
    ]
    if norm is not None:
        parts.append((layer.norm, _norm_spec(norm, ""), "norm."))
    return Converted(layer, _merged(layer, ctx, parts))
