"""``Model``: compile / fit / evaluate / predict / summary on any backend, Keras' shape.

``train_step`` and ``test_step`` are ordinary bridge code (a GradientTape inside), so a subclass
can override them once for every backend. With ``jit="auto"`` the steps run under tf.function on
TensorFlow (eager TensorFlow is ~10x slower per op) and eagerly on torch; ``jit=True`` compiles on
torch too; ``jit=False`` runs eagerly everywhere, for debugging."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from typing import Any

import numpy as np

from .. import callbacks as callbacks_module
from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import ops, optim
from .._dispatch import use_backend
from ..autodiff import GradientTape
from ..data import _order, batches
from ..errors import BridgeError, InvalidArgumentError, NonFiniteError
from ..jit import jit as compile_function
from ..ops._core import op
from ..tensor import Tensor
from .layer import Layer


class NotCompiledError(BridgeError, RuntimeError):
    """fit / evaluate before compile."""


def _accuracy_for(loss: Any, name: str = "accuracy") -> metrics_module.Metric:
    """The accuracy that fits a loss, as Keras resolves ``metrics=["accuracy"]`` (or ``"acc"``)."""
    if isinstance(loss, losses_module.SparseCategoricalCrossentropy):
        return metrics_module.SparseCategoricalAccuracy(name=name)
    if isinstance(loss, losses_module.CategoricalCrossentropy):
        return metrics_module.CategoricalAccuracy(name=name)
    if isinstance(loss, losses_module.BinaryCrossentropy):
        return metrics_module.BinaryAccuracy(name=name)
    return metrics_module.Accuracy(name=name)


def _unpack(data: Any) -> tuple[Any, Any, Any]:
    if isinstance(data, (tuple, list)):
        if len(data) == 2:
            return data[0], data[1], None
        if len(data) == 3:
            return data[0], data[1], data[2]
        if len(data) == 1:
            return data[0], None, None
    return data, None, None


def _length(x: Any) -> int | None:
    try:
        return len(x)
    except TypeError:
        return None


class Model(Layer):
    """Subclass with layers in ``__init__`` and the forward pass in ``call``; or use Sequential."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.compiled = False
        self.stop_training = False

    # --- compile ---------------------------------------------------------------------------
    def compile(
        self, optimizer: Any = "adam", loss: Any = None, metrics: Any = None, jit: Any = "auto"
    ) -> None:
        """Choose the optimizer, the loss (a Loss, a name such as ``"mse"``, or a callable) and
        metrics (Metric objects or names; ``"accuracy"`` fits the loss)."""
        if loss is None:
            raise InvalidArgumentError("compile: a loss is needed, e.g. loss='mse'")
        if jit not in ("auto", True, False):
            raise InvalidArgumentError(f"compile: jit must be 'auto', True or False, got {jit!r}")
        self.optimizer = optim.get(optimizer)
        self.loss = losses_module.get(loss)
        chosen = list(metrics or [])
        self.compiled_metrics = [
            _accuracy_for(self.loss, m) if m in ("accuracy", "acc") else metrics_module.get(m) for m in chosen
        ]
        self.loss_tracker = metrics_module.Mean(name="loss")
        self.jit = jit
        self._compiled_steps: dict[str, Any] = {}
        self._compiled_moves = Layer._moves
        self.compiled = True

    @property
    def metrics(self) -> list[metrics_module.Metric]:
        return [self.loss_tracker, *self.compiled_metrics] if self.compiled else []

    # --- steps (backend-agnostic; override freely) -----------------------------------------
    def compute_loss(self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        """The compiled loss plus the layers' regularization losses."""
        loss = self.loss(y, y_pred, sample_weight) if sample_weight is not None else self.loss(y, y_pred)
        for penalty in self.losses:
            loss = loss + penalty
        return loss

    def _update_metrics(self, loss: Tensor, y: Any, y_pred: Any, sample_weight: Any) -> dict[str, Tensor]:
        self.loss_tracker.update_state(
            loss, sample_weight=ops.full((), y_pred.shape[0], backend=y_pred.backend)
        )
        for metric in self.compiled_metrics:
            metric.update_state(y, y_pred, sample_weight=sample_weight)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data: Any) -> dict[str, Tensor]:
        """One optimization step on a batch ``(x, y[, sample_weight])``; returns the metrics."""
        x, y, sample_weight = _unpack(data)
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred, sample_weight)
        weights = self.trainable_weights
        self.optimizer.apply(tape.gradient(loss, weights), weights)
        return self._update_metrics(loss, y, y_pred, sample_weight)

    def test_step(self, data: Any) -> dict[str, Tensor]:
        x, y, sample_weight = _unpack(data)
        y_pred = self(x, training=False)
        return self._update_metrics(self.compute_loss(x, y, y_pred, sample_weight), y, y_pred, sample_weight)

    def predict_step(self, data: Any) -> Any:
        x, _, _ = _unpack(data)
        return self(x, training=False)

    # --- running steps ---------------------------------------------------------------------
    def _step(self, kind: str, batch: Any) -> Any:
        """Run ``{kind}_step`` on a batch: eagerly on the first batch (which builds the weights,
        optimizer slots and metric state), compiled afterwards where ``jit`` asks for it."""
        step = getattr(self, f"{kind}_step")
        backend = next(t for t in _tensors(batch)).backend
        if not self._should_compile(backend) or not self._ready(kind):
            out = step(batch)
            self._mark_ready(kind)
            return out
        if self._compiled_moves != Layer._moves:  # a layer moved: the steps hold its old variables
            self._compiled_steps.clear()
            self._compiled_moves = Layer._moves
        key = f"{kind}:{backend}"
        if key not in self._compiled_steps:
            self._compiled_steps[key] = compile_function(step)
        return self._compiled_steps[key](batch)

    def _should_compile(self, backend: str) -> bool:
        return self.jit is True or (self.jit == "auto" and backend == "tensorflow")

    def _ready(self, kind: str) -> bool:
        return kind in self.__dict__.setdefault("_ran_eagerly", set())

    def _mark_ready(self, kind: str) -> None:
        self.__dict__.setdefault("_ran_eagerly", set()).add(kind)

    @op()
    def to(self, device: str) -> Model:
        """Move the weights, the optimizer's state and the metrics' state to ``device``; the
        compiled steps are traced again on their next call."""
        super().to(device)
        if self.compiled:
            self.optimizer.to(device)
            for metric in self.metrics:
                for variable in metric._state.values():
                    variable._relocate(device)
        return self

    # --- data ------------------------------------------------------------------------------
    def _as_batches(
        self, x: Any, y: Any, batch_size: int, shuffle: bool, seed: int | None, sample_weight: Any = None
    ):
        """An iterable of batches (re-iterable, one per epoch) of bridge Tensors."""
        if _is_pipeline(x) or (y is None and not isinstance(x, (np.ndarray, Tensor))):
            return _Converted(list(x) if _is_one_shot(x) else x)
        if y is None:
            raise InvalidArgumentError("fit: arrays need their targets: fit(x, y, ...)")
        lengths = (_length(x), _length(y))
        if lengths[0] != lengths[1]:
            raise InvalidArgumentError(
                f"x has {lengths[0]} samples but y has {lengths[1]}; they must have one row per sample"
            )
        _check_weights(sample_weight, lengths[0])
        arrays = (x, y) if sample_weight is None else (x, y, sample_weight)
        return _Arrays(arrays, batch_size, shuffle, seed)

    # --- fit / evaluate / predict ----------------------------------------------------------
    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int = 32,
        epochs: int = 1,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        callbacks: list[callbacks_module.Callback] | None = None,
        verbose: Any = "auto",
        seed: int | None = None,
        initial_epoch: int = 0,
        sample_weight: Any = None,
    ) -> callbacks_module.History:
        """Train for ``epochs``; returns the History (``history.history["loss"]`` and so on)."""
        self._require_compiled("fit")
        batch_size = 32 if batch_size is None else batch_size  # as Keras
        _check_count("fit", "batch_size", batch_size, 1)
        _check_count("fit", "epochs", epochs, 0)
        _check_count("fit", "initial_epoch", initial_epoch, 0)
        if verbose != "auto":
            _check_count("fit", "verbose", verbose, 0)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise InvalidArgumentError(f"fit: shuffle must be True or False, got {shuffle!r}")
        if not isinstance(callbacks, (list, tuple, type(None))) or not all(
            isinstance(c, callbacks_module.Callback) for c in callbacks or []
        ):
            raise InvalidArgumentError(f"fit: callbacks must be a list of Callbacks, got {callbacks!r}")
        if initial_epoch > epochs:
            raise InvalidArgumentError(
                f"fit: initial_epoch={initial_epoch} is past epochs={epochs} (epochs counts from 0, "
                "initial_epoch included)"
            )
        if _length(x) == 0:
            raise InvalidArgumentError("fit: x holds no sample")
        if not 0.0 <= validation_split < 1.0:
            raise InvalidArgumentError(f"fit: validation_split must be in [0, 1), got {validation_split}")
        if validation_split:
            if validation_data is not None:
                raise InvalidArgumentError("fit: give validation_split or validation_data, not both")
            n = _length(x)
            if n is None or y is None:
                raise InvalidArgumentError(
                    "fit: validation_split needs arrays (x, y); pass validation_data instead"
                )
            cut = n - int(math.ceil(n * validation_split))
            if cut == 0:
                raise InvalidArgumentError(
                    f"fit: validation_split={validation_split} of {n} samples leaves none to train on"
                )
            _check_weights(sample_weight, n)
            kept, held_out = slice(0, cut), slice(cut, None)
            validation_data = (_rows(x, held_out), _rows(y, held_out), _rows(sample_weight, held_out))
            x, y, sample_weight = _rows(x, kept), _rows(y, kept), _rows(sample_weight, kept)
        train = self._as_batches(x, y, batch_size, shuffle, seed, sample_weight)
        validation = None
        if validation_data is not None:
            vx, vy, vw = (
                _unpack(validation_data)
                if isinstance(validation_data, tuple)
                else (validation_data, None, None)
            )
            validation = self._as_batches(vx, vy, batch_size, False, None, vw)
        history = callbacks_module.History()
        verbose = (1 if sys.stdout.isatty() else 2) if verbose == "auto" else int(verbose)
        every = list(callbacks or [])  # the user's first: they may add to the logs (learning_rate)
        if verbose:
            every.append(callbacks_module.ProgressLogger(verbose, epochs, _length(train)))
        every.append(history)
        for callback in every:
            callback.set_model(self)
        self.stop_training = False
        labels = losses_module.checked_labels([self.loss, *self.metrics], y, validation_data)
        with use_backend(self._backend_name()), labels:
            self.optimizer.reset_nonfinite()
            for callback in every:
                callback.on_train_begin()
            for epoch in range(initial_epoch, epochs):
                train.epoch = epoch
                for metric in self.metrics:
                    metric.reset_state()
                for callback in every:
                    callback.on_epoch_begin(epoch)
                logs: dict[str, Any] = {}
                index = -1
                for index, batch in enumerate(train):
                    for callback in every:
                        callback.on_train_batch_begin(index)
                    # batch logs stay tensors: no host sync per step unless a callback asks
                    logs = self._step("train", batch)
                    for callback in every:
                        callback.on_train_batch_end(index, logs)
                    if self.stop_training:
                        break
                if index < 0:
                    raise InvalidArgumentError("fit: the training data holds no batch")
                self._check_finite_steps(epoch, every)
                logs = {k: float(v) for k, v in logs.items()}
                if validation is not None and not self.stop_training:
                    logs.update({f"val_{k}": v for k, v in self._evaluate(validation).items()})
                for callback in every:
                    callback.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
            for callback in every:
                callback.on_train_end()
        return history

    def _check_finite_steps(self, epoch: int, callbacks: list[callbacks_module.Callback]) -> None:
        """Once per epoch (one host read): if a step had non-finite gradients, the optimizer
        skipped it and every step after it; raise NonFiniteError naming it, or stop training
        under TerminateOnNaN, with the weights from before that step either way."""
        step = self.optimizer.nonfinite_step
        if step is None:
            return
        message = f"optimizer step {step} (epoch {epoch + 1}) produced non-finite gradients"
        if not any(isinstance(c, callbacks_module.TerminateOnNaN) for c in callbacks):
            raise NonFiniteError(
                f"fit: {message} (a NaN or infinite loss?); no variable changed at that step or after "
                "it: the model keeps the weights from before it"
            )
        if not self.stop_training:
            print(f"TerminateOnNaN: {message}; stopped with the weights before it", file=sys.stderr)
        self.stop_training = True

    def _evaluate(self, data: Iterable) -> dict[str, float]:
        for metric in self.metrics:
            metric.reset_state()
        logs: dict[str, Any] = {}
        for batch in data:
            logs = self._step("test", batch)
        if not logs:
            raise InvalidArgumentError("evaluate: the data holds no batch")
        return {k: float(v) for k, v in logs.items()}

    def evaluate(
        self, x: Any = None, y: Any = None, batch_size: int = 32, verbose: Any = 0, sample_weight: Any = None
    ) -> dict[str, float]:
        """The loss and metrics over the data: ``{"loss": ..., "accuracy": ...}``."""
        self._require_compiled("evaluate")
        _check_count("evaluate", "batch_size", batch_size, 1)
        labels = losses_module.checked_labels([self.loss, *self.metrics], y)
        with use_backend(self._backend_name()), labels:
            logs = self._evaluate(self._as_batches(x, y, batch_size, False, None, sample_weight))
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        return logs

    def predict(self, x: Any, batch_size: int = 32, verbose: Any = 0) -> np.ndarray:
        """Outputs for ``x`` (arrays, Tensors or batches), computed in batches, as NumPy."""
        with use_backend(self.weights[0].backend if self.weights else _current()):
            _check_count("predict", "batch_size", batch_size, 1)
            if isinstance(x, (np.ndarray, Tensor, list)) and len(x) == 0:
                data: Iterable = [x if isinstance(x, Tensor) else ops.tensor(np.asarray(x))]  # (0, outputs)
            elif isinstance(x, (np.ndarray, Tensor, list)):
                data = batches(x, batch_size=batch_size)
            else:
                data = _Converted(x)
            outputs = [self.predict_step(batch).numpy() for batch in data]
        if verbose:
            print(f"predicted {sum(len(o) for o in outputs)} samples")
        return np.concatenate(outputs) if outputs else np.zeros((0,))

    def _require_compiled(self, what: str) -> None:
        if not getattr(self, "compiled", False):
            raise NotCompiledError(f"{what}: call model.compile(optimizer=..., loss=...) first")

    def _backend_name(self) -> str:
        """The model's backend once it has weights; before that, the current one."""
        return self.weights[0].backend if self.weights else _current()

    # --- summary ---------------------------------------------------------------------------
    def summary(self, print_fn: Any = print) -> None:
        """A table of the layers, their output shapes and parameter counts."""
        rows = [("Layer (type)", "Output shape", "Params")]
        for layer in self.layers:
            shape = getattr(layer, "_output_shape", None)
            shape = (None, *shape[1:]) if shape else None  # the batch size varies
            params = sum(w.size for w in layer.weights) if layer.built else 0
            rows.append(
                (f"{layer.name} ({type(layer).__name__})", str(shape) if shape else "?", f"{params:,}")
            )
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        line = "-" * (sum(widths) + 6)
        print_fn(f'Model: "{self.name}"')
        print_fn(line)
        for i, row in enumerate(rows):
            print_fn(f"{row[0]:<{widths[0]}}   {row[1]:<{widths[1]}}   {row[2]:>{widths[2]}}")
            if i == 0:
                print_fn(line)
        trainable = sum(w.size for w in self.trainable_weights)
        total = sum(w.size for w in self.weights)
        print_fn(line)
        print_fn(f"Total params: {total:,} (trainable: {trainable:,}, non-trainable: {total - trainable:,})")


def _check_count(op: str, name: str, value: Any, least: int) -> None:
    """Raise unless ``value`` is an int (not a bool) of at least ``least``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise InvalidArgumentError(f"{op}: {name} must be an int >= {least}, got {value!r}")


def _check_weights(sample_weight: Any, samples: int | None) -> None:
    if sample_weight is not None and _length(sample_weight) != samples:
        raise InvalidArgumentError(
            f"sample_weight has {_length(sample_weight)} values but x has {samples} samples; "
            "give one weight per sample"
        )


def _current() -> str:
    from .._dispatch import get_backend

    return get_backend()


def _tensors(tree: Any):
    if isinstance(tree, Tensor):
        yield tree
    elif isinstance(tree, (list, tuple)):
        for item in tree:
            yield from _tensors(item)
    elif isinstance(tree, dict):
        for item in tree.values():
            yield from _tensors(item)


def _rows(array: Any, index: slice) -> Any:
    if array is None:
        return None
    return array[index] if isinstance(array, Tensor) else np.asarray(array)[index]


def _is_pipeline(x: Any) -> bool:
    """A torch DataLoader, a tf.data.Dataset or another iterable of batches."""
    module = type(x).__module__.split(".")[0]
    return module in ("torch", "tensorflow") and not hasattr(x, "shape")


def _is_one_shot(x: Any) -> bool:
    return iter(x) is x


def _convert(batch: Any) -> Any:
    """A batch from any ecosystem (torch, TensorFlow, NumPy) as Tensors of the current backend
    (between frameworks through DLPack)."""
    if isinstance(batch, (list, tuple)):
        return tuple(_convert(item) for item in batch)
    if isinstance(batch, dict):
        return {k: _convert(v) for k, v in batch.items()}
    return ops.tensor(batch, backend=_current())


class _Converted:
    """Batches from an iterable (DataLoader, tf.data.Dataset, list, br.data batches), re-iterable."""

    def __init__(self, source: Iterable) -> None:
        self.source, self.epoch = source, 0

    def __iter__(self):
        return (_convert(batch) for batch in self.source)

    def __len__(self) -> int:
        return len(self.source)


class _Arrays:
    """Batches of in-memory arrays, held as tensors for the whole fit; each epoch gathers the
    rows once in that epoch's order (``seed`` plus the epoch number), then slices batches."""

    def __init__(self, arrays: tuple, batch_size: int, shuffle: bool, seed: int | None) -> None:
        from .. import random

        self.arrays = [a if isinstance(a, Tensor) else ops.tensor(np.asarray(a)) for a in arrays]
        self.batch_size, self.shuffle = batch_size, shuffle
        self.seed = 0 if not shuffle else random.data_seed_from_stream() if seed is None else seed
        self.epoch = 0
        self.size = len(self.arrays[0])
        self._fixed: list | None = None

    def __iter__(self):
        if not self.shuffle:  # the same batches every epoch: cut them once (TensorFlow copies slices)
            if self._fixed is None:
                self._fixed = list(self._cut(self.arrays))
            return iter(self._fixed)
        order = ops.tensor(_order(self.size, True, self.seed + self.epoch), backend=self.arrays[0].backend)
        return self._cut([ops.take(a, order, axis=0) for a in self.arrays])

    def _cut(self, arrays: list[Tensor]):
        for start in range(0, self.size, self.batch_size):
            yield tuple(a[start : start + self.batch_size] for a in arrays)

    def __len__(self) -> int:
        return -(-self.size // self.batch_size)
