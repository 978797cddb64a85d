"""Symbolic tensors: what layers are called on to describe a functional model before any data
(Keras' ``KerasTensor``). Calling a layer on them records a ``Node`` (the call and its
arguments) and returns symbolic outputs whose shapes and dtypes come from running the layer once
on zeros (a layer needs no shape arithmetic of its own, as with Keras' torch backend)."""

from __future__ import annotations

import itertools
from typing import Any

from .. import ops
from ..dtypes import DType, as_dtype
from ..errors import BridgeError, SymbolicTensorError
from ..saving import loading
from ..tensor import Tensor
from ..tree import leaves, map_leaves


class SymbolicTensor:
    """The shape (batch axis first, None where only data will tell) and dtype of a tensor in a
    functional model. Combine them with layers (``nn.Add()([a, b])``, ``nn.Lambda(fn)(x)``)."""

    def __init__(self, shape: tuple[int | None, ...], dtype: Any, node: Node | None = None, index: int = 0):
        self.shape = tuple(shape)
        self.dtype: DType = as_dtype(dtype)
        self.node = node  # the call that produced it (None for a model's Input)
        self.index = index  # which of that call's outputs it is

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def example(self, batch: int = 1, size: int = 1) -> Tensor:
        """Zeros of this shape, its open sizes (None) taken as ``batch`` on the first axis and
        ``size`` on the others."""
        shape = tuple((batch if axis == 0 else size) if n is None else n for axis, n in enumerate(self.shape))
        loading.check_input(getattr(self, "name", "input"), shape)  # a file being loaded: sane sizes
        return ops.zeros(shape, dtype=self.dtype)

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise SymbolicTensorError(
            f"{self!r} is symbolic (a functional model's description, holding no values): only layers "
            "can be called on it; use a layer such as nn.Add(), nn.Multiply() or nn.Lambda(fn)"
        )

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _refuse
    __matmul__ = __rmatmul__ = __pow__ = __neg__ = __getitem__ = __array__ = __bool__ = __len__ = _refuse
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        made_by = f", from layer {self.node.layer.name!r}" if self.node is not None else ""
        return f"<SymbolicTensor shape={self.shape}, dtype={self.dtype.name}{made_by}>"


class Node:
    """One call of ``layer`` on symbolic tensors: ``arguments`` is ``(inputs, args, kwargs)``
    with the symbolic tensors among them, ``outputs`` the symbolic results, in their structure."""

    _made = itertools.count()

    def __init__(self, layer: Any, arguments: tuple[Any, tuple[Any, ...], dict[str, Any]]) -> None:
        self.serial = next(Node._made)  # the order calls were made in (a layer's nodes count by it)
        self.layer = layer
        self.arguments = arguments
        self.outputs: Any = None

    @property
    def inputs(self) -> list[SymbolicTensor]:
        return [leaf for leaf in leaves(self.arguments) if isinstance(leaf, SymbolicTensor)]


def is_symbolic(tree: Any) -> bool:
    return any(isinstance(leaf, SymbolicTensor) for leaf in leaves(tree))


#: The sizes that stand in for those only data will tell, in the two runs of each symbolic call:
#: the batch axis, then any other. Large and coprime, so that windows fit and outputs that follow
#: an open size show it.
PROBES = ((1, 13), (2, 17))


def call_symbolic(layer: Any, inputs: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``layer(inputs, *args, **kwargs)`` recorded as a node; outputs shaped by running the layer
    twice on zeros, with the open sizes (None) of the inputs taken as the ``PROBES``: an output
    size that differs between the runs is open too. ``training`` is False unless the call says
    otherwise; an error names the symbolic shapes."""
    node = Node(layer, (inputs, args, kwargs))
    runs = []
    for batch, size in PROBES:
        try:
            runs.append(_run(layer, node.arguments, batch, size))
        except BridgeError as error:
            shapes = ", ".join(str(t.shape) for t in node.inputs)
            raise type(error)(
                f"{layer.name} ({type(layer).__name__}) called on symbolic inputs of shape {shapes} (open "
                f"sizes tried as {batch} for the batch, {size} elsewhere): {error}"
            ) from error

    def symbolic(index: int, *outputs: Any) -> Any:
        if not isinstance(outputs[0], Tensor):
            return outputs[0]
        shapes = [o.shape for o in outputs]
        shape = tuple(n if all(s[axis] == n for s in shapes) else None for axis, n in enumerate(shapes[0]))
        return SymbolicTensor(shape, outputs[0].dtype, node, index)

    counter = iter(range(len(leaves(runs[0]))))
    node.outputs = map_leaves(lambda *outputs: symbolic(next(counter), *outputs), *runs)
    layer._inbound_nodes.append(node)
    return node.outputs


def _run(layer: Any, arguments: tuple[Any, tuple[Any, ...], dict[str, Any]], batch: int, size: int) -> Any:
    inputs, args, kwargs = map_leaves(
        lambda leaf: leaf.example(batch, size) if isinstance(leaf, SymbolicTensor) else leaf, arguments
    )
    outputs = layer(inputs, *args, **{"training": False, **kwargs})
    layer._reset_stateful()  # stateful layers start the real data from zero states
    return outputs
