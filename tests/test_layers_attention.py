"""Attention and its companions (issue 12): ``ops.scaled_dot_product_attention``,
``MultiHeadAttention``, ``GroupNormalization``, ``RMSNormalization``, ``PositionEmbedding`` and
``SinePositionEncoding``.

References: NumPy float64 formulas written here (outputs, and their finite differences for the
gradients); Keras 3's own layers and ``keras.ops.dot_product_attention`` with copied weights (one
Keras program per Keras backend); torch's ``nn.MultiheadAttention``, ``nn.GroupNorm`` and
``nn.RMSNorm`` with copied weights. keras_hub is not installed: the position layers are checked
against the formulas of its source."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

import bridge as br
from bridge import nn
from bridge._plugins import load_backend
from bridge.ops.attention import attention_probabilities
from bridge.testing import assert_layer_parity, assert_parity, assert_training_parity

from .keras_reference import keras_json

RNG = np.random.default_rng(12)
F64 = {"dtype": "float64"}
#: float32 against Keras or torch: the same math in another order (observed: < 1e-6).
NATIVE_ATOL = 2e-5


def _x(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


# --- NumPy references ------------------------------------------------------------------------
def np_softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_attention(q, k, v, bias=None, mask=None, scale=None, causal=False):
    """(B, T, N, H) attention; a query allowed no key attends uniformly (Keras' behaviour)."""
    heads = q.shape[2]
    k, v = np.repeat(k, heads // k.shape[2], axis=2), np.repeat(v, heads // v.shape[2], axis=2)
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    logits = np.einsum("btnh,bsnh->bnts", q, k) * scale
    if bias is not None:
        logits = logits + bias
    allowed = np.ones(logits.shape, bool)
    if mask is not None:
        allowed = allowed & mask
    if causal:
        allowed = allowed & np.tri(q.shape[1], k.shape[1], dtype=bool)
    logits = np.where(allowed, logits, -np.inf)
    logits = np.where(allowed.any(-1, keepdims=True), logits, 0.0)
    return np.einsum("bnts,bsnh->btnh", np_softmax(logits), v)


def np_mha(query, value, key, weights, mask=None, causal=False, gate=False, scores=False):
    """Keras' MultiHeadAttention with ``weights`` in Keras' order (biases included)."""
    it = iter(weights)

    def project(x):
        kernel, bias = next(it), next(it)
        return np.einsum("btd,dnh->btnh", x, kernel) + bias

    q, k = project(query), project(key)
    g = 1 / (1 + np.exp(-project(query))) if gate else 1.0
    v = project(value)
    full = None if mask is None else mask[:, None]
    heads = np_attention(q, k, v, mask=full, causal=causal) * g
    kernel, bias = next(it), next(it)
    out = np.tensordot(heads, kernel, axes=([2, 3], [0, 1])) + bias
    if not scores:
        return out
    logits = np.einsum("btnh,bsnh->bnts", q, k) / math.sqrt(q.shape[-1])
    allowed = np.ones(logits.shape, bool) if full is None else np.broadcast_to(full, logits.shape)
    if causal:
        allowed = allowed & np.tri(q.shape[1], k.shape[1], dtype=bool)
    logits = np.where(allowed.any(-1, keepdims=True), np.where(allowed, logits, -np.inf), 0.0)
    return out, np_softmax(logits)


def np_group_norm(x, gamma, beta, groups, axis=-1, epsilon=1e-3):
    moved = np.moveaxis(x, axis, -1)
    channels = moved.shape[-1]
    groups = channels if groups == -1 else groups
    g = moved.reshape(moved.shape[0], -1, groups, channels // groups)
    mean, variance = g.mean((1, 3), keepdims=True), g.var((1, 3), keepdims=True)
    y = ((g - mean) / np.sqrt(variance + epsilon)).reshape(moved.shape) * gamma + beta
    return np.moveaxis(y, -1, axis)


def np_rms_norm(x, scale, axes=(-1,), epsilon=1e-6):
    axes = tuple(a % x.ndim for a in axes)
    shape = [n if a in axes else 1 for a, n in enumerate(x.shape)]
    return x / np.sqrt((x**2).mean(axes, keepdims=True) + epsilon) * scale.reshape(shape)


def np_sine_encoding(shape, max_wavelength=10000, start=0):
    length, features = shape[-2], shape[-1]
    positions = np.arange(start, start + length, dtype=np.float64)[:, None]
    i = np.arange(features)
    angles = positions / float(max_wavelength) ** (2 * (i // 2) / features)
    return np.broadcast_to(np.where(i % 2 == 0, np.sin(angles), np.cos(angles)), shape)


# --- 1. ops.scaled_dot_product_attention -------------------------------------------------------
_Q, _K, _V = _x(2, 3, 4, 5), _x(2, 6, 2, 5), _x(2, 6, 2, 7)
_MASK = RNG.random((2, 1, 3, 6)) > 0.4
_MASK[0, 0, 1] = False  # a query allowed no key
_BIAS = _x(4, 3, 6)
SDPA_CASES: dict[str, dict[str, Any]] = {
    "plain": {},
    "scaled": {"scale": 0.3},
    "causal": {"is_causal": True},
    "mask": {"mask": _MASK},
    "mask_and_causal": {"mask": _MASK, "is_causal": True},
    "bias": {"bias": _BIAS},
    "bias_mask_causal": {"bias": _BIAS, "mask": _MASK, "is_causal": True},  # Keras' torch refuses
}


@pytest.mark.parametrize("case", sorted(SDPA_CASES))
def test_scaled_dot_product_attention_against_numpy(case):
    kwargs = SDPA_CASES[case]
    assert_parity(
        lambda q, k, v: br.ops.scaled_dot_product_attention(q, k, v, **kwargs),
        _Q,
        _K,
        _V,
        reference=lambda q, k, v: np_attention(
            q,
            k,
            v,
            kwargs.get("bias"),
            kwargs.get("mask"),
            kwargs.get("scale"),
            kwargs.get("is_causal", False),
        ),
        rtol=1e-10,
        atol=1e-12,
    )


@pytest.mark.needs("torch")
def test_torch_uses_its_fused_kernel_and_it_agrees_with_the_composite():
    assert "dot_product_attention" in load_backend("torch").fast_paths
    with br.use_backend("torch"):
        q, k, v = (br.tensor(a) for a in (_Q, _K, _V))
        kk, vv = br.ops.repeat(k, 2, axis=2), br.ops.repeat(v, 2, axis=2)
        for kwargs in SDPA_CASES.values():
            fused = br.ops.scaled_dot_product_attention(q, k, v, **kwargs)
            mask = kwargs.get("mask")
            allowed = None if mask is None else br.tensor(mask)
            if kwargs.get("is_causal"):
                causal = br.tensor(np.tri(3, 6, dtype=bool))
                allowed = causal if allowed is None else br.ops.logical_and(allowed, causal)
            bias = None if kwargs.get("bias") is None else br.tensor(kwargs["bias"])
            probabilities = attention_probabilities(
                q, kk, bias, allowed, kwargs.get("scale", 1 / math.sqrt(5))
            )
            composite = br.ops.einsum("bnts,bsnh->btnh", probabilities, vv)
            np.testing.assert_allclose(fused.numpy(), composite.numpy(), rtol=1e-12, atol=1e-12)


def test_attention_gradients_match_finite_differences():
    """Through the fused kernel on torch, the composite elsewhere."""

    class Attend(nn.Layer):
        def build(self, input_shape):
            self.key = self.add_weight("key", (1, 4, 2, 3), "random_normal")

        def call(self, x):
            return br.ops.scaled_dot_product_attention(x, self.key, self.key * 2.0, mask=_MASK[:1, :, :2, :4])

    def reference(x, weights, training):
        return np_attention(x, weights[0], weights[0] * 2.0, mask=_MASK[:1, :, :2, :4])

    assert_layer_parity(lambda: Attend(**F64), _x(1, 2, 4, 3), reference=reference, rtol=1e-6, atol=1e-8)


def test_attention_errors(backend):
    q, k, v = (br.tensor(a.astype(np.float32)) for a in (_Q, _K, _V))
    cases = [
        ((q[0], k, v), {}, br.ShapeError, r"must be 4-D \(batch, seq, heads, dim\).*query \(3, 4, 5\)"),
        ((q, k[:, :5], v), {}, br.ShapeError, r"key \(2, 5, 2, 5\), value \(2, 6, 2, 7\)"),
        ((q, k[..., :4], v), {}, br.ShapeError, r"expected query \(B, T, N, H\)"),
        ((q[:, :, :3], k, v), {}, br.ShapeError, r"heads \(3\) must be a multiple of the key's \(2\)"),
        ((q, k, v), {"mask": _MASK.astype(np.float32)}, br.DTypeError, "mask must be bool"),
        (
            (q, k, v),
            {"mask": np.ones((3, 3), bool)},
            br.ShapeError,
            r"mask of shape \(3, 3\) does not broadcast",
        ),
        ((q, k, v), {"bias": np.ones((2, 4, 3, 6, 1))}, br.ShapeError, "bias of shape"),
        ((q, k, v), {"is_causal": 1}, br.ArgumentTypeError, "is_causal must be a bool"),
        ((q, k, v), {"scale": "big"}, br.ArgumentTypeError, "scale must be a Python number"),
    ]
    for args, kwargs, error, message in cases:
        with pytest.raises(error, match="scaled_dot_product_attention: .*" + message):
            br.ops.scaled_dot_product_attention(*args, **kwargs)


# --- 2. every layer against NumPy float64, across backends -------------------------------------
class Attend(nn.Layer):
    """A MultiHeadAttention called the ways the tests need, on one input."""

    def __init__(self, mode: str = "self", causal: bool = False, mask: Any = None, **kwargs: Any) -> None:
        dtype = kwargs.pop("dtype", None)
        super().__init__(dtype=dtype)
        self.mode, self.causal, self.mask = mode, causal, mask
        self.attention = nn.MultiHeadAttention(dtype=dtype, **kwargs)

    def call(self, x, training=False):
        query, value, key = x, x, None
        if self.mode == "cross":  # shorter queries, keys of other features
            query, key = x[:, :3], x[..., :3]
        return self.attention(
            query, value, key, attention_mask=self.mask, use_causal_mask=self.causal, training=training
        )


_CROSS_MASK = RNG.random((2, 3, 5)) > 0.3


def _mha_reference(mode, causal=False, mask=None, gate=False):
    def reference(x, weights, training):
        query, key = (x[:, :3], x[..., :3]) if mode == "cross" else (x, x)
        return np_mha(query, x, key, weights, mask=mask, causal=causal, gate=gate)

    return reference


LAYER_CASES = {
    "mha_self": (lambda: Attend(num_heads=2, key_dim=3, **F64), _x(2, 4, 4), _mha_reference("self")),
    "mha_causal_gate_value_dim": (
        lambda: Attend(causal=True, num_heads=2, key_dim=2, value_dim=3, use_gate=True, **F64),
        _x(2, 4, 3),
        _mha_reference("self", causal=True, gate=True),
    ),
    "mha_cross_masked": (
        lambda: Attend("cross", mask=_CROSS_MASK, num_heads=3, key_dim=2, **F64),
        _x(2, 5, 4),
        _mha_reference("cross", mask=_CROSS_MASK),
    ),
    "group_normalization": (
        lambda: nn.GroupNormalization(2, **F64),
        _x(2, 3, 4),
        lambda x, w, t: np_group_norm(x, w[0], w[1], 2),
    ),
    "group_normalization_instance_channels_first": (
        lambda: nn.GroupNormalization(-1, axis=1, epsilon=1e-5, **F64),
        _x(2, 3, 2, 2),
        lambda x, w, t: np_group_norm(x, w[0], w[1], -1, 1, 1e-5),
    ),
    "rms_normalization": (lambda: nn.RMSNormalization(**F64), _x(3, 5), lambda x, w, t: np_rms_norm(x, w[0])),
    "rms_normalization_two_axes": (
        lambda: nn.RMSNormalization(axis=[1, 2], epsilon=1e-3, **F64),
        _x(2, 3, 2),
        lambda x, w, t: np_rms_norm(x, w[0], (1, 2), 1e-3),
    ),
    "position_embedding": (
        lambda: nn.PositionEmbedding(5, **F64),
        _x(2, 3, 4),
        lambda x, w, t: np.broadcast_to(w[0][:3], x.shape),
    ),
    "sine_position_encoding": (
        lambda: nn.SinePositionEncoding(max_wavelength=100, **F64),
        _x(2, 6, 5),
        lambda x, w, t: np_sine_encoding(x.shape, 100),
    ),
}


@pytest.mark.parametrize("name", sorted(LAYER_CASES))
def test_layer_parity(name):
    make, x, reference = LAYER_CASES[name]

    def randomized():
        layer = make()
        layer(x)  # built; then every weight random (zero biases and ones would hide errors)
        rng = np.random.default_rng(5)
        layer.set_weights(
            [rng.normal(size=w.shape) * 0.7 + (1 if "gamma" in w.name else 0) for w in layer.weights]
        )
        return layer

    assert_layer_parity(randomized, x, reference=reference, rtol=1e-6, atol=1e-8)


@pytest.mark.needs("torch", "tensorflow")
def test_dropout_on_attention_is_seeded_alike_everywhere():
    x = _x(2, 4, 4)
    results = assert_layer_parity(
        lambda: Attend(num_heads=2, key_dim=3, dropout=0.5, seed=3, **F64),
        x,
        training=True,
        backends=["torch", "tensorflow"],
    )
    with br.use_backend("tensorflow"):
        br.random.seed(0)
        layer = Attend(num_heads=2, key_dim=3, dropout=0.5, seed=3, **F64)
        inference = layer(x).numpy()
    np.testing.assert_allclose(inference, _mha_reference("self")(x, layer.get_weights(), False), rtol=1e-12)
    assert not np.allclose(results["tensorflow"]["output"], inference), "dropout changed nothing"


def test_attention_scores_masks_and_keras_masks(backend):
    br.random.seed(1)
    query, value = _x(2, 3, 4), _x(2, 5, 4)
    value_mask = np.array([[1, 1, 0, 1, 0], [1, 1, 1, 1, 1]], bool)
    layer = nn.MultiHeadAttention(2, 3, **F64)
    out, scores = layer(query, value, attention_mask=_CROSS_MASK, return_attention_scores=True)
    assert scores.shape == (2, 2, 3, 5)
    expected = np_mha(query, value, value, layer.get_weights(), mask=_CROSS_MASK, scores=True)
    np.testing.assert_allclose(out.numpy(), expected[0], rtol=1e-10)
    np.testing.assert_allclose(scores.numpy(), expected[1], rtol=1e-10, atol=1e-14)
    # a value's Keras mask (set by Masking or Embedding(mask_zero=True)) joins the attention mask
    carried = br.tensor(value)
    carried._keras_mask = br.tensor(value_mask)
    both = _CROSS_MASK & value_mask[:, None, :]
    np.testing.assert_allclose(
        layer(query, carried, attention_mask=_CROSS_MASK).numpy(),
        np_mha(query, value, value, layer.get_weights(), mask=both),
        rtol=1e-10,
    )
    np.testing.assert_allclose(
        layer(query, value, value_mask=value_mask, attention_mask=_CROSS_MASK).numpy(),
        layer(query, carried, attention_mask=_CROSS_MASK).numpy(),
    )


def test_masks_from_an_embedding_flow_through_attention(backend):
    """``Embedding(mask_zero=True)`` masks the padded queries and keys, and the output carries
    the query's mask on, as in Keras."""
    ids = np.array([[3, 1, 0, 0], [2, 4, 1, 0]])
    present = ids != 0
    br.random.seed(4)
    embedded = nn.Embedding(5, 6, mask_zero=True)(ids)
    np.testing.assert_array_equal(embedded._keras_mask.numpy(), present)
    attention = nn.MultiHeadAttention(2, 3)
    out = attention(embedded, embedded)
    np.testing.assert_array_equal(out._keras_mask.numpy(), present)
    plain = br.tensor(embedded.numpy())
    expected = np_mha(
        plain.numpy(),
        plain.numpy(),
        plain.numpy(),
        attention.get_weights(),
        present[:, :, None] & present[:, None, :],
    )
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_half_precision_statistics_are_computed_in_float32(backend):
    """Squares of float16 inputs near 300 overflow float16 (max 65504): as Keras, the statistics
    are float32, the outputs float16."""
    x = (300 + _x(2, 3, 4)).astype(np.float16)
    wide = x.astype(np.float64)
    layers = {
        "rms": (nn.RMSNormalization(dtype="float16"), np_rms_norm(wide, np.ones(4))),
        "group": (nn.GroupNormalization(2, dtype="float16"), np_group_norm(wide, np.ones(4), np.zeros(4), 2)),
        "layer": (
            nn.LayerNormalization(dtype="float16"),
            (wide - wide.mean(-1, keepdims=True)) / np.sqrt(wide.var(-1, keepdims=True) + 1e-3),
        ),
    }
    for name, (layer, expected) in layers.items():
        out = layer(x).numpy()
        assert out.dtype == np.float16, name
        np.testing.assert_allclose(out.astype(np.float64), expected, rtol=2e-2, atol=2e-2, err_msg=name)


def test_position_layers_start_index(backend):
    x = _x(1, 2, 4)
    embedding = nn.PositionEmbedding(5, **F64)
    embedding(x)
    table = embedding.get_weights()[0]
    np.testing.assert_array_equal(embedding(x, start_index=3).numpy(), table[None, 3:5])
    np.testing.assert_allclose(
        nn.SinePositionEncoding(**F64)(x, start_index=7).numpy(),
        np_sine_encoding(x.shape, start=7),
        rtol=1e-12,
    )


# --- 3. against Keras 3's layers and ops, weights copied ---------------------------------------
def _weights(*shapes: tuple[int, ...]) -> list[np.ndarray]:
    return [(RNG.standard_normal(s) * 0.5).astype(np.float32) for s in shapes]


def _mha_weights(dim, heads, key_dim, value_dim, out, gate=False, key_features=None):
    shapes = [
        (dim, heads, key_dim),
        (heads, key_dim),
        (key_features or dim, heads, key_dim),
        (heads, key_dim),
    ]
    if gate:
        shapes += [(dim, heads, value_dim), (heads, value_dim)]
    shapes += [(dim, heads, value_dim), (heads, value_dim), (heads, value_dim, *out), out]
    return _weights(*shapes)


def _f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


KERAS_CASES: list[dict[str, Any]] = [
    {"kind": "sdpa", "args": [_f32(2, 3, 4, 5), _f32(2, 6, 2, 5), _f32(2, 6, 2, 5)], "kwargs": {}},
    {
        "kind": "sdpa",
        "args": [_f32(2, 3, 2, 4), _f32(2, 5, 2, 4), _f32(2, 5, 2, 4)],
        "kwargs": {"is_causal": True},
    },
    {
        "kind": "sdpa",
        "args": [_f32(2, 3, 4, 5), _f32(2, 6, 2, 5), _f32(2, 6, 2, 5)],
        "kwargs": {"mask": _MASK, "scale": 0.25},
    },
    {
        "kind": "sdpa",
        "args": [_f32(2, 3, 4, 5), _f32(2, 6, 4, 5), _f32(2, 6, 4, 5)],
        "kwargs": {"bias": _BIAS.astype(np.float32)},
    },
    {
        "kind": "mha",
        "kwargs": {"num_heads": 2, "key_dim": 3},
        "args": [_f32(2, 4, 6), _f32(2, 4, 6)],
        "call": {"return_attention_scores": True},
        "weights": _mha_weights(6, 2, 3, 3, (6,)),
    },
    {
        "kind": "mha",
        "kwargs": {"num_heads": 3, "key_dim": 2, "value_dim": 4, "output_shape": (2, 3), "use_gate": True},
        "args": [_f32(2, 3, 5), _f32(2, 6, 5)],
        "call": {"attention_mask": RNG.random((2, 3, 6)) > 0.3, "use_causal_mask": True},
        "weights": _mha_weights(5, 3, 2, 4, (2, 3), gate=True),
    },
    {
        "kind": "mha",
        "kwargs": {"num_heads": 2, "key_dim": 2, "use_bias": False},
        "args": [_f32(1, 3, 4), _f32(1, 5, 4), _f32(1, 5, 3)],
        "call": {"use_causal_mask": True},
        "weights": [w for i, w in enumerate(_mha_weights(4, 2, 2, 2, (4,), key_features=3)) if i % 2 == 0],
    },
    {
        "kind": "layer",
        "name": "GroupNormalization",
        "kwargs": {"groups": 2},
        "args": [_f32(2, 3, 6)],
        "weights": _weights((6,), (6,)),
    },
    {
        "kind": "layer",
        "name": "GroupNormalization",
        "kwargs": {"groups": -1, "axis": 1, "epsilon": 1e-5},
        "args": [_f32(2, 3, 4, 2)],
        "weights": _weights((3,), (3,)),
    },
    {
        "kind": "layer",
        "name": "RMSNormalization",
        "kwargs": {},
        "args": [_f32(2, 3, 6)],
        "weights": _weights((6,)),
    },
    {
        "kind": "layer",
        "name": "RMSNormalization",
        "kwargs": {"axis": [1, 2], "epsilon": 1e-3},
        "args": [_f32(2, 3, 4)],
        "weights": _weights((3, 4)),
    },
]

_KERAS_PROGRAM = r"""
import json, sys
import numpy as np
import keras

results = []
for case in json.load(sys.stdin):
    args = [np.asarray(a, np.float32) for a in case["args"]]
    kwargs = case["kwargs"]
    if "output_shape" in kwargs:
        kwargs["output_shape"] = tuple(kwargs["output_shape"])
    if case["kind"] == "sdpa":
        for k in ("mask", "bias"):
            if k in kwargs:
                kwargs[k] = np.asarray(kwargs[k], bool if k == "mask" else np.float32)
        out = [keras.ops.dot_product_attention(*args, **kwargs)]
    elif case["kind"] == "mha":
        layer = keras.layers.MultiHeadAttention(**kwargs)
        query, value, key = (args + [None])[:3]
        layer(query, value, key=key)
        dense = [layer.query_dense, layer.key_dense]
        dense += [layer._gate_dense] if kwargs.get("use_gate") else []
        dense += [layer.value_dense, layer.output_dense]
        weights = iter(case["weights"])
        for d in dense:
            d.kernel.assign(np.asarray(next(weights), np.float32))
            if kwargs.get("use_bias", True):
                d.bias.assign(np.asarray(next(weights), np.float32))
        call = dict(case["call"])
        if "attention_mask" in call:
            call["attention_mask"] = np.asarray(call["attention_mask"], bool)
        out = layer(query, value, key=key, **call)
        out = list(out) if isinstance(out, tuple) else [out]
    else:
        layer = getattr(keras.layers, case["name"])(**kwargs)
        layer(args[0])
        layer.set_weights([np.asarray(w, np.float32) for w in case["weights"]])
        out = [layer(args[0])]
    results.append([keras.ops.convert_to_numpy(o).tolist() for o in out])
print(json.dumps(results))
"""


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@pytest.fixture(scope="module")
def keras_outputs():
    """Every case's Keras outputs, from one Keras program (Keras on TensorFlow; Keras on torch
    agreed as closely when measured: docs/topics/attention.md)."""
    return keras_json(_KERAS_PROGRAM, backend="tensorflow", stdin=json.dumps(_plain(KERAS_CASES)))


def _ours(case: dict[str, Any]) -> list[np.ndarray]:
    args = [br.tensor(a) for a in case["args"]]
    if case["kind"] == "sdpa":
        return [br.ops.scaled_dot_product_attention(*args, **case["kwargs"]).numpy()]
    if case["kind"] == "mha":
        layer = nn.MultiHeadAttention(**case["kwargs"])
        query, value, key = (args + [None])[:3]
        layer(query, value, key)
        layer.set_weights(case["weights"])
        out = layer(query, value, key, **case["call"])
        return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]
    layer = getattr(nn, case["name"])(**case["kwargs"])
    layer(args[0])
    layer.set_weights(case["weights"])
    return [layer(args[0]).numpy()]


def _case_name(case: dict[str, Any]) -> str:
    return case.get("name", case["kind"])


@pytest.mark.needs("keras", "tensorflow")
@pytest.mark.slow  # Keras' import in its subprocess: 10-20 s on two busy cores
@pytest.mark.parametrize("index", range(len(KERAS_CASES)))
def test_against_keras_with_copied_weights(backend, keras_outputs, index):
    outputs = keras_outputs
    case = KERAS_CASES[index]
    ours, theirs = _ours(case), [np.asarray(o, np.float32) for o in outputs[index]]
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape and a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=NATIVE_ATOL, err_msg=_case_name(case))


# --- 4. against torch's own layers, weights copied ---------------------------------------------
@pytest.mark.needs("torch")
def test_multi_head_attention_against_torch(backend):
    """torch packs the q, k, v projections in ``in_proj_weight`` (3E, E), applied as ``x @ W.T``:
    Keras' (and bridge's) query kernel is ``W_q.T`` reshaped to (E, heads, E / heads); torch's
    ``attn_mask`` is True where attention is *not* allowed."""
    import torch

    torch.manual_seed(0)
    embed, heads = 6, 2
    native = torch.nn.MultiheadAttention(embed, heads, batch_first=True)
    with torch.no_grad():
        native.in_proj_bias.normal_()
        native.out_proj.bias.normal_()
    query, value = _f32(2, 3, embed), _f32(2, 5, embed)
    allowed = RNG.random((3, 5)) > 0.3
    allowed[:, 0] = True  # torch gives NaN to a query allowed no key
    expected, expected_scores = native(
        torch.from_numpy(query),
        torch.from_numpy(value),
        torch.from_numpy(value),
        attn_mask=torch.from_numpy(~allowed),
        average_attn_weights=False,
    )
    w, b = native.in_proj_weight.detach().numpy(), native.in_proj_bias.detach().numpy()
    size = embed // heads
    weights = []
    for i in range(3):
        weights += [
            w[i * embed : (i + 1) * embed].T.reshape(embed, heads, size),
            b[i * embed : (i + 1) * embed].reshape(heads, size),
        ]
    weights += [
        native.out_proj.weight.detach().numpy().T.reshape(heads, size, embed),
        native.out_proj.bias.detach().numpy(),
    ]
    layer = nn.MultiHeadAttention(heads, size)
    layer(query, value)
    layer.set_weights(weights)
    out, scores = layer(query, value, attention_mask=allowed[None], return_attention_scores=True)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-5, atol=NATIVE_ATOL)
    np.testing.assert_allclose(scores.numpy(), expected_scores.detach().numpy(), rtol=1e-5, atol=NATIVE_ATOL)


@pytest.mark.needs("torch")
def test_normalizations_against_torch(backend):
    """torch's GroupNorm is channels-first (bridge's ``axis=1``); its RMSNorm normalizes the
    trailing ``normalized_shape`` axes."""
    import torch

    x = _f32(2, 4, 3, 2)
    gamma, beta = _weights((4,), (4,))
    group = torch.nn.GroupNorm(2, 4, eps=1e-5)
    with torch.no_grad():
        group.weight.copy_(torch.from_numpy(gamma))
        group.bias.copy_(torch.from_numpy(beta))
    layer = nn.GroupNormalization(2, axis=1, epsilon=1e-5)
    layer(x)
    layer.set_weights([gamma, beta])
    expected = group(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=NATIVE_ATOL)

    (scale,) = _weights((3, 2))
    rms = torch.nn.RMSNorm((3, 2), eps=1e-6)
    with torch.no_grad():
        rms.weight.copy_(torch.from_numpy(scale))
    layer = nn.RMSNormalization(axis=(-2, -1))
    layer(x)
    layer.set_weights([scale])
    expected = rms(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=NATIVE_ATOL)


# --- 5. saving and loading across backends -----------------------------------------------------
@nn.register_serializable("test_layers_attention")
class SelfAttentionBlock(nn.Layer):
    """A causal self-attention with a residual connection and position information."""

    def __init__(self, num_heads: int = 2, key_dim: int = 3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_heads, self.key_dim = num_heads, key_dim
        self.attention = nn.MultiHeadAttention(num_heads, key_dim, dropout=0.1, seed=4, dtype=self.dtype)
        self.positions = nn.PositionEmbedding(8, dtype=self.dtype)
        self.sine = nn.SinePositionEncoding(dtype=self.dtype)

    def call(self, x, training=False):
        h = x + self.positions(x) + self.sine(x)
        return h + self.attention(h, h, use_causal_mask=True, training=training)


def _cross_attention_model() -> nn.Model:
    query, value = nn.Input((5, 4)), nn.Input((3, 4))
    attended = nn.MultiHeadAttention(2, 3, value_dim=2, use_gate=True)(query, value)
    return nn.Model([query, value], nn.RMSNormalization()(nn.GroupNormalization(2)(attended)))


def _saving_models() -> dict[str, Any]:
    return {
        "functional_cross_attention": _cross_attention_model,
        "attention_block": lambda: nn.Sequential(
            [nn.Dense(6), SelfAttentionBlock(), nn.GroupNormalization(3), nn.RMSNormalization(), nn.Dense(2)]
        ),
        "layers_alone": lambda: nn.Sequential(
            [
                nn.PositionEmbedding(5),
                nn.SinePositionEncoding(max_wavelength=50),
                nn.GroupNormalization(-1, axis=1, epsilon=1e-4, center=False),
                nn.RMSNormalization(axis=[1, 2], epsilon=1e-4),
            ]
        ),
    }


@pytest.mark.needs("torch", "tensorflow")
@pytest.mark.parametrize("source", ["torch", "tensorflow"])
@pytest.mark.parametrize("model_name", ["attention_block", "layers_alone", "functional_cross_attention"])
def test_save_on_one_backend_load_on_the_other(model_name, source, tmp_path):
    x = [_f32(3, 5, 4), _f32(3, 3, 4)] if model_name.startswith("functional") else _f32(3, 5, 4)
    path = tmp_path / "model.bridge"
    with br.use_backend(source):
        br.random.seed(2)
        model = _saving_models()[model_name]()
        model(x)
        rng = np.random.default_rng(0)
        model.set_weights([(rng.normal(size=w.shape) * 0.5).astype(np.float32) for w in model.weights])
        expected = model.predict(x, verbose=0)
        config = nn.serialize(model)
        model.save(path)
    target = "tensorflow" if source == "torch" else "torch"
    with br.use_backend(target):
        loaded = nn.load_model(path)
        assert json.dumps(nn.serialize(loaded)) == json.dumps(config)
        np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.needs("torch", "tensorflow")
@pytest.mark.slow  # ~4 s: two epochs on both backends (eager steps; compiled ones agree too)
def test_an_attention_model_trains_alike_on_both_backends():
    """SGD: with Adam, the key bias (whose exact gradient is zero: softmax ignores a constant
    added to a row of logits) would take full steps driven by rounding noise, in Keras too."""
    x, y = _f32(32, 5, 4), _f32(32, 5, 2)  # a target per step

    def build():
        model = _saving_models()["attention_block"]()
        model.compile(optimizer=br.optim.SGD(0.1), loss=br.losses.MeanSquaredError(), jit=False)
        return model

    histories = assert_training_parity(build, x, y, epochs=2, batch_size=16)
    assert histories["torch"].history["loss"][-1] < histories["torch"].history["loss"][0]


def test_configs_round_trip_with_every_argument(backend):
    layers = [
        nn.MultiHeadAttention(
            3,
            2,
            value_dim=4,
            dropout=0.2,
            use_bias=False,
            output_shape=(2, 2),
            attention_axes=1,
            sliding_window=3,
            kernel_initializer="he_normal",
            bias_initializer="ones",
            kernel_regularizer="l2",
            bias_regularizer="l1",
            use_gate=True,
            seed=9,
        ),
        nn.GroupNormalization(4, axis=1, epsilon=1e-4, center=False, scale=True, gamma_regularizer="l2"),
        nn.RMSNormalization(axis=[1, 2], epsilon=1e-4),
        nn.PositionEmbedding(7, initializer="zeros"),
        nn.SinePositionEncoding(max_wavelength=77),
    ]
    for layer in layers:
        config = layer.get_config()
        rebuilt = nn.deserialize(json.loads(json.dumps(nn.serialize(layer))))
        assert type(rebuilt) is type(layer) and json.dumps(rebuilt.get_config()) == json.dumps(config)
    assert layers[0].get_config()["output_shape"] == (2, 2) and layers[0].get_config()["sliding_window"] == 3


# --- 6. errors ---------------------------------------------------------------------------------
BAD_ARGUMENTS = [
    (lambda: nn.MultiHeadAttention(0, 2), br.InvalidArgumentError, "num_heads must be >= 1"),
    (lambda: nn.MultiHeadAttention(2, 2.5), br.ArgumentTypeError, "key_dim must be an int"),
    (lambda: nn.MultiHeadAttention(2, 2, value_dim=0), br.InvalidArgumentError, "value_dim must be >= 1"),
    (
        lambda: nn.MultiHeadAttention(2, 2, dropout=1.5),
        br.InvalidArgumentError,
        r"dropout must be a float in \[0, 1\]",
    ),
    (lambda: nn.MultiHeadAttention(2, 2, attention_axes=(1, 2)), br.InvalidArgumentError, "only the default"),
    (
        lambda: nn.MultiHeadAttention(2, 2, output_shape="x"),
        br.ArgumentTypeError,
        "output_shape must be an int",
    ),
    (lambda: nn.GroupNormalization(0), br.InvalidArgumentError, "groups must be positive or -1"),
    (lambda: nn.GroupNormalization(2.5), br.ArgumentTypeError, "groups must be an int"),
    (lambda: nn.GroupNormalization(2, axis=(1, 2)), br.ArgumentTypeError, "axis must be an int"),
    (lambda: nn.RMSNormalization(epsilon=-1.0), br.InvalidArgumentError, "epsilon must be a number >= 0"),
    (lambda: nn.PositionEmbedding(0), br.InvalidArgumentError, "sequence_length must be >= 1"),
    (lambda: nn.PositionEmbedding(None), br.ArgumentTypeError, "sequence_length must be an int"),
    (lambda: nn.SinePositionEncoding(0), br.InvalidArgumentError, "max_wavelength must be a positive number"),
]


@pytest.mark.parametrize("index", range(len(BAD_ARGUMENTS)))
def test_bad_arguments(index):
    make, error, message = BAD_ARGUMENTS[index]
    with pytest.raises(error, match=message):
        make()


def test_bad_inputs(backend):
    x3, x2 = _f32(2, 4, 6), _f32(2, 6)
    attention = nn.MultiHeadAttention(2, 3, name="mha")
    with pytest.raises(br.ShapeError, match=r"mha: MultiHeadAttention takes 3-D.*query \(2, 6\)"):
        attention(x2, x2)
    with pytest.raises(br.ShapeError, match=r"mha: value and key need the same length"):
        attention(x3, x3, x3[:, :2])
    with pytest.raises(
        br.ShapeError, match=r"mha: attention_mask of shape \(4, 3\) does not broadcast to \(2, 4, 4\)"
    ):
        attention(x3, x3, attention_mask=np.ones((4, 3), bool))
    attention(x3, x3)
    with pytest.raises(br.ShapeError, match=r"mha: MultiHeadAttention was built for .* \(6, 6, 6\)"):
        attention(x3[..., :5], x3)
    with pytest.raises(br.ArgumentTypeError, match="mha: MultiHeadAttention takes floating"):
        attention(x3, np.ones((2, 4, 6), np.int64))

    with pytest.raises(
        br.ShapeError, match=r"gn \(GroupNormalization\): groups=4 must divide the 6 channels .* \(2, 4, 6\)"
    ):
        nn.GroupNormalization(4, name="gn")(x3)
    with pytest.raises(
        br.ShapeError, match=r"gn2 \(GroupNormalization\): groups=8 must divide the 6 channels"
    ):
        nn.GroupNormalization(8, name="gn2")(x3)
    with pytest.raises(
        br.InvalidArgumentError, match=r"gn3 \(GroupNormalization\): axis 0 is the batch axis"
    ):
        nn.GroupNormalization(2, axis=0, name="gn3")(x3)
    with pytest.raises(br.ShapeError, match=r"needs inputs of rank >= 2"):
        nn.GroupNormalization(2)(np.ones(6, np.float32))
    group = nn.GroupNormalization(2, name="gn4")
    group(x3)
    with pytest.raises(br.ShapeError, match=r"gn4: GroupNormalization was built for sizes \(6,\)"):
        group(x3[..., :4])

    rms = nn.RMSNormalization(name="rms")
    rms(x3)
    with pytest.raises(br.ShapeError, match=r"rms: RMSNormalization was built for sizes \(6,\)"):
        rms(x3[..., :4])
    with pytest.raises(br.AxisError, match="axis 3 is out of bounds"):
        nn.RMSNormalization(axis=3)(x3)

    positions = nn.PositionEmbedding(3, name="pe")
    with pytest.raises(br.ShapeError, match=r"pe: PositionEmbedding holds 3 positions .* \(2, 4, 6\)"):
        positions(x3)
    with pytest.raises(br.InvalidArgumentError, match="pe: start_index must be >= 0"):
        positions(x3[:, :2], start_index=-1)
    with pytest.raises(br.ShapeError, match=r"PositionEmbedding needs inputs of rank >= 2"):
        nn.PositionEmbedding(3)(np.ones(3, np.float32))
    with pytest.raises(br.ShapeError, match=r"SinePositionEncoding needs inputs of rank >= 2"):
        nn.SinePositionEncoding()(np.ones(3, np.float32))
