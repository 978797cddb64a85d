"""Functional models: ``nn.Model(inputs, outputs)`` over the layers called between them (Keras'
functional API). The graph is the nodes that symbolic calls recorded (``nn.symbolic``), run in
order; shared layers, several inputs and outputs (lists, tuples, dicts) and nested models are
nodes like any other."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from ..errors import InvalidArgumentError, ShapeError
from ..ops._core import as_tensor
from ..serialization import deserialize, serialize
from ..tensor import Tensor
from ..tree import leaves, map_leaves
from .input import Input
from .layer import Layer, cast_keeping_mask
from .model import Model, param_count
from .symbolic import Node, SymbolicTensor

#: how a config marks a symbolic tensor: ``{"__symbolic__": [layer name, node index, output index]}``
REFERENCE = "__symbolic__"


class Functional(Model):
    """The model that ``nn.Model(inputs, outputs)`` makes: ``inputs`` are ``nn.Input``s (one, or
    a list, tuple or dict of them), ``outputs`` symbolic tensors made from them by calling layers
    (one, or a list, tuple or dict). Called on data of the inputs' structure (a dict also for
    a list of inputs, by their names, as Keras), it returns the outputs' structure."""

    def __init__(self, inputs: Any, outputs: Any, name: str | None = None, trainable: bool = True) -> None:
        super().__init__(name=name, trainable=trainable)
        if not leaves(inputs) or not all(isinstance(t, Input) for t in leaves(inputs)):
            raise InvalidArgumentError(
                f"Model: inputs must be nn.Input tensors (one, or a list or dict of them), got {inputs!r}"
            )
        if not leaves(outputs) or not all(isinstance(t, SymbolicTensor) for t in leaves(outputs)):
            raise InvalidArgumentError(
                "Model: outputs must be what layers called on the inputs returned (one, or a list or "
                f"dict of them), got {outputs!r}"
            )
        self._inputs, self._outputs = inputs, outputs
        # as Keras: the outputs' layers name the per-output losses and metrics (nn.compile_utils)
        self.output_names = [t.node.layer.name if t.node else t.name for t in _flat(outputs)]
        self._nodes, self._graph_layers = _graph(_flat(inputs), _flat(outputs))
        _check_unique_names([*_flat(inputs), *self._graph_layers])
        self.built = True
        if isinstance(inputs, Input):
            self._input_shape, self._input_dtype = inputs.shape, inputs.dtype.name

    @property
    def inputs(self) -> list[Input]:
        """The inputs, flat (a dict's in the order of its keys, as Keras)."""
        return _flat(self._inputs)

    @property
    def outputs(self) -> list[SymbolicTensor]:
        """The outputs, flat (a dict's in the order of its keys, as Keras)."""
        return _flat(self._outputs)

    @property
    def input(self) -> Any:
        """The inputs as given: one, or their list, tuple or dict."""
        return self._inputs

    @property
    def output(self) -> Any:
        """The outputs as given: one, or their list, tuple or dict."""
        return self._outputs

    @property
    def input_shape(self) -> Any:
        """The inputs' shapes, the batch axis first: one shape, or a list of them, as Keras."""
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self) -> Any:
        """The outputs' shapes, the batch axis first: one shape, or a list of them, as Keras."""
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def build(self, input_shape: Any, dtype: Any = None) -> None:
        """Nothing to do: a functional model is built when it is made."""

    def _standardize(self, x: Any) -> Any:
        """Data as tensors; each input's dtype is its ``Input``'s (``call`` casts)."""
        return as_tensor(self.name, x) if x is not None and not isinstance(x, Tensor) else x

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        values: dict[int, Any] = {
            id(model_input): _conform(self.name, model_input, x)
            for model_input, x in zip(self.inputs, self._flat_inputs(inputs))
        }

        def value(leaf: Any) -> Any:
            return values[id(leaf)] if isinstance(leaf, SymbolicTensor) else leaf

        for node in self._nodes:
            node_inputs, args, kwargs = map_leaves(value, node.arguments)
            outputs = node.layer(node_inputs, *args, **kwargs)
            values.update(zip(map(id, leaves(node.outputs)), leaves(outputs)))
        return map_leaves(value, self._outputs)

    def _flat_inputs(self, data: Any) -> list[Any]:
        """``data`` as one value per model input, in ``self.inputs`` order."""
        expected = self.inputs
        if isinstance(data, dict):
            keyed = self._inputs if isinstance(self._inputs, dict) else {t.name: t for t in expected}
            names = {id(t): key for key, t in keyed.items()}
            if set(data) != set(keyed):
                raise InvalidArgumentError(
                    f"{self.name}: the model takes inputs {sorted(keyed)}, got a dict of {sorted(data)}"
                )
            return [data[names[id(t)]] for t in expected]
        if len(expected) == 1 and not isinstance(data, (list, tuple)):  # [x] takes x too, as Keras
            return [data]
        if (
            isinstance(data, (list, tuple))
            and not isinstance(self._inputs, dict)
            and len(data) == len(expected)
        ):
            return list(data)
        raise InvalidArgumentError(
            f"{self.name}: the model takes {len(expected)} input(s) "
            f"({', '.join(f'{t.name!r} {t.shape}' for t in expected)}), structured as "
            f"{_structure(self._inputs)}; got {_structure(data)}"
        )

    # --- summary and configuration -----------------------------------------------------------
    def _summary_rows(self) -> list[tuple[str, ...]]:
        rows: list[tuple[str, ...]] = [
            (f"{t.name} (InputLayer)", str(t.shape), "0", "-") for t in self.inputs
        ]
        references = self._references()
        for layer in self._graph_layers:
            nodes = self._calls(layer)
            shapes = {
                str(t.shape) for node in nodes for t in leaves(node.outputs) if isinstance(t, SymbolicTensor)
            }
            sources = [references[id(t)] for node in nodes for t in node.inputs]
            connected = ", ".join(f"{name}[{index}][{position}]" for name, index, position in sources)
            shape = shapes.pop() if len(shapes) == 1 else "multiple"
            rows.append((f"{layer.name} ({type(layer).__name__})", shape, param_count(layer), connected))
        return rows

    def _calls(self, layer: Layer) -> list[Node]:
        """The nodes of ``layer`` in this model, in the order they were made (as Keras numbers
        a layer's calls)."""
        return sorted((node for node in self._nodes if node.layer is layer), key=lambda node: node.serial)

    def _references(self) -> dict[int, list[Any]]:
        """Each symbolic tensor of the graph as ``[layer name, node index, output index]``."""
        references: dict[int, list[Any]] = {id(t): [t.name, 0, 0] for t in self.inputs}
        for layer in self._graph_layers:
            for index, node in enumerate(self._calls(layer)):
                for position, output in enumerate(leaves(node.outputs)):
                    references[id(output)] = [layer.name, index, position]
        return references

    def get_config(self) -> dict[str, Any]:
        """Keras' functional config: the layers, each with the calls made of it
        (``inbound_nodes``, symbolic arguments as references), and the inputs and outputs."""
        references = self._references()

        def encoded(tree: Any) -> Any:
            return map_leaves(
                lambda leaf: {REFERENCE: references[id(leaf)]} if isinstance(leaf, SymbolicTensor) else leaf,
                tree,
            )

        def calls(layer: Layer) -> list[dict[str, Any]]:
            return [
                {
                    "args": encoded([node.arguments[0], *node.arguments[1]]),
                    "kwargs": encoded(node.arguments[2]),
                }
                for node in self._calls(layer)
            ]

        return {
            "name": self.name,
            "trainable": self.trainable,
            "layers": [
                *(
                    {"class_name": "InputLayer", "config": t.get_config(), "name": t.name}
                    for t in self.inputs
                ),
                *(
                    {**serialize(layer), "name": layer.name, "inbound_nodes": calls(layer)}
                    for layer in self._graph_layers
                ),
            ],
            "input_layers": encoded(self._inputs),
            "output_layers": encoded(self._outputs),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Functional:
        """The model ``get_config`` described: its layers made again, and called as they were."""
        made: dict[str, Any] = {}
        results: dict[tuple[str, int], Any] = {}
        pending: list[tuple[str, list[dict[str, Any]]]] = []
        for spec in config["layers"]:
            name = spec["name"]
            if name in made:
                raise InvalidArgumentError(f"functional config: two layers are named {name!r}")
            if spec["class_name"] == "InputLayer":
                made[name] = results[(name, 0)] = Input.from_config(spec["config"])
            else:
                made[name] = deserialize(spec)
                pending.append((name, list(spec.get("inbound_nodes", []))))

        def tensor(reference: Any) -> SymbolicTensor:
            try:
                name, node, position = reference
                found = leaves(results[(name, node)])[position]
            except (LookupError, TypeError, ValueError):
                found = None
            if not isinstance(found, SymbolicTensor):
                raise InvalidArgumentError(f"functional config: {reference!r} names no tensor")
            return found

        def decoded(tree: Any) -> Any:
            if isinstance(tree, dict) and set(tree) == {REFERENCE}:
                return tensor(tree[REFERENCE])
            if isinstance(tree, dict):
                return {key: decoded(value) for key, value in tree.items()}
            return [decoded(item) for item in tree] if isinstance(tree, list) else tree

        def ready(tree: Any) -> bool:
            if isinstance(tree, dict) and set(tree) == {REFERENCE}:
                name, node, _ = tree[REFERENCE]
                return (name, node) in results
            children = tree.values() if isinstance(tree, dict) else tree if isinstance(tree, list) else []
            return all(ready(child) for child in children)

        calls: Counter[str] = Counter()
        while any(nodes for _, nodes in pending):
            progressed = False
            for name, nodes in pending:
                while nodes and ready(nodes[0]):
                    node = nodes.pop(0)
                    args, kwargs = decoded(node["args"]), decoded(node["kwargs"])
                    if not isinstance(args, list) or not args or not isinstance(kwargs, dict):
                        raise InvalidArgumentError(f"functional config: a call of {name!r} is {node!r}")
                    results[(name, calls[name])] = made[name](args[0], *args[1:], **kwargs)
                    calls[name] += 1
                    progressed = True
            if not progressed:
                stuck = [name for name, nodes in pending if nodes]
                raise InvalidArgumentError(
                    f"functional config: the calls of layers {stuck} take tensors that no layer makes"
                )
        return cls(
            decoded(config["input_layers"]),
            decoded(config["output_layers"]),
            name=config.get("name"),
            trainable=config.get("trainable", True),
        )


def _graph(inputs: list[Input], outputs: list[SymbolicTensor]) -> tuple[list[Node], list[Layer]]:
    """The nodes that compute ``outputs`` from ``inputs``, each after those it takes from, and
    their layers in Keras' order: by depth (the longest path to an output), deepest first, ties
    in the order a depth-first walk from the outputs meets them. Walked without recursion:
    graphs may be deep."""
    order: list[Node] = []  # depth-first post-order: every node after its inputs' nodes
    first_seen: dict[int, int] = {}  # layer id -> when the walk first met it
    finished: set[int] = set()
    stack: list[tuple[Node, Iterator[SymbolicTensor]]] = []

    def enter(tensor: SymbolicTensor) -> None:
        node = tensor.node
        if node is None:
            if not any(tensor is given for given in inputs):
                raise InvalidArgumentError(
                    f"Model: the outputs depend on {tensor!r}, which is not among the inputs "
                    f"{[t.name for t in inputs]}: add it to inputs"
                )
        elif id(node) not in finished:
            first_seen.setdefault(id(node.layer), len(first_seen))
            stack.append((node, iter(node.inputs)))

    for output in outputs:
        enter(output)
        while stack:
            node, pending = stack[-1]
            source = next(pending, None)
            if source is not None:
                enter(source)
            else:
                stack.pop()
                if id(node) not in finished:
                    finished.add(id(node))
                    order.append(node)
    node_depth: dict[int, int] = {}
    layer_depth: dict[int, int] = {}
    for node in reversed(order):
        depth = max(node_depth.get(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        for source in node.inputs:
            if source.node is not None:
                node_depth[id(source.node)] = max(depth + 1, node_depth.get(id(source.node), 0))
    layers = list({id(node.layer): node.layer for node in order}.values())
    layers.sort(key=lambda layer: (-layer_depth[id(layer)], first_seen[id(layer)]))
    return order, layers


def _flat(tree: Any) -> list[Any]:
    """The leaves of ``tree``, a dict's in the order of its keys (as Keras' ``tree.flatten``)."""
    if isinstance(tree, dict):
        return [leaf for key in sorted(tree) for leaf in _flat(tree[key])]
    if isinstance(tree, (list, tuple)):
        return [leaf for item in tree for leaf in _flat(item)]
    return [tree]


def _check_unique_names(items: list[Any]) -> None:
    counts = Counter(item.name for item in items)
    repeated = sorted(name for name, count in counts.items() if count > 1)
    if repeated:
        raise InvalidArgumentError(
            f"Model: the layers and inputs of a functional model need unique names; {repeated} repeat"
        )


def _conform(model: str, expected: Input, x: Any) -> Tensor:
    """``x`` checked against ``expected``'s shape and cast to its dtype (its mask kept)."""
    if not isinstance(x, Tensor):
        x = as_tensor(model, x)
    fits = x.ndim == expected.ndim and all(n is None or n == m for n, m in zip(expected.shape, x.shape))
    if not fits:
        raise ShapeError(
            f"{model}: input {expected.name!r} takes shape {expected.shape}, got an input of shape {x.shape}"
        )
    return cast_keeping_mask(x, expected.dtype)


def _structure(tree: Any) -> str:
    if isinstance(tree, dict):
        return f"a dict of {sorted(tree)}"
    if isinstance(tree, (list, tuple)):
        return f"a {type(tree).__name__} of {len(tree)}"
    return "one tensor" if isinstance(tree, (Tensor, SymbolicTensor)) else type(tree).__name__
