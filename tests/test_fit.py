"""Model.fit's step: non-finite gradients, moving a model between devices, the random stream,
and the checks of fit / evaluate / predict arguments."""

from __future__ import annotations

import functools
import io
import logging
import re

import numpy as np
import pytest

import bridge as br
from bridge import callbacks, losses, nn, optim

from .keras_reference import keras_json
from .test_model import iris

pytestmark = pytest.mark.bridge_requires("autodiff", "variables")

JIT_MODES = pytest.mark.parametrize("jit", [False, True, "auto"], ids=["eager", "jit", "auto"])


def mlp(jit="auto", learning_rate=1e-2, optimizer=None):
    br.random.seed(4)
    model = nn.Sequential([nn.Dense(8, activation="relu"), nn.Dense(3)])
    model.compile(
        optimizer=optimizer or optim.Adam(learning_rate),
        loss=losses.SparseCategoricalCrossentropy(from_logits=True),
        jit=jit,
    )
    model(np.zeros((1, 4), np.float32))  # built now: its weights come from seed 4
    return model


def state(model):
    """The weights and every optimizer variable (step counter, learning rate, slots)."""
    return [v.numpy().copy() for v in [*model.weights, *model.optimizer.variables]]


def assert_same(got, expected):
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


def with_a_nan_batch():
    """Iris with the third batch of 16 (rows 32-47) made NaN: its loss and gradients are NaN."""
    x, y = iris()
    x = x[:64].copy()
    x[32:48] = np.nan
    return x, y[:64]


# --- item 1: non-finite gradients -------------------------------------------------------------
@pytest.mark.slow
@JIT_MODES
def test_a_nan_batch_changes_nothing_and_fit_names_its_step(backend, jit):
    x, y = with_a_nan_batch()
    model = mlp(jit)
    model.fit(x[:32], y[:32], batch_size=16, shuffle=False, verbose=0)  # steps 1-2: build, compile
    clean = mlp(jit)
    clean.fit(x[:32], y[:32], batch_size=16, shuffle=False, verbose=0)
    clean.fit(x[:32], y[:32], batch_size=16, shuffle=False, verbose=0)
    with pytest.raises(br.NonFiniteError) as info:
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    message = str(info.value)
    assert message == (
        "fit: optimizer step 5 (epoch 1) produced non-finite gradients (a NaN or infinite loss?); "
        "no variable changed at that step or after it: the model keeps the weights from before it"
    )
    assert isinstance(info.value, FloatingPointError)
    assert_same(state(model), state(clean))  # steps 3-4 trained, step 5 and the batch after it did not
    model.fit(x[:32], y[:32], batch_size=16, shuffle=False, verbose=0)  # a new fit trains on
    assert int(model.optimizer.iterations.numpy()) == 6


@pytest.mark.slow
@JIT_MODES
def test_terminate_on_nan_stops_with_the_last_finite_weights(backend, jit, capsys):
    x, y = with_a_nan_batch()
    model, clean = mlp(jit), mlp(jit)
    clean.fit(x[:32], y[:32], batch_size=16, shuffle=False, verbose=0)
    history = model.fit(
        x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, callbacks=[callbacks.TerminateOnNaN()]
    )
    assert len(history.history["loss"]) == 1
    assert_same(state(model), state(clean))
    assert "TerminateOnNaN" in capsys.readouterr().err


class Sqrt(nn.Layer):
    def call(self, x):
        return br.ops.sqrt(x)


def sqrt_model(jit):
    """Outputs sqrt(0) = 0 at the start: a finite loss, infinite gradients."""
    model = nn.Sequential([nn.Dense(3, kernel_initializer="zeros"), Sqrt()])
    model.compile(optimizer=optim.SGD(0.1), loss="mse", jit=jit)
    return model


@pytest.mark.parametrize("jit", [False, "auto"], ids=["eager", "auto"])
def test_non_finite_gradients_under_a_finite_loss_are_caught(backend, jit):
    x, targets = iris()[0][:32], np.ones((32, 3), np.float32)
    model = sqrt_model(jit)
    with pytest.raises(br.NonFiniteError, match="optimizer step 1 "):
        model.fit(x, targets, batch_size=16, verbose=0)
    assert_same(model.get_weights(), [np.zeros((4, 3), np.float32), np.zeros(3, np.float32)])
    model = sqrt_model(jit)
    stop = callbacks.TerminateOnNaN()
    history = model.fit(x, targets, batch_size=16, verbose=0, epochs=3, callbacks=[stop])
    assert np.isfinite(history.history["loss"]).all() and len(history.history["loss"]) == 1
    assert_same(model.get_weights(), [np.zeros((4, 3), np.float32), np.zeros(3, np.float32)])


# --- item 7: Model.to -------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("jit", [True, "auto"], ids=["jit", "auto"])
def test_after_to_a_compiled_step_trains_the_weights_the_model_reports(backend, jit):
    x, y = iris()
    moved, kept = mlp(jit), mlp(jit)
    for model in (moved, kept):
        model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    assert moved.to("CPU:0") is moved
    before = moved.get_weights()
    for model in (moved, kept):
        model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(moved.get_weights(), before))
    assert_same(state(moved), state(kept))
    assert {v.device for v in moved.optimizer.variables} == {"cpu"}


def test_to_takes_device_names_as_tensors_do(backend):
    model = mlp()
    model.fit(*iris(), epochs=1, verbose=0)
    tensor = br.ones((2,))
    for name in ("cpu", "CPU:0", "/device:CPU:0"):
        assert model.to(name) is model and tensor.to(name).device == "cpu"
    missing = [d for d in ("gpu:0", "gpu:7") if d not in br.devices()]
    for name in [*missing, "tpu", "gpu:x", 3]:
        with pytest.raises(br.DeviceError) as expected:
            tensor.to(name)
        with pytest.raises(br.DeviceError) as got:
            model.to(name)
        assert str(got.value) == str(expected.value).replace("to_device: ", "to: ")
        with pytest.raises(br.DeviceError):
            nn.Dense(2).to(name)  # unbuilt: still checked


def test_to_moves_the_state_of_seed_generators(backend):
    def masks(move):
        layer = nn.Dropout(0.5, seed=1)
        first = layer(br.ones((2, 8)), training=True).numpy()
        native = layer.seed_generator.state._native
        if move:
            layer.to("cpu")  # without a GPU, a new native variable is the only sign of the move
            assert layer.seed_generator.state._native is not native
        return first, layer(br.ones((2, 8)), training=True).numpy()

    assert_same(masks(True), masks(False))


# --- item 10: the random stream ---------------------------------------------------------------
def initial_weights(feed):
    """The weights a model starts from when fit is fed as ``feed`` says (a learning rate of 0
    keeps them)."""
    x, y = iris()
    br.random.seed(11)
    model = nn.Sequential([nn.Dense(8, activation="relu"), nn.Dense(3)])
    model.compile(optimizer=optim.SGD(0.0), loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    feed(model, x, y)
    return model.get_weights()


@pytest.mark.needs("torch")
def test_initial_weights_do_not_depend_on_how_fit_is_fed(backend):
    import torch

    def loader(model, x, y):
        data = torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y))
        model.fit(torch.utils.data.DataLoader(data, batch_size=32), verbose=0)

    feeds = {
        "no seed": lambda model, x, y: model.fit(x, y, verbose=0),
        "seed=0": lambda model, x, y: model.fit(x, y, seed=0, verbose=0),
        "no shuffle": lambda model, x, y: model.fit(x, y, shuffle=False, verbose=0),
        "validation_split": lambda model, x, y: model.fit(x, y, validation_split=0.2, verbose=0),
        "DataLoader": loader,
        "a call": lambda model, x, y: model(x),
    }
    reference = initial_weights(feeds.pop("a call"))
    for name, feed in feeds.items():
        for got, want in zip(initial_weights(feed), reference):
            np.testing.assert_array_equal(got, want, err_msg=name)


def test_shuffling_without_a_seed_repeats_after_random_seed(backend):
    x, y = iris()
    runs = [mlp().fit(x, y, epochs=2, verbose=0).history["loss"] for _ in range(2)]  # mlp() seeds
    assert runs[0] == runs[1]
    br.random.seed(4)
    first = list(br.data.batches(x, y, batch_size=150, shuffle=True))[0][1].numpy()
    br.random.seed(4)
    again = list(br.data.batches(x, y, batch_size=150, shuffle=True))[0][1].numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, y)


# --- item 12: argument checks -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"batch_size": 0}, "fit: batch_size must be an int >= 1, got 0"),
        ({"batch_size": -4}, "fit: batch_size must be an int >= 1"),
        ({"batch_size": 2.5}, "fit: batch_size must be an int >= 1"),
        ({"epochs": -1}, "fit: epochs must be an int >= 0, got -1"),
        ({"epochs": 2, "initial_epoch": 3}, "fit: initial_epoch=3 is past epochs=2"),
        ({"validation_split": 0.99}, "leaves none to train on"),
        ({"sample_weight": np.ones(5)}, "sample_weight has 5 values but x has 3 samples"),
        ({"sample_weight": np.ones(5), "validation_split": 0.5}, "sample_weight has 5 values"),
        ({"shuffle": "yes"}, "fit: shuffle must be True or False"),
        ({"verbose": "loud"}, "fit: verbose must be an int >= 0"),
        ({"callbacks": "x"}, "fit: callbacks must be a list of Callbacks"),
        ({"callbacks": [1]}, "fit: callbacks must be a list of Callbacks"),
    ],
)
def test_fit_rejects_bad_arguments_before_training(backend, arguments, message):
    x, y = iris()
    model = mlp()
    model.fit(x[:3], y[:3], verbose=0)
    before = model.get_weights()
    with pytest.raises(br.InvalidArgumentError, match=message) as info:
        model.fit(x[:3], y[:3], **{"verbose": 0, **arguments})
    assert isinstance(info.value, ValueError)
    assert_same(model.get_weights(), before)


def test_fit_and_evaluate_reject_empty_data(backend):
    model = mlp()
    empty_x, empty_y = np.zeros((0, 4), np.float32), np.zeros((0,), np.int64)
    with pytest.raises(br.InvalidArgumentError, match="fit: x holds no sample"):
        model.fit(empty_x, empty_y, verbose=0)
    with pytest.raises(br.InvalidArgumentError, match="fit: the training data holds no batch"):
        model.fit(iter([]), verbose=0)
    with pytest.raises(br.InvalidArgumentError, match="evaluate: batch_size must be an int >= 1"):
        model.evaluate(*iris(), batch_size=0)
    with pytest.raises(br.InvalidArgumentError, match="sample_weight has 2 values but x has 150"):
        model.evaluate(*iris(), sample_weight=np.ones(2))


def test_epochs_zero_trains_nothing(backend):
    x, y = iris()
    history = mlp().fit(x, y, epochs=0, verbose=0)
    assert history.history == {}


def test_predict_on_empty_input_gives_zero_rows_of_outputs(backend):
    x, _ = iris()
    model = mlp()
    assert model.predict(x[:0]).shape == (0, 3)  # unbuilt: builds from the empty batch's shape
    model.predict(x[:5])
    out = model.predict(br.tensor(x[:0]))
    assert out.shape == (0, 3) and out.dtype == np.float32
    with pytest.raises(br.InvalidArgumentError, match="predict: batch_size must be an int >= 1"):
        model.predict(x, batch_size=0)


def test_validation_split_splits_the_sample_weights_too(backend):
    x, y = iris()
    weights = np.random.default_rng(0).uniform(0.1, 2.0, len(y)).astype(np.float32)
    split = mlp().fit(x, y, sample_weight=weights, validation_split=0.2, shuffle=False, verbose=0)
    given = mlp().fit(
        x[:120],
        y[:120],
        sample_weight=weights[:120],
        validation_data=(x[120:], y[120:], weights[120:]),
        shuffle=False,
        verbose=0,
    )
    assert split.history == given.history


# --- logs as numbers: metrics whose result is not a scalar ------------------------------------
KERAS_PRECISION_LOGS = r"""
import json
import numpy as np
import keras

x = np.random.default_rng(0).normal(size=(20, 3)).astype("float32")
y = (x[:, 0] > 0).astype("float32")
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
model.compile("sgd", "binary_crossentropy", metrics=[keras.metrics.Precision(thresholds=[0.3, 0.7])])
history = model.fit(x, y, epochs=1, batch_size=10, verbose=0, validation_data=(x, y)).history
logs = model.evaluate(x, y, verbose=0, return_dict=True)

def kind(value):
    return [type(value).__name__, str(getattr(value, "dtype", "")), list(np.shape(value))]

print(json.dumps({"history": {k: kind(v[0]) for k, v in history.items()},
                  "evaluate": {k: kind(v) for k, v in logs.items()}}))
"""


@functools.cache
def keras_precision_logs():
    return keras_json(KERAS_PRECISION_LOGS)


@pytest.mark.needs("keras", "tensorflow")
@pytest.mark.slow
def test_a_metric_with_several_results_is_logged_as_keras_logs_it(backend):
    """Precision with two thresholds: fit's history and evaluate hold a float32 array for it (a
    float for the loss), as Keras 3; the progress display shows its mean, as Keras' bar."""
    expected = keras_precision_logs()
    x = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    model = nn.Sequential([nn.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", metrics=[br.metrics.Precision(thresholds=[0.3, 0.7])])
    history = model.fit(x, y, epochs=1, batch_size=10, verbose=0, validation_data=(x, y)).history
    logs = model.evaluate(x, y, return_dict=True)

    def kind(value):
        return [type(value).__name__, str(getattr(value, "dtype", "")), list(np.shape(value))]

    assert {k: kind(v[0]) for k, v in history.items()} == expected["history"]
    assert {k: kind(v) for k, v in logs.items()} == expected["evaluate"]
    assert callbacks.format_logs(logs)[0].endswith(f"precision: {np.mean(logs['precision']):.4f}")


# --- the progress display ---------------------------------------------------------------------
def screen_lines(text):
    """What a terminal shows, line by line: each carriage return or newline starts a line; ANSI
    cursor moves are dropped."""
    return [line for line in re.split(r"[\r\n]", re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)) if line.strip()]


METRIC_LINE = re.compile(r"^[a-z_]+: -?\d+\.\d{4}( - [a-z_]+: -?\d+\.\d{4})*$")


@pytest.mark.parametrize("verbose", [1, 2])
def test_the_progress_display_shows_every_metric_within_80_columns(backend, capsys, verbose):
    x, y = iris()
    model = nn.Sequential([nn.Dense(8, activation="relu"), nn.Dense(3)])
    metrics = ["accuracy", br.metrics.SparseCategoricalAccuracy(name="sparse_categorical_accuracy")]
    model.compile("adam", losses.SparseCategoricalCrossentropy(from_logits=True), metrics=metrics)
    history = model.fit(x, y, epochs=2, batch_size=50, verbose=verbose, validation_split=0.2, seed=0)
    captured = capsys.readouterr()
    lines = screen_lines(captured.err if verbose == 1 else captured.out)
    assert lines and all(len(line) <= 80 for line in lines), lines
    shown = " ".join(lines)
    for name in history.history:  # validation ones included
        assert f"{name}: " in shown, name
    assert any("val_" in line for line in lines) and any("Epoch 2/2" in line for line in lines)
    metric_lines = [line.removeprefix("Epoch 1/2 - ").removeprefix("Epoch 2/2 - ") for line in lines]
    metric_lines = [line for line in metric_lines if not line.startswith("Epoch")]
    assert metric_lines and all(METRIC_LINE.match(line) for line in metric_lines), metric_lines  # one format
    if verbose == 1:  # refreshed per batch during the epoch, in the format of its end
        assert sum("loss: " in line and "val_" not in line for line in metric_lines) > 2


# --- summary and build ------------------------------------------------------------------------
def test_summary_before_build_says_so_and_build_builds(backend):
    model = nn.Sequential([nn.Dense(8, activation="relu"), nn.Dense(2)])
    printed = []
    model.summary(print_fn=printed.append)
    text = "\n".join(printed)
    assert not model.built and "not built yet" in text and "model.build(" in text
    assert text.count("0 (unbuilt)") == 2 and "Total params" not in text  # as Keras: no count yet
    model.build((None, 4))
    assert model.built and [w.shape for w in model.weights] == [(4, 8), (8,), (8, 2), (2,)]
    printed.clear()
    model.summary(print_fn=printed.append)
    text = "\n".join(printed)
    assert "(None, 8)" in text and "(None, 2)" in text and "not built" not in text
    assert "Total params: 58 (trainable: 58, non-trainable: 0)" in text  # Keras: 40 + 18
    assert model.predict(np.ones((3, 4), np.float32)).shape == (3, 2)


def test_build_rejects_a_shape_without_the_batch_axis_as_a_tuple(backend):
    with pytest.raises(br.InvalidArgumentError, match=r"build: input_shape must be a tuple"):
        nn.Sequential([nn.Dense(2)]).build("4")


# --- predict on one sample without its batch axis ---------------------------------------------
@pytest.mark.parametrize("features", [4, 3, 1])
@pytest.mark.parametrize("as_tensor", [False, True], ids=["numpy", "tensor"])
def test_predict_on_one_unbatched_sample_asks_for_the_batch_axis(backend, features, as_tensor):
    model = nn.Sequential([nn.Dense(2)])
    model.build((None, 4))
    sample = np.ones(features, np.float32)
    with pytest.raises(br.ShapeError, match=r"add the batch axis \(x\[None\]") as info:
        model.predict(br.tensor(sample) if as_tensor else sample)
    assert isinstance(info.value, ValueError)
    assert f"x has shape ({features},)" in str(info.value) and "(None, 4)" in str(info.value)
    assert model.predict(np.ones((1, 4), np.float32)).shape == (1, 2)


def test_predict_checks_the_batch_axis_of_a_model_built_on_data(backend):
    x, _ = iris()
    model = mlp()  # built by a call on (1, 4)
    with pytest.raises(br.ShapeError, match=r"x\[None\]"):
        model.predict(x[0])
    assert model.predict(x[0][None]).shape == (1, 3)


# --- TensorFlow: several models in a row ------------------------------------------------------
@pytest.mark.needs("tensorflow")
@pytest.mark.slow
def test_several_models_in_a_row_give_no_tensorflow_retracing_warning():
    """Six models built and trained one after another, as a script comparing models does: each
    model's compiled steps trace once (per batch shape), and TensorFlow must not count those
    traces together as one function "retracing" (it counted every bridge.jit function as one)."""
    x, y = iris()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tensorflow")
    logger.addHandler(handler)
    try:
        with br.use_backend("tensorflow"):
            for _ in range(6):
                model = mlp(jit="auto")
                model.fit(x[:96], y[:96], batch_size=32, validation_data=(x[96:], y[96:]), verbose=0)
    finally:
        logger.removeHandler(handler)
    assert "retracing" not in stream.getvalue(), stream.getvalue()
