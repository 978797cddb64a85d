"""Merge layers, as Keras 3's: a list of tensors in, one tensor out.

Elementwise merges (Add, Subtract, Multiply, Average, Maximum, Minimum) broadcast the samples as
Keras does (inputs of lower rank get axes inserted after the batch axis; axes of size 1 stretch)
but never the batch axis. Masks (``(batch, time)`` bool tensors, one per input) combine as
Keras': the output mask is the OR of the masks when every input has one, else None."""

from __future__ import annotations

import functools
import operator
from typing import Any

from .. import ops
from ..errors import InvalidArgumentError, ShapeError
from ..ops._core import integer_arg
from ..tensor import Tensor
from .layer import Layer


def _broadcast_shapes(layer: Layer, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    """The samples' common shape (batch axis left out, aligned on the right), else ShapeError;
    a size unknown while tracing (None) fits any."""
    result: tuple[int, ...] = ()
    for shape in shapes:
        sample = shape[1:]
        width = max(len(result), len(sample))
        a, b = (1,) * (width - len(result)) + result, (1,) * (width - len(sample)) + sample
        if any(m != n and 1 not in (m, n) and None not in (m, n) for m, n in zip(a, b)):
            raise ShapeError(
                f"{layer.name}: {type(layer).__name__} got inputs of incompatible shapes "
                f"{', '.join(map(str, shapes))}"
            )
        result = tuple(n if m == 1 or m is None and n != 1 else m for m, n in zip(a, b))
    return result


class _Merge(Layer):
    """An elementwise merge of a list of at least ``minimum`` (and at most ``maximum``) tensors."""

    supports_masking = True
    _minimum: int = 1
    _maximum: int | None = None

    def _check(self, inputs: Any, one_batch: bool = True) -> list[Tensor]:
        """The inputs as a list of tensors of ranks >= 1 (and one batch size), else a clear error."""
        kind = type(self).__name__
        if not isinstance(inputs, (list, tuple)) or not all(isinstance(x, Tensor) for x in inputs):
            raise InvalidArgumentError(
                f"{self.name}: a {kind} layer is called on a list of tensors, got {type(inputs).__name__}"
            )
        count = len(inputs)
        if count < self._minimum or (self._maximum is not None and count > self._maximum):
            wanted = (
                f"exactly {self._maximum}" if self._maximum == self._minimum else f"at least {self._minimum}"
            )
            raise InvalidArgumentError(f"{self.name}: a {kind} layer takes {wanted} inputs, got {count}")
        shapes = [x.shape for x in inputs]
        batches = [s[0] for s in shapes if s and s[0] is not None]  # None: unknown while tracing
        if any(len(s) < 1 for s in shapes) or (one_batch and any(n != batches[0] for n in batches)):
            raise ShapeError(
                f"{self.name}: {kind} needs inputs with one batch size (axis 0), got shapes "
                f"{', '.join(map(str, shapes))}"
            )
        return list(inputs)

    def call(self, inputs: list[Tensor], mask: list[Tensor | None] | None = None) -> Tensor:
        inputs = self._check(inputs)
        _broadcast_shapes(self, [x.shape for x in inputs])
        rank = max(x.ndim for x in inputs)
        inputs = [
            x if x.ndim == rank else ops.expand_dims(x, tuple(range(1, 1 + rank - x.ndim))) for x in inputs
        ]
        masks = _masks(self, inputs, mask)
        return self._merge(inputs, masks)

    def _merge(self, inputs: list[Tensor], masks: list[Tensor | None]) -> Tensor:
        raise NotImplementedError

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Tensor | None:
        """The OR of the inputs' masks when each has one, else None (as Keras)."""
        return _union(previous_mask)


def _masks(layer: Layer, inputs: list[Tensor], mask: Any) -> list[Tensor | None]:
    """One mask (or None) per input; each broadcast over its input's trailing axes."""
    if mask is None:
        return [None] * len(inputs)
    if not isinstance(mask, (list, tuple)) or len(mask) != len(inputs):
        raise InvalidArgumentError(
            f"{layer.name}: mask must be a list of one mask (or None) per input ({len(inputs)}), got {mask!r}"
        )
    out: list[Tensor | None] = []
    for x, m in zip(inputs, mask):
        if m is not None:
            m = m if isinstance(m, Tensor) else ops.tensor_like(m, x)
            if m.ndim >= x.ndim or x.shape[: m.ndim] != m.shape:
                raise ShapeError(
                    f"{layer.name}: a mask of shape {m.shape} does not fit an input of shape {x.shape}"
                )
            m = _spread(m, x)
        out.append(m)
    return out


def _spread(mask: Tensor, x: Tensor) -> Tensor:
    """``mask`` (the leading axes of ``x``) broadcast to ``x``'s shape."""
    return ops.logical_and(ops.expand_dims(mask, tuple(range(mask.ndim, x.ndim))), ops.ones_like(x, bool))


def _union(masks: Any) -> Any:
    """The OR of ``masks`` when there are some and none is None, else None."""
    if masks is None or any(m is None for m in masks):
        return None
    return functools.reduce(ops.logical_or, masks)


class Add(_Merge):
    """The sum of the inputs."""

    def _merge(self, inputs: list[Tensor], masks: list[Tensor | None]) -> Tensor:
        return functools.reduce(operator.add, inputs)


class Subtract(_Merge):
    """``inputs[0] - inputs[1]`` (exactly two inputs)."""

    _minimum, _maximum = 2, 2

    def _merge(self, inputs: list[Tensor], masks: list[Tensor | None]) -> Tensor:
        return inputs[0] - inputs[1]


class Average(_Merge):
    """The mean of the inputs."""

    def _merge(self, inputs: list[Tensor], masks: list[Tensor | None]) -> Tensor:
        return functools.reduce(operator.add, inputs) / len(inputs)


class Multiply(_Merge):
    """The product of the inputs. Where every input has a mask, masked entries count as 1 and the
    output is 0 outside the OR of the masks (as Keras)."""

    def _merge(self, inputs: list[Tensor], masks: list[Tensor | None]) -> Tensor:
        factors = [x if m is None else ops.where(m, x, ops.ones_like(x)) for x, m in zip(inputs, masks)]
        out, union = functools.reduce(operator.mul, factors), _union(masks)
        return out if union is None else ops.where(union, out, ops.zeros_like(out))


class _Extremum(_Merge):
    """Maximum or Minimum, masks applied as Keras: a masked entry takes the running result's value
    (and the running result a masked one's the next input's)."""

    _function: Any

    def _merge(self, inputs: list[Tensor], masks: list[Tensor | None]) -> Tensor:
        out, out_mask = inputs[0], masks[0]
        for x, m in zip(inputs[1:], masks[1:]):
            if m is not None:
                x = ops.where(m, x, out)
            if out_mask is not None:
                out = ops.where(out_mask, out, x)
            out_mask = ops.logical_or(out_mask, m) if m is not None and out_mask is not None else None
            out = type(self)._function(out, x)
        return out


class Maximum(_Extremum):
    """The elementwise maximum of the inputs."""

    _function = staticmethod(ops.maximum)


class Minimum(_Extremum):
    """The elementwise minimum of the inputs."""

    _function = staticmethod(ops.minimum)


class Concatenate(_Merge):
    """The inputs joined along ``axis`` (``axis=0`` joins batches); every other axis must match
    (no broadcasting)."""

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = integer_arg("Concatenate", "axis", axis, minimum=None)

    def call(self, inputs: list[Tensor], mask: list[Tensor | None] | None = None) -> Tensor:
        inputs = self._check(inputs, one_batch=False)
        shapes = [x.shape for x in inputs]
        rank = len(shapes[0])
        axis = self.axis + rank if self.axis < 0 else self.axis
        fits = 0 <= axis < rank and all(
            len(s) == rank and all(a == b for i, (a, b) in enumerate(zip(s, shapes[0])) if i != axis)
            for s in shapes
        )
        if not fits:
            raise ShapeError(
                f"{self.name}: Concatenate(axis={self.axis}) needs inputs of one rank whose shapes "
                f"match except on that axis, got {', '.join(map(str, shapes))}"
            )
        return ops.concatenate(inputs, axis=axis)

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Tensor | None:
        """Keras': each input's mask (all true where it has none) joined along ``axis``, then
        reduced over the last axis by OR."""
        if previous_mask is None or all(m is None for m in previous_mask):
            return None
        masks = []
        for x, m in zip(inputs, previous_mask):
            if m is None:
                m = ops.ones_like(x, dtype="bool")
            elif m.ndim < x.ndim:
                m = _spread(m if isinstance(m, Tensor) else ops.tensor_like(m, x), x)
            masks.append(m)
        return ops.any(ops.concatenate(masks, axis=self.axis), axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class Dot(_Merge):
    """The dot product of two samples along ``axes`` (an int, or one axis per input, never the
    batch axis 0), as Keras' ``batch_dot``: the first input's remaining axes, then the second's
    (its batch axis left out); a result of rank 1 becomes ``(batch, 1)``. ``normalize=True`` takes
    the L2-normalized inputs (``x * min(rsqrt(sum(x**2)), 1e7)``, as Keras), giving cosines."""

    _minimum, _maximum = 2, 2

    def __init__(self, axes: Any, normalize: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2:
                raise InvalidArgumentError(f"Dot: axes must be an int or two ints, got {axes!r}")
            axes = tuple(integer_arg("Dot", "axes", a, minimum=None) for a in axes)
        else:
            axes = integer_arg("Dot", "axes", axes, minimum=None)
        self.axes: int | tuple[int, ...] = axes
        self.normalize = bool(normalize)

    def call(self, inputs: list[Tensor], mask: Any = None) -> Tensor:
        x, y = self._check(inputs)
        pair = self.axes if isinstance(self.axes, tuple) else (self.axes, self.axes)
        a, b = (axis + t.ndim if axis < 0 else axis for axis, t in zip(pair, (x, y)))
        if x.ndim < 2 or y.ndim < 2 or not (0 < a < x.ndim and 0 < b < y.ndim) or x.shape[a] != y.shape[b]:
            raise ShapeError(
                f"{self.name}: Dot(axes={self.axes}) needs inputs of rank >= 2 whose sizes match on "
                f"those axes (not the batch axis 0), got shapes {x.shape} and {y.shape}"
            )
        if self.normalize:
            x, y = _l2_normalize(x, a), _l2_normalize(y, b)
        x, y = ops.moveaxis(x, a, -1), ops.moveaxis(y, b, 1)
        rest_x, rest_y = x.shape[1:-1], y.shape[2:]
        batch, depth = x.shape[0], x.shape[-1]
        product = ops.matmul(ops.reshape(x, (batch, -1, depth)), ops.reshape(y, (batch, depth, -1)))
        shape = (*rest_x, *rest_y) or (1,)
        return ops.reshape(product, (batch, *shape))

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> None:
        """None: a dot product has no mask (as Keras)."""
        return None

    def get_config(self) -> dict[str, Any]:
        axes = list(self.axes) if isinstance(self.axes, tuple) else self.axes
        return {**super().get_config(), "axes": axes, "normalize": self.normalize}


def _l2_normalize(x: Tensor, axis: int) -> Tensor:
    inverse = ops.rsqrt(ops.sum(ops.square(x), axis=axis, keepdims=True))
    return x * ops.minimum(inverse, 1e7)


__all__ = ["Add", "Average", "Concatenate", "Dot", "Maximum", "Minimum", "Multiply", "Subtract"]
