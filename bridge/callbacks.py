"""Callbacks for ``Model.fit``: History, EarlyStopping, LearningRateScheduler,
ReduceLROnPlateau, TerminateOnNaN, CSVLogger and the progress display."""

from __future__ import annotations

import csv
import io
import math
import os
import sys
import tempfile
from typing import Any

import numpy as np

from .errors import InvalidArgumentError


class Callback:
    """Base class: override the hooks you need; ``self.model`` is the model being trained."""

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def on_train_begin(self, logs: dict | None = None) -> None: ...
    def on_train_end(self, logs: dict | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None: ...


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


def _improves(mode: str, monitor: str) -> Any:
    if mode not in ("auto", "min", "max"):
        raise InvalidArgumentError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        mode = "max" if any(word in monitor for word in ("acc", "precision", "recall", "auc")) else "min"
    return (
        (lambda current, best, delta: current > best + delta)
        if mode == "max"
        else (lambda current, best, delta: current < best - delta)
    )


class _Monitor(Callback):
    def __init__(self, monitor: str, mode: str, min_delta: float) -> None:
        super().__init__()
        self.monitor, self.min_delta = monitor, abs(min_delta)
        self._better = _improves(mode, monitor)
        self.best: float | None = None

    def _value(self, logs: dict | None) -> float | None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            known = ", ".join(sorted(logs or {})) or "none"
            print(
                f"{type(self).__name__}: the metric {self.monitor!r} is not in the logs (available: {known})",
                file=sys.stderr,
            )
        return value

    def _is_improvement(self, value: float) -> bool:
        return self.best is None or self._better(value, self.best, self.min_delta)


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs; with
    ``restore_best_weights``, go back to the weights of the best epoch."""

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        mode: str = "auto",
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        self.patience, self.restore_best_weights, self.start_from_epoch = (
            patience,
            restore_best_weights,
            start_from_epoch,
        )

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.best, self.wait, self.stopped_epoch, self.best_epoch = None, 0, 0, 0
        self.best_weights = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = self._value(logs)
        if value is None or epoch < self.start_from_epoch:
            return
        if self._is_improvement(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                self.model.set_weights(self.best_weights)


class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch's start to ``schedule(epoch, lr)``."""

    def __init__(self, schedule: Any) -> None:
        super().__init__()
        self.schedule = schedule

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        optimizer = self.model.optimizer
        optimizer.learning_rate = float(self.schedule(epoch, float(optimizer.learning_rate)))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` when ``monitor`` stalls for ``patience`` epochs."""

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        if factor >= 1.0:
            raise InvalidArgumentError(f"ReduceLROnPlateau: factor must be below 1, got {factor}")
        self.factor, self.patience, self.cooldown, self.min_lr = factor, patience, cooldown, min_lr

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.best, self.wait, self.cooling = None, 0, 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = self._value(logs)
        if value is None:
            return
        if self.cooling > 0:
            self.cooling -= 1
            self.wait = 0
        if self._is_improvement(value):
            self.best, self.wait = value, 0
        elif self.cooling == 0:
            self.wait += 1
            if self.wait >= self.patience:
                optimizer = self.model.optimizer
                optimizer.learning_rate = max(float(optimizer.learning_rate) * self.factor, self.min_lr)
                self.cooling, self.wait = self.cooldown, 0
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class TerminateOnNaN(Callback):
    """Stop at the first non-finite loss, leaving the weights at their last finite values."""

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


class CSVLogger(Callback):
    """Write each epoch's logs to a CSV file (rewritten atomically after every epoch)."""

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
        self.rows.append({"epoch": epoch, **{k: _plain(v) for k, v in (logs or {}).items()}})
        columns = list(dict.fromkeys(key for row in self.rows for key in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, columns, delimiter=self.separator)
        writer.writeheader()
        writer.writerows(self.rows)
        _write_atomically(self.filename, buffer.getvalue())


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, (np.floating, float)) or hasattr(value, "numpy") else value


def _write_atomically(path: str, text: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".csv")
    try:
        with os.fdopen(handle, "w", newline="") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


class ProgressLogger(Callback):
    """The display of ``fit(verbose=...)``: 1 a progress bar per epoch (tqdm), 2 a line per epoch."""

    def __init__(self, verbose: int, epochs: int, steps: int | None) -> None:
        super().__init__()
        self.verbose, self.epochs, self.steps = verbose, epochs, steps
        self._bar = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.verbose == 1:
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.steps, desc=f"Epoch {epoch + 1}/{self.epochs}", unit="step", leave=True
            )

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix({k: f"{float(v):.4f}" for k, v in (logs or {}).items()})

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        text = " - ".join(f"{k}: {float(v):.4f}" for k, v in (logs or {}).items())
        if self._bar is not None:
            self._bar.set_postfix_str(text)
            self._bar.close()
            self._bar = None
        elif self.verbose == 2:
            print(f"Epoch {epoch + 1}/{self.epochs} - {text}", flush=True)
