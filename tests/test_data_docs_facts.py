"""Facts docs/topics/data.md states about what fit, evaluate and predict accept: several input or
target arrays (a dict, a tuple or list of arrays) are refused with an error that says so, before
anything else fails on them; one array given as a list of rows, and iterables of batches, still
work."""

from __future__ import annotations

import numpy as np
import pytest

import bridge as br
from bridge import nn

pytestmark = pytest.mark.bridge_requires("autodiff", "variables")

RNG = np.random.default_rng(0)
XA = RNG.normal(size=(8, 3)).astype("float32")
XB = RNG.normal(size=(8, 2)).astype("float32")
Y = RNG.normal(size=(8, 1)).astype("float32")


def model() -> nn.Sequential:
    br.random.seed(0)
    net = nn.Sequential([nn.Dense(1)])
    net.compile(optimizer="sgd", loss="mse")
    return net


@pytest.mark.parametrize(
    ("x", "described"),
    [
        ({"a": XA, "b": XB}, r"x is a dict of 2 arrays \('a', 'b'\)"),
        ((XA, XB), "x is a tuple of 2 arrays"),
        ([XA, XB], "x is a list of 2 arrays"),
        ([XA, XA], "x is a list of 2 arrays"),  # same shapes, but not one row per target
    ],
)
@pytest.mark.parametrize("call", ["fit", "fit_split", "evaluate"])
def test_several_inputs_are_refused_clearly(
    bridge_backend: str, x: object, described: str, call: str
) -> None:
    net = model()
    with pytest.raises(
        br.InvalidArgumentError, match=f"{described}; several inputs or targets are not supported"
    ):
        if call == "fit":
            net.fit(x, Y, epochs=1, verbose=0)
        elif call == "fit_split":
            net.fit(x, Y, epochs=1, verbose=0, validation_split=0.25)
        else:
            net.evaluate(x, Y)
    assert not net.built  # refused before any weight was made


@pytest.mark.parametrize("x", [{"a": XA, "b": XB}, [XA, XB]])
def test_predict_refuses_several_inputs(bridge_backend: str, x: object) -> None:
    with pytest.raises(br.InvalidArgumentError, match="several inputs or targets are not supported yet"):
        model().predict(x)


def test_several_targets_are_refused(bridge_backend: str) -> None:
    with pytest.raises(br.InvalidArgumentError, match=r"y is a dict of 2 arrays \('out', 'aux'\)"):
        model().fit(XA, {"out": Y, "aux": Y}, epochs=1, verbose=0)


def test_one_array_in_other_forms_still_works(bridge_backend: str) -> None:
    expected = model().fit(XA, Y, epochs=2, batch_size=4, shuffle=False, verbose=0).history["loss"]
    rows = model().fit(list(XA), list(Y), epochs=2, batch_size=4, shuffle=False, verbose=0)
    batches = model().fit(list(br.data.batches(XA, Y, batch_size=4)), epochs=2, verbose=0)
    np.testing.assert_allclose(rows.history["loss"], expected, rtol=1e-6)
    np.testing.assert_allclose(batches.history["loss"], expected, rtol=1e-6)
    assert model().predict(list(XA)).shape == (8, 1)
    assert model().predict((XA[:5], XA[5:])).shape == (8, 1)  # a tuple is batches for predict
