"""Losses and metrics per output, for ``Model.compile`` (Keras 3's ``CompileLoss`` and
``CompileMetrics``, in bridge's smaller form).

A model's outputs are one Tensor, or a dict, tuple or list of them. ``loss`` is one loss for
every output, or a list (by position) or dict (by output name) of losses, None for an output
without one; ``loss_weights`` a list or dict the same way; ``metrics`` a list of metrics (for one
output), or a list with one entry per output or a dict by output name (an entry a metric or a list
of them). Both are resolved on the first batch, when the outputs' structure is known.

The logs are named as Keras 3.15 names them: ``loss`` (the weighted total), ``<name>_loss`` for
each output's unweighted loss where there are several, ``<name>_<metric>`` for metrics, where an
output's name is its dict key (a dict ordered as the model returns it, where ``output_names``
names the same keys, else by sorted key), or ``model.output_names[i]`` for a list; a list without
``output_names`` (a subclassed model) names each loss by the loss (``mse_loss``: two outputs
with the same loss share one log, the last output's, as in Keras) and its metrics not at all."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import ops
from ..errors import InvalidArgumentError, ShapeError
from ..tensor import Tensor
from ..tree import leaves

Output = tuple[Any, str | None]  # (key into the outputs: a dict key, an index, or None for one)


def accuracy_for(loss: Any, name: str = "accuracy") -> metrics_module.Metric:
    """The accuracy that fits a loss, as Keras resolves ``metrics=["accuracy"]`` (or ``"acc"``)."""
    if isinstance(loss, losses_module.SparseCategoricalCrossentropy):
        return metrics_module.SparseCategoricalAccuracy(name=name)
    if isinstance(loss, losses_module.CategoricalCrossentropy):
        return metrics_module.CategoricalAccuracy(name=name)
    if isinstance(loss, losses_module.BinaryCrossentropy):
        return metrics_module.BinaryAccuracy(name=name)
    return metrics_module.Accuracy(name=name)


def metric_for(loss: Any, identifier: Any) -> metrics_module.Metric:
    """A metric of ``compile``: by name (``"accuracy"`` the one that fits the loss), a Metric, or
    a function ``fn(y_true, y_pred)`` whose values are averaged under its name, as Keras does."""
    if isinstance(identifier, str) and identifier in ("accuracy", "acc"):
        return accuracy_for(loss, identifier)
    metric = metrics_module.get(identifier)
    if not isinstance(metric, metrics_module.Metric):
        metric = metrics_module.MeanMetricWrapper(metric, name=getattr(metric, "__name__", None))
    return metric


def resolve_loss(identifier: Any) -> losses_module.Loss:
    """A Loss from a name, a config, a Loss or a function (reduced as Keras reduces it)."""
    loss = losses_module.get(identifier)
    return loss if isinstance(loss, losses_module.Loss) else losses_module.LossFunctionWrapper(loss)


def _is_structure(value: Any) -> bool:
    return isinstance(value, (list, tuple, dict))


def map_structure(fn: Callable[[Any], Any], value: Any) -> Any:
    """``value`` (one item, or a list, tuple or dict of items, None kept) with ``fn`` on each item."""
    if isinstance(value, dict):
        return {key: None if item is None else fn(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [None if item is None else fn(item) for item in value]
    return None if value is None else fn(value)


def check_arguments(loss: Any, metrics: Any, loss_weights: Any, weighted_metrics: Any = None) -> None:
    """Raise for ``compile`` arguments of a form no model could take."""
    if loss is None or (_is_structure(loss) and all(item is None for item in _items(loss))):
        raise InvalidArgumentError("compile: a loss is needed, e.g. loss='mse'")
    for argument, value in (("metrics", metrics), ("weighted_metrics", weighted_metrics)):
        if value is not None and not isinstance(value, (list, tuple, dict)):
            raise InvalidArgumentError(
                f"compile: {argument} must be a list (or a dict by output name), got {value!r}; "
                f"for one metric, {argument}=[...]"
            )
    weights = [loss_weights] if not _is_structure(loss_weights) else _items(loss_weights)
    for weight in weights:
        if weight is not None and (
            isinstance(weight, (bool, np.bool_)) or not isinstance(weight, numbers.Real)
        ):
            raise InvalidArgumentError(
                f"compile: loss_weights must be a number, or a list or dict of numbers, got {loss_weights!r}"
            )


def _items(value: Any) -> list[Any]:
    return list(value.values()) if isinstance(value, dict) else list(value)


def output_keys(y_pred: Any, output_names: Sequence[str] | None) -> list[Output]:
    """The model's outputs as ``(key, name)``; refuses outputs nested deeper than one level."""
    if not _is_structure(y_pred):
        return [(None, None)]
    if any(_is_structure(item) for item in _items(y_pred)):
        raise InvalidArgumentError(
            "compile: the model's outputs are nested (a structure inside a dict, tuple or list); "
            "return one Tensor, or a flat dict, tuple or list of Tensors"
        )
    if isinstance(y_pred, dict):
        keys = list(output_names) if output_names and set(output_names) == set(y_pred) else sorted(y_pred)
        return [(key, str(key)) for key in keys]
    names = list(output_names) if output_names and len(output_names) == len(y_pred) else None
    return [(i, names[i] if names else None) for i in range(len(y_pred))]


def _describe(outputs: list[Output]) -> str:
    if outputs[0][0] is None:
        return "one output"
    named = [name for _, name in outputs if name is not None]
    return f"{len(outputs)} outputs" + (f" {named}" if named else "")


def per_output(what: str, value: Any, outputs: list[Output], single_for_all: bool = True) -> list[Any]:
    """``value`` given to ``compile`` as ``what`` (loss, loss_weights, metrics), one entry per
    output: one value for all (where ``single_for_all``), a list by position, a dict by name
    (an output missing from it gets None)."""
    if isinstance(value, dict):
        names = [name for _, name in outputs]
        unknown = [key for key in value if key not in names]
        if unknown or None in names:
            has = (
                "names " + str(names)
                if None not in names
                else "no names (a subclassed model returning a list)"
            )
            raise InvalidArgumentError(
                f"compile: {what} is a dict with keys {list(value)}, but the model's outputs have {has}"
            )
        return [value.get(name) for name in names]
    if isinstance(value, (list, tuple)) and (outputs[0][0] is not None or len(value) == 1):
        if len(value) != len(outputs):
            raise InvalidArgumentError(
                f"compile: {what} is a {type(value).__name__} of {len(value)} but the model has "
                f"{_describe(outputs)}; give one entry per output (None for none)"
            )
        return list(value)
    if not single_for_all and outputs[0][0] is not None and value is not None:
        raise InvalidArgumentError(
            f"compile: {what}={value!r} is one value but the model has {_describe(outputs)}; give a "
            "list (one per output) or a dict by output name"
        )
    return [value] * len(outputs)


def pick(what: str, value: Any, key: Any, outputs: list[Output]) -> Any:
    """The part of ``value`` (targets or sample weights, as batched) for the output ``key``:
    ``value`` itself where the model has one output or ``value`` is one array shared by all."""
    if key is None and _is_structure(value):
        if len(value) != 1:
            raise InvalidArgumentError(f"{what} holds {len(value)} arrays but the model has one output")
        return _items(value)[0]
    if key is None or (what == "sample_weight" and not _is_structure(value)):  # one for all
        return value
    if isinstance(value, dict):
        name = outputs[[k for k, _ in outputs].index(key)][1] if isinstance(key, int) else key
        if name not in value:
            raise InvalidArgumentError(
                f"{what} is a dict with keys {list(value)} but the model has {_describe(outputs)}: "
                f"no entry for the output {name!r}"
            )
        return value[name]
    if isinstance(value, (list, tuple)):
        if isinstance(key, int) and len(value) == len(outputs):
            return value[key]
        raise InvalidArgumentError(
            f"{what} is a {type(value).__name__} of {len(value)} but the model has {_describe(outputs)}; "
            "give one array per output (a dict by output name for a model returning a dict)"
        )
    raise InvalidArgumentError(
        f"{what} is one array but the model has {_describe(outputs)}; give one array per output "
        "(a list, or a dict by output name)"
    )


def parts(key: Any, outputs: list[Output], y_true: Any, y_pred: Any, sample_weight: Any) -> tuple[Any, ...]:
    """The targets, prediction and sample weights of the output ``key``."""
    weights = None if sample_weight is None else pick("sample_weight", sample_weight, key, outputs)
    return pick("y", y_true, key, outputs), y_pred if key is None else y_pred[key], weights


class CompileLoss:
    """The compiled loss: each output's loss times its weight, summed; with several losses a
    ``Mean`` tracker per output records its unweighted value (``<name>_loss``)."""

    def __init__(self, loss: Any, loss_weights: Any, output_names: Sequence[str] | None) -> None:
        self.user_loss, self.user_weights, self.output_names = loss, loss_weights, output_names
        self.resolved = map_structure(resolve_loss, loss)  # as given: one Loss, or a list or dict
        self.outputs: list[Output] = []
        self.flat: list[tuple[Any, losses_module.Loss, float | None]] = []  # (key, loss, weight)
        self.trackers: list[metrics_module.Mean] = []
        self.built = False

    def build(self, y_pred: Any) -> None:
        self.outputs = output_keys(y_pred, self.output_names)
        losses = per_output("loss", self.resolved, self.outputs)
        names = per_output("loss", map_structure(_loss_name, self.user_loss), self.outputs)
        weights = per_output("loss_weights", self.user_weights, self.outputs, single_for_all=False)
        self.flat, self.trackers = [], []
        for (key, name), loss, loss_name, weight in zip(self.outputs, losses, names, weights):
            if loss is not None:
                self.flat.append((key, loss, None if weight is None else float(weight)))
                self.trackers.append(metrics_module.Mean(name=f"{name or loss_name}_loss"))
        if len(self.flat) == 1:
            self.trackers = []  # one loss: ``loss`` says it all
        self.built = True

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        if not self.built:
            self.build(y_pred)
        total: Tensor | None = None
        for index, (key, loss, weight) in enumerate(self.flat):
            y_t, y_p, weights = parts(key, self.outputs, y_true, y_pred, sample_weight)
            value = loss(y_t, y_p) if weights is None else loss(y_t, y_p, weights)
            if self.trackers:
                self.trackers[index].update_state(value, sample_weight=batch_count(y_p))
            if weight is not None:
                value = value * weight
            total = value if total is None else total + value
        assert total is not None  # check_arguments: at least one loss
        return total


def _loss_name(identifier: Any) -> str:
    """How Keras names a loss in the logs: by the name given, else the loss' name."""
    return identifier if isinstance(identifier, str) else resolve_loss(identifier).name


def batch_count(y_pred: Any) -> Tensor:
    """The batch size of the outputs (of the first where there are several), as a Tensor, with
    which loss trackers weigh each batch's mean."""
    first = next((leaf for leaf in leaves(y_pred) if isinstance(leaf, Tensor)), None)
    if first is None:
        raise ShapeError(f"the model returned no Tensor: {type(y_pred).__name__}")
    return ops.full((), first.shape[0], backend=first.backend)


class CompileMetrics:
    """The compiled metrics, per output, and their log names (Keras' ``CompileMetrics``):
    ``metrics`` see no sample weights, ``weighted_metrics`` see them (and class weights), as in
    Keras; a weighted metric whose log name an unweighted one has is logged ``weighted_<name>``.

    Until the first batch shows the outputs, ``metrics`` are those of one output (a flat list
    of metrics on one loss), so that a model of one output restored from a file has its metrics'
    state before its first step, as one that trained had."""

    def __init__(
        self, metrics: Any, losses: Any, output_names: Sequence[str] | None, weighted_metrics: Any = None
    ) -> None:
        self.user_metrics, self.losses, self.output_names = metrics, losses, output_names
        self.user_weighted_metrics = weighted_metrics
        self.outputs: list[Output] = []
        # (log name, output key, metric, whether it sees the sample weights)
        self.named: list[tuple[str, Any, metrics_module.Metric, bool]] = []
        self.built = False
        self._single: list[tuple[metrics_module.Metric, bool]] | None = None
        given = [(metrics, False), (weighted_metrics, True)]
        if all(not m or isinstance(m, (list, tuple)) for m, _ in given) and not _is_structure(losses):
            self._single = [
                (metric_for(losses, m), weighted)
                for entries, weighted in given
                for item in entries or []
                for m in (item if isinstance(item, (list, tuple)) else [item])
                if m is not None
            ]

    @property
    def metrics(self) -> list[metrics_module.Metric]:
        if self.built:
            return [metric for _, _, metric, _ in self.named]
        return [metric for metric, _ in self._single or []]

    def build(self, y_pred: Any) -> None:
        self.outputs = output_keys(y_pred, self.output_names)
        single = self.outputs[0][0] is None
        chosen: list[tuple[Any, str | None, metrics_module.Metric, bool]]
        if single and self._single is not None:
            chosen = [(None, None, metric, weighted) for metric, weighted in self._single]
        else:
            losses = per_output("loss", self.losses, self.outputs)
            chosen = []
            for user, weighted, argument in (
                (self.user_metrics, False, "metrics"),
                (self.user_weighted_metrics, True, "weighted_metrics"),
            ):
                for (key, name), loss, entry in zip(
                    self.outputs, losses, self._entries(user, single, argument)
                ):
                    chosen += [
                        (key, name, metric_for(loss, m), weighted) for m in _as_list(entry) if m is not None
                    ]
        counts: dict[str, int] = {}
        self.named = []
        for key, name, metric, weighted in chosen:
            log = f"{name}_{metric.name}" if name else metric.name
            if weighted and log in counts:  # Keras: "weighted_<name>" beside an unweighted one
                log = f"{name}_weighted_{metric.name}" if name else f"weighted_{metric.name}"
            counts[log] = counts.get(log, 0) + 1
            self.named.append(
                (log if counts[log] == 1 else f"{log}_{counts[log] - 1}", key, metric, weighted)
            )
        self.built = True

    def _entries(self, metrics: Any, single: bool, argument: str) -> list[Any]:
        if not metrics:
            return [[]] * len(self.outputs)
        if single:  # a list of lists, or a dict of one entry, for one output
            return [[m for entry in _items(metrics) for m in _as_list(entry)]]
        if isinstance(metrics, (list, tuple)) and len(metrics) != len(self.outputs):
            raise InvalidArgumentError(
                f"compile: {argument} is a {type(metrics).__name__} of {len(metrics)} but the model has "
                f"{_describe(self.outputs)}; give one entry (a metric or a list of them) per output, "
                "or a dict by output name"
            )
        return per_output(argument, metrics, self.outputs)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        if not self.built:
            self.build(y_pred)
        for _, key, metric, weighted in self.named:
            y_t, y_p, weights = parts(key, self.outputs, y_true, y_pred, sample_weight if weighted else None)
            metric.update_state(y_t, y_p, sample_weight=weights)

    def result(self) -> dict[str, Tensor]:
        if not self.built:
            return {metric.name: metric.result() for metric in self.metrics}
        return {log: metric.result() for log, _, metric, _ in self.named}


def _as_list(entry: Any) -> list[Any]:
    return list(entry) if isinstance(entry, (list, tuple)) else [entry]
