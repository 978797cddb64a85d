"""The convolution and pooling layers (issue 12): every one against a NumPy float64 reference
(outputs, input and weight gradients, across backends), against Keras 3's own layer with the same
weights (one Keras program per Keras backend), against torch's own module with the weights
mapped to its layout, through a file across backends, and with bad arguments and inputs."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

import bridge as br
from bridge import nn
from bridge.serialization import deserialize, serialize
from bridge.testing import assert_layer_parity
from bridge.testing import references as ref

from .keras_reference import keras_json

pytestmark = pytest.mark.bridge_requires("autodiff", "variables")

RNG = np.random.default_rng(12)
F64 = {"dtype": "float64"}


def _x(*shape):
    return RNG.standard_normal(shape)


# --- NumPy references: channels_last, channels_first by transposing around them --------------
def _last(x, fmt):
    return x if fmt == "channels_last" else np.moveaxis(x, 1, -1)


def _back(y, fmt):
    return y if fmt == "channels_last" else np.moveaxis(y, -1, 1)


def _pads(padding, spatial, window, strides, dilation):
    spans = [(k - 1) * d + 1 for k, d in zip(window, dilation)]
    if padding == "causal":
        return [(spans[0] - 1, 0)]
    if padding == "valid":
        return [(0, 0)] * len(spatial)
    return [ref.same_padding(n, span, s) for n, span, s in zip(spatial, spans, strides)]


def _conv(x, kernel, strides, padding, dilation, groups=1, fmt="channels_last"):
    x = _last(x, fmt)
    pads = _pads(padding, x.shape[1:-1], kernel.shape[:-2], strides, dilation)
    return _back(ref.conv(x, kernel, strides, pads, dilation, groups), fmt)


def _depthwise(x, kernel, strides, padding, dilation, fmt="channels_last"):
    """Channel ``c`` with its own filters ``kernel[..., c, m]``, output channel ``c * M + m``."""
    x = _last(x, fmt)
    channels, multiplier = kernel.shape[-2:]
    pieces = [
        _conv(x[..., c : c + 1], kernel[..., c : c + 1, m : m + 1], strides, padding, dilation)
        for c in range(channels)
        for m in range(multiplier)
    ]
    return _back(np.concatenate(pieces, axis=-1), fmt)


def _pool(x, window, strides, padding, reduce, fmt="channels_last"):
    x = _last(x, fmt)
    pads = _pads(padding, x.shape[1:-1], window, strides, (1,) * len(window))
    return _back(ref.pool(x, window, strides, pads, reduce), fmt)


def _bias(y, bias, fmt="channels_last"):
    return y + (bias if fmt == "channels_last" else bias.reshape(-1, *(1,) * (y.ndim - 2)))


CF = "channels_first"

# name: (make_layer, input, reference(x, weights, training))
CASES = {
    "conv1d_causal_dilated": (
        lambda: nn.Conv1D(3, 3, padding="causal", dilation_rate=2, activation="tanh", **F64),
        _x(2, 7, 2),
        lambda x, w, t: np.tanh(_conv(x, w[0], (1,), "causal", (2,)) + w[1]),
    ),
    "conv1d_groups_channels_first": (
        lambda: nn.Conv1D(4, 2, strides=2, groups=2, data_format=CF, bias_initializer="ones", **F64),
        _x(2, 4, 7),
        lambda x, w, t: _bias(_conv(x, w[0], (2,), "valid", (1,), 2, CF), w[1], CF),
    ),
    "conv2d_groups_same": (
        lambda: nn.Conv2D(4, (2, 3), strides=(2, 1), padding="same", groups=2, **F64),
        _x(1, 5, 4, 4),
        lambda x, w, t: _conv(x, w[0], (2, 1), "same", (1, 1), 2) + w[1],
    ),
    "conv3d_same": (
        lambda: nn.Conv3D(2, (2, 1, 2), padding="same", use_bias=False, **F64),
        _x(1, 3, 3, 3, 2),
        lambda x, w, t: _conv(x, w[0], (1, 1, 1), "same", (1, 1, 1)),
    ),
    "conv1d_transpose_same": (
        lambda: nn.Conv1DTranspose(2, 3, strides=2, padding="same", **F64),
        _x(2, 4, 3),
        lambda x, w, t: ref.conv_transpose(x, w[0], (2,), "same", (None,), (1,)) + w[1],
    ),
    "conv2d_transpose_output_padding": (
        lambda: nn.Conv2DTranspose(2, (3, 2), strides=(2, 3), output_padding=(1, 0), data_format=CF, **F64),
        _x(1, 2, 3, 3),
        lambda x, w, t: _bias(
            _back(ref.conv_transpose(_last(x, CF), w[0], (2, 3), "valid", (1, 0), (1, 1)), CF), w[1], CF
        ),
    ),
    "conv3d_transpose": (
        lambda: nn.Conv3DTranspose(2, 2, strides=(1, 2, 1), dilation_rate=1, **F64),
        _x(1, 2, 2, 2, 2),
        lambda x, w, t: ref.conv_transpose(x, w[0], (1, 2, 1), "valid", (None,) * 3, (1, 1, 1)) + w[1],
    ),
    "depthwise_conv1d_same": (
        lambda: nn.DepthwiseConv1D(3, depth_multiplier=2, padding="same", **F64),
        _x(2, 5, 2),
        lambda x, w, t: _depthwise(x, w[0], (1,), "same", (1,)) + w[1],
    ),
    "depthwise_conv2d_strided": (
        lambda: nn.DepthwiseConv2D((2, 3), strides=2, depth_multiplier=2, activation="tanh", **F64),
        _x(1, 5, 5, 2),
        lambda x, w, t: np.tanh(_depthwise(x, w[0], (2, 2), "valid", (1, 1)) + w[1]),
    ),
    # strides TensorFlow's depthwise kernel refuses (unequal; with dilation): strided after it
    "depthwise_conv2d_unequal_strides": (
        lambda: nn.DepthwiseConv2D(2, strides=(1, 2), **F64),
        _x(1, 4, 5, 2),
        lambda x, w, t: _depthwise(x, w[0], (1, 2), "valid", (1, 1)) + w[1],
    ),
    "depthwise_conv1d_strided_dilated": (
        lambda: nn.DepthwiseConv1D(2, strides=2, dilation_rate=2, **F64),
        _x(2, 7, 2),
        lambda x, w, t: _depthwise(x, w[0], (2,), "valid", (2,)) + w[1],
    ),
    "separable_conv1d_channels_first": (
        lambda: nn.SeparableConv1D(3, 3, padding="same", depth_multiplier=2, data_format=CF, **F64),
        _x(2, 2, 5),
        lambda x, w, t: _bias(
            _back(_depthwise(_last(x, CF), w[0], (1,), "same", (1,)) @ w[1][0], CF), w[2], CF
        ),
    ),
    "separable_conv2d_strided_same": (
        lambda: nn.SeparableConv2D(3, 2, strides=2, padding="same", **F64),
        _x(1, 5, 4, 2),
        lambda x, w, t: _depthwise(x, w[0], (2, 2), "same", (1, 1)) @ w[1][0, 0] + w[2],
    ),
    "max_pool1d": (
        lambda: nn.MaxPooling1D(2, **F64),
        _x(2, 5, 3),
        lambda x, w, t: _pool(x, (2,), (2,), "valid", np.max),
    ),
    "avg_pool1d_same": (
        lambda: nn.AveragePooling1D(3, strides=2, padding="same", **F64),
        _x(2, 6, 2),
        lambda x, w, t: _pool(x, (3,), (2,), "same", np.mean),
    ),
    "max_pool3d_same": (
        lambda: nn.MaxPooling3D(2, padding="same", **F64),
        _x(1, 3, 3, 3, 2),
        lambda x, w, t: _pool(x, (2, 2, 2), (2, 2, 2), "same", np.max),
    ),
    "avg_pool3d_channels_first": (
        lambda: nn.AveragePooling3D((2, 1, 2), strides=1, data_format=CF, **F64),
        _x(1, 2, 3, 2, 3),
        lambda x, w, t: _pool(x, (2, 1, 2), (1, 1, 1), "valid", np.mean, CF),
    ),
    "global_average_pooling1d_keepdims": (
        lambda: nn.GlobalAveragePooling1D(keepdims=True, **F64),
        _x(2, 4, 3),
        lambda x, w, t: x.mean(axis=1, keepdims=True),
    ),
    "global_max_pooling1d": (lambda: nn.GlobalMaxPooling1D(**F64), _x(2, 4, 3), lambda x, w, t: x.max(1)),
    "global_max_pooling2d_channels_first": (
        lambda: nn.GlobalMaxPooling2D(data_format=CF, **F64),
        _x(2, 3, 2, 4),
        lambda x, w, t: x.max(axis=(2, 3)),
    ),
    "global_average_pooling3d": (
        lambda: nn.GlobalAveragePooling3D(**F64),
        _x(2, 2, 3, 2, 3),
        lambda x, w, t: x.mean(axis=(1, 2, 3)),
    ),
    "global_max_pooling3d_keepdims": (
        lambda: nn.GlobalMaxPooling3D(keepdims=True, **F64),
        _x(1, 2, 2, 3, 2),
        lambda x, w, t: x.max(axis=(1, 2, 3), keepdims=True),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_parity(name):
    make, x, reference = CASES[name]
    assert_layer_parity(make, x, reference=reference, rtol=1e-6, atol=1e-7)


def test_masked_global_average_pooling1d_averages_the_unmasked_steps(backend):
    x = _x(2, 4, 3)
    mask = np.array([[True, False, True, True], [False, False, True, False]])
    for fmt, data in (("channels_last", x), (CF, x.transpose(0, 2, 1))):
        out = nn.GlobalAveragePooling1D(data_format=fmt, **F64)(data, mask=mask).numpy()
        expected = np.stack([x[i][mask[i]].mean(axis=0) for i in range(2)])
        np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_global_average_pooling1d_takes_the_mask_its_input_carries(backend):
    """Embedding(mask_zero=True) masks the padding ids; the pooled mean leaves them out, and
    passes no mask on (as Keras)."""
    ids = np.array([[1, 2, 0, 0], [3, 0, 0, 0]])
    embedding = nn.Embedding(5, 3, mask_zero=True)
    pooled = nn.GlobalAveragePooling1D()(embedding(ids))
    table = embedding.embeddings.numpy()
    np.testing.assert_allclose(pooled.numpy(), [table[[1, 2]].mean(0), table[3]], rtol=1e-6)
    assert getattr(pooled, "_keras_mask", None) is None


# --- against Keras 3, the same weights ----------------------------------------------------------
# (layer, kwargs, input shape, mask); float32, the weights drawn here and given to both
KERAS_CASES = [
    ("Conv1D", {"filters": 4, "kernel_size": 4, "padding": "same", "groups": 2}, (2, 7, 4), None),
    ("Conv1D", {"filters": 3, "kernel_size": 3, "padding": "causal", "dilation_rate": 2}, (2, 7, 2), None),
    ("Conv1D", {"filters": 2, "kernel_size": 2, "strides": 2, "data_format": CF}, (2, 3, 7), None),
    (
        "Conv2D",
        {"filters": 4, "kernel_size": (2, 3), "strides": 2, "padding": "same", "groups": 2},
        (1, 6, 5, 2),
        None,
    ),
    (
        "Conv3D",
        {"filters": 2, "kernel_size": 2, "strides": (1, 2, 2), "padding": "same"},
        (1, 3, 4, 5, 2),
        None,
    ),
    ("Conv1DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}, (2, 4, 3), None),
    (
        "Conv2DTranspose",
        {"filters": 2, "kernel_size": (4, 3), "strides": (2, 3), "padding": "same", "data_format": CF},
        (1, 2, 3, 4),
        None,
    ),
    (
        "Conv2DTranspose",
        {"filters": 3, "kernel_size": 3, "strides": 2, "output_padding": 1},
        (1, 3, 3, 2),
        None,
    ),
    (
        "Conv3DTranspose",
        {"filters": 2, "kernel_size": 2, "strides": 2, "padding": "same"},
        (1, 2, 3, 2, 2),
        None,
    ),
    ("DepthwiseConv1D", {"kernel_size": 3, "depth_multiplier": 2, "padding": "same"}, (2, 6, 3), None),
    ("DepthwiseConv2D", {"kernel_size": (3, 2), "strides": 2, "depth_multiplier": 3}, (1, 6, 5, 2), None),
    ("DepthwiseConv2D", {"kernel_size": 2, "dilation_rate": 2, "data_format": CF}, (1, 2, 5, 5), None),
    ("SeparableConv1D", {"filters": 4, "kernel_size": 2, "strides": 2, "padding": "same"}, (2, 7, 3), None),
    (
        "SeparableConv2D",
        {"filters": 3, "kernel_size": 3, "padding": "same", "depth_multiplier": 2},
        (1, 5, 4, 2),
        None,
    ),
    ("MaxPooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}, (2, 6, 3), None),
    ("AveragePooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}, (2, 6, 3), None),
    ("MaxPooling3D", {"pool_size": 2, "padding": "same"}, (1, 3, 3, 3, 2), None),
    ("AveragePooling3D", {"pool_size": (2, 2, 1), "strides": 1, "data_format": CF}, (1, 2, 3, 3, 2), None),
    ("GlobalMaxPooling1D", {}, (2, 4, 3), None),
    ("GlobalAveragePooling1D", {"data_format": CF}, (2, 3, 4), None),
    ("GlobalAveragePooling1D", {}, (2, 4, 3), [[True, False, True, True], [False, True, False, False]]),
    ("GlobalMaxPooling2D", {"keepdims": True}, (2, 3, 2, 4), None),
    ("GlobalAveragePooling3D", {"keepdims": True, "data_format": CF}, (1, 2, 2, 3, 2), None),
    ("GlobalMaxPooling3D", {}, (1, 2, 2, 3, 2), None),
]


def _keras_inputs():
    """Each case's input and weights (drawn once, float32), from a bridge layer's weight shapes."""
    rng = np.random.default_rng(5)
    cases = []
    for name, kwargs, shape, mask in KERAS_CASES:
        x = rng.standard_normal(shape).astype(np.float32)
        layer = getattr(nn, name)(**kwargs)
        layer(x)
        weights = [rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in layer.weights]
        cases.append((name, kwargs, x, weights, mask))
    return cases


_KERAS_RUNNER = """
import json, sys
import numpy as np
import keras

results = []
for name, kwargs, x, weights, mask in json.load(sys.stdin):
    x = np.asarray(x, np.float32)
    layer = getattr(keras.layers, name)(**kwargs)
    layer.build(x.shape)
    layer.set_weights([np.asarray(w, np.float32) for w in weights])
    y = layer(x) if mask is None else layer(x, mask=np.asarray(mask))
    results.append(keras.ops.convert_to_numpy(y).tolist())
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def keras_outputs():
    """Keras' outputs (its tensorflow backend: its torch backend pads "same" average pooling by
    replicating the edge, see docs/topics/convolutions.md)."""
    cases = _keras_inputs()
    stdin = json.dumps(
        [[name, kwargs, x.tolist(), [w.tolist() for w in ws], mask] for name, kwargs, x, ws, mask in cases]
    )
    return cases, [np.asarray(y) for y in keras_json(_KERAS_RUNNER, "tensorflow", stdin)]


def keras_differences(cases, outputs):
    """Per case, our output on the current backend and its largest difference from Keras'."""
    found = []
    for (name, kwargs, x, weights, mask), expected in zip(cases, outputs):
        layer = getattr(nn, name)(**kwargs)
        layer(x[:1])
        layer.set_weights(weights)
        ours = (layer(x) if mask is None else layer(x, mask=np.asarray(mask))).numpy()
        assert ours.shape == expected.shape, f"{name} {kwargs}: {ours.shape} != Keras' {expected.shape}"
        found.append(float(np.max(np.abs(ours - expected))))
    return found


@pytest.mark.slow
@pytest.mark.needs("keras", "tensorflow")
def test_layers_match_keras_with_the_same_weights(backend, keras_outputs):
    cases, outputs = keras_outputs
    differences = keras_differences(cases, outputs)
    worst = max(range(len(cases)), key=lambda i: differences[i])
    assert differences[worst] < 1e-5, f"{KERAS_CASES[worst][:2]}: {differences[worst]}"


# --- against torch's own modules, the weights mapped to torch's layout ----------------------------
def _torch_kernel(kernel):
    """Keras' ``(*window, in / groups, out)`` as torch's ``(out, in / groups, *window)``; a
    transposed kernel ``(*window, out, in)`` becomes torch's ``(in, out, *window)`` the same way."""
    rank = kernel.ndim - 2
    return np.ascontiguousarray(kernel.transpose(rank + 1, rank, *range(rank)))


def _depthwise_torch_kernel(kernel):
    """Keras' depthwise ``(*window, C, M)``: torch's grouped ``(C * M, 1, *window)``."""
    window, (channels, multiplier) = kernel.shape[:-2], kernel.shape[-2:]
    return _torch_kernel(kernel.reshape(*window, 1, channels * multiplier))


def _torch_cases(torch):
    """(bridge layer, torch module, input shape channels_last, weights for torch from ours)."""
    F = torch.nn.functional

    class Padded(torch.nn.Module):
        """Keras' asymmetric "same" (the odd pad after) as F.pad before a torch conv."""

        def __init__(self, pads, conv):
            super().__init__()
            self.pads, self.conv = pads, conv

        def forward(self, x):
            return self.conv(F.pad(x, self.pads))

    conv = lambda w: {"weight": _torch_kernel(w[0]), "bias": w[1]}  # noqa: E731
    return {
        # torch's own "same" (stride 1 only) puts the odd pad after, as Keras
        "Conv1D same": (
            nn.Conv1D(4, 4, padding="same", groups=2),
            torch.nn.Conv1d(4, 4, 4, padding="same", groups=2),
            (2, 9, 4),
            conv,
        ),
        # stride 2: Keras pads (0, 1) here, torch's symmetric padding=1 would give other numbers
        "Conv2D same strided": (
            nn.Conv2D(3, 2, strides=2, padding="same"),
            Padded((0, 1, 0, 1), torch.nn.Conv2d(2, 3, 2, stride=2)),
            (2, 5, 5, 2),
            lambda w: {"conv.weight": _torch_kernel(w[0]), "conv.bias": w[1]},
        ),
        # strides and dilation together: computed as torch does (Keras refuses it)
        "Conv2D strides+dilation": (
            nn.Conv2D(2, 2, strides=2, dilation_rate=2),
            torch.nn.Conv2d(3, 2, 2, stride=2, dilation=2),
            (1, 7, 6, 3),
            conv,
        ),
        "Conv3D": (
            nn.Conv3D(2, (1, 2, 3), groups=2),
            torch.nn.Conv3d(4, 2, (1, 2, 3), groups=2),
            (1, 3, 4, 5, 4),
            conv,
        ),
        "Conv1DTranspose": (
            nn.Conv1DTranspose(3, 3, strides=2, output_padding=1),
            torch.nn.ConvTranspose1d(2, 3, 3, stride=2, output_padding=1),
            (2, 4, 2),
            conv,
        ),
        "Conv2DTranspose": (
            nn.Conv2DTranspose(2, (3, 2), strides=(2, 1), dilation_rate=1),
            torch.nn.ConvTranspose2d(3, 2, (3, 2), stride=(2, 1)),
            (1, 3, 4, 3),
            conv,
        ),
        "Conv3DTranspose": (
            nn.Conv3DTranspose(2, 2, strides=2),
            torch.nn.ConvTranspose3d(2, 2, 2, stride=2),
            (1, 2, 2, 3, 2),
            conv,
        ),
        "DepthwiseConv1D": (
            nn.DepthwiseConv1D(3, depth_multiplier=2),
            torch.nn.Conv1d(3, 6, 3, groups=3),
            (2, 6, 3),
            lambda w: {"weight": _depthwise_torch_kernel(w[0]), "bias": w[1]},
        ),
        "DepthwiseConv2D": (
            nn.DepthwiseConv2D(2, depth_multiplier=3, dilation_rate=(1, 2)),
            torch.nn.Conv2d(2, 6, 2, groups=2, dilation=(1, 2)),
            (1, 5, 6, 2),
            lambda w: {"weight": _depthwise_torch_kernel(w[0]), "bias": w[1]},
        ),
        "SeparableConv1D": (
            nn.SeparableConv1D(4, 3, strides=2, depth_multiplier=2),
            torch.nn.Sequential(
                torch.nn.Conv1d(2, 4, 3, stride=2, groups=2, bias=False), torch.nn.Conv1d(4, 4, 1)
            ),
            (2, 7, 2),
            lambda w: {
                "0.weight": _depthwise_torch_kernel(w[0]),
                "1.weight": _torch_kernel(w[1]),
                "1.bias": w[2],
            },
        ),
        "SeparableConv2D": (
            nn.SeparableConv2D(3, 2),
            torch.nn.Sequential(torch.nn.Conv2d(2, 2, 2, groups=2, bias=False), torch.nn.Conv2d(2, 3, 1)),
            (1, 4, 5, 2),
            lambda w: {
                "0.weight": _depthwise_torch_kernel(w[0]),
                "1.weight": _torch_kernel(w[1]),
                "1.bias": w[2],
            },
        ),
        "MaxPooling1D": (nn.MaxPooling1D(3, strides=2), torch.nn.MaxPool1d(3, stride=2), (2, 8, 3), None),
        "AveragePooling1D": (nn.AveragePooling1D(2), torch.nn.AvgPool1d(2), (2, 7, 3), None),
        "MaxPooling3D": (nn.MaxPooling3D((1, 2, 2)), torch.nn.MaxPool3d((1, 2, 2)), (1, 2, 4, 5, 2), None),
        "AveragePooling3D": (
            nn.AveragePooling3D(2, strides=1),
            torch.nn.AvgPool3d(2, stride=1),
            (1, 3, 3, 3, 2),
            None,
        ),
        "GlobalAveragePooling1D": (
            nn.GlobalAveragePooling1D(),
            torch.nn.AdaptiveAvgPool1d(1),
            (2, 5, 3),
            None,
        ),
        "GlobalMaxPooling1D": (nn.GlobalMaxPooling1D(), torch.nn.AdaptiveMaxPool1d(1), (2, 5, 3), None),
        "GlobalMaxPooling2D": (nn.GlobalMaxPooling2D(), torch.nn.AdaptiveMaxPool2d(1), (2, 3, 4, 3), None),
        "GlobalAveragePooling3D": (
            nn.GlobalAveragePooling3D(),
            torch.nn.AdaptiveAvgPool3d(1),
            (1, 2, 3, 2, 3),
            None,
        ),
        "GlobalMaxPooling3D": (nn.GlobalMaxPooling3D(), torch.nn.AdaptiveMaxPool3d(1), (1, 2, 3, 2, 3), None),
    }


def torch_differences():
    """Per case, the largest difference between our layer (current backend) and torch's module."""
    import torch

    rng = np.random.default_rng(8)
    found = {}
    for name, (ours, module, shape, mapping) in _torch_cases(torch).items():
        x = rng.standard_normal(shape).astype(np.float32)
        ours(x[:1])
        weights = [rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in ours.weights]
        ours.set_weights(weights)
        if mapping is not None:
            module.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in mapping(weights).items()})
        with torch.no_grad():
            native = module(torch.from_numpy(np.moveaxis(x, -1, 1).copy())).numpy()
        expected = np.moveaxis(native, 1, -1)
        actual = ours(x).numpy()
        if expected.ndim > actual.ndim:  # torch's adaptive pooling keeps 1-long spatial axes
            expected = expected.reshape(actual.shape)
        assert actual.shape == expected.shape, f"{name}: {actual.shape} != torch's {expected.shape}"
        found[name] = float(np.max(np.abs(actual - expected)))
    return found


@pytest.mark.needs("torch")
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
def test_layers_match_torch_modules_with_mapped_weights(backend):
    differences = torch_differences()
    worst = max(differences, key=differences.get)
    assert differences[worst] < 1e-5, f"{worst}: {differences[worst]}"


# --- saving and loading across backends ------------------------------------------------------------
def _stacks():
    return {
        "1d": (
            [
                nn.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="relu"),
                nn.DepthwiseConv1D(2, depth_multiplier=2, padding="same"),
                nn.SeparableConv1D(4, 3, padding="same", depthwise_regularizer="l2"),
                nn.MaxPooling1D(2, padding="same"),
                nn.Conv1DTranspose(3, 3, strides=2, padding="same"),
                nn.AveragePooling1D(2, strides=1),
                nn.GlobalMaxPooling1D(),
            ],
            (4, 9, 2),
        ),
        "2d": (
            [
                nn.Conv2D(4, 2, groups=2, data_format=CF),
                nn.DepthwiseConv2D(2, padding="same", data_format=CF),
                nn.SeparableConv2D(3, 2, strides=2, data_format=CF),
                nn.Conv2DTranspose(2, 3, strides=2, output_padding=1, data_format=CF),
                nn.GlobalMaxPooling2D(data_format=CF, keepdims=True),
                nn.Flatten(),
            ],
            (4, 2, 7, 6),
        ),
        "3d": (
            [
                nn.Conv3D(3, 2, padding="same", kernel_regularizer="l2"),
                nn.MaxPooling3D(2),
                nn.Conv3DTranspose(2, (2, 1, 2), strides=(2, 1, 1)),
                nn.AveragePooling3D((2, 1, 1), padding="same"),
                nn.GlobalAveragePooling3D(),
            ],
            (2, 4, 4, 5, 2),
        ),
    }


@pytest.mark.needs("torch", "tensorflow")
@pytest.mark.parametrize("source", ["torch", "tensorflow"])
def test_models_round_trip_across_backends(source, tmp_path):
    rng = np.random.default_rng(4)
    for case, (layers, shape) in _stacks().items():
        x = rng.standard_normal(shape).astype(np.float32)
        path = tmp_path / f"{case}.bridge"
        with br.use_backend(source):
            model = nn.Sequential(layers)
            model(x[:1])
            model.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in model.weights])
            expected, config = model(x).numpy(), json.dumps(serialize(model))
            model.save(path)
        target = "tensorflow" if source == "torch" else "torch"
        with br.use_backend(target):
            loaded = nn.load_model(path)
            assert json.dumps(serialize(loaded)) == config
            np.testing.assert_allclose(loaded(x).numpy(), expected, rtol=1e-5, atol=1e-5)


# --- configuration ------------------------------------------------------------------------------------
CONFIGURED = [
    nn.Conv1D(2, 3, 2, "causal", None, 1, 2, "relu", use_bias=False, kernel_regularizer="l1", name="c"),
    nn.Conv3D(4, (1, 2, 3), padding="SAME", data_format=CF, dilation_rate=2, groups=4),
    nn.Conv1DTranspose(2, 3, 2, "same", 1, CF, 1, "tanh", bias_initializer="ones"),
    nn.Conv2DTranspose(3, (2, 3), (1, 2), dilation_rate=(2, 1), kernel_initializer="he_normal"),
    nn.Conv3DTranspose(2, 2, 2, "valid", CF, (1, 0, 1)),
    nn.DepthwiseConv1D(3, 2, "same", 3, CF, 1, "relu", False, "he_uniform", "ones", "l2", "l1"),
    nn.DepthwiseConv2D((2, 3), depth_multiplier=2, dilation_rate=(1, 2)),
    nn.SeparableConv1D(
        3, 2, 1, "same", None, 2, 2, pointwise_initializer="zeros", pointwise_regularizer="l2"
    ),
    nn.SeparableConv2D(4, 3, data_format=CF, depthwise_regularizer="l1", bias_regularizer="l2"),
    nn.MaxPooling1D(3, 1, "same", CF),
    nn.AveragePooling1D(2),
    nn.MaxPooling3D((1, 2, 2), strides=(1, 1, 2)),
    nn.AveragePooling3D(2, padding="same", data_format=CF),
    nn.GlobalAveragePooling1D(CF, keepdims=True),
    nn.GlobalAveragePooling3D(),
    nn.GlobalMaxPooling1D(keepdims=True),
    nn.GlobalMaxPooling2D(CF),
    nn.GlobalMaxPooling3D(keepdims=True),
]


@pytest.mark.parametrize("layer", CONFIGURED, ids=lambda layer: type(layer).__name__)
def test_config_holds_every_argument_and_rebuilds_the_layer(layer):
    config = serialize(layer)["config"]
    arguments = set(inspect.signature(type(layer).__init__).parameters) - {"self", "kwargs"}
    assert arguments <= set(config), arguments - set(config)
    text = json.dumps(serialize(layer))
    again = deserialize(json.loads(text))
    assert type(again) is type(layer) and json.dumps(serialize(again)) == text


def test_keras_defaults_and_standardized_arguments():
    layer = nn.Conv2D(2, 3, padding="Same")
    assert (layer.padding, layer.data_format, layer.strides, layer.groups) == (
        "same",
        "channels_last",
        (1, 1),
        1,
    )
    assert nn.Conv3DTranspose(2, 2, 2, "valid", CF, 1).output_padding == (1, 1, 1)  # Keras' order
    assert nn.MaxPooling1D().pool_size == (2,) and nn.MaxPooling1D is nn.MaxPool1D
    assert nn.AveragePooling3D().pool_size == (2, 2, 2)  # Keras requires it: our documented default
    assert [w.name.rsplit("/", 1)[-1] for w in _built(nn.SeparableConv2D(2, 2), (1, 3, 3, 2)).weights] == [
        "depthwise_kernel",
        "pointwise_kernel",
        "bias",
    ]
    assert [w.shape for w in _built(nn.DepthwiseConv2D(2, depth_multiplier=3), (1, 3, 3, 2)).weights] == [
        (2, 2, 2, 3),
        (6,),
    ]
    assert _built(nn.Conv1D(4, 3, groups=2), (1, 5, 6)).kernel.shape == (3, 3, 4)
    assert _built(nn.Conv2DTranspose(5, 3), (1, 3, 3, 2)).kernel.shape == (3, 3, 5, 2)


def _built(layer, shape):
    layer(np.zeros(shape, np.float32))
    return layer


# --- bad arguments and inputs: the same bridge error on every backend ------------------------------
BAD = [
    (lambda: nn.Conv1D(0, 3), br.InvalidArgumentError, "Conv1D: filters must be >= 1"),
    (
        lambda: nn.Conv2D(3, 2, groups=2),
        br.InvalidArgumentError,
        r"filters \(3\) must be divisible by groups",
    ),
    (
        lambda: nn.Conv2D(2, (2, 2, 2)),
        br.InvalidArgumentError,
        "Conv2D: kernel_size must be an int or 2 ints",
    ),
    (lambda: nn.Conv2D(2, 2, padding="causal"), br.InvalidArgumentError, "Conv2D: padding must be one of"),
    (lambda: nn.Conv1D(2, 2, padding=3), br.ArgumentTypeError, "Conv1D: padding"),
    (lambda: nn.Conv3D(2, 2, strides=0), br.InvalidArgumentError, "Conv3D: strides must be >= 1"),
    (lambda: nn.Conv1D(2, 2.5), br.ArgumentTypeError, "kernel_size must be an int"),
    (lambda: nn.Conv2D(2, 2, data_format="NHWC"), br.InvalidArgumentError, "data_format must be"),
    (lambda: nn.Conv2DTranspose(2, 3, 2, output_padding=2), br.InvalidArgumentError, "output_padding"),
    (lambda: nn.Conv1DTranspose(2, 3, padding="causal"), br.InvalidArgumentError, "padding must be one of"),
    (
        lambda: nn.DepthwiseConv2D(2, depth_multiplier=0),
        br.InvalidArgumentError,
        "depth_multiplier must be >= 1",
    ),
    (lambda: nn.SeparableConv1D(2, 2, padding="causal"), br.InvalidArgumentError, "padding must be one of"),
    (lambda: nn.MaxPooling3D(0), br.InvalidArgumentError, "MaxPool3D: pool_size must be >= 1"),
    (lambda: nn.AveragePooling1D(2, padding="full"), br.InvalidArgumentError, "padding must be one of"),
    (lambda: nn.GlobalMaxPooling1D("channels_middle"), br.InvalidArgumentError, "data_format"),
    (
        lambda: nn.Conv1D(2, 2)(np.ones((2, 5, 5, 3))),
        br.ShapeError,
        r"Conv1D needs 3-D inputs \(batch, steps, channels\)",
    ),
    (lambda: nn.Conv3D(2, 2)(np.ones((2, 5, 3))), br.ShapeError, r"Conv3D needs 5-D inputs.*\(2, 5, 3\)"),
    (
        lambda: nn.Conv2D(4, 2, groups=4)(np.ones((1, 3, 3, 2))),
        br.ShapeError,
        "groups=4 needs input channels",
    ),
    (lambda: nn.Conv1D(2, 6)(np.ones((1, 5, 1))), br.ShapeError, "larger than the padded input"),
    (
        lambda: nn.Conv2DTranspose(2, 2, data_format=CF)(np.ones((1, 3, 4))),
        br.ShapeError,
        r"\(batch, channels, height",
    ),
    (lambda: nn.DepthwiseConv1D(2)(np.ones((3, 4))), br.ShapeError, "DepthwiseConv1D needs 3-D inputs"),
    (lambda: nn.SeparableConv2D(2, 2)(np.ones((1, 4, 4))), br.ShapeError, "SeparableConv2D needs 4-D"),
    (lambda: nn.MaxPooling1D(2)(np.ones((2, 4))), br.ShapeError, "MaxPool1D needs 3-D inputs"),
    (lambda: nn.AveragePooling3D(2)(np.ones((2, 4, 4, 1))), br.ShapeError, "AvgPool3D needs 5-D inputs"),
    (lambda: nn.GlobalMaxPooling2D()(np.ones((2, 4, 1))), br.ShapeError, "GlobalMaxPooling2D needs 4-D"),
    (
        lambda: nn.GlobalAveragePooling1D()(np.ones((2, 4, 1)), mask=np.ones((2, 3), bool)),
        br.ShapeError,
        r"mask must be \(batch, steps\), \(2, 4\).*got \(2, 3\)",
    ),
]


@pytest.mark.parametrize("index", range(len(BAD)))
def test_bad_arguments_and_inputs_raise_a_bridge_error(backend, index):
    make, error, message = BAD[index]
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize(
    "make",
    [lambda: nn.Conv1D(2, 2), lambda: nn.Conv1DTranspose(2, 2), lambda: nn.DepthwiseConv1D(2)]
    + [lambda: nn.SeparableConv1D(2, 2)],
)
def test_inputs_with_other_channels_than_built_for_are_refused(backend, make):
    layer = make()
    layer(np.ones((1, 4, 3), np.float32))
    with pytest.raises(br.ShapeError, match=r"built for 3 input channels.*\(1, 4, 2\)"):
        layer(np.ones((1, 4, 2), np.float32))
