"""ModelCheckpoint against Keras 3 (the same scenarios, the monitored values fed in by a callback,
run by Keras in one subprocess per backend), and BackupAndRestore: a fit interrupted by an
exception, Ctrl-C or SIGKILL, started again with the same call, ends with exactly the weights of
an uninterrupted run, on each backend."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.numpy

import bridge as br
from bridge import callbacks, losses, nn, optim
from bridge.saving.model_file import read_backup, save_state

from .keras_reference import keras_json

pytestmark = pytest.mark.bridge_requires("autodiff", "variables")

# --- ModelCheckpoint against Keras 3 -----------------------------------------------------------
#: Each scenario: ModelCheckpoint's arguments, a file name template (without its extension: Keras
#: wants .keras / .weights.h5), and the values a callback put before it writes into each epoch's
#: logs (so that Keras and bridge see the same numbers). 8 samples in batches of 2: 4 steps.
SCENARIOS: list[dict[str, Any]] = [
    {"template": "m{epoch:02d}-{val_loss:.4f}", "kwargs": {}, "values": {"val_loss": [0.51234, 0.4, 0.6]}},
    {
        "template": "best-{epoch:02d}-{loss:.3f}",
        "kwargs": {"monitor": "val_loss", "mode": "min", "save_best_only": True},
        "values": {"val_loss": [0.5, 0.6, 0.4, 0.4, 0.3], "loss": [1.0, 0.91234, 0.8, 0.7, 0.6]},
    },
    {
        "template": "acc-{epoch:02d}",
        "kwargs": {"monitor": "val_accuracy", "mode": "max", "save_best_only": True},
        "values": {"val_accuracy": [0.5, 0.7, 0.6, 0.7, 0.9]},
    },
    {  # auto: a loss goes down
        "template": "auto-loss-{epoch}",
        "kwargs": {"monitor": "val_loss", "save_best_only": True},
        "values": {"val_loss": [3.0, 2.0, 2.5, 1.0]},
    },
    {  # auto: accuracy goes up
        "template": "auto-acc-{epoch}",
        "kwargs": {"monitor": "val_accuracy", "save_best_only": True},
        "values": {"val_accuracy": [0.1, 0.3, 0.2, 0.4]},
    },
    {  # one name, written over: each write is seen
        "template": "best",
        "kwargs": {"monitor": "loss", "mode": "min", "save_best_only": True},
        "values": {"loss": [1.0, 0.5, 0.7, 0.5, 0.25]},
    },
    {  # compared in float32, as Keras: 0.3 - 1e-9 does not beat 0.3
        "template": "f32-{epoch}",
        "kwargs": {"monitor": "val_loss", "mode": "min", "save_best_only": True},
        "values": {"val_loss": [0.3, 0.3 - 1e-9, 0.2999]},
    },
    {  # the monitor is not in the logs: a warning, and a save every epoch
        "template": "missing-{epoch}",
        "kwargs": {"monitor": "val_loss", "save_best_only": True},
        "values": {"loss": [1.0, 2.0, 3.0]},
    },
    {
        "template": "threshold-{epoch}",
        "kwargs": {
            "monitor": "val_loss",
            "mode": "min",
            "save_best_only": True,
            "initial_value_threshold": 0.45,
        },
        "values": {"val_loss": [0.5, 0.44, 0.46, 0.3]},
    },
    {
        "template": "threshold-max-{epoch}",
        "kwargs": {
            "monitor": "val_accuracy",
            "mode": "max",
            "save_best_only": True,
            "initial_value_threshold": 0.8,
        },
        "values": {"val_accuracy": [0.7, 0.85, 0.8, 0.9]},
    },
    {  # every 3 batches, counted across epochs
        "template": "b{epoch:02d}-{batch:02d}",
        "kwargs": {"save_freq": 3},
        "values": {"loss": [1.0, 1.0, 1.0]},
    },
    {
        "template": "w{epoch}-{batch}",
        "kwargs": {"save_freq": 5, "save_weights_only": True},
        "values": {"loss": [1.0, 1.0, 1.0]},
    },
    {"template": "w{epoch:02d}", "kwargs": {"save_weights_only": True}, "values": {"loss": [1.0, 0.5]}},
]

_KERAS_RUNNER = r"""
import json, os, sys, tempfile, warnings
import numpy as np
import keras

class Feed(keras.callbacks.Callback):
    def __init__(self, values):
        super().__init__()
        self.values = values
    def on_epoch_end(self, epoch, logs=None):
        for key, series in self.values.items():
            logs[key] = series[epoch]

class Record(keras.callbacks.Callback):
    def __init__(self, folder):
        super().__init__()
        self.folder, self.saves, self.epoch = folder, [], 0
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def _take(self, batch):
        for name in sorted(os.listdir(self.folder)):
            self.saves.append([self.epoch, batch, name])
            os.remove(os.path.join(self.folder, name))
    def on_train_batch_end(self, batch, logs=None):
        self._take(batch)
    def on_epoch_end(self, epoch, logs=None):
        self._take(None)

results = []
x = np.linspace(-1, 1, 32, dtype=np.float32).reshape(8, 4)
y = x.sum(1, keepdims=True)
for scenario in json.load(sys.stdin):
    folder = tempfile.mkdtemp()
    kwargs = scenario["kwargs"]
    ext = ".weights.h5" if kwargs.get("save_weights_only") else ".keras"
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse", metrics=["accuracy"], run_eagerly=True)
    check = keras.callbacks.ModelCheckpoint(os.path.join(folder, scenario["template"] + ext), **kwargs)
    record = Record(folder)
    epochs = len(next(iter(scenario["values"].values())))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=2, epochs=epochs, verbose=0, shuffle=False,
                  callbacks=[Feed(scenario["values"]), check, record])
    monitor = kwargs.get("monitor", "val_loss")
    warned = any(monitor in str(w.message) for w in caught)
    best = None if check.best is None else float(check.best)
    results.append({"saves": record.saves, "warned": warned, "best": best})
print(json.dumps(results))
"""


class Feed(callbacks.Callback):
    """Writes the scenario's values into each epoch's logs (before ModelCheckpoint sees them)."""

    def __init__(self, values: dict[str, list[float]]) -> None:
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        for key, series in self.values.items():
            logs[key] = series[epoch]


class Record(callbacks.Callback):
    """After each batch and epoch (after ModelCheckpoint): the files written since, then gone."""

    def __init__(self, folder: Path, check: Any = None) -> None:
        super().__init__()
        self.folder, self.check, self.saves, self.epoch = folder, check, [], 0

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.epoch = epoch

    def _take(self, batch: int | None) -> None:
        for name in sorted(os.listdir(self.folder)):
            if self.check is not None:
                self.check(self.model, self.folder / name)
            self.saves.append([self.epoch, batch, name])
            os.remove(self.folder / name)

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self._take(batch)

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self._take(None)


def _stem(name: str) -> str:
    for extension in (".weights.h5", ".keras", ".safetensors", ".bridge"):
        if name.endswith(extension):
            return name[: -len(extension)]
    raise AssertionError(f"unexpected file {name}")


def _bridge_checkpoints(scenario: dict[str, Any], folder: Path, check: Any = None) -> dict[str, Any]:
    kwargs = scenario["kwargs"]
    ext = ".safetensors" if kwargs.get("save_weights_only") else ".bridge"
    x = np.linspace(-1, 1, 32, dtype=np.float32).reshape(8, 4)
    model = nn.Sequential([nn.Dense(1)])
    model.compile(optimizer=optim.SGD(0.01), loss="mse", metrics=["accuracy"], jit=False)
    checkpoint = callbacks.ModelCheckpoint(folder / (scenario["template"] + ext), **kwargs)
    record = Record(folder, check)
    epochs = len(next(iter(scenario["values"].values())))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(
            x,
            x.sum(1, keepdims=True),
            batch_size=2,
            epochs=epochs,
            verbose=0,
            shuffle=False,
            callbacks=[Feed(scenario["values"]), checkpoint, record],
        )
    monitor = kwargs.get("monitor", "val_loss")
    warned = any(monitor in str(w.message) for w in caught)
    return {"saves": record.saves, "warned": warned, "best": checkpoint.best}


_KERAS: list[dict[str, Any]] = []


def keras_expected(backend: str) -> list[dict[str, Any]]:
    """What Keras did in each scenario: run once, in Keras on the first backend that asks
    (ModelCheckpoint's decisions are Python in Keras, the same on each of its backends)."""
    if not _KERAS:
        _KERAS.extend(keras_json(_KERAS_RUNNER, backend=backend, stdin=json.dumps(SCENARIOS)))
    return [json.loads(json.dumps(result)) for result in _KERAS]


@pytest.mark.slow
@pytest.mark.needs("keras")
def test_model_checkpoint_saves_when_keras_does(backend: str, tmp_path: Path) -> None:
    """Which epochs (or batches) wrote a file, its name, the warning for a missing monitor, and
    the best value at the end: as Keras."""
    expected = keras_expected(backend)
    for index, (scenario, want) in enumerate(zip(SCENARIOS, expected, strict=True)):
        folder = tmp_path / str(index)
        folder.mkdir()
        got = _bridge_checkpoints(scenario, folder)
        want["saves"] = [[e, b, _stem(n)] for e, b, n in want["saves"]]
        got["saves"] = [[e, b, _stem(n)] for e, b, n in got["saves"]]
        assert got == want, scenario
        assert got["saves"], scenario  # every scenario saves something: the comparison is not empty


def _check_weights_file(model: Any, path: Path) -> None:
    stored = safetensors.numpy.load_file(str(path))
    assert sorted(stored) == ["dense/bias", "dense/kernel"]
    kernel, bias = model.get_weights()
    np.testing.assert_array_equal(stored["dense/kernel"], kernel)
    np.testing.assert_array_equal(stored["dense/bias"], bias)
    twin = nn.Sequential([nn.Dense(1)])
    twin.build((None, 4))
    twin.load_weights(path)
    for got, want in zip(twin.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def _check_model_file(model: Any, path: Path) -> None:
    loaded = nn.load_model(path)
    for got, want in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    assert loaded.optimizer is not None and int(loaded.optimizer.iterations.numpy()) == int(
        model.optimizer.iterations.numpy()
    )


def test_model_checkpoint_files_load(backend: str, tmp_path: Path) -> None:
    """save_weights_only writes a weights file (safetensors.numpy and load_weights read it);
    otherwise a whole model file that nn.load_model reads, with the weights of that moment."""
    weights = {"template": "w{epoch}", "kwargs": {"save_weights_only": True}, "values": {"loss": [1.0, 1.0]}}
    whole = {"template": "m{epoch}-{batch}", "kwargs": {"save_freq": 3}, "values": {"loss": [1.0, 1.0]}}
    (tmp_path / "w").mkdir()
    (tmp_path / "m").mkdir()
    got = _bridge_checkpoints(weights, tmp_path / "w", _check_weights_file)
    assert [n for _, _, n in got["saves"]] == ["w1.safetensors", "w2.safetensors"]
    got = _bridge_checkpoints(whole, tmp_path / "m", _check_model_file)
    assert [n for _, _, n in got["saves"]] == ["m1-3.bridge", "m2-2.bridge"]


def test_model_checkpoint_bad_arguments(backend: str, tmp_path: Path) -> None:
    with pytest.raises(br.InvalidArgumentError, match="save_freq must be 'epoch' or an int >= 1"):
        callbacks.ModelCheckpoint(tmp_path / "m", save_freq=0)
    with pytest.raises(br.InvalidArgumentError, match="mode must be"):
        callbacks.ModelCheckpoint(tmp_path / "m", mode="up")
    scenario = {"template": "m-{val_los}", "kwargs": {}, "values": {"val_loss": [1.0]}}
    with pytest.raises(br.InvalidArgumentError, match="cannot fill in filepath .*val_los.*val_loss"):
        _bridge_checkpoints(scenario, tmp_path)


# --- BackupAndRestore ----------------------------------------------------------------------------
X = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
EPOCHS, BATCH, STEPS = 3, 8, 5  # 40 samples: 5 batches an epoch, 15 in all


def _initial(shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.normal(scale=0.5, size=shape).astype(np.float32) for shape in shapes]


def make_model() -> Any:
    """Dropout (its seed generator's state matters) and Adam (its slots and step count matter),
    with the same initial weights every time."""
    model = nn.Sequential([nn.Dense(8, activation="relu"), nn.Dropout(0.25, seed=3), nn.Dense(2)])
    model.compile(
        optimizer=optim.Adam(0.05),
        loss=losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.build((None, 4))
    model.set_weights(_initial([w.shape for w in model.get_weights()]))
    return model


def fit(model: Any, folder: Path, *more: Any, save_freq: Any = "epoch", **kwargs: Any) -> Any:
    backup = callbacks.BackupAndRestore(folder, save_freq=save_freq, **kwargs)
    return model.fit(X, Y, epochs=EPOCHS, batch_size=BATCH, seed=11, verbose=0, callbacks=[backup, *more])


_UNINTERRUPTED: dict[str, tuple[list[np.ndarray], dict[str, list[float]]]] = {}


def uninterrupted(backend: str) -> tuple[list[np.ndarray], dict[str, list[float]]]:
    """The weights and History of the run that nothing interrupts (computed once per backend)."""
    if backend not in _UNINTERRUPTED:
        model = make_model()
        history = model.fit(X, Y, epochs=EPOCHS, batch_size=BATCH, seed=11, verbose=0)
        _UNINTERRUPTED[backend] = (model.get_weights(), history.history)
    return _UNINTERRUPTED[backend]


def assert_same_weights(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert np.array_equal(a, b), np.abs(a - b).max()


class Interrupt(callbacks.Callback):
    """Raises ``error`` at the end of the ``at``-th batch of the fit (counted from 1, across epochs)."""

    def __init__(self, at: int, error: type[BaseException] = RuntimeError) -> None:
        super().__init__()
        self.at, self.error, self.seen = at, error, 0

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.seen += 1
        if self.seen == self.at:
            raise self.error(f"interrupted after batch {self.at}")


def test_backup_makes_no_difference_to_an_uninterrupted_run(backend: str, tmp_path: Path) -> None:
    """The reference itself: BackupAndRestore (saving every batch) changes nothing of the run."""
    want, history = uninterrupted(backend)
    model = make_model()
    got = fit(model, tmp_path / "backup", save_freq=1)
    assert_same_weights(model.get_weights(), want)
    assert got.history == history
    assert not (tmp_path / "backup").exists()  # deleted at the end, with its folder


# (batch the interruption comes after, save_freq, error): in the first epoch before any backup,
# mid-epoch, at an epoch's last batch, in the last epoch's last batch.
INTERRUPTIONS = [
    (1, "epoch", RuntimeError),
    (3, 2, KeyboardInterrupt),
    (5, "epoch", KeyboardInterrupt),
    (9, 3, RuntimeError),
    (10, 5, KeyboardInterrupt),
    (15, "epoch", RuntimeError),
]


@pytest.mark.parametrize(("at", "save_freq", "error"), INTERRUPTIONS)
def test_an_interrupted_fit_resumes_to_the_uninterrupted_weights(
    backend: str, tmp_path: Path, at: int, save_freq: Any, error: type[BaseException]
) -> None:
    """Started again with the same call (on a new model, as in a new process), the fit ends with
    the weights of the uninterrupted run; the History it returns holds the epochs it ran (as
    Keras), with the uninterrupted run's logs (a backup within an epoch keeps its metrics' state)."""
    want, history = uninterrupted(backend)
    folder = tmp_path / "backup"
    with pytest.raises(error, match=f"after batch {at}"):
        fit(make_model(), folder, Interrupt(at, error), save_freq=save_freq)
    model = make_model()
    resumed = fit(model, folder, save_freq=save_freq)
    assert_same_weights(model.get_weights(), want)
    assert not folder.exists()
    # batches done at the last backup: BackupAndRestore (first in the list) saw batch `at` end;
    # the epoch of batch `at` did not end. A backup at an epoch's end resumes at the next epoch;
    # one after a batch resumes in that batch's epoch (after its last batch: with no batch left)
    if save_freq == "epoch":
        first = (at - 1) // STEPS
    else:
        backed_up = at // save_freq * save_freq
        first = (backed_up - 1) // STEPS if backed_up else 0
    assert resumed.epoch == list(range(first, EPOCHS))
    assert resumed.history == {key: values[first:] for key, values in history.items()}


def test_the_same_model_resumes_after_two_interruptions(backend: str, tmp_path: Path) -> None:
    """The same model object (trained on past its backup when interrupted) is called again, twice."""
    want, _ = uninterrupted(backend)
    folder = tmp_path / "backup"
    model = make_model()
    with pytest.raises(RuntimeError):
        fit(model, folder, Interrupt(7), save_freq=3)  # backed up after batch 6: epoch 2, batch 1
    with pytest.raises(KeyboardInterrupt):
        fit(model, folder, Interrupt(4, KeyboardInterrupt), save_freq=3)  # after batch 9
    fit(model, folder, save_freq=3)
    assert_same_weights(model.get_weights(), want)


def test_an_interruption_before_the_backup_callback_resumes_too(backend: str, tmp_path: Path) -> None:
    """The interrupting callback comes first: the batch it stops at is not backed up."""
    want, _ = uninterrupted(backend)
    folder = tmp_path / "backup"
    backup = callbacks.BackupAndRestore(folder, save_freq=2)
    with pytest.raises(RuntimeError):
        make_model().fit(
            X, Y, epochs=EPOCHS, batch_size=BATCH, seed=11, verbose=0, callbacks=[Interrupt(8), backup]
        )
    model = make_model()
    fit(model, folder, save_freq=2)
    assert_same_weights(model.get_weights(), want)


def test_a_resumed_epoch_logs_what_the_uninterrupted_epoch_logged(backend: str, tmp_path: Path) -> None:
    """A backup taken mid-epoch keeps the metrics' running state (and the learning rate the epoch
    began with): the resumed epoch logs the uninterrupted epoch's loss and accuracy."""
    _, history = uninterrupted(backend)
    folder = tmp_path / "backup"
    with pytest.raises(RuntimeError):
        fit(make_model(), folder, Interrupt(7), save_freq=3)  # the backup after batch 6: epoch 2, batch 1
    resumed = fit(make_model(), folder, save_freq=3)
    assert resumed.epoch == [1, 2]
    assert resumed.history == {key: values[1:] for key, values in history.items()}


def test_a_scheduled_learning_rate_is_set_once_in_a_resumed_epoch(backend: str, tmp_path: Path) -> None:
    """LearningRateScheduler sets the rate as each epoch begins; a fit resumed within an epoch
    begins it again, from the rate it began with (kept in the backup), not halving it twice."""

    def halve(epoch: int, rate: float) -> float:
        return rate / 2

    reference = make_model()
    fit(reference, tmp_path / "reference", callbacks.LearningRateScheduler(halve), save_freq=3)
    folder = tmp_path / "backup"
    with pytest.raises(RuntimeError):
        fit(make_model(), folder, callbacks.LearningRateScheduler(halve), Interrupt(7), save_freq=3)
    model = make_model()
    fit(model, folder, callbacks.LearningRateScheduler(halve), save_freq=3)
    assert model.optimizer.learning_rate == reference.optimizer.learning_rate == 0.05 / 2**EPOCHS
    assert_same_weights(model.get_weights(), reference.get_weights())


class Batches:
    """An iterable of batches without a length: fit cannot count an epoch's batches ahead."""

    def __iter__(self) -> Any:
        for start in range(0, len(X), BATCH):
            yield X[start : start + BATCH], Y[start : start + BATCH]


def test_a_backup_after_the_last_batch_of_an_uncounted_epoch(backend: str, tmp_path: Path) -> None:
    """Batches not counted ahead: the backup after an epoch's last batch (save_freq = its 5
    batches) says "epoch 1, 5 batches done". Resumed there, that epoch has no batch left: it
    ends with the logs of its restored metrics (found: fit raised "the training data holds no
    batch"), and the run with the uninterrupted weights and logs."""
    reference = make_model()
    reference.fit(Batches(), epochs=EPOCHS, verbose=0)
    folder = tmp_path / "backup"
    with pytest.raises(RuntimeError):
        make_model().fit(
            Batches(),
            epochs=EPOCHS,
            verbose=0,
            callbacks=[callbacks.BackupAndRestore(folder, save_freq=5), Interrupt(7)],
        )
    model = make_model()
    history = model.fit(
        Batches(), epochs=EPOCHS, verbose=0, callbacks=[callbacks.BackupAndRestore(folder, save_freq=5)]
    )
    assert_same_weights(model.get_weights(), reference.get_weights())
    assert history.epoch == [0, 1, 2]
    assert history.history == reference.history.history


def _backup(folder: Path, model: Any = None) -> Path:
    """A backup file as BackupAndRestore writes it (epoch 2, batch 0), without training for it."""
    folder.mkdir()
    path = folder / callbacks.BackupAndRestore.FILENAME
    save_state(model or make_model(), path, 1, 0)
    return path


def test_delete_checkpoint(backend: str, tmp_path: Path) -> None:
    """After a normal end the backup is deleted (the folder too, unless something else is in it),
    or kept with delete_checkpoint=False: fit called again with it then has nothing left to do
    (an empty History, the weights of the end of training)."""
    folder = tmp_path / "backup"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    fit(make_model(), folder)
    assert sorted(os.listdir(folder)) == ["keep.txt"]
    model = make_model()
    fit(model, folder, delete_checkpoint=False)
    assert sorted(os.listdir(folder)) == ["keep.txt", callbacks.BackupAndRestore.FILENAME]
    assert_same_weights(model.get_weights(), uninterrupted(backend)[0])
    again = make_model()
    history = fit(again, folder, delete_checkpoint=False)
    assert history.epoch == [] and history.history == {}
    assert_same_weights(again.get_weights(), uninterrupted(backend)[0])


def test_the_temporary_files_of_a_killed_writer_are_removed(backend: str, tmp_path: Path) -> None:
    """A process killed while it wrote a backup leaves its temporary file (the atomic write's
    ``.latest.bridge.*.tmp``) in the folder: the next run removes it (found: it stayed, and so did
    the folder), and nothing else."""
    folder = tmp_path / "backup"
    folder.mkdir()
    stale = folder / f".{callbacks.BackupAndRestore.FILENAME}.k1ll3d.tmp"
    stale.write_bytes(b"half a backup")
    (folder / ".other.tmp").write_text("not ours")
    model = make_model()
    fit(model, folder)
    assert sorted(os.listdir(folder)) == [".other.tmp"]
    assert_same_weights(model.get_weights(), uninterrupted(backend)[0])


@pytest.mark.parametrize("with_backup", [False, True])
def test_an_unbuilt_model_is_a_clear_error(backend: str, tmp_path: Path, with_backup: bool) -> None:
    """As Keras: the model must be built before fit (its starting state is backed up first)."""
    path = _backup(tmp_path / "backup") if with_backup else tmp_path / "backup" / "latest.bridge"
    model = nn.Sequential([nn.Dense(8, activation="relu"), nn.Dropout(0.25, seed=3), nn.Dense(2)])
    model.compile(optimizer=optim.Adam(0.05), loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(br.InvalidArgumentError, match="BackupAndRestore: the model must be built before fit"):
        fit(model, tmp_path / "backup")
    assert path.exists() == with_backup  # a backup is kept for the built model
    assert not model.built


def test_the_same_model_interrupted_before_its_first_backup_resumes_exactly(
    backend: str, tmp_path: Path
) -> None:
    """The model object has trained (and its optimizer taken steps) when the fit is stopped in the
    first epoch, before the first backup at its end: run again, it starts from the state backed up
    when training began, and ends with the uninterrupted weights."""
    want, history = uninterrupted(backend)
    folder = tmp_path / "backup"
    model = make_model()
    with pytest.raises(KeyboardInterrupt):
        fit(model, folder, Interrupt(3, KeyboardInterrupt))
    assert model.optimizer.iterations.numpy() == 3
    resumed = fit(model, folder)
    assert_same_weights(model.get_weights(), want)
    assert resumed.history == history


def test_a_backup_of_another_architecture_is_a_clear_error(backend: str, tmp_path: Path) -> None:
    trained = make_model()
    trained.fit(X[:8], Y[:8], batch_size=8, verbose=0)  # optimizer state too
    _backup(tmp_path / "backup", trained)
    model = nn.Sequential([nn.Dense(5, activation="relu"), nn.Dropout(0.25, seed=3), nn.Dense(2)])
    model.compile(optimizer=optim.Adam(0.05), loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    model.build((None, 4))
    before = model.get_weights()
    with pytest.raises(br.WeightsMismatchError, match="latest.bridge"):
        fit(model, tmp_path / "backup")
    assert_same_weights(model.get_weights(), before)


@pytest.mark.parametrize("damage", ["truncated", "flipped", "empty", "not_a_backup"])
def test_a_corrupt_backup_is_a_file_format_error_naming_it(backend: str, tmp_path: Path, damage: str) -> None:
    path = _backup(tmp_path / "backup")
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flipped":
        path.write_bytes(data[:-9] + bytes([data[-9] ^ 0x10]) + data[-8:])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        make_model().save_weights(path)  # a valid file, but weights only
    model = make_model()
    before = model.get_weights()
    with pytest.raises(br.FileFormatError, match=re.escape(str(path))) as info:
        fit(model, tmp_path / "backup")
    assert isinstance(info.value, ValueError)
    assert_same_weights(model.get_weights(), before)


def test_bad_arguments() -> None:
    with pytest.raises(br.InvalidArgumentError, match="backup_dir is empty"):
        callbacks.BackupAndRestore("")
    with pytest.raises(br.InvalidArgumentError, match="save_freq must be"):
        callbacks.BackupAndRestore("x", save_freq="batch")


def test_backup_with_validation_and_early_stopping(backend: str, tmp_path: Path) -> None:
    """Smoke: validation data and EarlyStopping alongside BackupAndRestore, interrupted and resumed."""
    folder = tmp_path / "backup"

    def run(*more: Any) -> Any:
        return make_model().fit(
            X,
            Y,
            epochs=4,
            batch_size=BATCH,
            seed=11,
            verbose=0,
            validation_data=(X[:16], Y[:16]),
            callbacks=[callbacks.BackupAndRestore(folder), callbacks.EarlyStopping(patience=1), *more],
        )

    with pytest.raises(RuntimeError):
        run(Interrupt(7))
    assert (folder / callbacks.BackupAndRestore.FILENAME).exists()
    history = run()
    assert history.epoch[0] == 1 and set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(np.isfinite(history.history["val_loss"]))
    assert not folder.exists()


# --- killed with SIGKILL --------------------------------------------------------------------------
_SCRIPT = r"""
import sys, time
sys.path.insert(0, {root!r})
import bridge as br
from bridge import callbacks
from tests.test_saving_callbacks import make_model, X, Y, EPOCHS, BATCH

backend, folder, save_freq, hang_at = sys.argv[1:5]
save_freq = save_freq if save_freq == "epoch" else int(save_freq)

class Pace(callbacks.Callback):
    # hang_at > 0: after that batch (and its backup), say so and wait to be killed;
    # hang_at < 0: a pause after every batch, for a kill at any moment
    seen = 0
    def on_train_batch_end(self, batch, logs=None):
        Pace.seen += 1
        if int(hang_at) > 0 and Pace.seen == int(hang_at):
            print("ready", flush=True)
            time.sleep(600)
        if int(hang_at) < 0:
            time.sleep(0.1)

with br.use_backend(backend):
    model = make_model()
    print("started", flush=True)
    model.fit(X, Y, epochs=EPOCHS, batch_size=BATCH, seed=11, verbose=0,
              callbacks=[callbacks.BackupAndRestore(folder, save_freq=save_freq), Pace()])
print("done", flush=True)
"""


def _script(tmp_path: Path) -> Path:
    script = tmp_path / "train.py"
    script.write_text(_SCRIPT.format(root=str(Path(__file__).parent.parent)))
    return script


def _start(script: Path, backend: str, folder: Path, save_freq: Any, hang_at: int) -> Any:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.Popen(
        [sys.executable, str(script), backend, str(folder), str(save_freq), str(hang_at)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )


def _kill(process: Any) -> None:
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, (
        f"it ended by itself ({process.returncode}): {stderr[-3000:]}"
    )


def _identity(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_ino, status.st_mtime_ns


@pytest.mark.slow
def test_a_killed_fit_resumes_to_the_uninterrupted_weights(backend: str, tmp_path: Path) -> None:
    """A training process (a backup every 4 batches) killed with SIGKILL right after batch 7 (its
    backup is from batch 4); run again and killed at whatever moment the poll sees the next backup
    (perhaps while it writes another); run again to the end, in this process: it ends with the
    weights of the uninterrupted run."""
    want, _ = uninterrupted(backend)
    script, folder = _script(tmp_path), tmp_path / "backup"
    backup = folder / callbacks.BackupAndRestore.FILENAME
    process = _start(script, backend, folder, 4, 7)
    try:
        for expected in ("started\n", "ready\n"):
            line = process.stdout.readline()
            assert line == expected, line + (process.poll() and process.communicate()[1][-3000:] or "")
    finally:
        _kill(process)
    assert (read_backup(backup).epoch, read_backup(backup).batch) == (0, 4)  # epoch 1, after its batch 4
    first = _identity(backup)
    process = _start(script, backend, folder, 4, -1)
    try:
        while _identity(backup) == first:
            assert process.poll() is None, process.communicate()[1][-3000:]
            time.sleep(0.005)
    finally:
        _kill(process)
    resumed = read_backup(backup)
    assert (resumed.epoch, resumed.batch) > (0, 4)  # the second process went on from the first's backup
    model = make_model()  # the third run, here (a process start less)
    fit(model, folder, save_freq=4)
    assert_same_weights(model.get_weights(), want)
    assert not folder.exists()


def test_model_checkpoint_verbose_prints_keras_lines(backend: str, tmp_path: Path, capsys: Any) -> None:
    """The lines Keras 3's ModelCheckpoint prints with verbose=1 (its source's f-strings)."""
    model = make_model()
    path = str(tmp_path / "best.bridge")
    checkpoint = callbacks.ModelCheckpoint(path, monitor="loss", save_best_only=True, verbose=1)
    history = model.fit(X, Y, epochs=2, batch_size=BATCH, seed=11, verbose=0, callbacks=[checkpoint])
    first, second = history.history["loss"]
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    expected = [f"Epoch 1: loss improved from None to {first:.5f}, saving model to {path}"]
    expected.append(f"Epoch 1: finished saving model to {path}")
    if second < first:
        expected.append(f"Epoch 2: loss improved from {first:.5f} to {second:.5f}, saving model to {path}")
        expected.append(f"Epoch 2: finished saving model to {path}")
    else:
        expected.append(f"Epoch 2: loss did not improve from {first:.5f}")
    assert lines == expected


# --- the callbacks' own state is backed up too ---------------------------------------------------
def stateful_callbacks(folder: Path) -> list[Any]:
    """Callbacks whose decisions depend on what they saw before: the learning rate reduced on a
    plateau (which changes the weights), the best weights EarlyStopping restores at the end, the
    best checkpoint, and the CSV log."""
    return [
        callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10.0),
        callbacks.EarlyStopping(monitor="loss", patience=10, restore_best_weights=True),
        callbacks.ModelCheckpoint(str(folder / "best.bridge"), monitor="loss", save_best_only=True),
        callbacks.CSVLogger(str(folder / "log.csv")),
    ]


@pytest.mark.parametrize("at", [7, 11])
def test_a_resumed_fit_restores_its_callbacks_state(backend: str, tmp_path: Path, at: int) -> None:
    """With ReduceLROnPlateau (min_delta so large that it halves the rate every epoch after the
    first), EarlyStopping(restore_best_weights), ModelCheckpoint(save_best_only) and CSVLogger, an
    interrupted and resumed fit ends as the uninterrupted one: same weights, same learning rate,
    the same best checkpoint and every epoch in the CSV log. Without their state, the resumed
    ReduceLROnPlateau would wait again, and the weights would differ."""
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    reference.mkdir(), resumed.mkdir()
    model = make_model()
    fit(model, reference / "backup", *stateful_callbacks(reference), save_freq=2)
    want = model.get_weights()
    with pytest.raises(RuntimeError):
        fit(make_model(), resumed / "backup", *stateful_callbacks(resumed), Interrupt(at), save_freq=2)
    again = make_model()
    fit(again, resumed / "backup", *stateful_callbacks(resumed), save_freq=2)
    assert_same_weights(again.get_weights(), want)
    assert again.optimizer.learning_rate == model.optimizer.learning_rate == 0.05 / 4
    best = [nn.load_model(folder / "best.bridge").get_weights() for folder in (reference, resumed)]
    assert_same_weights(best[1], best[0])
    assert (resumed / "log.csv").read_text() == (reference / "log.csv").read_text()
    assert len((reference / "log.csv").read_text().splitlines()) == EPOCHS + 1


def test_model_checkpoint_fails_before_training_if_the_model_cannot_be_saved(
    backend: str, tmp_path: Path
) -> None:
    model = nn.Sequential([nn.Input((4,)), nn.Dense(2)])
    model.compile(optimizer="sgd", loss=lambda y, p: (y - p) ** 2)
    before = model.get_weights()
    checkpoint = callbacks.ModelCheckpoint(str(tmp_path / "model.bridge"))
    with pytest.raises(br.SerializationError, match="lambda"):
        model.fit(X, np.zeros((len(X), 2), np.float32), epochs=2, verbose=0, callbacks=[checkpoint])
    assert_same_weights(model.get_weights(), before)  # not one step taken
    weights_only = callbacks.ModelCheckpoint(str(tmp_path / "w.safetensors"), save_weights_only=True)
    model.fit(X, np.zeros((len(X), 2), np.float32), epochs=1, verbose=0, callbacks=[weights_only])
    assert (tmp_path / "w.safetensors").exists()


def test_model_checkpoint_removes_what_a_killed_writer_left(backend: str, tmp_path: Path) -> None:
    stale = tmp_path / ".best.bridge.k1ll3d.tmp"
    stale.write_bytes(b"half a model")
    other = tmp_path / ".other.bridge.abc.tmp"
    other.write_bytes(b"not ours")
    checkpoint = callbacks.ModelCheckpoint(str(tmp_path / "best.bridge"), monitor="loss")
    make_model().fit(X, Y, epochs=1, batch_size=BATCH, verbose=0, callbacks=[checkpoint])
    assert sorted(os.listdir(tmp_path)) == [".other.bridge.abc.tmp", "best.bridge"]
