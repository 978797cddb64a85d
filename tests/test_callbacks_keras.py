"""LambdaCallback, ProgbarLogger and TensorBoard against Keras 3's own: the hooks a LambdaCallback
sees in a fit, and the event files TensorBoard writes for the same small fit from the same
weights, read back with TensorBoard's own EventAccumulator (tags, steps, values), on both bridge
backends against Keras on both of its backends (one Keras process per Keras backend)."""

from __future__ import annotations

import json
import os
import struct
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import bridge as br
from bridge import callbacks, nn, optim, schedules

from .keras_reference import keras_json

pytestmark = pytest.mark.bridge_requires("autodiff", "variables")

KERAS_BACKENDS = ("tensorflow", "torch")
#: float32 training of a few steps from the same weights, as Keras' own tests compare fits
RTOL, ATOL = 1e-4, 1e-6

RNG = np.random.default_rng(14)
X = RNG.standard_normal((12, 3)).astype(np.float32)
Y = (X @ RNG.standard_normal((3, 1))).astype(np.float32)
WEIGHTS = [
    RNG.standard_normal((3, 4)).astype(np.float32),
    RNG.standard_normal(4).astype(np.float32) * 0.1,
    *(np.ones(4, np.float32), np.zeros(4, np.float32), np.zeros(4, np.float32), np.ones(4, np.float32)),
    RNG.standard_normal((4, 1)).astype(np.float32),
    np.zeros(1, np.float32),
]
#: the fits whose event files are compared: TensorBoard's arguments
FITS = {
    "full": {"update_freq": 1, "histogram_freq": 2, "write_steps_per_second": True, "write_images": True},
    "every_2": {"update_freq": 2},
    "epoch": {},
}

#: Reads a log folder back as {run: {tag: [[step, value], ...]}}; an image is [width, height,
#: its PNGs], decoded by ``decode`` (Keras' PNGs are TensorFlow's, bridge's its own).
READ = r"""
def read_logs(folder, decode):
    import os
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    runs = {}
    for run in sorted(os.listdir(folder)):
        events = event_accumulator.EventAccumulator(
            os.path.join(folder, run), size_guidance={"tensors": 0}, purge_orphaned_data=False
        )
        events.Reload()
        tags = {}
        for tag in events.Tags()["tensors"]:
            plugin = events.SummaryMetadata(tag).plugin_data.plugin_name
            values = []
            for event in events.Tensors(tag):
                if plugin == "images":
                    width, height, *pngs = event.tensor_proto.string_val
                    value = [int(width), int(height), [decode(png) for png in pngs]]
                elif plugin == "graph_keras_model":
                    value = None
                else:
                    value = tensor_util.make_ndarray(event.tensor_proto).tolist()
                values.append([event.step, value])
            tags[tag] = {"plugin": plugin, "values": values}
        runs[run] = tags
    return runs
"""

KERAS_PROGRAM = (
    READ
    + r"""
import json, sys, tempfile
import numpy as np
import keras
import tensorflow as tf

data = json.loads(sys.stdin.read())
x, y = np.array(data["x"], np.float32), np.array(data["y"], np.float32)
weights = [np.array(w, np.float32) for w in data["weights"]]

def model():
    net = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, activation="relu", name="hidden"),
         keras.layers.BatchNormalization(name="norm"), keras.layers.Dense(1, name="out")],
        name="net",
    )
    rate = keras.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5)
    net.compile(optimizer=keras.optimizers.SGD(rate), loss="mse", metrics=["mae"])
    net.set_weights(weights)
    return net

def decode(png):
    return tf.io.decode_png(png).numpy()[..., 0].tolist()

out = {"fits": {}}
for name, arguments in data["fits"].items():
    folder = tempfile.mkdtemp()
    board = keras.callbacks.TensorBoard(folder, **arguments)
    history = model().fit(
        x, y, batch_size=4, epochs=3, shuffle=False, verbose=0, validation_data=(x, y), callbacks=[board]
    )
    out["fits"][name] = {"history": history.history, "logs": read_logs(folder, decode)}

calls = []
def record(name):
    return lambda *args, **kwargs: calls.append([name, *[a for a in args if isinstance(a, int)],
        sorted(next((a for a in args if isinstance(a, dict)), kwargs.get("logs")) or {})])
hooks = ["on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
         "on_train_batch_begin", "on_train_batch_end"]
lambdas = keras.callbacks.LambdaCallback(**{hook: record(hook) for hook in hooks})
aliases = keras.callbacks.LambdaCallback(on_batch_begin=record("on_batch_begin"),
                                         on_batch_end=record("on_batch_end"))
model().fit(x[:8], y[:8], batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[lambdas, aliases])
out["calls"] = calls

listed = keras.callbacks.CallbackList([keras.callbacks.ProgbarLogger()], add_progbar=True, verbose=1,
                                      epochs=1, steps=1)
out["progbars"] = sum(isinstance(c, keras.callbacks.ProgbarLogger) for c in listed.callbacks)
progbar = keras.callbacks.ProgbarLogger()
progbar.set_params({"verbose": "auto", "epochs": 2, "steps": 3})
out["auto_verbose"] = progbar.verbose
print(json.dumps(out))
"""
)

namespace: dict = {}
exec(READ, namespace)
read_logs = namespace["read_logs"]


def decode_png(png: bytes) -> list:
    """Bridge's PNGs (8-bit gray, every row with filter 0) as rows of pixels."""
    width, height = struct.unpack(">II", png[16:24])
    chunks, at = b"", 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        if png[at + 4 : at + 8] == b"IDAT":
            chunks += png[at + 8 : at + 8 + length]
        at += 12 + length
    rows = np.frombuffer(zlib.decompress(chunks), np.uint8).reshape(height, 1 + width)
    assert not rows[:, 0].any()
    return rows[:, 1:].tolist()


@pytest.fixture(scope="module")
def keras_runs() -> list[dict]:
    """Keras' answers on each of its backends (both processes at once)."""
    stdin = json.dumps(
        {"x": X.tolist(), "y": Y.tolist(), "weights": [w.tolist() for w in WEIGHTS], "fits": FITS}
    )
    with ThreadPoolExecutor(len(KERAS_BACKENDS)) as pool:
        return list(pool.map(lambda backend: keras_json(KERAS_PROGRAM, backend, stdin=stdin), KERAS_BACKENDS))


def make_model() -> nn.Model:
    net = nn.Sequential(
        [
            nn.Input((3,)),
            nn.Dense(4, activation="relu", name="hidden"),
            nn.BatchNormalization(name="norm"),
            nn.Dense(1, name="out"),
        ],
        name="net",
    )
    net.compile(optimizer=optim.SGD(schedules.ExponentialDecay(0.1, 2, 0.5)), loss="mse", metrics=["mae"])
    net.set_weights(WEIGHTS)
    return net


def bridge_fit(folder, **arguments) -> tuple[dict, dict]:
    """The history and the event files of bridge's fit of ``make_model`` with a TensorBoard."""
    history = make_model().fit(
        X,
        Y,
        batch_size=4,
        epochs=3,
        shuffle=False,
        verbose=0,
        validation_data=(X, Y),
        callbacks=[callbacks.TensorBoard(folder, **arguments)],
    )
    return history.history, read_logs(str(folder), decode_png)


def steps(logs: dict) -> dict:
    return {
        run: {tag: [s for s, _ in entry["values"]] for tag, entry in tags.items()}
        for run, tags in logs.items()
    }


@pytest.mark.needs("keras", "tensorflow", "torch", "tensorboard")
@pytest.mark.slow
def test_tensorboard_writes_what_keras_writes(backend, keras_runs, tmp_path):
    """Every tag Keras writes but its model summary (``keras``), at the same steps, with the same
    values: losses, metrics and validation ones per epoch and per batch, the learning rate of
    the schedule, the weights' histograms and images."""
    history, logs = bridge_fit(tmp_path, **FITS["full"])
    for keras_run in keras_runs:
        expected = keras_run["fits"]["full"]["logs"]
        expected = {**expected, "train": {k: v for k, v in expected["train"].items() if k != "keras"}}
        assert keras_run["fits"]["full"]["logs"]["train"]["keras"]["plugin"] == "graph_keras_model"
        assert steps(logs) == steps(expected)
        for run, tags in expected.items():
            for tag, entry in tags.items():
                ours = logs[run][tag]
                assert ours["plugin"] == entry["plugin"], tag
                if "steps_per_second" in tag:
                    assert all(value > 0 for _, value in ours["values"])
                elif entry["plugin"] == "images":
                    for (_, mine), (_, theirs) in zip(ours["values"], entry["values"]):
                        assert mine[:2] == theirs[:2], tag
                        np.testing.assert_allclose(mine[2], theirs[2], atol=1, err_msg=tag)
                else:
                    for (_, mine), (_, theirs) in zip(ours["values"], entry["values"]):
                        np.testing.assert_allclose(mine, theirs, rtol=RTOL, atol=ATOL, err_msg=tag)


@pytest.mark.needs("keras", "tensorflow", "torch", "tensorboard")
@pytest.mark.slow
def test_tensorboard_update_freq_as_keras(backend, keras_runs, tmp_path):
    """``update_freq=2``: the batch values every second batch, as Keras; ``"epoch"``: none. Keras
    then writes the epoch values only at epochs ending on an even batch count, bridge at all."""
    for name in ("every_2", "epoch"):
        _, logs = bridge_fit(tmp_path / name, **FITS[name])
        for keras_run in keras_runs:
            expected = steps(keras_run["fits"][name]["logs"])
            batch = {tag: at for tag, at in expected["train"].items() if tag.startswith("batch_")}
            assert batch == {tag: at for tag, at in steps(logs)["train"].items() if tag.startswith("batch_")}
            assert batch == (
                {"batch_loss": [2, 4, 6, 8], "batch_mae": [2, 4, 6, 8]} if name == "every_2" else {}
            )
        epochs = steps(logs)
        assert {tag: at for tag, at in epochs["train"].items() if tag.startswith("epoch_")} == {
            "epoch_loss": [0, 1, 2],
            "epoch_mae": [0, 1, 2],
            "epoch_learning_rate": [0, 1, 2],
        }
        assert set(epochs["validation"]) == {
            "epoch_loss",
            "epoch_mae",
            *(f"evaluation_{m}_vs_iterations" for m in ("loss", "mae")),
        }


@pytest.mark.needs("tensorboard")
def test_tensorboard_values_are_the_history(backend, tmp_path):
    """The epoch values are the fit's history, float32 as written, the learning rate the
    schedule's after each epoch's steps, and the evaluation steps the optimizer's iterations."""
    history, logs = bridge_fit(tmp_path, update_freq="epoch")
    train, validation = logs["train"], logs["validation"]
    for name in ("loss", "mae"):
        assert [v for _, v in train[f"epoch_{name}"]["values"]] == [
            float(np.float32(v)) for v in history[name]
        ]
        for tag in (f"epoch_{name}", f"evaluation_{name}_vs_iterations"):
            assert [v for _, v in validation[tag]["values"]] == [
                float(np.float32(v)) for v in history[f"val_{name}"]
            ]
    rates = [v for _, v in train["epoch_learning_rate"]["values"]]
    np.testing.assert_allclose(rates, [0.1 * 0.5 ** (3 * (epoch + 1) / 2) for epoch in range(3)], rtol=1e-6)
    assert [s for s, _ in validation["evaluation_loss_vs_iterations"]["values"]] == [3, 6, 9]


@pytest.mark.needs("tensorboard")
def test_tensorboard_functional_tags_and_new_files(backend, tmp_path):
    """A functional model's weights are tagged without the model's name (as Keras' paths); each
    fit writes new event files."""
    inputs = nn.Input((3,))
    model = nn.Model(inputs, nn.Dense(2, name="dense_f")(inputs))
    model.compile(optimizer="sgd", loss="mse")
    board = callbacks.TensorBoard(tmp_path, histogram_freq=1)
    for _ in range(2):
        model.fit(X, np.zeros((12, 2), np.float32), epochs=1, verbose=0, callbacks=[board])
    logs = read_logs(str(tmp_path), decode_png)
    assert set(logs) == {"train"}
    assert {"dense_f/kernel/histogram", "dense_f/bias/histogram", "epoch_loss"} <= set(logs["train"])
    assert len(os.listdir(tmp_path / "train")) == 2


def test_tensorboard_arguments():
    with pytest.raises(br.InvalidArgumentError, match="TensorBoard: histogram_freq"):
        callbacks.TensorBoard(histogram_freq=-1)
    with pytest.raises(br.InvalidArgumentError, match="TensorBoard: update_freq"):
        callbacks.TensorBoard(update_freq="step")
    with pytest.warns(UserWarning, match="profile_batch=2 is not supported"):
        callbacks.TensorBoard(profile_batch=2)
    with pytest.warns(UserWarning, match="embeddings_freq=1 is not supported"):
        callbacks.TensorBoard(embeddings_freq=1)


def test_tensorboard_without_the_package(tmp_path, monkeypatch):
    """No tensorboard package: the pip command, when the first file is written (not at import)."""
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    board = callbacks.TensorBoard(tmp_path)
    with pytest.raises(br.FrameworkNotInstalledError, match="pip install tensorboard"):
        board._writer("train")


@pytest.mark.needs("keras", "tensorflow", "torch", "tensorboard")
@pytest.mark.slow
def test_lambda_callback_calls_as_keras(backend, keras_runs):
    """The hooks, their order, arguments and logs' keys, in a fit of two epochs of two batches;
    ``on_batch_begin``/``on_batch_end`` are called with the train batch hooks."""
    calls = []

    def record(name):
        def hook(*args, **kwargs):
            logs = next((a for a in args if isinstance(a, dict)), kwargs.get("logs"))
            calls.append([name, *[a for a in args if isinstance(a, int)], sorted(logs or {})])

        return hook

    hooks = [
        "on_train_begin",
        "on_train_end",
        "on_epoch_begin",
        "on_epoch_end",
        "on_train_batch_begin",
        "on_train_batch_end",
    ]
    lambdas = callbacks.LambdaCallback(**{hook: record(hook) for hook in hooks})
    aliases = callbacks.LambdaCallback(
        on_batch_begin=record("on_batch_begin"), on_batch_end=record("on_batch_end")
    )
    make_model().fit(
        X[:8], Y[:8], batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[lambdas, aliases]
    )
    for keras_run in keras_runs:
        assert calls == keras_run["calls"]


def test_lambda_callback_arguments():
    with pytest.raises(TypeError, match="LambdaCallback: no hook named 'on_tset_end'"):
        callbacks.LambdaCallback(on_tset_end=print)  # a typo: Keras would never call it
    assert callbacks.LambdaCallback(on_test_end=print).on_test_end is print
    with pytest.raises(br.ArgumentTypeError, match="on_epoch_end must be a function"):
        callbacks.LambdaCallback(on_epoch_end=3)


@pytest.mark.needs("keras", "tensorflow", "torch", "tensorboard")
@pytest.mark.slow
def test_progbar_logger_as_keras(backend, keras_runs, capsys):
    """A ProgbarLogger among the callbacks is the fit's one display (Keras adds none then);
    ``verbose="auto"`` is 1, as Keras'; verbose=2 prints one line per epoch, 0 nothing."""
    for keras_run in keras_runs:
        assert keras_run["progbars"] == 1
        assert keras_run["auto_verbose"] == 1
    progbar = callbacks.ProgbarLogger()
    progbar.set_params({"verbose": "auto", "epochs": 2, "steps": 3})
    assert (progbar.verbose, progbar.epochs, progbar.steps) == (1, 2, 3)
    model = make_model()
    for verbose, lines in ((2, 2), (0, 0)):
        capsys.readouterr()
        model.fit(X, Y, batch_size=4, epochs=2, verbose=verbose, callbacks=[callbacks.ProgbarLogger()])
        printed = capsys.readouterr().out
        assert printed.count("Epoch ") == lines, printed
        assert sum(isinstance(c, callbacks.ProgbarLogger) for c in model._callbacks) == 1
