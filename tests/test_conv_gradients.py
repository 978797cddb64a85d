"""Gradients of conv and pooling against float64 finite differences of the direct loops of
tests/test_nn_ops.py, on every backend with autodiff (the rest of the gradient suite is in the
conformance kit, bridge.testing.conformance.test_gradients)."""

from __future__ import annotations

import numpy as np
import pytest

import bridge as br
from bridge.testing.conformance.test_gradients import _distinct, _x, check_gradients

from .test_nn_ops import conv2d_loop, pool_loop

CASES = {
    "conv2d": (
        lambda x, k: br.ops.conv2d(x, k, strides=(2, 1), padding="same", dilation=1),
        lambda x, k: conv2d_loop(x, k, (2, 1), "same", (1, 1)),
        [_x(1, 5, 4, 2), _x(2, 2, 2, 3)],
    ),
    "conv2d_dilated": (
        lambda x, k: br.ops.conv2d(x, k, dilation=(2, 1), data_format="channels_last"),
        lambda x, k: conv2d_loop(x, k, (1, 1), "valid", (2, 1)),
        [_x(1, 5, 4, 2), _x(2, 2, 2, 1)],
    ),
    "max_pool2d": (
        lambda t: br.ops.max_pool2d(t, 2, 1, "same"),
        lambda a: pool_loop(a, (2, 2), (1, 1), "same", np.max),
        [_distinct(1, 3, 4, 2)],
    ),
    "avg_pool2d": (
        lambda t: br.ops.avg_pool2d(t, 2, 1, "same"),
        lambda a: pool_loop(a, (2, 2), (1, 1), "same", np.mean),
        [_x(1, 3, 4, 2)],
    ),
}


@pytest.mark.bridge_requires("autodiff")
@pytest.mark.parametrize("name", sorted(CASES))
def test_conv_and_pool_gradients(name):
    op, reference, inputs = CASES[name]
    check_gradients(op, reference, *inputs, rtol=1e-5, atol=1e-6)
