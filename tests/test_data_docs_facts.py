"""Facts docs/topics/data.md states about what fit, evaluate and predict accept: one array given as
a list of rows (numbers or lists), and iterables of batches, work as the array does (several input
or target arrays, as Keras reads them, are tests/test_multi_io.py's)."""

from __future__ import annotations

import numpy as np
import pytest

import bridge as br
from bridge import nn

pytestmark = pytest.mark.bridge_requires("autodiff", "variables")

RNG = np.random.default_rng(0)
XA = RNG.normal(size=(8, 3)).astype("float32")
Y = RNG.normal(size=(8, 1)).astype("float32")


def model() -> nn.Sequential:
    br.random.seed(0)
    net = nn.Sequential([nn.Dense(1)])
    net.compile(optimizer="sgd", loss="mse")
    return net


def test_one_array_in_other_forms_still_works(bridge_backend: str) -> None:
    expected = model().fit(XA, Y, epochs=2, batch_size=4, shuffle=False, verbose=0).history["loss"]
    rows = model().fit(XA.tolist(), Y.tolist(), epochs=2, batch_size=4, shuffle=False, verbose=0)
    batches = model().fit(list(br.data.batches(XA, Y, batch_size=4)), epochs=2, verbose=0)
    tupled = model().fit(tuple(br.data.batches(XA, Y, batch_size=4)), epochs=2, verbose=0)
    np.testing.assert_allclose(rows.history["loss"], expected, rtol=1e-6)
    np.testing.assert_allclose(batches.history["loss"], expected, rtol=1e-6)
    np.testing.assert_allclose(tupled.history["loss"], expected, rtol=1e-6)
    assert model().predict(XA.tolist()).shape == (8, 1)
    assert model().predict(((XA[:5],), (XA[5:],))).shape == (8, 1)  # a tuple of batches (x,)
    assert model().predict(br.data.batches(XA, batch_size=5)).shape == (8, 1)
