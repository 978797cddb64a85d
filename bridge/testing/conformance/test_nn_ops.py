"""nn ops: softmax and log_softmax against NumPy (the backend's fast paths against the core's
composites), and dropout."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bridge as br
from bridge.ops.nn import log_softmax_composite, softmax_composite
from bridge.testing import assert_parity
from bridge.testing.references import log_softmax, softmax

from .strategies import SETTINGS, floats32

RNG = np.random.default_rng(1)


@SETTINGS
@given(
    x=hnp.arrays(
        np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), elements=floats32(-80, 80)
    ),
    data=st.data(),
)
def test_softmax_and_log_softmax(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    assert_parity(lambda t: br.ops.softmax(t, axis), x, reference=lambda t: softmax(t, axis), atol=1e-6)
    assert_parity(
        lambda t: br.ops.log_softmax(t, axis),
        x,
        reference=lambda t: log_softmax(t, axis),
        rtol=1e-5,
        atol=1e-4,
    )


def test_fast_softmax_paths_equal_the_composite(bridge_backend):
    x = br.tensor(RNG.standard_normal((4, 7)).astype(np.float32) * 30)
    for axis in (0, 1, -1):
        np.testing.assert_allclose(
            br.ops.softmax(x, axis).numpy(), softmax_composite(x, axis).numpy(), rtol=1e-6, atol=1e-7
        )
        np.testing.assert_allclose(
            br.ops.log_softmax(x, axis).numpy(), log_softmax_composite(x, axis).numpy(), rtol=1e-5, atol=1e-5
        )


def test_softmax_of_extreme_logits_is_finite(bridge_backend):
    x = br.tensor([[1000.0, -1000.0, 0.0], [-np.inf, 0.0, 1.0]])
    assert np.isfinite(br.ops.softmax(x).numpy()).all()
    assert np.isfinite(br.ops.log_softmax(x).numpy()[0]).all()


def test_dropout_is_identical_across_backends():
    assert_parity(lambda t: br.ops.dropout(t, 0.25, seed=3), np.ones((50, 40), dtype=np.float32))


def test_dropout_is_seeded_and_scaled(bridge_backend):
    x = br.ones((50, 40))
    out = br.ops.dropout(x, 0.25, seed=3).numpy()
    assert set(np.unique(out)) == {0.0, np.float32(1 / 0.75)}
    assert abs((out == 0).mean() - 0.25) < 0.03
    np.testing.assert_array_equal(br.ops.dropout(x, 0.25, seed=3).numpy(), out)
    assert not np.array_equal(out, br.ops.dropout(x, 0.25, seed=4).numpy())
    np.testing.assert_array_equal(br.ops.dropout(x, 0.0).numpy(), x.numpy())
    with pytest.raises(br.InvalidArgumentError, match="rate"):
        br.ops.dropout(x, 1.0)
