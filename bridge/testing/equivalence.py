"""``assert_equivalent``: the proof that a bridge model is the same model as a native one (a
``torch.nn.Module`` or a Keras 3 model): weights, outputs in eval and training mode, per layer,
gradients with respect to the inputs and every weight, and optimizer steps, each within a
tolerance of the native framework's own numbers. The result is an ``EquivalenceReport``, or an
``EquivalenceError`` naming the first layer that disagrees."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import ArgumentTypeError, EquivalenceError, InvalidArgumentError
from ..interop._sources import LayerSource, WeightSource
from ..interop.layouts import identity
from ..nn.layer import Layer
from ..tree import leaves, map_leaves
from ._sides import LOSSES, BridgeSide, KerasSide, Loss, OptimizerSpec, Side, TorchSide

#: the phases of a proof, in the order they run
PHASES = ("weights", "eval", "training", "gradients", "steps", "final weights")
_FORWARD = ("weights", "eval", "training")

#: default relative tolerances by the floating dtype of the native outputs
RTOL = {"float64": 1e-10, "float32": 1e-5, "float16": 1e-2, "bfloat16": 1e-2}


@dataclass(frozen=True)
class Comparison:
    """One compared quantity: ``phase`` (one of ``PHASES``), the bridge ``layer`` it belongs to
    (None: the whole model), ``what`` (an output, a weight, a gradient, a step's loss), the
    largest absolute difference, that difference relative to the largest native magnitude, the
    bound the difference was held to (``atol + rtol * max|native|``), and whether it held."""

    phase: str
    layer: str | None
    what: str
    max_abs: float
    max_rel: float
    bound: float
    passed: bool
    note: str = ""

    def describe(self) -> str:
        note = f" ({self.note})" if self.note else ""
        return (
            f"{self.phase}: {self.what} differs by {self.max_abs:.3g} at most, {self.max_rel:.3g} "
            f"relative to the largest native value; allowed {self.bound:.3g}{note}"
        )


@dataclass
class EquivalenceReport:
    """What ``assert_equivalent`` compared and found. ``str(report)`` is a table, ``to_json()``
    the same as JSON; ``passed`` says whether every comparison held, ``failure`` is the one an
    ``EquivalenceError`` names (None when all held); ``partial`` says that some comparisons
    could not be made (the notes say which): a partial report proves less than it lists."""

    native_framework: str
    backend: str | None
    dtype: str
    rtol: float
    atol: float
    optimizer: str
    train_steps: int
    comparisons: list[Comparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    partial: bool = False  # some comparisons were skipped: the notes say which
    layer_order: list[str] = field(default_factory=list)  # bridge layers, in the order they ran
    native_names: dict[str, str] = field(default_factory=dict)  # bridge layer -> native name

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons)

    def worst(self, phase: str) -> Comparison | None:
        """The comparison of ``phase`` with the largest relative error (None if none ran)."""
        found = [c for c in self.comparisons if c.phase == phase]
        return max(found, key=lambda c: c.max_rel) if found else None

    @property
    def failure(self) -> Comparison | None:
        """The disagreement to look at first: in the forward phases (weights, eval, training
        outputs), the first failing layer in the order the layers ran (the later ones only
        inherit its error); in gradients, the last one (gradients flow backwards); then the
        first failing step's loss, then the final weights."""
        failed = [c for c in self.comparisons if not c.passed]
        rank = {name: i for i, name in enumerate(self.layer_order)}

        def position(c: Comparison) -> float:
            return rank.get(c.layer, math.inf) if c.layer is not None else math.inf

        forward = [c for c in failed if c.phase in _FORWARD]
        if forward:
            return min(forward, key=lambda c: (position(c), PHASES.index(c.phase)))
        gradients = [c for c in failed if c.phase == "gradients"]
        layered = [c for c in gradients if c.layer is not None]
        if layered:
            return max(layered, key=position)
        return failed[0] if failed else None

    def to_dict(self) -> dict[str, Any]:
        plain = asdict(self)
        plain["comparisons"] = [
            {key: _json_number(value) for key, value in row.items()} for row in plain["comparisons"]
        ]
        plain["passed"] = self.passed
        failure = self.failure
        plain["failure"] = None if failure is None else self.comparisons.index(failure)
        return plain

    def to_json(self, **kwargs: Any) -> str:
        """The report as JSON (non-finite numbers as the strings "inf" and "nan")."""
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        header = (
            f"assert_equivalent: {self.native_framework} against bridge on {self.backend} ({self.dtype}, "
            f"rtol {self.rtol:g}, atol {self.atol:g}; {self.train_steps} step(s) of {self.optimizer}): "
            + ("passed" if self.passed else "FAILED")
            + (" (PARTIAL: some comparisons skipped, see the notes)" if self.partial else "")
        )
        rows = [("phase", "layer", "what", "max abs", "max rel", "")] + [
            (
                c.phase,
                c.layer or "(model)",
                c.what,
                f"{c.max_abs:.2e}",
                f"{c.max_rel:.2e}",
                "ok" if c.passed else "FAIL",
            )
            for c in self.comparisons
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(6)]
        lines = [header, *(f"note: {note}" for note in self.notes)]
        lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
        return "\n".join(lines)


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _compare(
    phase: str,
    layer: str | None,
    what: str,
    actual: Any,
    expected: Any,
    rtol: float,
    atol: float,
    scale: float = 0.0,
) -> Comparison:
    """``actual`` (bridge) against ``expected`` (native): the largest difference, held to
    ``atol + rtol * max(max|expected|, scale)`` (a norm-wise bound: elements near 0 do not
    inflate it)."""
    a, e = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        note = f"shape {a.shape} against native {e.shape}"
        return Comparison(phase, layer, what, math.inf, math.inf, 0.0, False, note)
    if a.size == 0:
        return Comparison(phase, layer, what, 0.0, 0.0, atol, True)
    nan_a, nan_e = np.isnan(a), np.isnan(e)
    scale = max(_magnitude(e), scale)
    bound = atol + rtol * scale
    if (nan_a != nan_e).any():
        return Comparison(phase, layer, what, math.nan, math.nan, bound, False, "NaN on one side only")
    difference = np.abs(np.where(nan_a, 0.0, a - e))
    max_abs = float(np.max(difference)) if np.isfinite(difference).all() else math.inf
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else math.inf)
    return Comparison(phase, layer, what, max_abs, max_rel, bound, max_abs <= bound)


def _native_side(native: Any) -> Side:
    torch, keras = sys.modules.get("torch"), sys.modules.get("keras")
    if keras is not None and isinstance(native, keras.Layer):  # first: on torch, also a Module
        return KerasSide(native)
    if torch is not None and isinstance(native, torch.nn.Module):
        return TorchSide(native)
    raise ArgumentTypeError(
        f"assert_equivalent: native must be a torch.nn.Module or a Keras 3 model, got {type(native).__name__}"
    )


def _loss_spec(loss: Any, targets: Any) -> Loss:
    if loss is None:
        return Loss("mean_square")
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise InvalidArgumentError(
                f"assert_equivalent: unknown loss {loss!r}; the named losses are {list(LOSSES)}, or give a "
                "pair (native_fn, bridge_fn) of functions fn(outputs, targets)"
            )
        if loss != "mean_square" and targets is None:
            raise InvalidArgumentError(f"assert_equivalent: loss {loss!r} needs targets")
        return Loss(loss)
    if isinstance(loss, (tuple, list)) and len(loss) == 2 and all(callable(f) for f in loss):
        return Loss(None, (loss[0], loss[1]))
    raise ArgumentTypeError(
        f"assert_equivalent: loss must be a name of {list(LOSSES)} or a pair (native_fn, bridge_fn), "
        f"got {loss!r}"
    )


def _optimizer_spec(optimizer: str, learning_rate: float, momentum: float, steps: int) -> OptimizerSpec:
    if optimizer not in ("sgd", "adam"):
        raise InvalidArgumentError(
            f"assert_equivalent: optimizer must be 'sgd' (with momentum=) or 'adam', got {optimizer!r}"
        )
    if momentum and optimizer != "sgd":
        raise InvalidArgumentError("assert_equivalent: momentum= is for optimizer='sgd'")
    if not isinstance(steps, int) or steps < 0:
        raise InvalidArgumentError(f"assert_equivalent: train_steps must be an int >= 0, got {steps!r}")
    if not learning_rate > 0:
        raise InvalidArgumentError(f"assert_equivalent: learning_rate must be > 0, got {learning_rate!r}")
    return OptimizerSpec(optimizer, float(learning_rate), float(momentum))


def _describe_optimizer(spec: OptimizerSpec, framework: str) -> str:
    if spec.name == "sgd":
        return f"SGD(lr={spec.learning_rate:g}" + (f", momentum={spec.momentum:g})" if spec.momentum else ")")
    if framework == "torch":
        return f"Adam(lr={spec.learning_rate:g}, eps=1e-8 added to sqrt(v_hat), as torch.optim.Adam)"
    return f"Adam(lr={spec.learning_rate:g}, epsilon=1e-7, as keras.optimizers.Adam)"


def _float_dtype(tree: Any) -> str:
    for leaf in leaves(tree):
        if isinstance(leaf, np.ndarray) and leaf.dtype.kind == "f":
            return str(leaf.dtype)
    return "float32"


@dataclass(frozen=True)
class _Mapped:
    """A bridge weight, the layer it belongs to (None: matched by order), and its source."""

    layer: str | None
    source: WeightSource


def _weight_map(
    sources: Sequence[LayerSource] | None, native: Side, bridge: Side, report: EquivalenceReport
) -> dict[str, _Mapped]:
    """Each compared bridge weight's native source: from ``_native_sources``, or by order."""
    notes = report.notes
    native_weights, bridge_weights = native.weights(), bridge.weights()
    if sources is not None:
        mapped: dict[str, _Mapped] = {}
        for src in sources:
            for name, weight_source in src.weights.items():
                absent = [n for n in weight_source.native if n not in native_weights]
                if name not in bridge_weights or absent:
                    missing = f"native weights {absent}" if absent else f"bridge weight {name!r}"
                    raise InvalidArgumentError(
                        f"assert_equivalent: the _native_sources of layer {src.layer!r} name {missing}, "
                        "which the models do not hold"
                    )
                mapped[name] = _Mapped(src.layer, weight_source)
        unmapped = [name for name in bridge_weights if name not in mapped]
        if unmapped:
            notes.append(f"bridge weights with no native source, not compared: {unmapped}")
            report.partial = True
        return mapped
    ours = list(bridge_weights.items())
    theirs = [(n, w) for n, w in native_weights.items() if w.dtype.kind == "f"]
    shapes_match = len(ours) == len(theirs) and all(
        a.shape == b.shape for (_, a), (_, b) in zip(ours, theirs)
    )
    if not shapes_match:
        notes.append(
            f"no _native_sources: weights not compared ({len(ours)} bridge weights against {len(theirs)} "
            "native floating weights, or shapes that differ in order): outputs, input gradients and steps "
            "only"
        )
        report.partial = True
        return {}
    notes.append("no _native_sources: layers not compared; weights matched by order (same shapes)")
    return {
        mine: _Mapped(None, WeightSource((native_name,), identity))
        for (mine, _), (native_name, _) in zip(ours, theirs)
    }


def assert_equivalent(
    native: Any,
    ported: Any,
    inputs: Any,
    *,
    train_steps: int = 0,
    optimizer: str = "sgd",
    learning_rate: float = 0.01,
    momentum: float = 0.0,
    loss: str | tuple[Callable[..., Any], Callable[..., Any]] | None = None,
    targets: Any = None,
    rtol: float | None = None,
    atol: float | None = None,
    per_layer: bool = True,
) -> EquivalenceReport:
    """Prove that ``ported`` (a bridge model) computes and trains as ``native`` (a
    ``torch.nn.Module`` or a Keras 3 model) does, on ``inputs`` (NumPy arrays, one or a
    structure, given to both as they are: a torch module gets a list or tuple as positional
    arguments, a dict as keyword arguments).

    Compared, each against the native framework's own numbers: the weights (through
    ``ported._native_sources``, or by order where a port has none and the shapes match), the
    outputs in eval and in training mode (each layer's too, with ``per_layer``; dropout rates set
    to 0 on both sides meanwhile, put back after), the gradients of ``loss`` with respect to the
    floating inputs and every trainable weight, and ``train_steps`` steps of ``optimizer``
    ("sgd", with ``momentum``, or "adam": torch.optim's or keras.optimizers' on the native side,
    the bridge rule that steps identically on the other): the loss before each step and the
    final weights. ``loss``: the mean of the squared outputs (default, "mean_square"), "mse" or
    "sparse_categorical_crossentropy" (from logits) against ``targets``, or a pair
    ``(native_fn, bridge_fn)`` of ``fn(outputs, targets)``.

    A difference passes when at most ``atol + rtol * max|native|`` (defaults: rtol 1e-5 in
    float32, 1e-10 in float64; atol ``rtol * 1e-3``). Both models are left as they were
    (weights, statistics, modes). Returns the ``EquivalenceReport``; raises ``EquivalenceError``
    naming the first layer that disagrees, with the report as ``error.report``."""
    if not isinstance(ported, Layer):
        raise ArgumentTypeError(
            f"assert_equivalent: ported must be a bridge model, got {type(ported).__name__}"
        )
    native_side = _native_side(native)
    declared = getattr(ported, "_native_framework", None)
    if declared is not None and declared != native_side.framework:
        raise InvalidArgumentError(
            f"assert_equivalent: {ported.name!r} was ported from {declared}, but native is a "
            f"{native_side.framework} model"
        )
    bridge_side = BridgeSide(ported, native_side.framework)
    loss_spec = _loss_spec(loss, targets)
    spec = _optimizer_spec(optimizer, learning_rate, momentum, train_steps)
    sources: list[LayerSource] | None = getattr(ported, "_native_sources", None)
    notes: list[str] = []
    inputs = map_leaves(_host_array, inputs)
    with native_side.kept(), bridge_side.kept():
        native_eval, _ = _run_native(native_side, ported, inputs)
        dtype = _float_dtype(native_eval)
        rtol = RTOL.get(dtype, 1e-5) if rtol is None else rtol
        atol = rtol * 1e-3 if atol is None else atol
        report = EquivalenceReport(
            native_side.framework,
            bridge_side.backend,
            dtype,
            rtol,
            atol,
            _describe_optimizer(spec, native_side.framework),
            train_steps,
            notes=notes,
        )
        weight_map = _weight_map(sources, native_side, bridge_side, report)
        proof = _Proof(native_side, bridge_side, inputs, report, weight_map)
        proof.weights("weights")
        compared = proof.layer_sources(sources if per_layer else None)
        with native_side.dropout_off() as native_rates, bridge_side.dropout_off() as bridge_rates:
            if native_rates or bridge_rates:
                notes.append(
                    f"training mode with dropout off: {native_rates} native and {bridge_rates} bridge "
                    "dropout rates set to 0 (random masks cannot match across frameworks), put back after"
                )
            for training in (False, True):
                with native_side.kept(), bridge_side.kept():
                    proof.forward(training, compared)
            with native_side.kept(), bridge_side.kept():
                proof.gradients(loss_spec, targets)
            if train_steps:
                with native_side.kept(), bridge_side.kept():
                    proof.steps(loss_spec, targets, spec, train_steps)
    failure = report.failure
    if failure is not None:
        error = EquivalenceError(_message(report, failure))
        error.report = report
        raise error
    return report


def _message(report: EquivalenceReport, failure: Comparison) -> str:
    if failure.layer is None:
        where = "the model"
    else:
        native = report.native_names.get(failure.layer)
        where = f"layer {failure.layer!r}" + (f" (native {native!r})" if native else "")
    return f"assert_equivalent: {where} disagrees first: {failure.describe()}\n{report}"


def _host_array(x: Any) -> Any:
    """An input as a NumPy array: torch, TensorFlow and bridge tensors are taken too."""
    if x is None or isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach"):  # a torch tensor, perhaps requiring gradients
        x = x.detach().cpu()
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


def _run_native(native: Side, ported: Layer, inputs: Any) -> Any:
    """The native model's eval outputs; where it cannot take ``inputs``, the port's own error
    (which names the input and the shapes), else one naming the native model's failure."""
    try:
        return native.run(inputs, False, ())
    except Exception as error:
        ported(inputs, training=False)
        shapes = [getattr(x, "shape", None) for x in leaves(inputs)]
        raise InvalidArgumentError(
            f"assert_equivalent: the native {native.framework} model cannot run on the inputs "
            f"(shapes {shapes}), the port can: {type(error).__name__}: {str(error).splitlines()[0]}"
        ) from error


class _Proof:
    """The comparisons of one ``assert_equivalent`` call, added to its report."""

    def __init__(
        self,
        native: Side,
        bridge: BridgeSide,
        inputs: Any,
        report: EquivalenceReport,
        weight_map: dict[str, _Mapped],
    ) -> None:
        self.native, self.bridge, self.inputs, self.report = native, bridge, inputs, report
        self.weight_map = weight_map
        self.trained: list[str] = []  # the weights whose gradients were compared
        self.gradient_floor = 0.0  # the largest native weight gradient
        # weight -> its elements whose gradient is 0 up to rounding
        self.zero_gradient: dict[str, np.ndarray] = {}
        self.moved: dict[str, float] = {}  # weight -> the most the steps move it (a floor of its scale)
        self.adam_reach = 0.0  # with Adam: the bound of its zero-gradient elements in the final weights

    def add(
        self, phase: str, layer: str | None, what: str, actual: Any, expected: Any, scale: float = 0.0
    ) -> None:
        report = self.report
        report.comparisons.append(
            _compare(phase, layer, what, actual, expected, report.rtol, report.atol, scale)
        )

    def _fail(self, phase: str, layer: str | None, what: str, note: str) -> None:
        self.report.comparisons.append(Comparison(phase, layer, what, math.inf, math.inf, 0.0, False, note))

    def weights(self, phase: str, names: Collection[str] | None = None, suffix: str = "") -> None:
        """Each mapped weight (of ``names``) against its native source, held to its own
        magnitude (after steps: or to how far the steps move it, ``self.moved``); with Adam, the
        elements whose gradient was 0 up to rounding are held to the most Adam moves them."""
        native, ours = self.native.weights(), self.bridge.weights()
        loose = self.zero_gradient if phase == "final weights" and self.adam_reach else {}
        for name, mapped in self.weight_map.items():
            if names is not None and name not in names:
                continue
            expected = np.asarray(
                mapped.source.convert(*(native[n] for n in mapped.source.native)), np.float64
            )
            actual, mask = np.asarray(ours[name], np.float64), loose.get(name)
            scale = self.moved.get(name, 0.0) if phase == "final weights" else 0.0
            if mask is None or mask.shape != expected.shape or actual.shape != expected.shape:
                self.add(phase, mapped.layer, name + suffix, actual, expected, scale=scale)
                continue
            if not mask.all():
                scale = max(_magnitude(expected), scale)
                self.add(phase, mapped.layer, name, actual[~mask], expected[~mask], scale=scale)
            self.report.comparisons.append(
                replace(
                    _compare(phase, mapped.layer, name, actual[mask], expected[mask], 0.0, self.adam_reach),
                    what=f"{name} ({int(mask.sum())} element(s) with a zero gradient)",
                    note="held to the most Adam moves them; see the notes",
                )
            )

    def statistics(self) -> list[str]:
        """The mapped weights not trainable on one side or the other: the moving statistics."""
        ours, theirs = set(self.bridge.trainable()), set(self.native.trainable())
        return [
            name
            for name, mapped in self.weight_map.items()
            if name not in ours or not set(mapped.source.native) <= theirs
        ]

    def layer_sources(self, sources: Sequence[LayerSource] | None) -> list[LayerSource]:
        """The sources whose layer outputs can be compared: their native is a submodule/layer."""
        if not sources:
            return []
        kept: list[LayerSource] = []
        skipped: list[LayerSource] = []
        for src in sources:
            if not self.bridge.has_layer(src.layer):
                raise InvalidArgumentError(
                    f"assert_equivalent: _native_sources names layer {src.layer!r}, which the bridge model "
                    "does not hold"
                )
            self.report.native_names[src.layer] = src.native
            (kept if self.native.has_layer(src.native) else skipped).append(src)
        if skipped:
            self.report.notes.append(
                "layer outputs not compared where the native is an operation, not a submodule: "
                + ", ".join(f"{s.layer} ({s.native})" for s in skipped)
            )
        return kept

    def forward(self, training: bool, sources: list[LayerSource]) -> None:
        phase = "training" if training else "eval"
        natives = sorted({s.native for s in sources})
        theirs, native_calls = self.native.run(self.inputs, training, natives)
        ours, bridge_calls = self.bridge.run(self.inputs, training, [s.layer for s in sources])
        if not training:
            self.report.layer_order = list(dict.fromkeys(self.bridge.call_sequence))
        first = {name: i for i, name in reversed(list(enumerate(self.bridge.call_sequence)))}

        def ran_at(native_name: str) -> int:  # report the layers in the order the port ran them
            return min(first.get(s.layer, len(first)) for s in sources if s.native == native_name)

        for native_name in sorted(natives, key=ran_at):
            group = [s for s in sources if s.native == native_name]
            self._layer_outputs(phase, group, native_calls[native_name], bridge_calls)
        self._outputs(phase, None, "output", ours, theirs)
        if training:  # the forward updated the moving statistics (BatchNorm's), on both sides
            self.weights(phase, self.statistics(), " after the training forward")

    def _layer_outputs(
        self,
        phase: str,
        group: list[LayerSource],
        native_calls: list[Any],
        bridge_calls: dict[str, list[Any]],
    ) -> None:
        """Pair the native submodule's calls with its bridge layers' calls, in the order they
        ran: one bridge call per native call, or (a submodule ported as several bridge layers)
        the calls of the last of them."""
        sequence = [name for name in self.bridge.call_sequence if any(s.layer == name for s in group)]
        by_layer = {s.layer: s for s in group}
        counters = dict.fromkeys(by_layer, 0)
        calls: list[tuple[LayerSource, Any]] = []
        for name in sequence:
            calls.append((by_layer[name], bridge_calls[name][counters[name]]))
            counters[name] += 1
        if len(calls) != len(native_calls) and sequence:
            last = by_layer[sequence[-1]]
            calls = [(last, out) for out in bridge_calls[last.layer]]
        if len(calls) != len(native_calls):
            self.report.partial = True
            self.report.notes.append(
                f"{phase}: native {group[0].native!r} ran {len(native_calls)} time(s), its bridge layers "
                f"{sorted(by_layer)} {len(calls)}: outputs not compared"
            )
            return
        for index, ((src, ours), theirs) in enumerate(zip(calls, native_calls)):
            expected = src.output(theirs) if src.output is not None else theirs
            what = "output" + (f" (call {index + 1})" if len(calls) > 1 else "")
            self._outputs(phase, src.layer, what, ours, expected)

    def _outputs(self, phase: str, layer: str | None, what: str, ours: Any, theirs: Any) -> None:
        mine = [leaf for leaf in leaves(ours) if leaf is not None]
        native = [leaf for leaf in leaves(theirs) if leaf is not None]
        if len(mine) != len(native):
            self.report.comparisons.append(
                Comparison(
                    phase,
                    layer,
                    what,
                    math.inf,
                    math.inf,
                    0.0,
                    False,
                    f"{len(mine)} bridge tensors against {len(native)} native",
                )
            )
            return
        for index, (a, e) in enumerate(zip(mine, native)):
            self.add(phase, layer, what + (f"[{index}]" if len(mine) > 1 else ""), a, e)

    def gradients(self, loss: Loss, targets: Any) -> None:
        theirs = self.native.gradients(self.inputs, loss, targets)
        ours = self.bridge.gradients(self.inputs, loss, targets)
        self.add("gradients", None, "loss", ours.loss, theirs.loss)
        for index, (a, e) in enumerate(zip(ours.inputs, theirs.inputs)):
            if e is not None:
                self.add("gradients", None, f"d loss / d input[{index}]", a, e)
        rows = []
        for name, mapped in self.weight_map.items():
            natives, what = mapped.source.native, f"d loss / d {name}"
            trainable = [n for n in natives if n in theirs.weights]
            if name not in ours.weights:
                if trainable:
                    self._fail(
                        "gradients",
                        mapped.layer,
                        what,
                        f"native {trainable} trainable natively, frozen in the port",
                    )
                continue
            if len(trainable) < len(natives):
                absent = [n for n in natives if n not in trainable]
                self._fail(
                    "gradients", mapped.layer, what, f"trainable in bridge, but native {absent} not trainable"
                )
                continue
            expected = mapped.source.gradient_of(*(theirs.weights[n] for n in natives))
            rows.append(
                (name, mapped.layer, what, ours.weights[name], np.asarray(expected, dtype=np.float64))
            )
        # the floor: a gradient that is 0 in exact arithmetic (a bias before a BatchNorm) is a
        # difference of terms of the size of the model's other gradients (per model, not per
        # layer: in float32 a ResNet-18's last stage, BatchNorms on 1x1 maps, differs by 1.3e-5 of
        # its layers' own gradients)
        floor = max((_magnitude(expected) for *_, expected in rows), default=0.0)
        self.gradient_floor = floor
        for name, layer, what, actual, expected in rows:
            self.add("gradients", layer, what, actual, expected, scale=floor)
            self.trained.append(name)
            zero = np.abs(expected) <= self.report.atol + self.report.rtol * floor
            if zero.any():
                self.zero_gradient[name] = zero

    def steps(self, loss: Loss, targets: Any, spec: OptimizerSpec, count: int) -> None:
        theirs = self.native.train(self.inputs, loss, targets, spec, count)
        ours = self.bridge.train(self.inputs, loss, targets, spec, count)
        for step, (a, e) in enumerate(zip(ours, theirs)):  # relative to the first loss, as it falls
            what = f"loss before step {step + 1}" if step < count else f"loss after step {count}"
            self.add("steps", None, what, a, e, scale=abs(theirs[0]))
        # a weight moves by at most lr * reach * its gradients (SGD), or by adam_reach (Adam):
        # its final value is held to that movement where it is larger than the weight
        if spec.name == "adam":
            moved = _adam_reach(spec.learning_rate, count)
        else:
            moved = spec.learning_rate * _sgd_reach(spec.momentum, count) * self.gradient_floor
        self.moved = dict.fromkeys(self.trained, moved)
        if spec.name == "adam":
            self.adam_reach = 2 * _adam_reach(spec.learning_rate, count)
            noisy = [name for name, mask in self.zero_gradient.items() if mask.any()]
            if noisy:
                self.report.notes.append(
                    f"final weights: elements of {noisy} have a gradient 0 up to rounding, which Adam "
                    f"turns into steps of up to the learning rate, of either sign: held to "
                    f"{self.adam_reach:.3g}, twice the most {count} Adam step(s) move a weight"
                )
        self.weights("final weights")


def _magnitude(x: np.ndarray) -> float:
    """The largest absolute value of ``x`` (NaNs left out; 0 when empty)."""
    return float(np.max(np.abs(np.where(np.isnan(x), 0.0, x)), initial=0.0))


def _sgd_reach(momentum: float, steps: int) -> float:
    """``sum_t sum_{k<t} momentum^k``: ``steps`` SGD steps move a weight by at most
    ``lr * reach * max|gradient|``."""
    return float(sum(sum(momentum**k for k in range(t)) for t in range(1, steps + 1)))


def _adam_reach(learning_rate: float, steps: int, beta_1: float = 0.9, beta_2: float = 0.999) -> float:
    """The most ``steps`` Adam steps move one weight, whatever its gradients: step t moves it by
    ``lr * |m_hat| / sqrt(v_hat)``, at most ``lr * sqrt(sum_i a_i^2 / b_i)`` by Cauchy-Schwarz
    (``a_i``, ``b_i`` the bias-corrected weights of gradient i in ``m_hat`` and ``v_hat``; about
    ``lr`` in the first steps). Epsilon only shortens the steps."""
    total = 0.0
    for t in range(1, steps + 1):
        age = np.arange(t)[::-1]  # t - i for gradients i = 1..t
        a = (1 - beta_1) * beta_1**age / (1 - beta_1**t)
        b = (1 - beta_2) * beta_2**age / (1 - beta_2**t)
        total += math.sqrt(float(np.sum(a * a / b)))
    return learning_rate * total
