"""Callbacks for ``Model.fit``: History, EarlyStopping, LearningRateScheduler,
ReduceLROnPlateau, TerminateOnNaN, CSVLogger, ModelCheckpoint, BackupAndRestore, LambdaCallback,
TensorBoard, the progress display (ProgbarLogger), and the ``CallbackList`` that calls them all as
one; ``numeric_logs`` is the one place logs become numbers."""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._atomic import temporary_files, write_atomically
from .errors import ArgumentTypeError, InvalidArgumentError, WeightsMismatchError
from .saving.model_file import (
    Backup,
    check_savable,
    read_backup,
    restore_metrics,
    restore_state,
    save_state,
)
from .summary import EventWriter

Logs = dict[str, Any]

#: The width the progress display keeps within.
COLUMNS = 80


def _tqdm(**options: Any) -> Any:
    """A tqdm bar (a bridge dependency: small, none of its own; rich would draw the same with one
    dependency more). Imported on first use: importing tqdm adds 40 ms to ``import bridge``."""
    from tqdm import tqdm  # type: ignore[import-untyped]  # no stubs; types-tqdm is not a dependency

    return tqdm(ncols=COLUMNS, **options)


def numeric_logs(logs: Logs | None) -> dict[str, float | np.ndarray]:
    """Logs as numbers, as Keras reports them: a Python float for a scalar, a float32 NumPy
    array for a metric whose result is not one (``Precision(thresholds=[0.3, 0.7])``)."""
    numbers: dict[str, float | np.ndarray] = {}
    for key, value in (logs or {}).items():
        array = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
        numbers[key] = float(array) if array.ndim == 0 else array.astype(np.float32)
    return numbers


def format_logs(logs: Logs | None, lead: str | None = None) -> list[str]:
    """``lead``, then ``name: value`` for every entry of the logs (a non-scalar shows its mean,
    as Keras' bar), joined by `` - `` into lines of at most ``COLUMNS`` characters."""
    items = [
        *([lead] if lead else []),
        *(f"{k}: {float(np.mean(v)):.4f}" for k, v in numeric_logs(logs).items()),
    ]
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + 3 + len(item) <= COLUMNS:
            lines[-1] += f" - {item}"
        else:
            lines.append(item)
    return lines


def _first_worker(model: Any) -> bool:
    """Whether this process writes the fit's files: the only one, or rank 0 of a data-parallel
    fit (the other workers train the same weights and hold the same logs)."""
    workers = getattr(model, "_workers", None)
    return workers is None or workers.rank == 0


class Callback:
    """Base class: override the hooks you need; ``self.model`` is the model being trained, and
    ``self.params`` the fit's ``{"verbose", "epochs", "steps"}`` (steps per epoch, None where
    unknown), as Keras."""

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    #: The attributes that hold what the callback has gathered during a fit (``get_state``).
    _state_attributes: tuple[str, ...] = ()

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def _print(self, *args: Any, **kwargs: Any) -> None:
        """``print``, in the process that shows the fit's progress (of data-parallel workers: rank 0)."""
        if _first_worker(self.model):
            print(*args, **kwargs)

    def get_state(self) -> dict[str, Any]:
        """What the callback has gathered during the fit that resuming it needs (numbers, strings,
        lists and dicts of them, or lists of NumPy arrays), which ``BackupAndRestore`` keeps in
        its backups: an EarlyStopping's patience count and best value, for instance. Override
        this and ``set_state`` for a callback of your own that keeps such state."""
        return {name: getattr(self, name) for name in self._state_attributes}

    def set_state(self, state: dict[str, Any]) -> None:
        """Take back what ``get_state`` gave (when a fit resumes from a backup)."""
        for name, value in state.items():
            setattr(self, name, value)

    def on_train_begin(self, logs: Logs | None = None) -> None: ...
    def on_train_end(self, logs: Logs | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self.on_batch_begin(batch, logs)  # Keras' older name for it, called unless overridden

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self.on_batch_end(batch, logs)

    # evaluate's (and fit's validation's), and predict's
    def on_test_begin(self, logs: Logs | None = None) -> None: ...
    def on_test_end(self, logs: Logs | None = None) -> None: ...
    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_predict_begin(self, logs: Logs | None = None) -> None: ...
    def on_predict_end(self, logs: Logs | None = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...


#: The hooks ``fit``, ``evaluate`` and ``predict`` call (each callback's, in order): fit's
#: validation calls the ``on_test_*`` hooks, as Keras' does.
HOOKS = (
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_batch_begin",
    "on_batch_end",
    "on_test_begin",
    "on_test_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_begin",
    "on_predict_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
)


class LambdaCallback(Callback):
    """A callback made of functions, as Keras': each argument given replaces that hook, called
    with the hook's positional arguments (``on_epoch_end(epoch, logs)``, ``on_train_begin(logs)``,
    ``on_train_batch_end(batch, logs)``). ``**hooks`` takes the other hooks (``on_test_*`` and
    ``on_predict_*``, and ``on_batch_begin``/``on_batch_end``, Keras' older names for the train
    batch hooks); a name that is not a hook is an error (Keras would take it and never call it)."""

    def __init__(
        self,
        on_epoch_begin: Any = None,
        on_epoch_end: Any = None,
        on_train_begin: Any = None,
        on_train_end: Any = None,
        on_train_batch_begin: Any = None,
        on_train_batch_end: Any = None,
        **hooks: Any,
    ) -> None:
        super().__init__()
        unknown = sorted(set(hooks) - set(HOOKS))
        if unknown:
            raise ArgumentTypeError(
                f"LambdaCallback: no hook named {', '.join(map(repr, unknown))}; hooks: {', '.join(HOOKS)}"
            )
        given = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin,
            "on_train_batch_end": on_train_batch_end,
            **hooks,
        }
        for name, function in given.items():
            if function is None:
                continue
            if not callable(function):
                raise ArgumentTypeError(f"LambdaCallback: {name} must be a function, got {function!r}")
            setattr(self, name, function)


class CallbackList(Callback):
    """Callbacks called as one, in order: each hook fans out to every callback, all given the
    same logs (so what one adds, such as ``learning_rate``, the next ones see). ``fit`` builds
    one from the user's callbacks, then its progress display (unless they hold a
    ``ProgbarLogger``) and ``history`` (last, so that it records what the others added)."""

    def __init__(
        self, callbacks: Sequence[Callback] = (), progress: Callback | None = None, model: Any = None
    ) -> None:
        super().__init__()
        self.history = History()
        if any(isinstance(callback, ProgbarLogger) for callback in callbacks):
            progress = None  # the user's own display, as Keras: never two
        self.callbacks = [*callbacks, *([progress] if progress is not None else []), self.history]
        self._last_epoch_logs: Logs | None = None
        if model is not None:
            self.set_model(model)

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        for callback in self.callbacks:
            callback.set_model(model)

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        for callback in self.callbacks:
            callback.set_params(params)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._last_epoch_logs = None
        for callback in self.callbacks:
            callback.on_train_begin(logs)

    def on_train_end(self, logs: Logs | None = None) -> None:
        """``logs``: by default the last epoch's, as Keras gives them."""
        logs = self._last_epoch_logs if logs is None else logs
        for callback in self.callbacks:
            callback.on_train_end(logs)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self._last_epoch_logs = logs
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        for callback in self.callbacks:
            callback.on_train_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        for callback in self.callbacks:
            callback.on_train_batch_end(batch, logs)

    def on_test_begin(self, logs: Logs | None = None) -> None:
        for callback in self.callbacks:
            callback.on_test_begin(logs)

    def on_test_end(self, logs: Logs | None = None) -> None:
        for callback in self.callbacks:
            callback.on_test_end(logs)

    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        for callback in self.callbacks:
            callback.on_test_batch_begin(batch, logs)

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        for callback in self.callbacks:
            callback.on_test_batch_end(batch, logs)

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        for callback in self.callbacks:
            callback.on_predict_begin(logs)

    def on_predict_end(self, logs: Logs | None = None) -> None:
        for callback in self.callbacks:
            callback.on_predict_end(logs)

    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        for callback in self.callbacks:
            callback.on_predict_batch_begin(batch, logs)

    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        for callback in self.callbacks:
            callback.on_predict_batch_end(batch, logs)


class History(Callback):
    """Records the logs of every epoch: ``history.history["loss"]`` and so on."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {}

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def _higher_is_better(owner: str, monitor: str, model: Any) -> bool:
    """``mode="auto"`` as Keras: a loss goes down; a metric of the model goes the way its
    ``_direction`` says (accuracy, AUC, F1 and R2 up; errors and cross-entropies down); for
    anything else there is no telling, and an error asks for ``mode``."""
    name = monitor.removeprefix("val_")
    if name.endswith("loss"):  # "loss", and each output's "<output>_loss" (Keras: "loss" only)
        return False
    for metric in getattr(model, "metrics", None) or []:
        if metric.name == name and getattr(metric, "_direction", None) is not None:
            return bool(metric._direction == "up")
    raise InvalidArgumentError(
        f"{owner}: mode='auto' cannot tell whether {monitor!r} should go up or down (it is not the "
        "loss nor a metric of the model with a direction); pass mode='max' or mode='min'"
    )


class _Monitor(Callback):
    """A callback watching one entry of the epoch logs, compared as Keras does (in float32)."""

    def __init__(self, monitor: str, mode: str, min_delta: float) -> None:
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise InvalidArgumentError(
                f"{type(self).__name__}: mode must be 'auto', 'min' or 'max', got {mode!r}"
            )
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(min_delta)
        self._maximize_known: bool | None = {"max": True, "min": False}.get(mode)
        self.best: float | None = None

    @property
    def _maximize(self) -> bool:
        """Whether higher values are better: from ``mode``, or (``"auto"``) found on first use,
        once the model is known."""
        if self._maximize_known is None:
            self._maximize_known = _higher_is_better(type(self).__name__, self.monitor, self.model)
        return self._maximize_known

    def _value(self, logs: dict | None) -> float | None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            known = ", ".join(sorted(logs or {})) or "none"
            self._print(
                f"{type(self).__name__}: the metric {self.monitor!r} is not in the logs (available: {known})",
                file=sys.stderr,
            )
            return None
        return float(value)

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        """Whether ``value`` beats ``reference`` by more than ``min_delta`` (anything beats None).
        As Keras, the shifted value and the reference are compared as float32."""
        if reference is None:
            return True
        shifted = value - self.min_delta if self._maximize else value + self.min_delta
        with np.errstate(over="ignore"):
            ours, theirs = np.float32(shifted), np.float32(reference)
        return bool(ours > theirs) if self._maximize else bool(ours < theirs)


class EarlyStopping(_Monitor):
    """Stop training when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs, as Keras: with ``patience=3`` and no improvement after the first epoch, training stops
    after the fourth. ``baseline``: an improvement only resets the patience once the value also
    beats it. ``restore_best_weights``: at the end of training (stopped or not) the model gets the
    weights of the best epoch. ``start_from_epoch``: epochs before it are not monitored.
    ``verbose=1`` prints when it stops and restores."""

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        self.patience, self.verbose, self.baseline = patience, verbose, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        self.on_train_begin()

    _state_attributes = ("best", "wait", "stopped_epoch", "best_epoch", "best_weights")

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.best, self.wait, self.stopped_epoch, self.best_epoch = None, 0, 0, 0
        self.best_weights: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = self._value(logs)
        if value is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(value, self.best):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            self._print(f"Epoch {self.stopped_epoch + 1}: early stopping", flush=True)
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                self._print(
                    f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.",
                    flush=True,
                )
            self.model.set_weights(self.best_weights)


def _check_settable_learning_rate(callback: str, optimizer: Any, when: str) -> None:
    """Raise ``ArgumentTypeError`` (before any step) if ``optimizer``'s learning rate is a
    schedule, which ``callback`` cannot set."""
    schedule = optimizer.learning_rate_schedule
    if schedule is not None:
        raise ArgumentTypeError(
            f"{callback}: the optimizer's learning rate already is a schedule "
            f"({type(schedule).__name__}), which sets it at every step; "
            f"give the optimizer a float learning rate for this callback to set {when}, or drop the callback"
        )


class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch's start to ``schedule(epoch, lr)``."""

    def __init__(self, schedule: Any) -> None:
        super().__init__()
        self.schedule = schedule

    def on_train_begin(self, logs: Logs | None = None) -> None:
        _check_settable_learning_rate("LearningRateScheduler", self.model.optimizer, "per epoch")

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        optimizer = self.model.optimizer
        optimizer.learning_rate = float(self.schedule(epoch, float(optimizer.learning_rate)))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` (not below ``min_lr``) once ``monitor`` has not
    improved by more than ``min_delta`` for ``patience`` epochs, then wait ``cooldown`` epochs
    before counting again, as Keras. The epoch's logs get the learning rate the epoch used
    (``"learning_rate"``); ``verbose=1`` prints each reduction."""

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        if factor >= 1.0:
            raise InvalidArgumentError(f"ReduceLROnPlateau: factor must be below 1, got {factor}")
        self.factor, self.patience, self.verbose = factor, patience, verbose
        self.cooldown, self.min_lr = cooldown, min_lr
        self._reset()

    _state_attributes = ("best", "wait", "cooldown_counter")

    def _reset(self) -> None:
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        _check_settable_learning_rate("ReduceLROnPlateau", self.model.optimizer, "on a plateau")
        self._reset()

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = {} if logs is None else logs
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(optimizer.learning_rate)
        value = self._value(logs)
        if value is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(value, self.best):
            self.best, self.wait = value, 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce(optimizer, epoch):
                self.cooldown_counter, self.wait = self.cooldown, 0

    def _reduce(self, optimizer: Any, epoch: int) -> bool:
        """Lower the learning rate unless it is already at ``min_lr``; whether it did."""
        old = float(optimizer.learning_rate)
        if not old > np.float32(self.min_lr):
            return False
        new = max(old * self.factor, self.min_lr)
        optimizer.learning_rate = new
        if self.verbose > 0:
            self._print(
                f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.", flush=True
            )
        return True


class TerminateOnNaN(Callback):
    """Stop at the first non-finite loss, leaving the weights at their last finite values."""

    def __init__(self) -> None:
        super().__init__()
        self._snapshot: list[Any] = []  # the weights' values before the current batch

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._snapshot = [w.value for w in self.model.weights]

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            for weight, value in zip(self.model.weights, self._snapshot):
                weight.assign(value)
            self.model.stop_training = True
            print(
                f"TerminateOnNaN: batch {batch} gave a non-finite loss; stopped with the weights before it",
                file=sys.stderr,
            )


class SwapEMAWeights(Callback):
    """Evaluate and predict with the optimizer's moving averages of the weights (an optimizer
    with ``use_ema=True``), as Keras' SwapEMAWeights: they are swapped into the model before each
    evaluation (fit's validation too) and prediction, and swapped back after. With
    ``swap_on_epoch=True`` they also stay in the model from each epoch's end to the next epoch's
    start, so that callbacks after this one (a ModelCheckpoint) see them. (Keras leaves the
    averages in the model after a ``predict``; bridge swaps back, as after an evaluation.)"""

    def __init__(self, swap_on_epoch: bool = False) -> None:
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._averages_in_model = False
        self._swapped_for: str | None = None  # "test" or "predict" while swapped for one

    def _optimizer(self) -> Any:
        optimizer = self.model.optimizer
        if optimizer is None or not getattr(optimizer, "use_ema", False):
            raise InvalidArgumentError(
                "SwapEMAWeights: the model's optimizer must keep moving averages (use_ema=True), "
                f"got {optimizer!r}"
            )
        return optimizer

    def _swap(self) -> None:
        """Swap each trainable weight with its moving average (none before the first step)."""
        optimizer = self._optimizer()
        if optimizer.iterations is None:
            return
        for variable in self.model.trainable_weights:
            average = optimizer.slot(variable, "average")
            held = variable.numpy()
            variable.assign(average)
            average.assign(held)
        self._averages_in_model = not self._averages_in_model

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        if self.swap_on_epoch and self._averages_in_model:
            self._swap()

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.swap_on_epoch and not self._averages_in_model:
            self._swap()
            if epoch == self.params.get("epochs", 0) - 1:  # fit ends by copying the averages in
                optimizer = self._optimizer()
                for variable in self.model.trainable_weights:
                    optimizer.slot(variable, "average").assign(variable)

    def _swap_in(self, kind: str) -> None:
        if not self._averages_in_model:
            self._swap()
            self._swapped_for = kind if self._averages_in_model else None

    def _swap_back(self, kind: str) -> None:
        if self._swapped_for == kind:
            self._swap()
            self._swapped_for = None

    def on_test_begin(self, logs: Logs | None = None) -> None:
        self._swap_in("test")

    def on_test_end(self, logs: Logs | None = None) -> None:
        self._swap_back("test")

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        self._swap_in("predict")

    def on_predict_end(self, logs: Logs | None = None) -> None:
        self._swap_back("predict")


class CSVLogger(Callback):
    """Write each epoch's logs to a CSV file (rewritten atomically after every epoch)."""

    _state_attributes = ("rows",)

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False) -> None:
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self.rows: list[dict[str, Any]] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.rows = []
        if self.append and os.path.exists(self.filename):
            with open(self.filename, newline="") as existing:
                self.rows = list(csv.DictReader(existing, delimiter=self.separator))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        values = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in numeric_logs(logs).items()}
        self.rows.append({"epoch": epoch, **values})
        if not _first_worker(self.model):
            return
        columns = list(dict.fromkeys(key for row in self.rows for key in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, columns, delimiter=self.separator)
        writer.writeheader()
        writer.writerows(self.rows)
        write_atomically(self.filename, buffer.getvalue())


def _check_save_freq(owner: str, save_freq: Any) -> None:
    if save_freq != "epoch" and (
        isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1
    ):
        raise InvalidArgumentError(
            f"{owner}: save_freq must be 'epoch' or an int >= 1 (batches), got {save_freq!r}"
        )


class _EveryBatches:
    """Counts batches across epochs for ``save_freq=n``: ``due(batch)`` is true every n-th batch."""

    def __init__(self, save_freq: Any) -> None:
        self.save_freq, self.seen = save_freq, 0

    def due(self) -> bool:
        if self.save_freq == "epoch":
            return False
        self.seen += 1
        if self.seen < self.save_freq:
            return False
        self.seen = 0
        return True


class ModelCheckpoint(_Monitor):
    """Save the model (``model.save``) or its weights (``save_weights_only``) to ``filepath`` at
    the end of every epoch, or every ``save_freq`` batches, as Keras. ``filepath`` may name the
    epoch (counted from 1), the batch and any log: ``"ckpt/{epoch:02d}-{val_loss:.2f}.bridge"``.
    With ``save_best_only``, only when ``monitor`` improved on the best so far (which starts at
    ``initial_value_threshold``); if ``monitor`` is not in the logs it saves anyway, with a
    warning. Every write is atomic: a crash leaves the previous file whole."""

    def __init__(
        self,
        filepath: str | os.PathLike,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: Any = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__(monitor, mode, 0.0)
        _check_save_freq("ModelCheckpoint", save_freq)
        self.filepath, self.verbose = os.fspath(filepath), verbose
        self.save_best_only, self.save_weights_only, self.save_freq = (
            save_best_only,
            save_weights_only,
            save_freq,
        )
        self.best = None if initial_value_threshold is None else float(initial_value_threshold)
        self._batches = _EveryBatches(save_freq)
        self._epoch = 0

    _state_attributes = ("best",)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        """Fail now, not after the first epoch, if the model cannot be saved; remove what a
        process killed while writing this checkpoint left."""
        if not self.save_weights_only:
            check_savable(self.model)
        if "{" not in self.filepath and _first_worker(self.model):
            for leftover in temporary_files(self.filepath):
                os.remove(leftover)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self._batches.due():
            self._save(self._epoch, batch, numeric_logs(logs))

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch, None, numeric_logs(logs))

    def _path(self, epoch: int, batch: int | None, logs: dict[str, Any]) -> str:
        fields = {**logs, "epoch": epoch + 1, **({} if batch is None else {"batch": batch + 1})}
        try:
            return self.filepath.format(**fields)
        except (KeyError, IndexError, ValueError) as error:
            known = ", ".join(sorted(fields))
            raise InvalidArgumentError(
                f"ModelCheckpoint: cannot fill in filepath {self.filepath!r} ({error!r}); it may name {known}"
            ) from None

    def _save(self, epoch: int, batch: int | None, logs: dict[str, Any]) -> None:
        path = self._path(epoch, batch, logs)
        if self.save_best_only and not self._improved(epoch, logs, path):
            return
        if not _first_worker(self.model):
            return
        if self.verbose > 0 and not self.save_best_only:
            print(f"\nEpoch {epoch + 1}: saving model to {path}", flush=True)
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: finished saving model to {path}", flush=True)

    def _improved(self, epoch: int, logs: dict[str, Any], path: str) -> bool:
        """Whether ``monitor`` beat the best so far (which it then becomes), as Keras decides;
        a missing or non-scalar monitor saves anyway, with a warning."""
        current = logs.get(self.monitor)
        if current is None or np.ndim(current) > 0:
            problem = "is not in the logs" if current is None else "is not a scalar"
            warnings.warn(
                f"ModelCheckpoint: {self.monitor!r} {problem}; saving every time (available: "
                f"{', '.join(sorted(logs)) or 'none'})",
                stacklevel=3,
            )
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if not self._is_improvement(float(current), self.best):
            if self.verbose > 0:
                self._print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}", flush=True)
            return False
        if self.verbose > 0:
            self._print(
                f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {float(current):.5f}, "
                f"saving model to {path}",
                flush=True,
            )
        self.best = float(current)
        return True


class BackupAndRestore(Callback):
    """Make ``fit`` resumable: the training state (weights, optimizer state, seed generators, and
    how far training got) is written to ``backup_dir`` at the end of every epoch (or every
    ``save_freq`` batches), atomically. A fit that stops early (an exception, Ctrl-C, the process
    killed) and is started again with the same call and this callback picks up at the epoch (and
    batch) of the last backup, and ends with the weights an uninterrupted run would have. Once
    training ends normally the backup is deleted (unless ``delete_checkpoint=False``).

    The model must be built before ``fit`` (as Keras asks): the state it starts from is backed up
    first, so that even a fit interrupted before its first backup resumes exactly. Unlike Keras, a
    backup taken every ``save_freq`` batches resumes at that very batch (Keras restarts its epoch),
    with the metrics' running state and the learning rate the epoch began with; and the state of
    the fit's callbacks (``get_state``: patience counts, best values, CSV rows) is kept too, so
    that the resumed fit decides and logs as the uninterrupted one."""

    FILENAME = "latest.bridge"
    _state_attributes = ()

    def __init__(
        self, backup_dir: str | os.PathLike, save_freq: Any = "epoch", delete_checkpoint: bool = True
    ) -> None:
        super().__init__()
        if not os.fspath(backup_dir):
            raise InvalidArgumentError("BackupAndRestore: backup_dir is empty; name a folder")
        _check_save_freq("BackupAndRestore", save_freq)
        self.backup_dir, self.save_freq = os.fspath(backup_dir), save_freq
        self.delete_checkpoint = delete_checkpoint
        self._batches = _EveryBatches(save_freq)
        self._epoch = 0
        self._restoring: Backup | None = None

    @property
    def path(self) -> str:
        """The backup file."""
        return os.path.join(self.backup_dir, self.FILENAME)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        if _first_worker(self.model):
            for leftover in temporary_files(self.path):  # of a process killed as it wrote
                os.remove(leftover)
        if not self.model.built:
            raise InvalidArgumentError(
                "BackupAndRestore: the model must be built before fit, so that its state can be backed "
                "up from the start (as Keras asks): give the model an nn.Input, or call "
                "model.build(input_shape), or the model on a batch, first"
            )
        self._batches = _EveryBatches(self.save_freq)
        found = os.path.exists(self.path)
        workers = getattr(self.model, "_workers", None)
        if workers is not None:  # before rank 0 writes the first backup
            workers.agree(
                f"backups (backup_dir must be a folder every worker sees, {self.backup_dir!r})",
                {"found a backup": found},
            )
        if found:
            backup = read_backup(self.path)
            try:
                restore_state(self.model, self.path, backup.tensors)
            except WeightsMismatchError as error:
                raise WeightsMismatchError(
                    f"BackupAndRestore: the backup is of another model or optimizer than this fit's "
                    f"(delete {self.backup_dir!r} to train afresh): {error}"
                ) from None
            self.model._resume_at = (backup.epoch, backup.batch)
            self._restoring = backup  # the callbacks' and metrics' state: once they are reset
            return
        # the state training starts from, so that a fit interrupted before its first backup also
        # resumes exactly: the same model object has changed since, and its optimizer too
        if self.model.trainable_weights:
            self.model.optimizer.build(self.model.trainable_weights)
        self._save(0, 0)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._epoch = epoch
        if self._restoring is not None:
            self._restore_callbacks(self._restoring.callbacks)
            if self._restoring.batch and _first_worker(self.model):
                # within an epoch: its metrics' running state (summed over the workers: rank 0's)
                restore_metrics(self.model, self._restoring.tensors)
            self._restoring = None

    def _restore_callbacks(self, saved: list[dict[str, Any]]) -> None:
        """Give the fit's callbacks back the state they had at the backup (EarlyStopping's
        patience, ReduceLROnPlateau's, ModelCheckpoint's best, CSVLogger's rows), so that the
        resumed fit decides as the uninterrupted one would have."""
        present = self._stateful()
        if [type(c).__name__ for c in present] != [entry["class"] for entry in saved]:
            warnings.warn(
                "BackupAndRestore: this fit's callbacks that keep state are not those of the fit backed "
                f"up ({', '.join(entry['class'] for entry in saved) or 'none'}); their state (patience "
                "counts, best values) starts afresh",
                stacklevel=2,
            )
            return
        for callback, entry in zip(present, saved):
            callback.set_state(entry["state"])

    def _stateful(self) -> list[Callback]:
        """The fit's callbacks that keep state (``get_state``), in order."""
        return [callback for callback in self.model._callbacks if callback.get_state()]

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self._batches.due():
            self._save(self._epoch, batch + 1)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch + 1, 0)

    def _save(self, epoch: int, batch: int) -> None:
        # within an epoch, the metrics' running state is kept: in a data-parallel fit, over all
        # the workers (collectives, so every worker comes here), written by rank 0
        if batch:
            self.model._share_states()
        with self.model._metrics_summed() if batch else contextlib.nullcontext():
            if not _first_worker(self.model):
                return
            os.makedirs(self.backup_dir, exist_ok=True)
            rate = self.model._epoch_learning_rate if batch else None  # as the epoch began
            save_state(self.model, self.path, epoch, batch, self._stateful(), learning_rate=rate)

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.delete_checkpoint and _first_worker(self.model) and os.path.exists(self.path):
            os.remove(self.path)
            if not os.listdir(self.backup_dir):
                os.rmdir(self.backup_dir)


def may_stop_in_batches(callbacks: CallbackList) -> bool:
    """Whether one of ``callbacks`` may set ``stop_training`` within an epoch: one with batch hooks
    of its own (a user's, TerminateOnNaN), but not bridge's writers and displays, which never stop."""
    quiet = (ProgbarLogger, ModelCheckpoint, BackupAndRestore, TensorBoard, CSVLogger, History)
    hooks = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")
    return any(
        not isinstance(callback, quiet)  # a hook of its class, or of itself (LambdaCallback's)
        and any(
            getattr(getattr(callback, hook), "__func__", None) is not getattr(Callback, hook)
            for hook in hooks
        )
        for callback in callbacks.callbacks
    )


class ProgbarLogger(Callback):
    """The display of ``fit(verbose=...)``, as Keras' ProgbarLogger, within ``COLUMNS`` columns and
    in one format during and at the end of an epoch: ``verbose=1`` (and ``"auto"``) a bar per
    epoch (tqdm) with every metric on the lines below it, refreshed after each batch, the
    validation ones added at the epoch's end; ``verbose=2`` the same lines once per epoch; ``0``
    nothing. It takes ``verbose``, ``epochs`` and ``steps`` from the fit's params. ``fit`` adds
    one after your callbacks unless they hold one already (as Keras, never two bars)."""

    def __init__(self) -> None:
        super().__init__()
        self.verbose: int = 1
        self.epochs: int = 1
        self.steps: int | None = None
        self._bar: Any = None  # a tqdm bar during an epoch with verbose=1
        self._lines: list[Any] = []  # text-only tqdm bars below it

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else int(verbose)
        self.epochs, self.steps = params.get("epochs", 1), params.get("steps")

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        if self.verbose == 1:
            self._bar = _tqdm(
                total=self.steps,
                desc=f"Epoch {epoch + 1}/{self.epochs}",
                unit="step",
                bar_format="{desc} {bar} {n_fmt}/{total_fmt} [{elapsed}<{remaining}]",
            )

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self._bar is not None:
            self._bar.update(1)
            self._show(format_logs(logs))

    def _show(self, lines: list[str]) -> None:
        """Write ``lines`` below the bar, one status line (a text-only tqdm) each."""
        while len(self._lines) < len(lines):
            self._lines.append(_tqdm(total=0, bar_format="{desc}", position=len(self._lines) + 1))
        for status, line in zip(self._lines, lines):
            status.set_description_str(line)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self._bar is not None:
            self._show(format_logs(logs))
            for shown in (self._bar, *self._lines):
                shown.close()
            self._bar, self._lines = None, []
        elif self.verbose == 2:
            print(*format_logs(logs, f"Epoch {epoch + 1}/{self.epochs}"), sep="\n", flush=True)


class ProgressBar(ProgbarLogger):
    """The ``ProgbarLogger`` ``fit`` adds, made with the fit's ``verbose``, ``epochs`` and
    ``steps`` (per epoch, None where unknown)."""

    def __init__(self, verbose: int, epochs: int, steps: int | None) -> None:
        super().__init__()
        self.set_params({"verbose": verbose, "epochs": epochs, "steps": steps})


def _weight_image(weight: np.ndarray) -> np.ndarray | None:
    """A weight as Keras' TensorBoard shows it (batch, height, width, 1), or None where Keras
    shows none: a bias as one row, a matrix with its longer side across, the kernels of a 1-D
    convolution as one image per input channel (channels last); a 4-D kernel as it is if its
    last axis has 1, 3 or 4 entries."""
    image = np.squeeze(weight)
    if image.ndim == 1:
        image = image.reshape(1, image.shape[0], 1, 1)
    elif image.ndim == 2:
        if image.shape[0] > image.shape[1]:
            image = image.T
        image = image.reshape(1, *image.shape, 1)
    elif image.ndim == 3:
        image = np.transpose(image, (2, 0, 1))[..., None]
    return image if image.ndim == 4 and image.shape[-1] in (1, 3, 4) else None


class _NoEvents:
    """The event writer of a data-parallel fit's workers but rank 0 (which writes): none."""

    def scalar(self, *args: Any) -> None:
        """Write nothing (as ``histogram``, ``image``, ``flush`` and ``close``)."""

    histogram = image = flush = close = scalar


class TensorBoard(Callback):
    """Write what training logs as TensorBoard event files, as Keras' TensorBoard: view them with
    ``tensorboard --logdir logs``. Written with the ``tensorboard`` package's own writer (``pip
    install tensorboard``; no TensorFlow needed), in Keras' layout and tags:

    - ``log_dir/train``: ``epoch_loss``, ``epoch_<metric>`` and ``epoch_learning_rate`` at each
      epoch's end (step: the epoch, from 0); with ``update_freq="batch"`` or an int n, also
      ``batch_loss`` and ``batch_<metric>`` (the epoch's running means) every n-th batch (step:
      the batch, counted from 1 across epochs); ``write_steps_per_second``: also
      ``epoch_steps_per_second`` (and ``batch_steps_per_second`` with the batch values);
    - every ``histogram_freq`` epochs (0: never) a histogram of each weight of each layer,
      tagged ``<model name>/<layer>/<weight>/histogram`` (without the model's name for a
      functional model), and with ``write_images`` the weight as an image (``.../image``);
    - ``log_dir/validation``: the validation metrics as ``epoch_loss``, ``epoch_<metric>``, and
      ``evaluation_<name>_vs_iterations`` (step: the optimizer's iterations).

    Unlike Keras, an int ``update_freq`` never hides the epoch values (Keras writes those only
    when the batch count is a multiple of it). What bridge does not do: ``write_graph`` writes
    no graph (Keras writes its model's JSON config and, on TensorFlow, the train step's graph;
    neither exists for a bridge model); ``profile_batch`` (Keras profiles those batches) and
    ``embeddings_freq``/``embeddings_metadata`` (Keras saves the Embedding weights for the
    projector) are taken but, when asked for, do nothing but warn."""

    def __init__(
        self,
        log_dir: str | os.PathLike = "logs",
        histogram_freq: int = 0,
        write_graph: bool = True,
        write_images: bool = False,
        write_steps_per_second: bool = False,
        update_freq: Any = "epoch",
        profile_batch: Any = 0,
        embeddings_freq: int = 0,
        embeddings_metadata: Any = None,
    ) -> None:
        super().__init__()
        if isinstance(histogram_freq, bool) or not isinstance(histogram_freq, int) or histogram_freq < 0:
            raise InvalidArgumentError(
                f"TensorBoard: histogram_freq must be an int >= 0 (epochs), got {histogram_freq!r}"
            )
        if update_freq not in ("epoch", "batch") and (
            isinstance(update_freq, bool) or not isinstance(update_freq, int) or update_freq < 1
        ):
            raise InvalidArgumentError(
                "TensorBoard: update_freq must be 'epoch', 'batch' or an int >= 1 (batches), "
                f"got {update_freq!r}"
            )
        for name, value, what in (
            ("profile_batch", profile_batch, "profiles no batch"),
            ("embeddings_freq", embeddings_freq, "writes no embeddings"),
        ):
            if value:
                warnings.warn(f"TensorBoard: {name}={value!r} is not supported: bridge {what}", stacklevel=2)
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq, self.write_graph, self.write_images = histogram_freq, write_graph, write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self.profile_batch, self.embeddings_freq = profile_batch, embeddings_freq
        self.embeddings_metadata = embeddings_metadata
        self._writers: dict[str, Any] = {}
        self._global_batch = 0
        self._batch_start = self._epoch_start = 0.0
        self._epoch_iterations = 0

    def _writer(self, run: str) -> Any:
        """The event writer of ``log_dir/run`` (``train`` or ``validation``), made on first use."""
        if run not in self._writers:
            folder = os.path.join(self.log_dir, run)
            self._writers[run] = EventWriter(folder) if _first_worker(self.model) else _NoEvents()
        return self._writers[run]

    def _iterations(self) -> int:
        iterations = self.model.optimizer.iterations
        return 0 if iterations is None else int(iterations.numpy())

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._close()  # a fit makes new event files, as Keras
        self._global_batch = 0

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        if self.write_steps_per_second:
            self._epoch_iterations, self._epoch_start = self._iterations(), time.time()

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self._global_batch += 1
        if self.write_steps_per_second:
            self._batch_start = time.time()

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self.update_freq == "epoch" or self._global_batch % self.update_freq:
            return
        step, writer = self._global_batch, self._writer("train")
        if self.write_steps_per_second:
            writer.scalar("batch_steps_per_second", 1.0 / (time.time() - self._batch_start), step)
        for name, value in _scalars(logs).items():
            writer.scalar(f"batch_{name}", value, step)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        scalars = _scalars(logs)
        train = {k: v for k, v in scalars.items() if not k.startswith("val_")}
        train["learning_rate"] = float(self.model.optimizer.learning_rate)
        if self.write_steps_per_second:
            train["steps_per_second"] = (self._iterations() - self._epoch_iterations) / (
                time.time() - self._epoch_start
            )
        for name, value in train.items():
            self._writer("train").scalar(f"epoch_{name}", value, epoch)
        validation = {k[4:]: v for k, v in scalars.items() if k.startswith("val_")}
        for name, value in validation.items():
            self._writer("validation").scalar(f"epoch_{name}", value, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_test_end(self, logs: Logs | None = None) -> None:
        """After an evaluation (fit's validation, or ``evaluate(callbacks=[...])``), as Keras:
        ``evaluation_<name>_vs_iterations`` at the optimizer's iterations."""
        if self.model.optimizer is None:
            return
        writer = self._writer("validation")
        for name, value in _scalars(logs).items():
            writer.scalar(f"evaluation_{name}_vs_iterations", value, self._iterations())
        writer.flush()

    def _log_weights(self, epoch: int) -> None:
        from .nn.functional import Functional  # import cycle: bridge.nn's models import the callbacks

        prefix = "" if isinstance(self.model, Functional) else f"{self.model.name}/"
        writer = self._writer("train")
        for layer in self.model.layers:
            for weight in layer.weights:
                tag, value = prefix + weight.name.replace(":", "_"), weight.numpy()
                writer.histogram(f"{tag}/histogram", value, epoch)
                image = _weight_image(value) if self.write_images else None
                if image is not None:
                    writer.image(f"{tag}/image", image, epoch)

    def on_train_end(self, logs: Logs | None = None) -> None:
        self._close()

    def _close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def _scalars(logs: Logs | None) -> dict[str, float]:
    """The scalar entries of the logs, as floats (a metric with several values has no scalar
    plot: left out)."""
    return {k: v for k, v in numeric_logs(logs).items() if isinstance(v, float)}
