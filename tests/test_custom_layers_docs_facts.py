"""Facts docs/guides/custom-layers.md states about functions given to ``compile``, checked as
Keras 3 behaves (its ``compile`` wraps them the same way): a loss function's per-sample values are
averaged (sample weights included), so it trains exactly as the built-in loss it computes; a
metric function is averaged over the samples and logged under its ``__name__``; the wrapped loss
round-trips through ``losses.serialize`` and ``losses.deserialize``."""

from __future__ import annotations

import numpy as np
import pytest

import bridge as br
from bridge import losses, metrics, nn, ops

pytestmark = pytest.mark.bridge_requires("autodiff", "variables")

RNG = np.random.default_rng(0)
X = RNG.normal(size=(16, 3)).astype("float32")
Y = X.sum(axis=1, keepdims=True).astype("float32")
WEIGHTS = RNG.uniform(size=16).astype("float32")


def squared_error(y_true: br.Tensor, y_pred: br.Tensor) -> br.Tensor:
    return ops.mean(ops.square(y_true - y_pred), axis=-1)  # one value per sample


def absolute_error(y_true: br.Tensor, y_pred: br.Tensor) -> br.Tensor:
    return ops.mean(ops.abs(y_true - y_pred), axis=-1)


def history(loss: object, metric: object, **fit_kwargs: object) -> dict[str, list[float]]:
    br.random.seed(0)
    model = nn.Sequential([nn.Dense(1)])
    model.compile(optimizer="sgd", loss=loss, metrics=[metric])
    return model.fit(X, Y, epochs=3, batch_size=4, seed=0, verbose=0, **fit_kwargs).history


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
def test_functions_train_as_the_losses_and_metrics_they_compute(bridge_backend: str, weighted: bool) -> None:
    fit_kwargs = {"sample_weight": WEIGHTS} if weighted else {}
    ours = history(squared_error, absolute_error, **fit_kwargs)
    builtin = history(losses.MeanSquaredError(), metrics.MeanAbsoluteError(), **fit_kwargs)
    assert sorted(ours) == ["absolute_error", "loss"]  # the metric named after its function
    np.testing.assert_allclose(ours["loss"], builtin["loss"], rtol=1e-5)
    np.testing.assert_allclose(ours["absolute_error"], builtin["mean_absolute_error"], rtol=1e-5)


def test_a_scalar_loss_function_still_works(bridge_backend: str) -> None:
    def mean_squared(y_true: br.Tensor, y_pred: br.Tensor) -> br.Tensor:
        return ops.mean(ops.square(y_true - y_pred))

    ours = history(mean_squared, "mae")
    np.testing.assert_allclose(ours["loss"], history("mse", "mae")["loss"], rtol=1e-5)


def test_the_wrapped_loss_is_a_loss_named_after_its_function(bridge_backend: str) -> None:
    model = nn.Sequential([nn.Dense(1)])
    model.compile(optimizer="sgd", loss=squared_error, metrics=[absolute_error])
    assert isinstance(model.loss, losses.LossFunctionWrapper) and model.loss.name == "squared_error"
    assert [m.name for m in model.metrics] == ["loss", "absolute_error"]


def test_the_wrapped_loss_round_trips_through_its_config() -> None:
    wrapped = losses.LossFunctionWrapper(squared_error, reduction="sum", name="mine")
    config = losses.serialize(wrapped)
    # the function by name, as Keras' configs name it, found again through custom_objects
    assert config == {
        "class_name": "LossFunctionWrapper",
        "config": {
            "reduction": "sum",
            "name": "mine",
            "fn": {"class_name": "function", "config": "squared_error"},
        },
    }
    known = {"squared_error": squared_error}
    again = losses.deserialize(config, custom_objects=known)
    assert isinstance(again, losses.LossFunctionWrapper)
    assert (again.fn, again.reduction, again.name) == (squared_error, "sum", "mine")
    with pytest.raises(
        br.InvalidArgumentError, match="unknown loss function 'squared_error'.*custom_objects"
    ):
        losses.deserialize(config)
    named = {"class_name": "LossFunctionWrapper", "config": {**config["config"], "fn": "squared_error"}}
    found = losses.deserialize(named, custom_objects=known)
    assert found.fn is squared_error
    with pytest.raises(br.InvalidArgumentError, match="unknown loss 'LossFunctionWrapper'"):
        losses.get("LossFunctionWrapper")  # not a name: it needs its function
