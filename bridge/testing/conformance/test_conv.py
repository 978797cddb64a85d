"""N-d convolution, transposed convolution and pooling (1-3 spatial axes) against NumPy float64
loops: every padding mode, both layouts, strides, dilation and groups; gradients against central
differences of the same loops."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import bridge as br
from bridge.testing import references

from .strategies import SETTINGS
from .test_gradients import numeric_gradients

RNG = np.random.default_rng(11)
LAYOUTS = ["channels_last", "channels_first"]
MAX_SIZE = {1: 7, 2: 5, 3: 4}  # the largest spatial side per rank, to keep the loops small


def to_layout(x, channels_last):
    """A channels_last array in the layout asked for."""
    return x if channels_last else np.moveaxis(x, -1, 1)


def from_layout(x, channels_last):
    return x if channels_last else np.moveaxis(x, 1, -1)


@st.composite
def conv_cases(draw, transpose=False):
    """(x, kernel, options, pads) for conv (or conv_transpose): ``x`` channels_last, float64."""
    rank = draw(st.integers(1, 3))
    window = draw(st.tuples(*[st.integers(1, 3 if rank < 3 else 2)] * rank))
    strides = draw(st.tuples(*[st.integers(1, 2)] * rank))
    dilation = draw(st.tuples(*[st.integers(1, 2)] * rank))
    spans = [(k - 1) * d + 1 for k, d in zip(window, dilation)]
    spatial = tuple(
        draw(st.integers(span if not transpose else 1, max(span, MAX_SIZE[rank]))) for span in spans
    )
    groups = 1 if transpose else draw(st.integers(1, 2))
    channels, filters = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    x = RNG.standard_normal((draw(st.integers(1, 2)), *spatial, channels))
    options = {"strides": strides, "dilation": dilation, "data_format": draw(st.sampled_from(LAYOUTS))}
    if transpose:
        options["padding"] = draw(st.sampled_from(["valid", "same"]))
        options["output_padding"] = draw(st.none() | st.tuples(*[st.integers(0, s - 1) for s in strides]))
        return x, RNG.standard_normal((*window, filters, channels)), options
    options["padding"] = draw(
        st.sampled_from(["valid", "same", "causal"] if rank == 1 else ["valid", "same"])
    )
    options["groups"] = groups
    return x, RNG.standard_normal((*window, channels // groups, filters)), options


@st.composite
def pool_cases(draw):
    """(x, options) for max_pool and avg_pool: ``x`` channels_last, float64."""
    rank = draw(st.integers(1, 3))
    window = draw(st.tuples(*[st.integers(1, 3)] * rank))
    strides = draw(st.none() | st.tuples(*[st.integers(1, 3)] * rank))
    spatial = tuple(draw(st.integers(k, max(k, MAX_SIZE[rank]))) for k in window)
    x = RNG.standard_normal((draw(st.integers(1, 2)), *spatial, draw(st.integers(1, 2))))
    padding, layout = draw(st.sampled_from(["valid", "same"])), draw(st.sampled_from(LAYOUTS))
    return x, {"pool_size": window, "strides": strides, "padding": padding, "data_format": layout}


def conv_reference(x, kernel, options):
    window, strides, dilation = kernel.shape[:-2], options["strides"], options["dilation"]
    spans = [(k - 1) * d + 1 for k, d in zip(window, dilation)]
    if options["padding"] == "valid":
        pads = [(0, 0)] * len(window)
    elif options["padding"] == "causal":
        pads = [(spans[0] - 1, 0)]
    else:
        pads = [references.same_padding(n, span, s) for n, span, s in zip(x.shape[1:-1], spans, strides)]
    return references.conv(x, kernel, strides, pads, dilation, options["groups"])


def conv_transpose_reference(x, kernel, options):
    extras = options["output_padding"] or (None,) * (kernel.ndim - 2)
    return references.conv_transpose(
        x, kernel, options["strides"], options["padding"], extras, options["dilation"]
    )


def pool_reference(reduce):
    def reference(x, options):
        window = options["pool_size"]
        strides = options["strides"] or window
        if options["padding"] == "valid":
            pads = [(0, 0)] * len(window)
        else:
            pads = [references.same_padding(n, k, s) for n, k, s in zip(x.shape[1:-1], window, strides)]
        return references.pool(x, window, strides, pads, reduce)

    return reference


LINEAR = {
    "conv": (br.ops.conv, conv_reference, conv_cases()),
    "conv_transpose": (br.ops.conv_transpose, conv_transpose_reference, conv_cases(transpose=True)),
}
POOLS = {"max_pool": (br.ops.max_pool, np.max), "avg_pool": (br.ops.avg_pool, np.mean)}


def run(op, options, *arrays):
    """``op`` on channels_last float64 ``arrays`` in ``options``' layout, back as channels_last."""
    channels_last = options["data_format"] == "channels_last"
    x, *rest = arrays
    out = op(br.tensor(to_layout(x, channels_last)), *map(br.tensor, rest), **options)
    assert out.dtype == br.float64
    return from_layout(out.numpy(), channels_last)


def check_gradients(op, reference, options, *arrays):
    """``br.grad`` of ``sum(op(...) * cotangent)`` against central differences of the reference,
    for every array, in float64 (``x`` in ``options``' layout, the gradient back channels_last)."""
    channels_last = options["data_format"] == "channels_last"
    cotangent = RNG.standard_normal(reference(*arrays, options).shape)
    c = br.tensor(to_layout(cotangent, channels_last))

    def loss(x, *rest):
        return br.ops.sum(op(x, *rest, **options) * c)

    x, *rest = arrays
    tensors = [br.tensor(to_layout(x, channels_last)), *map(br.tensor, rest)]
    ours = br.grad(loss, argnums=tuple(range(len(arrays))))(*tensors)
    ours = [from_layout(ours[0].numpy(), channels_last), *(g.numpy() for g in ours[1:])]
    expected = numeric_gradients(lambda *a: float(np.sum(reference(*a, options) * cotangent)), arrays)
    for name, got, want in zip(["x", "kernel"], ours, expected):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8, err_msg=f"gradient of {name}")


@pytest.mark.parametrize("name", LINEAR)
@SETTINGS
@given(data=st.data())
def test_conv_matches_numpy_loops(bridge_backend, name, data):
    op, reference, cases = LINEAR[name]
    x, kernel, options = data.draw(cases)
    np.testing.assert_allclose(
        run(op, options, x, kernel), reference(x, kernel, options), rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize("name", POOLS)
@SETTINGS
@given(data=st.data())
def test_pool_matches_numpy_loops(bridge_backend, name, data):
    op, reduce = POOLS[name]
    x, options = data.draw(pool_cases())
    expected = pool_reference(reduce)(x, options)
    np.testing.assert_allclose(run(op, options, x), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.bridge_requires("autodiff")
@pytest.mark.parametrize("name", LINEAR)
@SETTINGS
@given(data=st.data())
def test_conv_gradients(bridge_backend, name, data):
    op, reference, cases = LINEAR[name]
    x, kernel, options = data.draw(cases)
    check_gradients(op, reference, options, x, kernel)


@pytest.mark.bridge_requires("autodiff")
@pytest.mark.parametrize("name", POOLS)
@SETTINGS
@given(data=st.data())
def test_pool_gradients(bridge_backend, name, data):
    op, reduce = POOLS[name]
    x, options = data.draw(pool_cases())
    check_gradients(op, pool_reference(reduce), options, x)


def test_conv_transpose_may_give_an_empty_result_as_keras(bridge_backend):
    """'same' with an explicit output_padding of 0 and an even window: Keras' length formula
    ``(n - 1) * s + k - 2 * (k // 2) + output_padding`` is 0 for one input position."""
    x, kernel = np.ones((1, 1, 1)), np.ones((2, 1, 1))
    expected = references.conv_transpose(x, kernel, (1,), "same", (0,), (1,))
    assert expected.shape == (1, 0, 1)
    out = br.ops.conv_transpose(br.tensor(x), br.tensor(kernel), padding="same", output_padding=0)
    assert out.shape == expected.shape
