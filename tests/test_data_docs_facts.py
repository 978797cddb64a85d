"""Facts docs/topics/data.md states about what fit, evaluate and predict accept: several input or
target arrays (a dict, or a tuple or list of arrays, as Keras reads them) are refused with an error
that says so, before anything else fails on them and before any weight is made; one array given as
a list of rows (numbers or lists), and iterables of batches, still work."""

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


@pytest.mark.parametrize(
    ("x", "described"),
    [
        ({"a": XA, "b": XB}, r"x is a dict of 2 arrays \('a', 'b'\)"),
        ({"a": XA}, r"x is a dict of 1 array \('a',\)"),
        ([XA, XB], "x is a list of 2 arrays"),
        ((XA, XB), "x is a tuple of 2 arrays"),  # Keras reads a tuple as several inputs
        ((XA, XA), "x is a tuple of 2 arrays"),
        ((XA[:5], XA[5:]), "x is a tuple of 2 arrays"),
        (list(XA), "x is a list of 8 arrays"),
    ],
)
def test_predict_refuses_several_inputs(bridge_backend: str, x: object, described: str) -> None:
    net = model()
    with pytest.raises(
        br.InvalidArgumentError,
        match=f"predict: {described}; several inputs or targets are not supported yet",
    ):
        net.predict(x)
    assert not net.built


@pytest.mark.parametrize("y", [(Y, Y), [Y, Y], {"out": Y}, list(Y)])
@pytest.mark.parametrize("call", ["fit", "evaluate", "validation_data"])
def test_several_targets_are_refused(bridge_backend: str, y: object, call: str) -> None:
    net = model()
    with pytest.raises(
        br.InvalidArgumentError, match="y is a .*; several inputs or targets are not supported yet"
    ):
        if call == "fit":
            net.fit(XA, y, epochs=1, verbose=0)
        elif call == "evaluate":
            net.evaluate(XA, y)
        else:
            net.fit(XA, Y, epochs=1, verbose=0, validation_data=(XA, y))
    assert not net.built


def test_several_targets_are_named(bridge_backend: str) -> None:
    with pytest.raises(br.InvalidArgumentError, match=r"y is a dict of 2 arrays \('out', 'aux'\)"):
        model().fit(XA, {"out": Y, "aux": Y}, epochs=1, verbose=0)
    with pytest.raises(br.InvalidArgumentError, match=r"if they are the rows of one array, np.stack\(y\)"):
        model().fit(XA, list(Y), epochs=1, verbose=0)


def test_inputs_are_checked_once_per_fit(bridge_backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.nn import model as model_module

    calls = []
    check = model_module.check_single_input
    monkeypatch.setattr(model_module, "check_single_input", lambda *a: calls.append(a[0]) or check(*a))
    model().fit(XA, Y, epochs=2, verbose=0)
    assert calls == ["fit"]


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
