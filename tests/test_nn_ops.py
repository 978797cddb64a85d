"""nn ops: convolution and pooling against a direct NumPy loop (softmax and dropout are in the
conformance kit, bridge.testing.conformance.test_nn_ops)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import bridge as br
from bridge.testing import assert_parity

RNG = np.random.default_rng(1)


def conv2d_loop(x, kernel, strides, padding, dilation):
    """Direct NHWC cross-correlation, with TensorFlow's "same" padding (extra after)."""
    n, h, w, c = x.shape
    kh, kw, _, out = kernel.shape
    sh, sw = strides
    dh, dw = dilation
    span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if padding == "same":
        oh, ow = -(-h // sh), -(-w // sw)
        ph, pw = max((oh - 1) * sh + span_h - h, 0), max((ow - 1) * sw + span_w - w, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        oh, ow = (h - span_h) // sh + 1, (w - span_w) // sw + 1
    result = np.zeros((n, oh, ow, out))
    for i, j, a, b in itertools.product(range(oh), range(ow), range(kh), range(kw)):
        patch = x[:, i * sh + a * dh, j * sw + b * dw, :]
        result[:, i, j, :] += patch @ kernel[a, b]
    return result


@given(
    size=st.tuples(st.integers(3, 7), st.integers(3, 7)),
    window=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    strides=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    dilation=st.sampled_from([(1, 1), (2, 1), (1, 2)]),
    padding=st.sampled_from(["valid", "same"]),
)
def test_conv2d_matches_a_direct_loop(size, window, strides, dilation, padding):
    span = [(k - 1) * d + 1 for k, d in zip(window, dilation)]
    if padding == "valid" and any(s < n for s, n in zip(size, span)):
        return  # no valid output position: nothing to compare
    x = RNG.standard_normal((2, *size, 3)).astype(np.float32)
    kernel = RNG.standard_normal((*window, 3, 4)).astype(np.float32)
    reference = lambda a, k: conv2d_loop(a, k, strides, padding, dilation)  # noqa: E731
    assert_parity(
        lambda a, k: br.ops.conv2d(a, k, strides, padding, dilation=dilation),
        x,
        kernel,
        reference=reference,
        rtol=1e-4,
        atol=1e-4,
    )
    assert_parity(
        lambda a, k: br.ops.conv2d(
            br.ops.transpose(a, (0, 3, 1, 2)), k, strides, padding, "channels_first", dilation
        ),
        x,
        kernel,
        reference=lambda a, k: reference(a, k).transpose(0, 3, 1, 2),
        rtol=1e-4,
        atol=1e-4,
    )


def pool_loop(x, pool, strides, padding, reduce):
    n, h, w, c = x.shape
    if padding == "same":
        oh, ow = -(-h // strides[0]), -(-w // strides[1])
        ph = max((oh - 1) * strides[0] + pool[0] - h, 0)
        pw = max((ow - 1) * strides[1] + pool[1] - w, 0)
        top, left = ph // 2, pw // 2
    else:
        oh, ow = (h - pool[0]) // strides[0] + 1, (w - pool[1]) // strides[1] + 1
        top = left = 0
    result = np.zeros((n, oh, ow, c))
    for i, j in itertools.product(range(oh), range(ow)):
        r0, c0 = i * strides[0] - top, j * strides[1] - left
        window = x[:, max(r0, 0) : r0 + pool[0], max(c0, 0) : c0 + pool[1], :]  # padding left out
        result[:, i, j, :] = reduce(window, axis=(1, 2))
    return result


@pytest.mark.parametrize("name, reduce", [("max_pool2d", np.max), ("avg_pool2d", np.mean)])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("pool, strides", [(2, None), (3, 1), ((2, 3), (1, 2)), (3, 2)])
def test_pooling_matches_a_direct_loop(name, reduce, padding, pool, strides):
    x = RNG.standard_normal((2, 5, 7, 3)).astype(np.float32)
    pair = (pool, pool) if isinstance(pool, int) else pool
    stride_pair = pair if strides is None else (strides, strides) if isinstance(strides, int) else strides
    reference = lambda a: pool_loop(a, pair, stride_pair, padding, reduce)  # noqa: E731
    op = getattr(br.ops, name)
    assert_parity(lambda a: op(a, pool, strides, padding), x, reference=reference, rtol=1e-5, atol=1e-6)
    assert_parity(
        lambda a: op(br.ops.transpose(a, (0, 3, 1, 2)), pool, strides, padding, "channels_first"),
        x,
        reference=lambda a: reference(a).transpose(0, 3, 1, 2),
        rtol=1e-5,
        atol=1e-6,
    )


def test_conv2d_errors(backend):
    x = br.ones((1, 5, 5, 3))
    with pytest.raises(br.ShapeError, match=r"3 channels.*expects 2"):
        br.ops.conv2d(x, br.ones((3, 3, 2, 4)))
    with pytest.raises(br.ShapeError, match="4-D"):
        br.ops.conv2d(br.ones((5, 5, 3)), br.ones((3, 3, 3, 4)))
    with pytest.raises(br.InvalidArgumentError, match="padding"):
        br.ops.conv2d(x, br.ones((3, 3, 3, 4)), padding="full")
    with pytest.raises(br.InvalidArgumentError, match="data_format"):
        br.ops.max_pool2d(x, data_format="NHWC")
