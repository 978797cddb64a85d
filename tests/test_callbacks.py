"""EarlyStopping and ReduceLROnPlateau against Keras 3: the same monitored sequences are fed to
both (one Keras subprocess for all the sequences hypothesis draws), and in ``fit`` on each backend."""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bridge as br
from bridge import callbacks, losses, metrics, nn, optim

from .keras_reference import keras_json

pytestmark = pytest.mark.bridge_requires("autodiff", "variables")


class FakeModel:
    """What the two callbacks use of a model; its one weight is the number of the last epoch."""

    def __init__(self, learning_rate: float) -> None:
        self.stop_training = False
        self.optimizer = type(
            "Optimizer", (), {"learning_rate": learning_rate, "learning_rate_schedule": None}
        )()
        self._weights = [np.zeros(())]

    def get_weights(self):
        return [w.copy() for w in self._weights]

    def set_weights(self, weights):
        self._weights = [np.array(w) for w in weights]


def simulate(callback, monitor, values):
    """Feed ``values`` as ``logs[monitor]`` epoch by epoch; what the callback did, as JSON text."""
    model = FakeModel(0.1)
    callback.set_model(model)
    printed = io.StringIO()
    epochs = []
    with contextlib.redirect_stdout(printed):
        callback.on_train_begin()
        for epoch, value in enumerate(values):
            model.set_weights([np.array(float(epoch))])
            logs = {monitor: value}
            callback.on_epoch_end(epoch, logs)
            lr = float(model.optimizer.learning_rate)
            best = None if callback.best is None else float(callback.best)
            epochs.append([callback.wait, best, logs.get("learning_rate"), lr, model.stop_training])
            if model.stop_training:
                break
        callback.on_train_end()
    ends = {
        name: getattr(callback, name, None) for name in ("stopped_epoch", "best_epoch", "cooldown_counter")
    }
    final = {"weight": float(model.get_weights()[0]), "printed": printed.getvalue(), **ends}
    return json.dumps({"epochs": epochs, **final})


_RUNNER = """
import contextlib, io, json, sys
import numpy as np
from keras import callbacks
{sources}
cases = json.load(sys.stdin)
print(json.dumps([simulate(getattr(callbacks, c["cls"])(**c["kwargs"]), c["monitor"], c["values"])
                  for c in cases]))
"""


def keras_results(cases: list[dict]) -> list[str]:
    """``simulate`` run on Keras 3's own callbacks, in one subprocess, for every case."""
    sources = inspect.getsource(FakeModel) + "\n" + inspect.getsource(simulate)
    return keras_json(textwrap.dedent(_RUNNER).format(sources=sources), stdin=json.dumps(cases))


def drawn_cases(strategy: st.SearchStrategy, count: int) -> list[dict]:
    """``count`` cases drawn by hypothesis (collected first, to run Keras once for all of them)."""
    cases: list[dict] = []

    @settings(max_examples=count, database=None)
    @given(strategy)
    def collect(case: dict) -> None:
        cases.append(case)

    collect()
    return cases


# ties, near-ties below float32 resolution, NaN, and arbitrary values
_VALUES = st.lists(
    st.one_of(
        st.sampled_from([0.5, 1.0, 1.0 + 1e-9, 1.05, 1.1, 1.5, 2.0, float("nan")]),
        st.floats(-5, 5, allow_nan=False, allow_subnormal=False),  # Keras on TF flushes subnormals to 0
    ),
    min_size=1,
    max_size=12,
)
_MONITORS = st.sampled_from([("val_loss", "auto"), ("loss", "min"), ("val_accuracy", "max")])
_DELTAS = st.sampled_from([0.0, 1e-9, 0.05, -0.1, 0.5])


@st.composite
def early_stopping_cases(draw: st.DrawFn) -> dict:
    monitor, mode = draw(_MONITORS)
    kwargs = {
        "monitor": monitor,
        "mode": mode,
        "min_delta": draw(_DELTAS),
        "patience": draw(st.integers(0, 4)),
        "verbose": draw(st.sampled_from([0, 1])),
        "baseline": draw(st.one_of(st.none(), st.sampled_from([0.0, 1.0, 1.2, 3.0]))),
        "restore_best_weights": draw(st.booleans()),
        "start_from_epoch": draw(st.integers(0, 3)),
    }
    return {"cls": "EarlyStopping", "kwargs": kwargs, "monitor": monitor, "values": draw(_VALUES)}


@st.composite
def reduce_lr_cases(draw: st.DrawFn) -> dict:
    monitor, mode = draw(_MONITORS)
    kwargs = {
        "monitor": monitor,
        "mode": mode,
        "factor": draw(st.sampled_from([0.1, 0.5, 0.9])),
        "patience": draw(st.integers(0, 3)),
        "verbose": draw(st.sampled_from([0, 1])),
        "min_delta": draw(_DELTAS),
        "cooldown": draw(st.integers(0, 2)),
        "min_lr": draw(st.sampled_from([0.0, 0.001, 0.05, 0.1])),
    }
    return {"cls": "ReduceLROnPlateau", "kwargs": kwargs, "monitor": monitor, "values": draw(_VALUES)}


def _assert_as_keras(cases: list[dict]) -> None:
    for case, expected in zip(cases, keras_results(cases), strict=True):
        callback = getattr(callbacks, case["cls"])(**case["kwargs"])
        actual = simulate(callback, case["monitor"], case["values"])
        assert actual == expected, case


@pytest.mark.needs("keras", "tensorflow")
@pytest.mark.slow
def test_early_stopping_matches_keras() -> None:
    fixed = [  # the example: patience=3 stops after the fourth epoch; restored at the end
        {"cls": "EarlyStopping", "monitor": "val_loss", "values": [1.0, 2.0, 2.0, 2.0, 2.0, 2.0],
         "kwargs": {"patience": 3, "verbose": 1, "restore_best_weights": True}},
        {"cls": "EarlyStopping", "monitor": "val_loss", "values": [3.0, 1.0, 2.0],
         "kwargs": {"patience": 5, "restore_best_weights": True}},
    ]  # fmt: skip
    _assert_as_keras(fixed + drawn_cases(early_stopping_cases(), 150))


@pytest.mark.needs("keras", "tensorflow")
@pytest.mark.slow
def test_reduce_lr_on_plateau_matches_keras() -> None:
    fixed = [
        {"cls": "ReduceLROnPlateau", "monitor": "val_loss", "values": [1.0, 2.0, 2.0, 2.0, 2.0, 0.5, 0.6],
         "kwargs": {"patience": 2, "factor": 0.5, "cooldown": 1, "verbose": 1}},
    ]  # fmt: skip
    _assert_as_keras(fixed + drawn_cases(reduce_lr_cases(), 150))


class Scores(callbacks.Callback):
    """Puts ``scores[epoch]`` in the logs as ``"score"`` and keeps each epoch's weights."""

    def __init__(self, scores: list[float]) -> None:
        super().__init__()
        self.scores, self.weights = scores, []

    def on_epoch_end(self, epoch, logs=None):
        logs["score"] = self.scores[epoch]
        self.weights.append(self.model.get_weights())


def _fit(scores: list[float], stop: callbacks.Callback, epochs: int):
    x = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    y = (x.sum(1) > 0).astype(np.int64)
    model = nn.Sequential([nn.Dense(8, activation="relu"), nn.Dense(2)])
    model.compile(optimizer=optim.SGD(0.1), loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    spy = Scores(scores)
    history = model.fit(x, y, epochs=epochs, batch_size=8, callbacks=[spy, stop], verbose=0, seed=0)
    return model, spy, history


def test_early_stopping_in_fit(backend) -> None:
    stop = callbacks.EarlyStopping(monitor="score", mode="min", patience=3, restore_best_weights=True)
    model, spy, history = _fit([1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0], stop, epochs=7)
    assert len(history.history["loss"]) == 4 and stop.stopped_epoch == 3  # Keras: after epoch 4
    for restored, best in zip(model.get_weights(), spy.weights[0], strict=True):
        np.testing.assert_array_equal(restored, best)
    # training that ends without stopping also goes back to the best epoch
    stop = callbacks.EarlyStopping(monitor="score", mode="min", patience=5, restore_best_weights=True)
    model, spy, history = _fit([3.0, 1.0, 2.0], stop, epochs=3)
    assert len(history.history["loss"]) == 3 and stop.stopped_epoch == 0 and stop.best_epoch == 1
    for restored, best in zip(model.get_weights(), spy.weights[1], strict=True):
        np.testing.assert_array_equal(restored, best)


def test_early_stopping_baseline_and_verbose(backend, capsys) -> None:
    stop = callbacks.EarlyStopping(monitor="score", mode="max", patience=2, baseline=0.9, verbose=1)
    _, _, history = _fit([0.5] * 6, stop, epochs=6)
    assert len(history.history["loss"]) == 2  # the first epoch did not reach the baseline: no reset
    assert capsys.readouterr().out == "Epoch 2: early stopping\n"


def test_reduce_lr_on_plateau_in_fit(backend, capsys) -> None:
    plateau = callbacks.ReduceLROnPlateau(monitor="score", mode="min", factor=0.5, patience=1, verbose=1)
    _, _, history = _fit([1.0, 1.0, 1.0, 0.5], plateau, epochs=4)
    # the logs hold the rate each epoch trained with (the reduction applies from the next one)
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    assert "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.05" in capsys.readouterr().out


@pytest.mark.parametrize(
    "make, maximize",
    [
        (lambda: metrics.F1Score(average="macro", name="f1"), True),
        (lambda: metrics.AUC(name="roc"), True),
        (lambda: metrics.R2Score(), True),
        (lambda: metrics.MeanIoU(2, sparse_y_true=False, sparse_y_pred=False), True),
        (lambda: metrics.RootMeanSquaredError(), False),
        (lambda: metrics.BinaryCrossentropy(name="bce"), False),
    ],
)
def test_auto_mode_follows_the_metric_direction_as_keras(backend, make, maximize) -> None:
    """Keras 3 asks the model's metric which way it improves (``_direction``), whatever its name
    (an F1 score named "f1" goes up, an RMSE down)."""
    x = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[(x[:, 0] > 0).astype(int)]
    model, metric = nn.Sequential([nn.Dense(2, activation="sigmoid")]), make()
    model.compile(optimizer=optim.SGD(0.1), loss="binary_crossentropy", metrics=[metric])
    stop = callbacks.EarlyStopping(monitor=f"val_{metric.name}", patience=5)
    model.fit(x, y, validation_data=(x, y), epochs=1, verbose=0, callbacks=[stop])
    assert stop._maximize is maximize


def test_auto_mode_refuses_a_monitor_without_a_direction(backend) -> None:
    """As Keras: a log that is neither a loss nor a metric with a direction needs ``mode``."""
    stop = callbacks.EarlyStopping(monitor="score")
    with pytest.raises(br.InvalidArgumentError, match="EarlyStopping: mode='auto' cannot tell .*'score'"):
        _fit([1.0, 0.5], stop, epochs=2)


def test_bad_mode_and_factor() -> None:
    with pytest.raises(br.InvalidArgumentError, match="EarlyStopping: mode must be"):
        callbacks.EarlyStopping(mode="up")
    with pytest.raises(br.InvalidArgumentError, match="factor must be below 1, got 1.5"):
        callbacks.ReduceLROnPlateau(factor=1.5)


def test_learning_rate_scheduler_on_a_scheduled_optimizer_fails_as_training_begins(backend) -> None:
    """Keras raises a TypeError at the first epoch; bridge raises when training begins, before
    any step, naming the callback and the schedule."""
    x = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    model = nn.Sequential([nn.Dense(1)])
    model.compile(optimizer=optim.SGD(optim.ExponentialDecay(0.1, 10, 0.9)), loss="mse")
    model.build((None, 4))
    before = model.get_weights()
    scheduler = callbacks.LearningRateScheduler(lambda epoch, rate: rate)
    with pytest.raises(
        br.InvalidArgumentError, match="LearningRateScheduler: .* already is a schedule"
    ) as info:
        model.fit(x, x[:, :1], callbacks=[scheduler], verbose=0)
    assert isinstance(info.value, TypeError) and "ExponentialDecay" in str(info.value)
    for got, want in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)


def test_callback_list_fans_out_and_ends_with_the_history(backend) -> None:
    calls = []

    class Spy(callbacks.Callback):
        def __init__(self, name):
            super().__init__()
            self.name = name

        def on_epoch_end(self, epoch, logs=None):
            calls.append((self.name, epoch, sorted(logs)))
            logs[f"seen_by_{self.name}"] = 1.0

    model = nn.Sequential([nn.Dense(1)])
    every = callbacks.CallbackList([Spy("a"), Spy("b")], model=model)
    assert [type(c).__name__ for c in every.callbacks] == ["Spy", "Spy", "History"]
    assert all(c.model is model for c in every.callbacks)
    every.on_epoch_end(0, {"loss": 1.0})
    assert calls == [("a", 0, ["loss"]), ("b", 0, ["loss", "seen_by_a"])]
    assert every.history.history == {"loss": [1.0], "seen_by_a": [1.0], "seen_by_b": [1.0]}


def test_reduce_lr_on_plateau_on_a_scheduled_optimizer_fails_as_training_begins(backend) -> None:
    """As LearningRateScheduler: the same error, before any step, naming the callback and the
    schedule (not a generic error at the first reduction)."""
    x = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    model = nn.Sequential([nn.Dense(1)])
    model.compile(optimizer=optim.SGD(optim.ExponentialDecay(0.1, 10, 0.9)), loss="mse")
    model.build((None, 4))
    before = model.get_weights()
    reduce = callbacks.ReduceLROnPlateau(monitor="loss", patience=0, factor=0.5)
    with pytest.raises(br.InvalidArgumentError, match="ReduceLROnPlateau: .* already is a schedule") as info:
        model.fit(x, x[:, :1], epochs=3, callbacks=[reduce], verbose=0)
    assert isinstance(info.value, TypeError) and "ExponentialDecay" in str(info.value)
    for got, want in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)


def test_terminate_on_nan_declares_its_snapshot() -> None:
    assert callbacks.TerminateOnNaN()._snapshot == []
