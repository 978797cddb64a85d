"""``Model``: compile / fit / evaluate / predict / summary on any backend, Keras' shape.

``train_step`` and ``test_step`` are ordinary bridge code (a GradientTape inside), so a subclass
can override them once for every backend. With ``jit="auto"`` the steps are compiled where the
backend prefers it (``Backend.prefers_jit``: eager TensorFlow is ~10x slower per op) and run
eagerly elsewhere; ``jit=True`` compiles everywhere (forward, backward and optimizer update in one
graph); ``jit="graph"`` also replays each step as a CUDA graph on torch's GPUs, ``jit="xla"``
compiles with XLA on TensorFlow (see ``bridge.jit.MODES``); ``jit=False`` runs eagerly
everywhere, for debugging. The data goes through ``bridge.data.adapters``, the callbacks through a
``CallbackList``, and the logs become numbers in ``callbacks.numeric_logs``."""

from __future__ import annotations

import contextlib
import math
import os
import sys
import textwrap
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from .. import distribute, ops, optim, saving
from .. import losses as losses_module
from .. import metrics as metrics_module
from .._dispatch import get_backend, use_backend
from .._plugins import load_backend
from ..autodiff import GradientTape
from ..callbacks import (
    Callback,
    CallbackList,
    History,
    ProgressBar,
    TerminateOnNaN,
    format_logs,
    may_stop_in_batches,
    numeric_logs,
)
from ..data.adapters import (
    DataAdapter,
    StepsAdapter,
    adapter_for,
    as_arrays,
    check_sample_weight,
    class_weights,
    is_several,
    length,
)
from ..data.arrays import train_validation_split
from ..dtypes import int32
from ..errors import BridgeError, InvalidArgumentError, NonFiniteError, ShapeError
from ..jit import jit as compile_function
from ..ops._core import op
from ..ops.random import data_seed_from_stream
from ..saving import loading
from ..tensor import Tensor
from ..tree import leaves, map_leaves, replace_leaves
from . import compile_utils
from .core import Embedding
from .layer import Layer
from .symbolic import SymbolicTensor, is_symbolic

Numbers = dict[str, float | np.ndarray]


class NotCompiledError(BridgeError, RuntimeError):
    """fit / evaluate before compile."""


def _unpack(data: Any) -> tuple[Any, Any, Any]:
    """A batch as ``(x, y, sample_weight)``, the missing ones None."""
    if isinstance(data, (tuple, list)) and 1 <= len(data) <= 3:
        x, y, sample_weight = (*data, None, None)[:3]
        return x, y, sample_weight
    return data, None, None


class Model(Layer):
    """Subclass with layers in ``__init__`` and the forward pass in ``call``; or use Sequential;
    or ``Model(inputs, outputs)`` over layers called on ``nn.Input``s (a functional model, see
    ``nn.functional.Functional``)."""

    _untracked_attributes = Layer._untracked_attributes | {
        "_compiled_steps",
        "_callbacks",
        "_resume_at",
        "history",
    }

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from .functional import Functional  # import cycle: a functional model is a Model

            return Functional.__new__(Functional, *args, **kwargs)
        return super().__new__(cls, *args, **kwargs)

    def __init__(self, **kwargs: Any) -> None:
        if "inputs" in kwargs or "outputs" in kwargs:
            raise InvalidArgumentError(
                f"{type(self).__name__}: a subclass of nn.Model takes no inputs and outputs; for a "
                "functional model of your own class, subclass nn.Functional and call "
                "super().__init__(inputs, outputs)"
            )
        super().__init__(**kwargs)
        self.compiled = False
        self.stop_training = False
        self.optimizer: optim.Optimizer | None = None
        self.loss: Any = None
        self.compiled_metrics: list[metrics_module.Metric] = []
        self.loss_tracker = metrics_module.Mean(name="loss")
        self.jit: bool | str = "auto"
        self.history: History | None = None  # the last fit's
        self._input_shape: tuple[int | None, ...] | None = None  # with the batch axis, once built
        self._input_dtype: str | None = None  # of the first input it was built on, for load_model
        self._input_spec: Any = None  # the inputs' structure, shapes and dtypes (``input_spec``)
        self._compile_arguments: dict[str, Any] = {}  # as given to compile, for save
        self._resume_at: tuple[int, int] | None = None  # (epoch, batch) BackupAndRestore restored
        self._callbacks: list[Callback] = []  # those of the fit in progress (or the last one)
        self._epoch_learning_rate: float | None = None  # as the epoch in progress began
        self._building_on_data = False  # inside the first call, which builds from the data itself
        self._compiled_steps: dict[str, Callable[[Any], Any]] = {}
        self._compiled_moves = Layer._moves
        self._ran_eagerly: set[str] = set()  # the step kinds run once eagerly (weights, slots built)

    # --- building --------------------------------------------------------------------------
    def build(self, input_shape: Any, dtype: Any = None) -> None:
        """Create the weights for inputs of ``input_shape`` (batch axis first, None for a size
        known only at call time), as Keras' ``model.build((None, 4))``: the model runs once on
        zeros of one sample, of ``dtype``; by default int32 ids when the first layer is an
        ``Embedding``, else the model's float dtype. A build that fails leaves the model unbuilt.
        A model's first call on data builds it from that data instead."""
        shape = _batch_shape(input_shape)
        if shape is not None:
            self._input_shape = shape
        if self._building_on_data:
            return
        if shape is None:
            raise InvalidArgumentError(
                "build: input_shape must be a tuple with the batch axis first, e.g. (None, 4), "
                f"got {input_shape!r}"
            )
        if dtype is None:
            dtype = int32 if self.layers and isinstance(self.layers[0], Embedding) else self.dtype
        sample = tuple(1 if n is None else n for n in shape)
        loading.check_input(self.name, sample)  # a file being loaded allows samples of a sane size
        self(ops.zeros(sample, dtype=dtype))

    def _build_from_spec(self, spec: Any) -> None:
        """Build by calling the model on zeros of one sample for each input of ``spec`` (what
        ``_input_spec`` holds, as JSON gives it back: ``{"shape": [None, ...], "dtype": ...}``
        leaves in the inputs' structure), as ``load_model`` does for a model of several inputs."""

        def zeros(node: Any) -> Any:
            if isinstance(node, dict) and set(node) == {"shape", "dtype"}:
                sample = tuple(1 if n is None else int(n) for n in node["shape"])
                loading.check_input(self.name, sample)
                return ops.zeros(sample, dtype=node["dtype"])
            if isinstance(node, dict):
                return {key: zeros(value) for key, value in node.items()}
            if isinstance(node, list):
                return [zeros(item) for item in node]
            if node is None:
                return None
            raise InvalidArgumentError(f"build: an input spec holds {node!r}")

        self(zeros(spec))

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        """As ``Layer.__call__``; the first call builds the model from its data (see ``build``)."""
        if self.built or is_symbolic((inputs, args, kwargs)):
            return super().__call__(inputs, *args, **kwargs)
        self._building_on_data = True
        try:
            outputs = super().__call__(inputs, *args, **kwargs)
            first = next(iter(leaves(inputs)), None)
            if first is not None:
                self._input_dtype = self._standardize(first).dtype.name
            self._input_spec = map_leaves(
                lambda x: None if x is None else _spec(self._standardize(x)), inputs
            )
            return outputs
        except BaseException:
            self.built = False  # a first call that fails builds nothing
            raise
        finally:
            self._building_on_data = False

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Model:
        """The model ``get_config`` described (a functional model's config gives one, as Keras)."""
        if cls is Model and "input_layers" in config:
            from .functional import Functional  # import cycle: a functional model is a Model

            return Functional.from_config(config)
        return super().from_config(config)  # type: ignore[return-value]

    def reset_states(self) -> None:
        """Start every stateful layer (``LSTM(stateful=True)`` and kin) again from zero states."""
        for layer in self._all_sublayers():
            if hasattr(layer, "reset_states"):
                layer.reset_states()

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """The sublayer called ``name``, or at ``index`` in ``layers`` (as Keras)."""
        if (name is None) == (index is None):
            raise InvalidArgumentError("get_layer: give a name or an index (one of them)")
        if index is not None:
            if not -len(self.layers) <= index < len(self.layers):
                raise InvalidArgumentError(
                    f"get_layer: index {index} is out of range for {len(self.layers)} layers"
                )
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise InvalidArgumentError(
            f"get_layer: no layer named {name!r} in {[layer.name for layer in self.layers]}"
        )

    # --- compile ---------------------------------------------------------------------------
    _compile_loss: compile_utils.CompileLoss | None = None  # per output, made by compile
    _compile_metrics: compile_utils.CompileMetrics | None = None
    _workers: distribute.DataParallel | None = None  # compiled in its scope: fit trains on shards

    def compile(
        self,
        optimizer: Any = "adam",
        loss: Any = None,
        loss_weights: Any = None,
        metrics: Any = None,
        weighted_metrics: Any = None,
        jit: Any = "auto",
    ) -> None:
        """Choose the optimizer, the loss (a Loss, a name such as ``"mse"``, or a callable) and
        metrics (Metric objects or names; ``"accuracy"`` fits the loss). As in Keras, ``metrics``
        see no sample or class weights and ``weighted_metrics`` see them. For a model of several
        outputs (a dict, tuple or list of Tensors), ``loss`` and ``loss_weights`` may be a list
        (by position) or dict (by output name), ``metrics`` a list of one entry per output or a
        dict; the logs are named as Keras names them (see ``bridge.nn.compile_utils``)."""
        compile_utils.check_arguments(loss, metrics, loss_weights, weighted_metrics)
        if jit not in ("auto", True, False, "graph", "xla"):
            raise InvalidArgumentError(
                f"compile: jit must be 'auto', True, False, 'graph' or 'xla', got {jit!r}"
            )
        metrics = dict(metrics) if isinstance(metrics, dict) else list(metrics or [])
        weighted = (
            dict(weighted_metrics) if isinstance(weighted_metrics, dict) else list(weighted_metrics or [])
        )
        loss_weights = compile_utils.map_structure(float, loss_weights)  # plain numbers, for JSON
        self._compile_arguments = {
            "loss": loss,
            "metrics": metrics,
            "weighted_metrics": weighted,
            "loss_weights": loss_weights,
            "jit": jit,
        }
        self.optimizer = optim.get(optimizer)
        if self.dtype_policy.name == "mixed_float16" and not isinstance(
            self.optimizer, optim.LossScaleOptimizer
        ):
            self.optimizer = optim.LossScaleOptimizer(self.optimizer)  # as Keras: float16 gradients underflow
        output_names = getattr(self, "output_names", None)
        self._compile_loss = compile_utils.CompileLoss(loss, loss_weights, output_names)
        self.loss = self._compile_loss.resolved
        self._compile_metrics = compile_utils.CompileMetrics(metrics, self.loss, output_names, weighted)
        self.compiled_metrics = self._compile_metrics.metrics
        self.loss_tracker = metrics_module.Mean(name="loss")
        self.jit = jit
        self._workers = distribute.current()
        self._compiled_steps = {}
        self._compiled_moves = Layer._moves
        self.compiled = True

    # --- saving (bridge.saving does the work) ------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the whole model to ``path`` in one file: architecture, weights, optimizer state,
        compile settings (``nn.load_model`` reads it back, on either backend). See
        ``bridge.saving.save_model``."""
        saving.save_model(self, path)

    def save_weights(self, path: str | os.PathLike) -> None:
        """Write the weights to ``path`` as a safetensors file named by weight paths
        (``dense_1/kernel``). See ``bridge.saving.save_weights``."""
        saving.save_weights(self, path)

    def load_weights(self, path: str | os.PathLike, skip_mismatch: bool = False) -> None:
        """Assign the weights in ``path``, matched by path: all of them, or (an error naming each
        that does not fit) none; ``skip_mismatch=True`` loads those that fit. See
        ``bridge.saving.load_weights``."""
        saving.load_weights(self, path, skip_mismatch=skip_mismatch)

    def export(self, path: str | os.PathLike, format: str = "saved_model") -> None:
        """Write the model as native code that runs without bridge: a TensorFlow SavedModel
        (``"saved_model"``, or Keras 3's ``"tf_saved_model"``) or a ``torch.export`` program
        (``"torch"``). See ``bridge.interop.export``."""
        from ..interop.exporting import export  # import cycle: interop.exporting builds on nn.model

        export(self, path, format=format)

    def _restored(self, trained: bool) -> None:
        """After a saved state was assigned: forget the compiled steps (seed-generator keys they
        captured as constants may have changed). Where the state came from a model that had trained
        (``trained``: its optimizer had taken steps), also make the metrics' state that a first,
        eager step would make, so that train steps run compiled from the next one on, as they did
        where it was saved: eager and compiled steps may round differently (TensorFlow fuses ops
        in graphs), and continuing must give the very numbers of the run that saved."""
        self._compiled_steps.clear()
        if not trained:  # as in a run that has not trained yet: the first step runs eagerly
            self._ran_eagerly.discard("train")
        elif self.weights:
            for metric in self.metrics:
                metric._variables(self.weights[0])
            self._ran_eagerly.add("train")

    @property
    def metrics(self) -> list[metrics_module.Metric]:
        """The loss tracker, the compiled metrics, then each output's loss tracker (as Keras)."""
        if not self.compiled:
            return []
        per_output = self._compile_loss.trackers if self._compile_loss is not None else []
        return [self.loss_tracker, *self.compiled_metrics, *per_output]

    @property
    def metrics_names(self) -> list[str]:
        """The names of Keras' ``model.metrics``: ``"loss"``, then ``"compile_metrics"`` where
        ``compile`` was given metrics (Keras counts them as one), then each output's loss tracker
        (``<output>_loss``, once the outputs are known). ``evaluate`` and ``train_on_batch``
        order their lists by it (see ``evaluate``)."""
        if not self.compiled:
            return []
        trackers = self._compile_loss.trackers if self._compile_loss is not None else []
        arguments = self._compile_arguments
        compiled = (
            ["compile_metrics"] if arguments.get("metrics") or arguments.get("weighted_metrics") else []
        )
        return ["loss", *compiled, *(tracker.name for tracker in trackers)]

    def compute_metrics(self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> dict[str, Tensor]:
        """Update the compiled metrics on a batch and return every metric's result by log name
        (``get_metrics_result``), as Keras: what an overridden ``train_step`` returns after it
        updated the loss tracker (``self.loss_tracker.update_state(loss)``)."""
        del x  # as Keras: the compiled metrics read the targets and the predictions
        if self._compile_metrics is None:
            raise NotCompiledError("compute_metrics: call model.compile(optimizer=..., loss=...) first")
        self._compile_metrics.update_state(y, y_pred, sample_weight)
        self.compiled_metrics = self._compile_metrics.metrics
        return self.get_metrics_result()

    def get_metrics_result(self) -> dict[str, Tensor]:
        """Every metric's result by log name: ``loss``, the compiled metrics, each output's loss."""
        if self._compile_metrics is None or self._compile_loss is None:
            return {}
        logs = {self.loss_tracker.name: self.loss_tracker.result(), **self._compile_metrics.result()}
        logs.update({m.name: m.result() for m in self._compile_loss.trackers})
        return logs

    def reset_metrics(self) -> None:
        """Reset the state of every metric (``metrics``), as Keras."""
        for metric in self.metrics:
            metric.reset_state()

    # --- steps (backend-agnostic; override freely) -----------------------------------------
    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> Tensor:
        """The compiled loss plus the layers' regularization losses. ``x`` and ``training``
        (whether the model is training) are Keras' arguments, for an override; this one reads
        neither."""
        if self._compile_loss is None:
            raise NotCompiledError("compute_loss: call model.compile(optimizer=..., loss=...) first")
        loss = self._compile_loss(y, y_pred, sample_weight)
        for penalty in self.losses:
            loss = loss + penalty
        return loss

    def _update_metrics(self, loss: Tensor, y: Any, y_pred: Any, sample_weight: Any) -> dict[str, Tensor]:
        self.loss_tracker.update_state(loss, sample_weight=compile_utils.batch_count(y_pred))
        return self.compute_metrics(None, y, y_pred, sample_weight)

    def train_step(self, data: Any) -> dict[str, Tensor]:
        """One optimization step on a batch ``(x, y[, sample_weight])``; returns the metrics."""
        if self.optimizer is None:
            raise NotCompiledError("train_step: call model.compile(optimizer=..., loss=...) first")
        x, y, sample_weight = _unpack(data)
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred, sample_weight)
            scaled = self.optimizer.scale_loss(loss)  # a LossScaleOptimizer's (mixed_float16)
        weights = self.trainable_weights
        self.optimizer.apply(tape.gradient(scaled, weights), weights)
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
        backend = next(t for t in leaves(batch) if isinstance(t, Tensor)).backend
        if not self._should_compile(backend) or kind not in self._ran_eagerly or self._builds_on(batch):
            out = step(batch)
            self._ran_eagerly.add(kind)
            return out
        if self._compiled_moves != Layer._moves:  # a layer moved: the steps hold its old variables
            self._compiled_steps.clear()
            self._compiled_moves = Layer._moves
        key = f"{kind}:{backend}"
        if key not in self._compiled_steps:
            mode = self.jit if self.jit in ("graph", "xla") else "default"
            self._compiled_steps[key] = compile_function(step, mode=mode)
        return self._compiled_steps[key](batch)

    def _builds_on(self, batch: Any) -> bool:
        """Whether a step on ``batch`` (of several targets) would make the per-output losses and
        metrics, which the first step does, eagerly (a restored model's first step may not)."""
        state = self._compile_metrics
        return state is not None and not state.built and is_several(_unpack(batch)[1])

    def _should_compile(self, backend: str) -> bool:
        if self.jit == "auto":
            return load_backend(backend).prefers_jit
        return self.jit in (True, "graph", "xla")

    @op()
    def to(self, device: str) -> Model:
        """Move the weights, the optimizer's state and the metrics' state to ``device``; the
        compiled steps are traced again on their next call."""
        super().to(device)
        if self.optimizer is not None:
            self.optimizer.to(device)
        for metric in self.metrics:
            for variable in metric._state.values():
                variable._relocate(device)
        return self

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
        callbacks: list[Callback] | None = None,
        verbose: Any = "auto",
        seed: int | None = None,
        initial_epoch: int = 0,
        sample_weight: Any = None,
        class_weight: dict[int, float] | None = None,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int | list[int] = 1,
    ) -> History:
        """Train for ``epochs``; returns the History (``history.history["loss"]`` and so on).

        As Keras: ``class_weight`` (a dict class index -> weight; arrays or a ``PyDataset`` of
        one target) weighs each sample by its class; ``steps_per_epoch`` ends each epoch after
        that many batches, the next going on where it stopped (needed for data without end);
        ``validation_steps`` validates on the first batches only; ``validation_batch_size``
        (default ``batch_size``) batches ``validation_data``; ``validation_freq`` validates after
        every that many epochs (or after the epochs, counted from 1, of a list). At the end, an
        optimizer with ``use_ema`` sets the weights to their moving averages."""
        optimizer = self._require_compiled("fit")
        batch_size = 32 if batch_size is None else batch_size  # as Keras
        _check_fit_arguments(batch_size, epochs, initial_epoch, verbose, shuffle, callbacks)
        for name, value in (("steps_per_epoch", steps_per_epoch), ("validation_steps", validation_steps)):
            if value is not None:
                _check_count("fit", name, value, 1)
        validation_batch_size = batch_size if validation_batch_size is None else validation_batch_size
        _check_count("fit", "validation_batch_size", validation_batch_size, 1)
        _check_validation_freq(validation_freq)
        if _samples(x) == 0:
            raise InvalidArgumentError("fit: x holds no sample")
        if validation_split:
            (x, y, sample_weight), validation_data = _split_off_validation(
                x, y, sample_weight, validation_split, validation_data
            )
        workers, others = self._workers, distribute.joined()
        if workers is None and others is not None:
            warnings.warn(
                f"fit: this process is one of {others.num_workers} data-parallel workers, but "
                "the model was not compiled in DataParallel.scope(): it trains alone, on all the data; "
                "build and compile it in the scope",
                stacklevel=2,
            )
        if workers is not None:  # every worker must make this call, for the same collectives
            workers.agree(
                "fit calls",
                {
                    "samples": _samples(x),
                    "batch_size": batch_size,
                    "epochs": epochs,
                    "initial_epoch": initial_epoch,
                    "steps_per_epoch": steps_per_epoch,
                    "shuffle": shuffle,
                    "seed": seed,
                    "class_weight": None if class_weight is None else sorted(class_weight.items()),
                    "validation samples": _samples(validation_data),
                    "validation_batch_size": validation_batch_size,
                    "validation_steps": validation_steps,
                    "validation_freq": validation_freq,
                    "built": self.built,
                    "callbacks": [(type(c).__name__, getattr(c, "save_freq", None)) for c in callbacks or []],
                },
            )
            if shuffle and seed is None:
                seed = workers.same_seed(data_seed_from_stream())  # one data order for all workers
        with use_backend(self._backend_name()):
            train = adapter_for(
                "fit",
                x,
                y,
                sample_weight,
                batch_size=batch_size,
                shuffle=shuffle,
                seed=seed,
                class_weight=class_weight,
                steps=steps_per_epoch,
                resume=True,
            )
            validation = (
                None
                if validation_data is None
                else _validation_adapter(validation_data, validation_batch_size, validation_steps)
            )
        verbose = (1 if sys.stdout.isatty() else 2) if verbose == "auto" else int(verbose)
        if workers is not None and workers.rank != 0:
            verbose = 0  # rank 0 shows the progress
        progress = ProgressBar(verbose, epochs, train.num_batches) if verbose else None
        # the user's callbacks first: they may add to the logs (learning_rate) that History records
        every = CallbackList(callbacks or [], progress, model=self)
        every.set_params({"verbose": verbose, "epochs": epochs, "steps": train.num_batches})
        self.history = every.history
        self._callbacks = every.callbacks  # this fit's, whose state BackupAndRestore keeps
        self.stop_training = False
        with use_backend(self._backend_name()), self._checked_labels(y, validation_data), self._scope():
            if workers is not None and self.built:
                workers.share_variables(self.weights)  # every worker starts from rank 0's weights
            optimizer.reset_nonfinite()
            self._resume_at = None
            every.on_train_begin()
            resume_epoch, skip = self._resume_at or (initial_epoch, 0)
            for epoch in range(max(initial_epoch, resume_epoch), epochs):
                self.reset_metrics()
                # the learning rate the epoch begins with, which backups within it keep
                self._epoch_learning_rate = (
                    None if optimizer.learning_rate_schedule else optimizer.learning_rate
                )
                every.on_epoch_begin(epoch)
                train.on_epoch_begin()
                logs = self._train_epoch(train, epoch, every, skip if epoch == resume_epoch else 0)
                train.on_epoch_end()
                if logs is None:  # a generator read on by steps_per_epoch ran out
                    break
                self._share_states()
                self._check_finite_steps(epoch, every)
                if validation is not None and not self.stop_training and _validates(epoch, validation_freq):
                    logs.update({f"val_{k}": v for k, v in self._evaluate(validation, every).items()})
                every.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
            if epochs > initial_epoch:
                optimizer.finalize_variable_values(self.trainable_weights)  # as Keras: use_ema's averages
            every.on_train_end()
        return every.history

    @contextlib.contextmanager
    def _scope(self) -> Iterator[None]:
        """The scope of the ``DataParallel`` the model was compiled in, if any; after it, the
        workers' gradients weigh alike again (an uneven last batch weighed them by their rows)."""
        if self._workers is None:
            yield
            return
        with self._workers.scope():
            try:
                yield
            finally:
                self._workers.weigh(1 / self._workers.num_workers)

    def _step_on_shard(self, kind: str, batch: Any) -> Any:
        """``_step`` on this worker's shard of a global ``batch`` in a data-parallel ``fit`` or
        ``evaluate`` (on the whole batch otherwise), its gradients weighed by its share of the
        rows. An unbuilt model is built on one row first and takes rank 0's weights. A worker
        left without rows (fewer rows than workers) steps on the batch's first row weighed zero,
        its metrics kept as they were: every worker runs the same step and the same collectives.
        """
        workers = self._workers
        if workers is None or workers.num_workers == 1:
            return self._step(kind, batch)
        if not self.built:
            self(map_leaves(lambda part: part[:1], _unpack(batch)[0]), training=False)
            workers.share_variables(self.weights)
        shard, share = workers.shard(batch)
        if kind == "train":
            workers.weigh(share)
        if share:
            return self._step(kind, shard)
        with self._metrics_kept():
            return self._step(kind, map_leaves(lambda part: part[:1], batch))

    @contextlib.contextmanager
    def _metrics_kept(self) -> Iterator[None]:
        """The metrics' states as they were before the block (zero for a state made in it)."""
        before = {id(v): v.value for metric in self.metrics for v in metric._state.values()}
        try:
            yield
        finally:
            for metric in self.metrics:
                for variable in metric._state.values():
                    variable.assign(before.get(id(variable), 0.0))

    def _summed_logs(self, logs: dict[str, Any]) -> Numbers:
        """``logs`` as numbers; in a data-parallel fit or evaluate, the metrics' over every
        worker's shards (their states summed, as Keras aggregates metric variables)."""
        if self._workers is None or self._workers.num_workers == 1:
            return numeric_logs(logs)
        with self._metrics_summed():
            overall = self.get_metrics_result()
            return numeric_logs({name: overall.get(name, value) for name, value in logs.items()})

    def _share_states(self) -> None:
        """In a data-parallel fit, give every worker rank 0's non-trainable weights (the moving
        statistics of BatchNormalization, which each worker gathers on its shards), as torch's DDP
        broadcasts its buffers: as an epoch ends (before validation) and at each backup."""
        if self._workers is not None:
            self._workers.share_variables(self.non_trainable_weights)

    def _metrics_summed(self) -> contextlib.AbstractContextManager[None]:
        """Inside, the metrics hold their states summed over the workers (``DataParallel.summed``)."""
        if self._workers is None:
            return contextlib.nullcontext()
        return self._workers.summed([v for metric in self.metrics for v in metric._state.values()])

    def _train_epoch(
        self, train: DataAdapter, epoch: int, callbacks: CallbackList, skip: int = 0
    ) -> Numbers | None:
        """Run the train step on each batch of the epoch but the first ``skip`` (done before a
        restored backup); the last batch's logs, as numbers; None where data read on across
        epochs (``steps_per_epoch``) gave this epoch no batch."""
        logs: dict[str, Any] = {}
        workers = self._workers
        # a callback that may stop within an epoch (on its worker's logs) stops every worker
        stops_together = workers is not None and workers.num_workers > 1 and may_stop_in_batches(callbacks)
        for index, batch in enumerate(train.batches(epoch)):
            if index < skip:
                continue
            callbacks.on_train_batch_begin(index)
            logs = self._step_on_shard("train", batch)  # batch logs stay tensors: no host sync unless asked
            callbacks.on_train_batch_end(index, logs)
            if stops_together:
                assert workers is not None
                self.stop_training = workers.anyone(self.stop_training)
            if self.stop_training:
                break
        if not logs and not skip:
            if isinstance(train, StepsAdapter) and epoch > 0:
                warnings.warn("fit: the training data ran out; training stops", stacklevel=3)
                return None
            raise InvalidArgumentError("fit: the training data holds no batch")
        if not logs:  # resumed after the epoch's last batch: its logs are the restored metrics'
            logs = {metric.name: metric.result() for metric in self.metrics}
        return self._summed_logs(logs)

    def _check_finite_steps(self, epoch: int, callbacks: CallbackList) -> None:
        """Once per epoch (one host read): if a step had non-finite gradients, the optimizer
        skipped it and every step after it; raise NonFiniteError naming it, or stop training
        under TerminateOnNaN, with the weights from before that step either way."""
        step = self.optimizer.nonfinite_step if self.optimizer is not None else None
        if step is None:
            return
        message = f"optimizer step {step} (epoch {epoch + 1}) produced non-finite gradients"
        if not any(isinstance(c, TerminateOnNaN) for c in callbacks.callbacks):
            raise NonFiniteError(
                f"fit: {message} (a NaN or infinite loss?); no variable changed at that step or after "
                "it: the model keeps the weights from before it"
            )
        if not self.stop_training:
            print(f"TerminateOnNaN: {message}; stopped with the weights before it", file=sys.stderr)
        self.stop_training = True

    def _checked_labels(self, y: Any, validation_data: Any = None) -> Any:
        """``losses.checked_labels`` for one target array; several targets (of outputs with
        different losses) are checked batch by batch, by each output's loss and metrics."""
        if is_several(y):
            return losses_module.checked_labels([], None)
        return losses_module.checked_labels([self.loss, *self.metrics], y, validation_data)

    def _evaluate(self, data: DataAdapter, callbacks: CallbackList) -> Numbers:
        """The test step over ``data``, calling the ``on_test_*`` hooks as Keras' evaluate."""
        self.reset_metrics()
        logs: dict[str, Any] = {}
        callbacks.on_test_begin()
        data.on_epoch_begin()
        for index, batch in enumerate(data.batches(0)):
            callbacks.on_test_batch_begin(index)
            logs = self._step_on_shard("test", batch)
            callbacks.on_test_batch_end(index, logs)
        data.on_epoch_end()
        if not logs:
            raise InvalidArgumentError("evaluate: the data holds no batch")
        numbers = self._summed_logs(logs)
        callbacks.on_test_end(numbers)
        return numbers

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int = 32,
        verbose: Any = 0,
        sample_weight: Any = None,
        steps: int | None = None,
        callbacks: Sequence[Callback] | None = None,
        return_dict: bool = False,
    ) -> Any:
        """The loss and metrics over the data (the first ``steps`` batches, where given), as
        Keras returns them: the loss alone (a float) for a model compiled without metrics, else a
        list: ``loss``, the compiled metrics, each output's loss (``metrics_names``' order), then
        any other log by name; ``return_dict=True`` gives ``{"loss": ..., "accuracy": ...}``. A
        value is a float, or a float32 array for a metric whose result is one, as Keras.
        ``callbacks``' ``on_test_*`` hooks are called."""
        self._require_compiled("evaluate")
        _check_count("evaluate", "batch_size", batch_size, 1)
        if steps is not None:
            _check_count("evaluate", "steps", steps, 1)
        if self._workers is not None:  # every worker must make this call: the metrics are summed
            values = {"samples": _samples(x), "batch_size": batch_size, "steps": steps, "built": self.built}
            self._workers.agree("evaluate calls", values)
        with use_backend(self._backend_name()), self._checked_labels(y):
            data = adapter_for("evaluate", x, y, sample_weight, batch_size=batch_size, steps=steps)
            logs = self._evaluate(data, self._callback_list("evaluate", callbacks, verbose, data.num_batches))
        if verbose and (self._workers is None or self._workers.rank == 0):
            print(*format_logs(logs), sep="\n")
        return logs if return_dict else self._in_order(logs)

    def _in_order(self, logs: dict[str, Any]) -> Any:
        """``logs`` as Keras' ``evaluate`` lists them: ``loss``, the compiled metrics, each
        output's loss, then the other logs by sorted name; one log alone as itself."""
        per_output = self._compile_loss.trackers if self._compile_loss is not None else []
        # as Keras: a name twice (two "accuracy" metrics, logged "accuracy" and "accuracy_1") lists twice
        names = [self.loss_tracker.name, *(m.name for m in [*self.compiled_metrics, *per_output])]
        ordered = [logs[name] for name in names if name in logs]
        ordered += [logs[key] for key in sorted(logs) if key not in names]
        return ordered[0] if len(ordered) == 1 else ordered

    def train_on_batch(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        class_weight: dict[int, float] | None = None,
        return_dict: bool = False,
    ) -> Any:
        """One train step on one batch, the metrics reset first, as Keras; returns what
        ``evaluate`` would (the loss, a list, or with ``return_dict`` a dict)."""
        self._require_compiled("train_on_batch")
        if class_weight is not None:
            if sample_weight is not None:
                raise InvalidArgumentError("train_on_batch: give class_weight or sample_weight, not both")
            sample_weight = class_weights("train_on_batch", as_arrays(y), class_weight)
        return self._on_batch("train", x, y, sample_weight, return_dict)

    def test_on_batch(
        self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False
    ) -> Any:
        """The loss and metrics on one batch (the metrics reset first), as Keras; returns what
        ``evaluate`` would."""
        self._require_compiled("test_on_batch")
        return self._on_batch("test", x, y, sample_weight, return_dict)

    def predict_on_batch(self, x: Any) -> Any:
        """The outputs for one batch ``x``, as NumPy (one array, or the model's structure)."""
        with use_backend(self._backend_name()):
            return _numpy(self.predict_step(_on_backend(x)))

    def _on_batch(self, kind: str, x: Any, y: Any, sample_weight: Any, return_dict: bool) -> Any:
        # in a data-parallel model's scope, the batch is this worker's own: gradients averaged alike
        with use_backend(self._backend_name()), self._checked_labels(y), self._scope():
            batch = tuple(_on_backend(part) for part in (x, y, sample_weight) if part is not None)
            self.reset_metrics()
            logs = numeric_logs(self._step(kind, batch))
        return logs if return_dict else self._in_order(logs)

    def predict(
        self,
        x: Any,
        batch_size: int = 32,
        verbose: Any = 0,
        steps: int | None = None,
        callbacks: Sequence[Callback] | None = None,
    ) -> Any:
        """Outputs for ``x`` (arrays, Tensors or batches; several inputs as a dict, or a tuple or
        list of arrays; a ``PyDataset``), computed in batches (the first ``steps``, where given),
        as NumPy: one array, or the structure (dict, tuple, list) of arrays the model returns.
        ``callbacks``' ``on_predict_*`` hooks are called (a batch's logs: ``{"outputs": ...}``)."""
        _check_count("predict", "batch_size", batch_size, 1)
        if steps is not None:
            _check_count("predict", "steps", steps, 1)
        self._check_batched(x)
        with use_backend(self._backend_name()):
            if isinstance(x, (np.ndarray, Tensor, list)) and not is_several(x) and len(x) == 0:
                empty = x if isinstance(x, Tensor) else ops.tensor(np.asarray(x))
                outputs = [_numpy(self.predict_step(empty))]  # (0, outputs)
            else:
                data = adapter_for("predict", x, batch_size=batch_size, steps=steps)
                hooks = self._callback_list("predict", callbacks, verbose, data.num_batches)
                hooks.on_predict_begin()
                data.on_epoch_begin()
                outputs = []
                for index, batch in enumerate(data.batches(0)):
                    hooks.on_predict_batch_begin(index)
                    outputs.append(_numpy(self.predict_step(batch)))
                    hooks.on_predict_batch_end(index, {"outputs": outputs[-1]})
                data.on_epoch_end()
                hooks.on_predict_end()
        if not outputs:
            return np.zeros((0,))
        if verbose:
            print(f"predicted {sum(len(leaves(o)[0]) for o in outputs)} samples")
        return map_leaves(lambda *parts: np.concatenate(parts), outputs[0], *outputs[1:])

    def _callback_list(
        self, op: str, callbacks: Sequence[Callback] | None, verbose: Any, steps: int | None
    ) -> CallbackList:
        """The callbacks of an ``evaluate`` or ``predict``, with Keras' params."""
        _check_callbacks(op, callbacks)
        every = CallbackList(callbacks or [], model=self)
        every.set_params({"verbose": verbose, "epochs": 1, "steps": steps})
        return every

    def _check_batched(self, x: Any) -> None:
        """Raise if ``x`` is one sample without its batch axis (one axis fewer than the inputs
        the model was built for), whatever its feature count."""
        if self._input_shape is None or not isinstance(x, (np.ndarray, Tensor, list)) or is_several(x):
            return
        shape = tuple(x.shape) if isinstance(x, (np.ndarray, Tensor)) else np.shape(x)
        if len(shape) == len(self._input_shape) - 1:
            raise ShapeError(
                f"predict: x has shape {shape} but the model takes batches of shape {self._input_shape}: "
                "for a single sample, add the batch axis (x[None], a batch of one)"
            )

    def _require_compiled(self, what: str) -> optim.Optimizer:
        if not self.compiled or self.optimizer is None:
            raise NotCompiledError(f"{what}: call model.compile(optimizer=..., loss=...) first")
        return self.optimizer

    def _backend_name(self) -> str:
        """The model's backend once it has weights; before that, the current one."""
        return self.weights[0].backend if self.weights else get_backend()

    # --- summary ---------------------------------------------------------------------------
    def _summary_rows(self) -> list[tuple[str, ...]]:
        """One row per layer: name (type), output shape, parameter count."""
        rows: list[tuple[str, ...]] = []
        for layer in self.layers:
            output = layer._output_shape
            shape = str((None, *output[1:])) if output else "?"  # the batch size varies
            if layer._inbound_nodes and isinstance(layer._inbound_nodes[-1].outputs, SymbolicTensor):
                shape = str(layer._inbound_nodes[-1].outputs.shape)  # with the sizes data will tell
            rows.append((f"{layer.name} ({type(layer).__name__})", shape, param_count(layer)))
        return rows

    def summary(self, print_fn: Callable[[str], Any] = print) -> None:
        """A table of the layers, their output shapes and parameter counts (and, for a
        functional model, the layers each is connected to); before the model is built, a note
        saying so (no shape or count is known yet)."""
        rows = self._summary_rows()
        header = ("Layer (type)", "Output shape", "Params", "Connected to")[: len(rows[0]) if rows else 3]
        rows = [header, *rows]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        line = "-" * (sum(widths) + 3 * (len(widths) - 1))
        print_fn(f'Model: "{self.name}"')
        print_fn(line)
        for i, row in enumerate(rows):
            cells = [
                f"{c:>{w}}" if column == 2 else f"{c:<{w}}" for column, (c, w) in enumerate(zip(row, widths))
            ]
            print_fn("   ".join(cells).rstrip())
            if i == 0:
                print_fn(line)
        print_fn(line)
        if not self.built:
            note = (
                "The model is not built yet: its weights are made on the first call. Call "
                "model.build(input_shape), e.g. model.build((None, 4)), or the model on data, "
                "to see the output shapes and parameter counts."
            )
            for text in textwrap.wrap(note, width=80):
                print_fn(text)
            return
        trainable = sum(w.size for w in self.trainable_weights)
        total = sum(w.size for w in self.weights)
        print_fn(f"Total params: {total:,} (trainable: {trainable:,}, non-trainable: {total - trainable:,})")


def _spec(x: Tensor) -> dict[str, Any]:
    return {"shape": [None, *x.shape[1:]], "dtype": x.dtype.name}


def param_count(layer: Layer) -> str:
    """A layer's parameter count, as summary shows it."""
    return f"{sum(w.size for w in layer.weights):,}" if layer.built else "0 (unbuilt)"


def _batch_shape(input_shape: Any) -> tuple[int | None, ...] | None:
    """``input_shape`` with its batch axis as None, if it is one tensor's shape; else None."""
    if not isinstance(input_shape, (tuple, list)) or not input_shape:
        return None
    if not all(n is None or isinstance(n, (int, np.integer)) for n in input_shape):
        return None
    return (None, *(None if n is None else int(n) for n in input_shape[1:]))


def _check_count(op: str, name: str, value: Any, least: int) -> None:
    """Raise unless ``value`` is an int (not a bool) of at least ``least``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise InvalidArgumentError(f"{op}: {name} must be an int >= {least}, got {value!r}")


def _check_callbacks(op: str, callbacks: Any) -> None:
    if not isinstance(callbacks, (list, tuple, type(None))) or not all(
        isinstance(c, Callback) for c in callbacks or []
    ):
        raise InvalidArgumentError(f"{op}: callbacks must be a list of Callbacks, got {callbacks!r}")


def _check_fit_arguments(
    batch_size: Any, epochs: Any, initial_epoch: Any, verbose: Any, shuffle: Any, callbacks: Any
) -> None:
    _check_count("fit", "batch_size", batch_size, 1)
    _check_count("fit", "epochs", epochs, 0)
    _check_count("fit", "initial_epoch", initial_epoch, 0)
    if verbose != "auto":
        _check_count("fit", "verbose", verbose, 0)
    if not isinstance(shuffle, (bool, np.bool_)):
        raise InvalidArgumentError(f"fit: shuffle must be True or False, got {shuffle!r}")
    _check_callbacks("fit", callbacks)
    if initial_epoch > epochs:
        raise InvalidArgumentError(
            f"fit: initial_epoch={initial_epoch} is past epochs={epochs} (epochs counts from 0, "
            "initial_epoch included)"
        )


def _split_off_validation(
    x: Any, y: Any, sample_weight: Any, fraction: float, validation_data: Any
) -> tuple[tuple[Any, Any, Any], tuple[Any, Any, Any]]:
    """``validation_split``: the checked ``(x, y, sample_weight)`` to train on and to validate on."""
    if not 0.0 <= fraction < 1.0:
        raise InvalidArgumentError(f"fit: validation_split must be in [0, 1), got {fraction}")
    if validation_data is not None:
        raise InvalidArgumentError("fit: give validation_split or validation_data, not both")
    n = _samples(x)
    if n is None or y is None:
        raise InvalidArgumentError("fit: validation_split needs arrays (x, y); pass validation_data instead")
    if n - math.ceil(n * fraction) == 0:
        raise InvalidArgumentError(f"fit: validation_split={fraction} of {n} samples leaves none to train on")
    check_sample_weight("fit", sample_weight, n)
    data = tuple(None if a is None else as_arrays(a) for a in (x, y, sample_weight))
    kept, held_out = train_validation_split(tuple(leaves(data)), fraction)  # several arrays: each
    return replace_leaves(data, list(kept)), replace_leaves(data, list(held_out))


def _samples(x: Any) -> int | None:
    """How many samples ``x`` holds (one array's rows, or those of the first of several)."""
    return length(leaves(as_arrays(x))[0]) if is_several(x) and leaves(x) else length(x)


def _numpy(outputs: Any) -> Any:
    """A model's outputs (a Tensor, or a structure of them) as NumPy arrays."""
    return map_leaves(lambda t: t.numpy(), outputs)


def _validation_adapter(validation_data: Any, batch_size: int, steps: int | None) -> DataAdapter:
    """``validation_data``: a tuple ``(x, y[, sample_weight])`` of arrays, or batches (a
    ``PyDataset``, an iterable); the first ``steps`` batches of it where given."""
    vx, vy, vw = (
        _unpack(validation_data) if isinstance(validation_data, tuple) else (validation_data, None, None)
    )
    return adapter_for("fit", vx, vy, vw, batch_size=batch_size, steps=steps)


def _on_backend(data: Any) -> Any:
    """A batch's arrays (one, or several: ``is_several``) as Tensors of the current backend."""
    return map_leaves(lambda a: ops.tensor(a if isinstance(a, Tensor) else np.asarray(a)), as_arrays(data))


def _check_validation_freq(freq: Any) -> None:
    if isinstance(freq, list):
        if not all(isinstance(e, int) and not isinstance(e, bool) and e >= 1 for e in freq):
            raise InvalidArgumentError(f"fit: validation_freq's epochs must be ints >= 1, got {freq!r}")
        return
    _check_count("fit", "validation_freq", freq, 1)


def _validates(epoch: int, freq: int | list[int]) -> bool:
    """Whether ``fit`` validates after ``epoch`` (from 0): every ``freq`` epochs, or those of a
    list (counted from 1), as Keras."""
    return epoch + 1 in freq if isinstance(freq, list) else (epoch + 1) % freq == 0
