"""``from_torch(module, example_inputs)``: a ``torch.nn.Module`` as a bridge functional model.

The module is traced with ``torch.fx`` (registered module classes are leaves), shapes come from
``ShapeProp`` on the example inputs, and each node becomes bridge layers through the converter
registry (``bridge.interop.torch_converters``). The ported model takes and returns what the
module does (NCHW stays NCHW at the borders) and computes channels-last inside."""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .. import nn
from ..errors import DTypeError, ShapeError, UnsupportedConversionError
from . import torch_converters as registry
from ._sources import LayerSource
from .frameworks import require
from .torch_converters import PLAIN, ConvertContext, Converted

#: modules that register more converters when imported (the sequence layers)
_EXTENSIONS = ("bridge.interop.torch_sequence",)


@dataclass
class _Held:
    """A torch tensor value of the graph: its bridge symbolic tensor and how it is laid out."""

    tensor: Any
    layout: Any
    shape: tuple[int, ...]
    dtype: str


def from_torch(module: Any, example_inputs: Any, *, name: str | None = None) -> Any:
    """A bridge ``nn.Model`` (on the current backend) computing what ``module`` computes, with its
    weights converted. ``example_inputs``: a tensor (torch, NumPy or bridge) or a tuple of
    them (one per ``forward`` argument), used for shapes and dtypes only; the batch size is free
    in the ported model. The model carries ``_native_sources`` and ``_native_framework = "torch"`` for
    ``bridge.testing.assert_equivalent``. Unsupported modules/ops or untraceable code raise
    ``br.UnsupportedConversionError``."""

    require("torch", "from_torch")
    _load_extensions()
    given = tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    examples = tuple(_as_torch(x) for x in given)
    alone = registry.is_registered_module(type(module))
    graph = _leaf_graph(module, len(examples)) if alone else _trace(module)
    concrete = _propagate(graph, module, examples)
    walker = _Walker(graph, _model_dtype(module, examples), concrete)
    outputs = walker.walk()
    model: Any = nn.Functional(walker.inputs, outputs, name=name or type(module).__name__)
    state = {n: t.detach().cpu().numpy() for n, t in (*graph.named_parameters(), *graph.named_buffers())}
    _load_weights(model, walker.sources, state)
    sources = [_unwrapped(s, _child(module)) for s in walker.sources] if alone else walker.sources
    model._native_sources = sources
    model._native_framework = "torch"
    return model


def _as_torch(x: Any) -> Any:
    """An example input as a torch tensor (NumPy arrays and bridge Tensors are taken too)."""
    import torch

    if isinstance(x, torch.Tensor):
        return x
    return torch.as_tensor(np.asarray(x.numpy() if hasattr(x, "numpy") else x))


def _leaf_graph(module: Any, count: int) -> Any:
    """The fx graph of a registered module ported alone (fx would trace into a root's
    ``forward``): one ``call_module`` of it, below a root, on ``count`` inputs named as its
    ``forward``'s arguments. The child is named after the class (``linear``)."""
    import torch.fx

    root = torch.nn.Module()
    root.add_module(_child(module), module)
    names = [p for p in inspect.signature(module.forward).parameters][:count]
    names += [f"input_{i}" for i in range(len(names), count)]
    graph = torch.fx.Graph()
    graph.output(graph.call_module(_child(module), tuple(graph.placeholder(n) for n in names)))
    return torch.fx.GraphModule(root, graph)


def _child(module: Any) -> str:
    return type(module).__name__.lower()


def _unwrapped(source: LayerSource, child: str) -> LayerSource:
    """A source of the wrapped module named as in the module itself (``module.weight`` -> ``weight``)."""
    strip = len(child) + 1
    weights = {k: replace(w, native=tuple(n[strip:] for n in w.native)) for k, w in source.weights.items()}
    return replace(source, native=source.native[strip:], weights=weights)


def _load_extensions() -> None:
    for extension in _EXTENSIONS:
        try:
            importlib.import_module(extension)
        except ModuleNotFoundError as error:
            if error.name != extension:
                raise


def _trace(module: Any) -> Any:
    """The ``torch.fx.GraphModule`` of ``module``, registered module classes kept as leaves,
    traced in the module's mode. ``self.training`` read in ``forward`` is a constant of a trace:
    where a trace in the other mode records other arguments (``F.dropout(x, p,
    self.training)``), a node keeps both in ``node.meta["args_by_mode"]`` ({True: (args,
    kwargs) in training mode, False: in eval mode})."""
    import torch.fx

    graph = torch.fx.GraphModule(module, _traced(module))
    modes = {m: m.training for m in module.modules()}
    try:
        module.train(not module.training)
        other = _traced(module)
    except Exception:  # noqa: BLE001  (the other mode only refines the current mode's graph)
        return graph
    finally:
        for m, training in modes.items():
            m.training = training
    nodes, others = list(graph.graph.nodes), list(other.nodes)
    if [n.name for n in nodes] != [n.name for n in others]:
        return graph
    for node, twin in zip(nodes, others):
        if node.format_node() != twin.format_node():
            node.meta["args_by_mode"] = {
                module.training: (node.args, node.kwargs),
                not module.training: (twin.args, twin.kwargs),
            }
    return graph


def _traced(module: Any) -> Any:
    """``module``'s ``torch.fx.Graph``, registered module classes kept as leaves."""
    import torch.fx

    class Tracer(torch.fx.Tracer):
        def is_leaf_module(self, m: Any, qualified_name: str) -> bool:
            return registry.is_registered_module(type(m)) or super().is_leaf_module(m, qualified_name)

    try:
        return Tracer().trace(module)
    except (torch.fx.proxy.TraceError, TypeError, RuntimeError, NotImplementedError) as error:
        raise UnsupportedConversionError(
            f"from_torch: torch.fx cannot trace {type(module).__name__}: {type(error).__name__}: {error}. "
            "Python control flow that depends on tensor values (if x.sum() > 0, loops over a "
            "tensor's length) cannot be captured; rewrite it with tensor ops, or make the branch "
            "a submodule (torch.export can capture such programs, but bridge ports fx graphs only)"
        ) from error


def _propagate(graph: Any, module: Any, examples: tuple[Any, ...]) -> dict[Any, Any]:
    """Run the graph on the examples (eval mode, no gradients: the module's state is left as it
    was), recording each node's ``tensor_meta`` (as ``ShapeProp``), and keep the values of nodes
    that are not tensors (sizes: they become constants). A node that fails where the module
    itself fails on the examples is a ``ShapeError`` (``DTypeError`` for a dtype) naming it and
    its inputs' shapes; one that fails only in the graph, ``UnsupportedConversionError``."""
    import torch
    from torch.fx.passes.shape_prop import _extract_tensor_metadata

    concrete: dict[Any, Any] = {}

    class Recording(torch.fx.Interpreter):
        def run_node(self, n: Any) -> Any:
            try:
                result = super().run_node(n)
            except Exception as error:
                raise _NodeFailed(n, error) from error
            if _holds_tensor(result):
                n.meta["tensor_meta"] = torch.fx.node.map_aggregate(
                    result, lambda r: _extract_tensor_metadata(r) if isinstance(r, torch.Tensor) else r
                )
            else:
                concrete[n] = result
            return result

    modes = {m: m.training for m in graph.modules()}
    try:
        graph.eval()
        with torch.no_grad():
            try:
                Recording(graph).run(*examples)
            except _NodeFailed as failed:
                raise _failure(failed, module, examples) from failed.error
    finally:
        for m, training in modes.items():
            m.training = training
    return concrete


class _NodeFailed(Exception):
    """A node of the graph raised ``error`` on the example inputs."""

    def __init__(self, node: Any, error: Exception) -> None:
        super().__init__(str(error))
        self.node, self.error = node, error


def _failure(failed: _NodeFailed, module: Any, examples: tuple[Any, ...]) -> Exception:
    """The bridge error for a node that failed: the example inputs' fault where the module
    itself fails on them too (modules in eval mode, no gradients), else the port's."""
    node, error = failed.node, failed.error
    shapes = [tuple(x.shape) for x in examples]
    dtypes = [_dtype_name(x.dtype) for x in examples]
    where = f"module {node.target!r}" if node.op == "call_module" else f"node {node.name!r}"
    if node.op == "call_module":
        where += f" ({type(module.get_submodule(node.target)).__name__})"
    inputs = [_leaves(n.meta.get("tensor_meta")) for n in node.all_input_nodes]
    got = [(tuple(m.shape), _dtype_name(m.dtype)) for ms in inputs for m in ms]
    said = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    try:
        module(*examples)
    except Exception:
        kind = DTypeError if "dtype" in said.lower() or "scalar type" in said.lower() else ShapeError
        return kind(
            f"from_torch: {type(module).__name__} cannot run on the example inputs (shapes {shapes}, "
            f"dtypes {dtypes}): {where} given inputs (shape, dtype) {got} raised {said}"
        )
    return UnsupportedConversionError(
        f"from_torch: the traced graph of {type(module).__name__} fails at {where} on the example "
        f"inputs (shapes {shapes}), which the module itself takes: {said}"
    )


def _holds_tensor(value: Any) -> bool:
    import torch

    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, (tuple, list)):
        return any(_holds_tensor(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_tensor(v) for v in value.values())
    return False


def _dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


def _model_dtype(module: Any, examples: tuple[Any, ...]) -> str:
    """The dtype of the bridge layers: the module's first floating parameter's, else the first
    floating example input's, else float32."""
    for tensor in (*module.parameters(), *module.buffers(), *examples):
        if getattr(tensor, "is_floating_point", lambda: False)():
            return _dtype_name(tensor.dtype)
    return "float32"


class _Walker:
    """The fx graph, node by node, as bridge layers."""

    def __init__(self, graph: Any, dtype: str, concrete: dict[Any, Any]) -> None:
        self.graph, self.dtype, self.concrete = graph, dtype, concrete
        self.env: dict[Any, Any] = {}
        self.inputs: list[Any] = []
        self.sources: list[LayerSource] = []
        self.names: set[str] = set()
        self.calls = _count_module_calls(graph)
        self.done: dict[Any, Converted] = {}

    def walk(self) -> Any:
        for position, node in enumerate(self.graph.graph.nodes):
            if node.op == "output":
                return self._outputs(node, position)
            self.env[node] = self._node(node, position)
        raise AssertionError("an fx graph ends with its output node")

    def _node(self, node: Any, position: int) -> Any:
        if node in self.concrete:
            return self._constant(node, position)
        if node.op == "placeholder":
            return self._placeholder(node)
        if (
            node.op == "call_function"
            and _is_getitem(node.target)
            and not isinstance(self.env[node.args[0]], _Held)
        ):
            return self.env[node.args[0]][node.args[1]]
        if node.op == "call_module":
            module = self.graph.get_submodule(node.target)
            entry, what = registry.lookup(type(module)), type(module).__name__
        elif node.op in ("call_function", "call_method"):
            key = f"Tensor.{node.target}" if node.op == "call_method" else registry.target_key(node.target)
            entry, what, module = registry.lookup(key), key, key
        else:  # get_attr: a parameter or buffer used directly
            entry, what, module = None, f"{node.op} {node.target!r} (a parameter used outside a module)", None
        if entry is None:
            where = f"module {node.target!r}, " if node.op == "call_module" else ""
            raise UnsupportedConversionError(
                f"from_torch: {what} is not supported: {where}node {position} {node.name!r} "
                f"({node.format_node()}). Supported: {', '.join(_short(s) for s in registry.supported())}"
            )
        return self._convert(node, position, module, entry, what)

    def _constant(self, node: Any, position: int) -> Any:
        """A node whose value is no tensor: a shape query (``x.size(0)``, ``x.shape``, ``x.dim()``)
        or arithmetic on such values is a constant of the port (the example's size); a Python
        value read from a tensor's contents (``x.sum().item()``) is an error."""
        shape_query = (node.op == "call_method" and node.target in ("size", "dim")) or (
            node.op == "call_function" and node.target is getattr and node.args[1] in ("shape", "ndim")
        )
        if shape_query or not any(isinstance(self.env[n], _Held) for n in node.all_input_nodes):
            return self.concrete[node]
        raise UnsupportedConversionError(
            f"from_torch: node {position} {node.name!r} ({node.format_node()}) gives a Python value "
            f"({self.concrete[node]!r}) read from a tensor's contents: a port cannot follow it "
            "(shape queries such as x.size(0) are fine)"
        )

    def _placeholder(self, node: Any) -> _Held:

        meta = node.meta.get("tensor_meta")
        if meta is None:
            raise UnsupportedConversionError(
                f"from_torch: forward argument {node.name!r} got no tensor among the example inputs"
            )
        shape, dtype = tuple(meta.shape), _dtype_name(meta.dtype)
        tensor = nn.Input(shape[1:], dtype=dtype, name=node.name)
        self.inputs.append(tensor)
        return _Held(tensor, PLAIN, shape, dtype)

    def _convert(self, node: Any, position: int, module: Any, entry: registry.Registered, what: str) -> Any:
        import torch.fx

        held: list[_Held] = []
        torch.fx.node.map_aggregate(
            (node.args, node.kwargs),
            lambda a: (
                held.append(self.env[a])
                if isinstance(a, torch.fx.Node) and isinstance(self.env[a], _Held)
                else a
            ),
        )
        ctx = ConvertContext(
            name=node.target if node.op == "call_module" else node.name,
            node=node,
            position=position,
            args=(),
            kwargs={},
            input_shapes=tuple(h.shape for h in held),
            input_layouts=tuple(h.layout for h in held),
            output_shapes=tuple(tuple(m.shape) for m in _leaves(node.meta.get("tensor_meta"))),
            dtype=self.dtype,
            input_dtypes=tuple(h.dtype for h in held),
            _names=self.names,
            what=what,
        )
        if not entry.channels_last:
            plain = [ctx.plain(h.tensor, i) for i, h in enumerate(held)]
            held = [_Held(t, PLAIN, h.shape, h.dtype) for t, h in zip(plain, held)]
            ctx.input_layouts = (PLAIN,) * len(held)
        tensors = iter(held)
        args, kwargs = torch.fx.node.map_aggregate(
            (node.args, node.kwargs),
            lambda a: (
                (next(tensors).tensor if isinstance(self.env[a], _Held) else _unheld(self.env[a]))
                if isinstance(a, torch.fx.Node)
                else a
            ),
        )
        ctx.args, ctx.kwargs = tuple(args), dict(kwargs)
        converted = self._shared(node, ctx, module, entry)
        result = converted.layer(*ctx.args, **ctx.kwargs)
        return _hold(result, converted.output_layout, node.meta.get("tensor_meta"))

    def _shared(self, node: Any, ctx: ConvertContext, module: Any, entry: registry.Registered) -> Converted:
        """The node's conversion; a module with weights called again reuses its first one (the
        same bridge layers, so the same weights), given inputs of the same shapes and layouts."""
        key = (node.target, ctx.input_shapes, ctx.input_layouts)
        if node.op == "call_module" and node.target in self.done:
            if key not in self.done:
                raise ctx.unsupported(
                    f"the module is called again with inputs of other shapes or layouts than at "
                    f"first ({ctx.input_shapes}); a module with weights ports once"
                )
            return self.done[key]
        converted: Converted = entry.fn(module, ctx)
        sources = converted.source_list
        if node.op == "call_module" and any(s.weights for s in sources):
            self.done[node.target] = self.done[key] = converted
        if node.op != "call_module" or self.calls[node.target] == 1 or any(s.weights for s in sources):
            self.sources.extend(sources)  # a weightless module called twice has no one output
        return converted

    def _outputs(self, node: Any, position: int) -> Any:
        def plain(value: Any) -> Any:
            if isinstance(value, _Held):
                ctx = ConvertContext(
                    "output",
                    node,
                    position,
                    (),
                    {},
                    (value.shape,),
                    (value.layout,),
                    (),
                    self.dtype,
                    (),
                    self.names,
                )
                return ctx.plain(value.tensor)
            if isinstance(value, (tuple, list)):
                return [plain(v) for v in value]
            raise UnsupportedConversionError(
                f"from_torch: the module returns {type(value).__name__} {value!r}; only tensors and "
                "tuples/lists of them can be outputs of a ported model"
            )

        import torch.fx

        value = torch.fx.node.map_arg(node.args[0], lambda a: self.env[a])
        return plain(value)


def _hold(result: Any, layout: Any, meta: Any) -> Any:
    """The converter's outputs as ``_Held`` values (tuples kept), with their torch shapes."""
    if isinstance(result, (tuple, list)):
        layouts = layout if isinstance(layout, (tuple, list)) else [layout] * len(result)
        metas = (
            meta if isinstance(meta, (tuple, list)) and not _is_tensor_meta(meta) else [None] * len(result)
        )
        return type(result)(_hold(r, lay, m) for r, lay, m in zip(result, layouts, metas))
    if result is None and meta is None:  # torch's None too (MultiheadAttention without weights)
        return None
    if not _is_tensor_meta(meta):
        raise UnsupportedConversionError(
            f"from_torch: a converter returned {result!r} where torch has no tensor"
        )
    return _Held(result, layout, tuple(meta.shape), _dtype_name(meta.dtype))


def _unheld(value: Any) -> Any:
    """A tuple a module returned (an LSTM's ``(h, c)``, passed on as another's ``hx``) as its
    bridge tensors."""
    if isinstance(value, (tuple, list)):
        return type(value)(_unheld(v) for v in value)
    return value.tensor if isinstance(value, _Held) else value


def _is_tensor_meta(meta: Any) -> bool:
    """Whether ``meta`` is one tensor's ``TensorMetadata`` (a NamedTuple) rather than a tuple."""
    return hasattr(meta, "shape") and hasattr(meta, "dtype")


def _leaves(meta: Any) -> list[Any]:
    if meta is None:
        return []
    if _is_tensor_meta(meta):
        return [meta]
    if isinstance(meta, (tuple, list)):
        return [leaf for m in meta for leaf in _leaves(m)]
    if isinstance(meta, dict):
        return [leaf for m in meta.values() for leaf in _leaves(m)]
    return [meta]


def _is_getitem(target: Any) -> bool:
    return registry.target_key(target) == "operator.getitem"


def _count_module_calls(graph: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in graph.graph.nodes:
        if node.op == "call_module":
            counts[node.target] = counts.get(node.target, 0) + 1
    return counts


def _short(name: str) -> str:
    """``torch.nn.modules.linear.Linear`` -> ``nn.Linear``; other names as they are."""
    if name.startswith("torch.nn.modules."):
        return "nn." + name.rsplit(".", 1)[1]
    return name


def _load_weights(model: Any, sources: list[LayerSource], state: dict[str, np.ndarray]) -> None:
    """Assign every bridge weight a ``WeightSource`` names from the module's arrays."""
    variables = {v.name: v for v in model.weights}
    for source in sources:
        for variable_name, weight in source.weights.items():
            variable = variables[variable_name]
            value = weight.convert(*(state[n] for n in weight.native))
            if tuple(value.shape) != tuple(variable.shape):
                raise UnsupportedConversionError(
                    f"from_torch: {source.native}'s {weight.native} converts to shape {value.shape}, "
                    f"but the bridge weight {variable_name} has shape {tuple(variable.shape)}"
                )
            variable.assign(value.astype(str(variable.dtype)))
