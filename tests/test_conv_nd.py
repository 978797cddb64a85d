"""N-d convolution, transposed convolution and pooling (1-3 spatial axes): forward against torch
in float64 ("valid" and explicit shapes), "same" against TensorFlow's own "SAME", "causal" and
transposed "same" against Keras 3; gradients on every autodiff backend against torch autograd."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import bridge as br
from bridge.testing import assert_parity

from .keras_reference import keras_json

RNG = np.random.default_rng(9)
CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
FORMATS = ["channels_last", "channels_first"]


# --- torch-shaped references (float64, NumPy in and out, in the caller's data format) ----------
def _first(x, data_format):
    """A channels-first torch tensor of ``x``."""
    t = torch.from_numpy(np.ascontiguousarray(x))
    return t if data_format == "channels_first" else t.permute(0, x.ndim - 1, *range(1, x.ndim - 1))


def _back(t, data_format):
    t = t if data_format == "channels_first" else t.permute(0, *range(2, t.ndim), 1)
    return t.detach().numpy()


def _torch_weight(kernel):
    rank = kernel.ndim - 2
    return torch.from_numpy(kernel).permute(rank + 1, rank, *range(rank))


def torch_conv(x, kernel, strides, dilation, groups, data_format, pads=None):
    t = _first(x, data_format)
    if pads:  # (before, after) per spatial axis, F.pad wants the last axis first
        t = F.pad(t, [w for pair in reversed(pads) for w in pair])
    out = CONV[kernel.ndim - 2](t, _torch_weight(kernel), stride=strides, dilation=dilation, groups=groups)
    return _back(out, data_format)


def torch_conv_transpose(x, kernel, strides, output_padding, dilation, data_format):
    t, weight = _first(x, data_format), _torch_weight(kernel)
    conv = CONV_TRANSPOSE[kernel.ndim - 2]
    out = conv(t, weight, stride=strides, output_padding=output_padding, dilation=dilation)
    return _back(out, data_format)


def torch_pool(kind, x, window, strides, data_format):
    pool = (MAX_POOL if kind == "max" else AVG_POOL)[x.ndim - 2]
    return _back(pool(_first(x, data_format), window, strides), data_format)


def _normal(*shape):
    return RNG.standard_normal(shape)


def _layout(shape_last, data_format):
    """The shape (n, *spatial, c) in ``data_format``."""
    n, *spatial, c = shape_last
    return tuple(shape_last) if data_format == "channels_last" else (n, c, *spatial)


@st.composite
def conv_cases(draw, padding=("valid",)):
    rank = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 2]))
    window = draw(st.tuples(*[st.integers(1, 3)] * rank))
    strides = draw(st.tuples(*[st.integers(1, 2)] * rank))
    mode = draw(st.sampled_from(padding))
    # TensorFlow's "SAME" (the reference for it) refuses strides and dilation both above 1
    dilated = mode != "same" or strides == (1,) * rank
    dilation = draw(st.tuples(*[st.integers(1, 2 if dilated else 1)] * rank))
    spans = [(k - 1) * d + 1 for k, d in zip(window, dilation)]
    spatial = [draw(st.integers(s, s + 3)) for s in spans]
    channels, filters = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    return {
        "rank": rank,
        "x": (draw(st.integers(1, 2)), *spatial, channels),
        "kernel": (*window, channels // groups, filters),
        "strides": strides,
        "dilation": dilation,
        "groups": groups,
        "padding": mode,
        "data_format": draw(st.sampled_from(FORMATS)),
    }


def _conv_op(case):
    return lambda x, k: br.ops.conv(
        x, k, case["strides"], case["padding"], case["dilation"], case["groups"], case["data_format"]
    )


@settings(max_examples=40, deadline=None)
@given(case=conv_cases())
def test_conv_matches_torch(case):
    x, kernel = _normal(*_layout(case["x"], case["data_format"])), _normal(*case["kernel"])

    def reference(x, kernel):
        return torch_conv(x, kernel, case["strides"], case["dilation"], case["groups"], case["data_format"])

    assert_parity(_conv_op(case), x, kernel, reference=reference, rtol=1e-10, atol=1e-10)


def tf_same_conv(x, kernel, strides, dilation, groups, data_format):
    """TensorFlow's own "SAME" convolution, one call per group."""
    last = x if data_format == "channels_last" else np.moveaxis(x, 1, -1)
    parts = zip(np.split(last, groups, axis=-1), np.split(kernel, groups, axis=-1))
    out = np.concatenate(
        [tf.nn.convolution(a, k, strides, "SAME", dilations=dilation).numpy() for a, k in parts], -1
    )
    return out if data_format == "channels_last" else np.moveaxis(out, -1, 1)


@settings(max_examples=30, deadline=None)
@given(case=conv_cases(padding=("same",)))
def test_conv_same_padding_matches_tensorflow(case):
    x, kernel = _normal(*_layout(case["x"], case["data_format"])), _normal(*case["kernel"])

    def reference(x, kernel):
        return tf_same_conv(x, kernel, case["strides"], case["dilation"], case["groups"], case["data_format"])

    assert_parity(_conv_op(case), x, kernel, reference=reference, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("strides", "dilation"), [((1, 1), (1, 1)), ((2, 1), (1, 1)), ((1, 1), (2, 2))])
def test_same_convs_on_tensorflow_pad_inside_the_kernel(strides, dilation):
    """A "same" convolution is TensorFlow's "SAME" (no Pad op forward, nor its Slice backward:
    a pass over the activations each) where that padding is "SAME"'s."""
    x, kernel = tf.constant(_normal(2, 9, 8, 3)), tf.constant(_normal(3, 3, 3, 4))

    @tf.function
    def gradients(x, kernel):
        with tf.GradientTape() as tape:
            tape.watch([x, kernel])
            out = br.ops.conv(br.tensor(x), br.tensor(kernel), strides, "same", dilation).native
            loss = tf.reduce_sum(out * out)
        return tape.gradient(loss, [x, kernel])

    with br.use_backend("tensorflow"):
        graph = gradients.get_concrete_function(x, kernel).graph
    kinds = {op.type for op in graph.get_operations()}
    assert not kinds & {"Pad", "PadV2", "Slice"}, sorted(kinds)


@st.composite
def transpose_cases(draw):
    rank = draw(st.integers(1, 3))
    window = draw(st.tuples(*[st.integers(1, 3)] * rank))
    strides = draw(st.tuples(*[st.integers(1, 3)] * rank))
    dilation = draw(st.tuples(*[st.integers(1, 2)] * rank))
    explicit = draw(st.booleans())
    output_padding = tuple(draw(st.integers(0, s - 1)) for s in strides) if explicit else None
    return {
        "x": (
            draw(st.integers(1, 2)),
            *draw(st.tuples(*[st.integers(1, 4)] * rank)),
            draw(st.integers(1, 3)),
        ),
        "kernel": (*window, draw(st.integers(1, 3)), None),
        "strides": strides,
        "dilation": dilation,
        "output_padding": output_padding,
        "data_format": draw(st.sampled_from(FORMATS)),
    }


@settings(max_examples=40, deadline=None)
@given(case=transpose_cases())
def test_conv_transpose_valid_matches_torch(case):
    """Keras' "valid" length is ``(n - 1) * s + max(k, s)``, or ``(n - 1) * s + k + p`` with
    ``output_padding`` p: torch's conv_transpose with no padding and output_padding
    ``max(k, s) - k`` or p."""
    fmt = case["data_format"]
    x = _normal(*_layout(case["x"], fmt))
    kernel = _normal(*case["kernel"][:-1], case["x"][-1])
    spans = [(k - 1) * d + 1 for k, d in zip(kernel.shape, case["dilation"])]
    extra = case["output_padding"] or tuple(max(k, s) - k for k, s in zip(spans, case["strides"]))

    def reference(x, kernel):
        return torch_conv_transpose(x, kernel, case["strides"], extra, case["dilation"], fmt)

    def ours(x, kernel):
        return br.ops.conv_transpose(
            x, kernel, case["strides"], "valid", case["output_padding"], case["dilation"], fmt
        )

    assert_parity(ours, x, kernel, reference=reference, rtol=1e-10, atol=1e-10)


# --- Keras 3 for the Keras-only modes: "causal" and transposed "same" -----------------------------
_KERAS_PROGRAM = r"""
import json, sys
import numpy as np
import keras

results = []
for case in json.loads(sys.stdin.read()):
    x, kernel = np.asarray(case["x"]), np.asarray(case["kernel"])
    if case["op"] == "causal":
        layer = keras.layers.Conv1D(kernel.shape[-1], kernel.shape[0], strides=case["strides"],
                                    padding="causal", dilation_rate=case["dilation"], use_bias=False,
                                    dtype="float64")
        layer.build(x.shape)
        layer.set_weights([kernel])
        out = layer(x)
    else:  # TensorFlow's CPU kernel is NHWC only: channels_first moves the channels around it
        first = case["data_format"] == "channels_first"
        out = keras.ops.conv_transpose(np.moveaxis(x, 1, -1) if first else x, kernel, case["strides"],
                                       "same", case["output_padding"], data_format="channels_last",
                                       dilation_rate=case["dilation"])
        out = np.moveaxis(np.asarray(out), -1, 1) if first else out
    results.append(np.asarray(out).tolist())
print(json.dumps(results))
"""

CAUSAL_CASES = [  # (length, window, strides, dilation)
    (7, 3, 1, 1),
    (7, 3, 1, 2),
    (8, 2, 2, 1),
    (5, 4, 3, 1),
    (6, 1, 1, 1),
]
TRANSPOSE_SAME_CASES = [  # (spatial, window, strides, output_padding, data_format)
    ((5,), (3,), (2,), None, "channels_last"),
    ((4,), (4,), (3,), None, "channels_first"),
    ((3,), (2,), (1,), None, "channels_last"),
    ((4,), (3,), (2,), (1,), "channels_last"),
    ((4, 3), (3, 2), (2, 1), None, "channels_last"),
    ((3, 4), (2, 3), (3, 2), None, "channels_first"),
    ((4, 3), (3, 3), (2, 2), (1, 0), "channels_last"),
    ((2, 3, 2), (2, 3, 1), (2, 1, 3), None, "channels_last"),
    ((3, 2, 2), (3, 2, 2), (1, 2, 2), (0, 1, 1), "channels_first"),
]


def _causal_inputs(case):
    """The same inputs for a case on every call (the Keras fixture and the test build them)."""
    length, window, _, _ = case
    rng = np.random.default_rng(length * 100 + window)
    return rng.standard_normal((2, length, 3)), rng.standard_normal((window, 3, 2))


def _transpose_inputs(case):
    spatial, window, _, _, fmt = case
    rng = np.random.default_rng(sum(spatial) * 100 + sum(window))
    return rng.standard_normal(_layout((2, *spatial, 3), fmt)), rng.standard_normal((*window, 2, 3))


@pytest.fixture(scope="module")
def keras_answers():
    """Keras 3 (TensorFlow backend) on every case, one subprocess for them all."""
    requests = []
    for case in CAUSAL_CASES:
        x, kernel = _causal_inputs(case)
        requests.append({"op": "causal", "x": x, "kernel": kernel, "strides": case[2], "dilation": case[3]})
    for case in TRANSPOSE_SAME_CASES:
        x, kernel = _transpose_inputs(case)
        spatial, window, strides, extra, fmt = case
        requests.append(
            {"op": "transpose", "x": x, "kernel": kernel, "strides": strides, "output_padding": extra}
            | {"data_format": fmt, "dilation": 1}
        )
    payload = json.dumps(requests, default=lambda a: a.tolist())
    answers = keras_json(_KERAS_PROGRAM, "tensorflow", stdin=payload)
    return [np.asarray(a) for a in answers]


@pytest.mark.slow
@pytest.mark.needs("keras")
@pytest.mark.parametrize("index", range(len(CAUSAL_CASES)))
def test_causal_padding_matches_keras(index, keras_answers):
    _, _, strides, dilation = CAUSAL_CASES[index]
    x, kernel = _causal_inputs(CAUSAL_CASES[index])
    expected = keras_answers[index]
    assert_parity(
        lambda x, k: br.ops.conv(x, k, strides, "causal", dilation),
        x,
        kernel,
        reference=lambda *_: expected,
        rtol=1e-10,
        atol=1e-10,
    )


@pytest.mark.slow
@pytest.mark.needs("keras")
@pytest.mark.parametrize("index", range(len(TRANSPOSE_SAME_CASES)))
def test_conv_transpose_same_matches_keras(index, keras_answers):
    _, _, strides, extra, fmt = TRANSPOSE_SAME_CASES[index]
    x, kernel = _transpose_inputs(TRANSPOSE_SAME_CASES[index])
    expected = keras_answers[len(CAUSAL_CASES) + index]
    assert_parity(
        lambda x, k: br.ops.conv_transpose(x, k, strides, "same", extra, data_format=fmt),
        x,
        kernel,
        reference=lambda *_: expected,
        rtol=1e-10,
        atol=1e-10,
    )


# --- pooling ------------------------------------------------------------------------------------
@st.composite
def pool_cases(draw):
    rank = draw(st.integers(1, 3))
    window = draw(st.tuples(*[st.integers(1, 3)] * rank))
    strides = draw(st.one_of(st.none(), st.tuples(*[st.integers(1, 3)] * rank)))
    spatial = [draw(st.integers(k, k + 3)) for k in window]
    return {
        "x": (draw(st.integers(1, 2)), *spatial, draw(st.integers(1, 3))),
        "window": window,
        "strides": strides,
        "data_format": draw(st.sampled_from(FORMATS)),
    }


@settings(max_examples=40, deadline=None)
@given(case=pool_cases(), kind=st.sampled_from(["max", "avg"]))
def test_pooling_matches_torch(case, kind):
    fmt = case["data_format"]
    x = _normal(*_layout(case["x"], fmt))
    strides = case["strides"] or case["window"]
    op = br.ops.max_pool if kind == "max" else br.ops.avg_pool

    assert_parity(
        lambda x: op(x, case["window"], case["strides"], "valid", fmt),
        x,
        reference=lambda x: torch_pool(kind, x, case["window"], strides, fmt),
        rtol=1e-10,
        atol=1e-10,
    )


@settings(max_examples=40, deadline=None)
@given(case=pool_cases(), kind=st.sampled_from(["max", "avg"]))
def test_same_pooling_matches_tensorflow(case, kind):
    """TensorFlow's "SAME" pooling (Keras' too) leaves padded positions out; its 3-D kernels
    have no float64, so the reference runs in float32."""
    fmt = case["data_format"]
    x = _normal(*_layout(case["x"], fmt))
    strides = case["strides"] or case["window"]
    op = br.ops.max_pool if kind == "max" else br.ops.avg_pool
    pool = tf.nn.max_pool if kind == "max" else tf.nn.avg_pool

    def reference(x):
        last = x if fmt == "channels_last" else np.moveaxis(x, 1, -1)
        out = pool(last.astype(np.float32), case["window"], strides, "SAME").numpy()
        return out if fmt == "channels_last" else np.moveaxis(out, -1, 1)

    assert_parity(
        lambda x: op(x, case["window"], case["strides"], "same", fmt),
        x,
        reference=reference,
        rtol=1e-5,
        atol=1e-6,
    )


# --- gradients against torch autograd ---------------------------------------------------------
def _torch_gradients(fn, inputs, cotangent):
    leaves = [torch.from_numpy(np.array(a)).requires_grad_() for a in inputs]
    out = fn(*leaves)
    out.backward(torch.from_numpy(cotangent))
    return tuple(leaf.grad.numpy() for leaf in leaves)


def _check_gradients(ours, torch_fn, inputs):
    """Gradients of ``sum(ours(*inputs) * c)`` on every autodiff backend against torch's."""
    cotangent = _normal(*torch_fn(*(torch.from_numpy(a) for a in inputs)).shape)

    def bridge_grads(*tensors):
        *xs, c = tensors
        return br.grad(lambda *a: br.ops.sum(ours(*a) * c), argnums=tuple(range(len(xs))))(*xs)

    assert_parity(
        bridge_grads,
        *inputs,
        cotangent,
        reference=lambda *_: _torch_gradients(torch_fn, inputs, cotangent),
        rtol=1e-9,
        atol=1e-9,
        requires=("autodiff",),
    )


def _torch_conv_first(case):
    """torch's conv on channels-first tensors, with the case's explicit padding."""
    pads = case.get("pads")

    def fn(x, kernel):
        if pads:
            x = F.pad(x, [w for pair in reversed(pads) for w in pair])
        weight = kernel.permute(kernel.ndim - 1, kernel.ndim - 2, *range(kernel.ndim - 2))
        return CONV[kernel.ndim - 2](x, weight, None, case["strides"], 0, case["dilation"], case["groups"])

    return fn


@settings(max_examples=15, deadline=None)
@given(case=conv_cases())
def test_conv_gradients_match_torch_autograd(case):
    case = {**case, "data_format": "channels_first"}
    x, kernel = _normal(*_layout(case["x"], "channels_first")), _normal(*case["kernel"])
    _check_gradients(_conv_op(case), _torch_conv_first(case), [x, kernel])


@pytest.mark.parametrize("data_format", FORMATS)
def test_same_and_causal_conv_gradients_match_torch_autograd(data_format):
    """ "same" with an odd total padding (the extra after) and "causal" (all of it before)."""
    x_last, kernel = _normal(2, 5, 5, 4), _normal(2, 3, 2, 4)  # groups 2
    x = x_last if data_format == "channels_last" else x_last.transpose(0, 3, 1, 2)
    case = {"strides": (2, 1), "dilation": (1, 1), "groups": 2, "pads": [(0, 1), (1, 1)]}

    def torch_fn(x, kernel):
        t = x if data_format == "channels_first" else x.permute(0, 3, 1, 2)
        out = _torch_conv_first(case)(t, kernel)
        return out if data_format == "channels_first" else out.permute(0, 2, 3, 1)

    ours = lambda x, k: br.ops.conv(x, k, (2, 1), "same", groups=2, data_format=data_format)  # noqa: E731
    _check_gradients(ours, torch_fn, [x, kernel])
    causal = {"strides": (1,), "dilation": (2,), "groups": 1, "pads": [(4, 0)]}
    first = lambda x, k: _torch_conv_first(causal)(x.permute(0, 2, 1), k).permute(0, 2, 1)  # noqa: E731
    ours_causal = lambda x, k: br.ops.conv(x, k, 1, "causal", 2)  # noqa: E731
    _check_gradients(ours_causal, first, [_normal(2, 7, 3), _normal(3, 3, 2)])


@settings(max_examples=15, deadline=None)
@given(case=transpose_cases())
def test_conv_transpose_gradients_match_torch_autograd(case):
    x = _normal(*_layout(case["x"], "channels_first"))
    kernel = _normal(*case["kernel"][:-1], case["x"][-1])
    spans = [(k - 1) * d + 1 for k, d in zip(kernel.shape, case["dilation"])]
    extra = case["output_padding"] or tuple(max(k, s) - k for k, s in zip(spans, case["strides"]))

    def torch_fn(x, kernel):
        weight = kernel.permute(kernel.ndim - 1, kernel.ndim - 2, *range(kernel.ndim - 2))
        conv = CONV_TRANSPOSE[kernel.ndim - 2]
        return conv(x, weight, None, case["strides"], 0, extra, 1, case["dilation"])

    def ours(x, kernel):
        return br.ops.conv_transpose(
            x, kernel, case["strides"], "valid", case["output_padding"], case["dilation"], "channels_first"
        )

    _check_gradients(ours, torch_fn, [x, kernel])


def test_conv_transpose_same_gradients_match_torch_autograd():
    """Keras' "same" (output ``size * strides``) here crops one position at the end of each axis
    of the full result (height 9 to 8, width 4 to 3), as Keras' TensorFlow backend does."""
    x, kernel = _normal(2, 4, 3, 2), _normal(3, 2, 3, 2)

    def torch_fn(x, kernel):
        out = F.conv_transpose2d(x.permute(0, 3, 1, 2), kernel.permute(3, 2, 0, 1), stride=(2, 1))
        return out[:, :, :-1, :-1].permute(0, 2, 3, 1)

    _check_gradients(lambda x, k: br.ops.conv_transpose(x, k, (2, 1), "same"), torch_fn, [x, kernel])


@settings(max_examples=15, deadline=None)
@given(case=pool_cases(), kind=st.sampled_from(["max", "avg"]))
def test_pool_gradients_match_torch_autograd(case, kind):
    x = _normal(*_layout(case["x"], "channels_first"))
    strides = case["strides"] or case["window"]
    pool = (MAX_POOL if kind == "max" else AVG_POOL)[x.ndim - 2]
    op = br.ops.max_pool if kind == "max" else br.ops.avg_pool
    _check_gradients(
        lambda x: op(x, case["window"], case["strides"], "valid", "channels_first"),
        lambda x: pool(x, case["window"], strides),
        [x],
    )


# --- the layers on the N-d ops, and bad input --------------------------------------------------
def test_conv2d_layers_match_torch(backend):
    """Conv2D / MaxPooling2D / AveragePooling2D now run on the N-d ops: numbers as torch's."""
    x = _normal(2, 7, 6, 3).astype(np.float32)
    conv = br.nn.Conv2D(4, (3, 2), strides=(2, 1), dilation_rate=(1, 2))
    y = conv(br.tensor(x)).numpy()
    kernel, bias = (w.numpy().astype(np.float64) for w in conv.weights)
    expected = torch_conv(x.astype(np.float64), kernel, (2, 1), (1, 2), 1, "channels_last") + bias
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    for layer, kind in ((br.nn.MaxPooling2D((2, 3)), "max"), (br.nn.AveragePooling2D(2, 1), "avg")):
        expected = torch_pool(kind, x, layer.pool_size, layer.strides or layer.pool_size, "channels_last")
        np.testing.assert_allclose(layer(br.tensor(x)).numpy(), expected, rtol=1e-6, atol=1e-6)


BAD_INPUT = [
    (lambda: br.ops.conv(br.ones((1, 5, 3)), br.ones((3, 3, 3, 4))), br.ShapeError, r"input must be 4-D"),
    (lambda: br.ops.conv(br.ones((1, 5, 3)), br.ones((3, 2, 4))), br.ShapeError, r"3 channels.*expects 2"),
    (
        lambda: br.ops.conv(br.ones((1, 5, 6)), br.ones((3, 2, 4)), groups=4),
        br.InvalidArgumentError,
        r"groups=4",
    ),
    (
        lambda: br.ops.conv(br.ones((1, 5, 6)), br.ones((3, 2, 4)), groups=3),
        br.InvalidArgumentError,
        r"groups=3",
    ),
    (
        lambda: br.ops.conv(br.ones((1, 5, 2)), br.ones((3, 2, 4)), strides=0),
        br.InvalidArgumentError,
        "strides",
    ),
    (
        lambda: br.ops.conv(br.ones((1, 5, 2)), br.ones((3, 2, 4)), strides=(1, 1)),
        br.InvalidArgumentError,
        "strides",
    ),
    (
        lambda: br.ops.conv(br.ones((1, 5, 5, 2)), br.ones((3, 3, 2, 4)), padding="causal"),
        br.InvalidArgumentError,
        "causal",
    ),
    (
        lambda: br.ops.conv(br.ones((1, 5, 2)), br.ones((7, 2, 4))),
        br.ShapeError,
        "larger than the padded input",
    ),
    (
        lambda: br.ops.conv(br.ones((1, 2, 2, 2, 2, 2)), br.ones((1, 1, 1, 1, 2, 2))),
        br.ShapeError,
        "kernel must be",
    ),
    (
        lambda: br.ops.conv_transpose(br.ones((1, 5, 3)), br.ones((3, 3, 2))),
        br.ShapeError,
        r"3 channels.*expects 2",
    ),
    (
        lambda: br.ops.conv_transpose(br.ones((1, 5, 2)), br.ones((3, 3, 2)), 2, output_padding=2),
        br.InvalidArgumentError,
        "output_padding",
    ),
    (
        lambda: br.ops.conv_transpose(br.ones((1, 5, 2)), br.ones((3, 3, 2)), padding="causal"),
        br.InvalidArgumentError,
        "padding",
    ),
    (lambda: br.ops.max_pool(br.ones((5, 3))), br.ShapeError, "3-D to 5-D"),
    (lambda: br.ops.avg_pool(br.ones((1, 5, 3)), (2, 2)), br.InvalidArgumentError, "pool_size"),
    (lambda: br.ops.max_pool(br.ones((1, 5, 3)), 2, -1), br.InvalidArgumentError, "strides"),
    (lambda: br.ops.avg_pool(br.ones((1, 5, 3)), 2.5), br.ArgumentTypeError, "pool_size"),
]


@pytest.mark.parametrize("index", range(len(BAD_INPUT)))
def test_bad_input_raises_the_same_bridge_error_everywhere(index, backend):
    call, error, message = BAD_INPUT[index]
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_empty_inputs_give_zeros_of_the_output_shape(rank, backend):
    x = br.ones((0, *(4,) * rank, 2))
    assert br.ops.conv(x, br.ones((*(3,) * rank, 2, 5)), 2, "same").shape == (0, *(2,) * rank, 5)
    assert br.ops.conv_transpose(x, br.ones((*(3,) * rank, 5, 2)), 2, "same").shape == (0, *(8,) * rank, 5)
    assert br.ops.max_pool(x, 2).shape == (0, *(2,) * rank, 2)


@pytest.mark.slow
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_compiled_ops_match_torch(rank):
    """Compiled by br.jit, the ops give torch's numbers too."""
    x, kernel, kernel_t = (
        _normal(2, *(5,) * rank, 2),
        _normal(*(3,) * rank, 1, 4),
        _normal(*(2,) * rank, 3, 2),
    )

    def ops(x, kernel, kernel_t):
        return (
            br.ops.conv(x, kernel, 2, dilation=1, groups=2),
            br.ops.conv_transpose(x, kernel_t, 2, output_padding=1, dilation=2),
            br.ops.max_pool(x, 2, 1),
            br.ops.avg_pool(x, 3, 2),
        )

    def reference(x, kernel, kernel_t):
        spans = (1,) * rank
        return (
            torch_conv(x, kernel, (2,) * rank, spans, 2, "channels_last"),
            torch_conv_transpose(x, kernel_t, (2,) * rank, (1,) * rank, (2,) * rank, "channels_last"),
            torch_pool("max", x, (2,) * rank, spans, "channels_last"),
            torch_pool("avg", x, (3,) * rank, (2,) * rank, "channels_last"),
        )

    compiled = br.jit(ops, torch={"backend": "aot_eager"})
    assert_parity(
        compiled, x, kernel, kernel_t, reference=reference, rtol=1e-10, atol=1e-10, requires=("jit",)
    )
