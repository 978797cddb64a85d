"""Preprocessing layers users put inside models, as Keras 3's: ``Rescaling``, ``Normalization``
(with ``adapt``) and ``CategoryEncoding``. They run as bridge ops, so inside ``br.jit`` and
compiled ``fit`` on every backend; ``Normalization``'s statistics are weights, saved with the model."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .. import ops
from ..dtypes import DType, as_dtype, int64
from ..errors import ArgumentTypeError, InvalidArgumentError, ShapeError
from ..losses import EPSILON  # the smallest standard deviation Normalization divides by
from ..ops._core import axis_index, integer_arg
from ..ops.indexing import checked_indices
from ..tensor import Tensor
from .layer import Layer


def host_constant(layer: Layer, key: str, values: Callable[[], Any], dtype: Any, like: Tensor) -> Tensor:
    """``values()`` (host data of ``layer``: a vocabulary, given statistics) as a Tensor on
    ``like``'s backend and device, made once per place in eager code: a function traced later
    (``br.jit``, compiled ``fit``) captures that tensor instead of tracing its making. A layer
    whose data changes empties ``layer._constants``."""
    cache: dict[Any, Tensor] = layer.__dict__.setdefault("_constants", {})
    place = (key, as_dtype(dtype), like.backend, like.device)
    if place in cache:
        return cache[place]
    made = ops.tensor(values(), dtype=dtype, backend=like.backend, device=like.device)
    if not like._backend.tracing():
        cache[place] = made
    return made


def _numbers(kind: str, name: str, value: Any) -> Any:
    """``value`` (a number, or nested lists / an array of numbers) as a float or nested lists of
    floats, for the layer's config."""
    array = np.asarray(value.numpy() if isinstance(value, Tensor) else value)
    if array.dtype.kind not in "iuf":  # bools and strings are refused
        raise ArgumentTypeError(f"{kind}: {name} must be a number or an array of numbers, got {value!r}")
    return float(array) if array.ndim == 0 else array.astype(np.float64).tolist()


class Rescaling(Layer):
    """``inputs * scale + offset``, in the layer's compute dtype (integer inputs, such as image
    bytes, give floats): ``Rescaling(1 / 255)`` maps ``[0, 255]`` to ``[0, 1]``. ``scale`` and
    ``offset`` are numbers or arrays broadcast against the inputs (per channel, channels last)."""

    supports_masking = True

    def __init__(self, scale: Any, offset: Any = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale: Any = _numbers("Rescaling", "scale", scale)
        self.offset: Any = _numbers("Rescaling", "offset", offset)

    def call(self, x: Tensor) -> Tensor:
        dtype = self.compute_dtype
        scale = host_constant(self, "scale", lambda: self.scale, dtype, x)
        return x.astype(dtype) * scale + host_constant(self, "offset", lambda: self.offset, dtype, x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


def first_of(batch: Any) -> Any:
    """The inputs of a batch: ``x`` of an ``(x, y)`` or ``(x, y, sample_weight)`` tuple."""
    return batch[0] if isinstance(batch, tuple) else batch


def _host_array(kind: str, data: Any) -> np.ndarray:
    """``data`` (a NumPy array, bridge Tensor or nested lists) as a float64 NumPy array."""
    value = data.numpy() if isinstance(data, Tensor) else data
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ArgumentTypeError(
            f"{kind}.adapt: each batch must be a NumPy array or bridge Tensor of numbers, got "
            f"{type(value).__name__}"
        ) from None


class Normalization(Layer):
    """``(inputs - mean) / sqrt(variance)`` (the divisor at least 1e-7), with a mean and variance
    per index of the ``axis`` axes (``axis=None``: one scalar of each); ``invert=True`` undoes it.

    Give ``mean`` and ``variance``, or learn them with ``adapt(data)`` before training: then they
    are the non-trainable weights ``mean``, ``variance`` (and Keras' ``count``), saved with the
    model."""

    supports_masking = True

    def __init__(
        self, axis: Any = -1, mean: Any = None, variance: Any = None, invert: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif not isinstance(axis, (tuple, list)):
            axis = (axis,)
        self.axis: tuple[int, ...] = tuple(
            integer_arg("Normalization", "axis", a, minimum=None) for a in axis
        )
        if (mean is None) != (variance is None):
            raise InvalidArgumentError(
                f"Normalization: mean and variance must be given together, got mean={mean!r} and "
                f"variance={variance!r}"
            )
        self.input_mean: Any = None if mean is None else _numbers("Normalization", "mean", mean)
        self.input_variance: Any = (
            None if variance is None else _numbers("Normalization", "variance", variance)
        )
        if mean is not None:
            mean_shape, variance_shape = np.asarray(mean).shape, np.asarray(variance).shape
            if mean_shape != variance_shape:
                raise InvalidArgumentError(
                    f"Normalization: mean and variance must have the same shape, got mean of shape "
                    f"{mean_shape} and variance of shape {variance_shape}"
                )
            if len(mean_shape) > len(self.axis):
                raise InvalidArgumentError(
                    f"Normalization: mean of rank {len(mean_shape)} is more than the "
                    f"{len(self.axis)} axes of axis={self.axis}"
                )
        self.invert = bool(invert)

    def build(self, input_shape: tuple[int, ...]) -> None:
        ndim = len(input_shape)
        keep = tuple(sorted(axis_index("Normalization", a, ndim) for a in self.axis))
        self._keep_axis = keep
        self._reduce_axis = tuple(d for d in range(ndim) if d not in keep)
        self._broadcast_shape = tuple(input_shape[d] if d in keep else 1 for d in range(ndim))
        self._build_input_shape = tuple(input_shape)
        shape = tuple(input_shape[d] for d in keep)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight("mean", shape, "zeros", trainable=False)
            self.adapt_variance = self.add_weight("variance", shape, "ones", trainable=False)
            self.count = self.add_weight("count", (), "zeros", trainable=False, dtype=int64)
            return
        # given values: the trailing kept axes take the mean's axes (as Keras), then broadcast
        expanded = [1] * ndim
        for i, size in enumerate(reversed(np.shape(self.input_mean))):
            expanded[keep[-1 - i]] = size
        try:
            self._given = tuple(
                np.broadcast_to(np.reshape(value, expanded), self._broadcast_shape).tolist()
                for value in (self.input_mean, self.input_variance)
            )
        except ValueError:
            raise ShapeError(
                f"{self.name}: Normalization's mean of shape {np.shape(self.input_mean)} does not "
                f"broadcast to the kept axes {keep} of inputs of shape {tuple(input_shape)}"
            ) from None

    def _statistics(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The mean and variance in the broadcast shape and the compute dtype."""
        dtype = self.compute_dtype
        if self.input_mean is None:
            shape = self._broadcast_shape
            return (
                ops.reshape(self.adapt_mean, shape).astype(dtype),
                ops.reshape(self.adapt_variance, shape).astype(dtype),
            )
        mean, variance = self._given
        return host_constant(self, "mean", lambda: mean, dtype, x), host_constant(
            self, "variance", lambda: variance, dtype, x
        )

    def call(self, x: Tensor) -> Tensor:
        x = x.astype(self.compute_dtype)
        mean, variance = self._statistics(x)
        std = ops.maximum(ops.sqrt(variance), EPSILON)
        return mean + x * std if self.invert else (x - mean) / std

    def adapt(self, data: Any) -> None:
        """Learn the mean and variance of ``data``: a NumPy array or bridge Tensor (all of it at
        once), or an iterable of batches (a list of arrays, a generator, ``bridge.data.batches``;
        of an ``(x, y)`` batch ``x`` is used), whose statistics are merged batch by batch as Keras
        merges them. Builds the layer on the data's shape if it is not built yet."""
        if self.input_mean is not None:
            raise InvalidArgumentError(
                f"{self.name}: Normalization.adapt cannot replace the mean and variance given to the layer"
            )
        if isinstance(data, (np.ndarray, Tensor)):
            batches: Iterable[np.ndarray] = [_host_array("Normalization", data)]
        elif isinstance(data, Iterable) and not isinstance(data, (str, bytes, dict)):
            batches = (_host_array("Normalization", first_of(batch)) for batch in data)
        else:
            raise ArgumentTypeError(
                "Normalization.adapt: data must be a NumPy array, a bridge Tensor or an iterable of "
                f"batches, got {type(data).__name__}"
            )
        stream = iter(batches)
        first = next(stream, None)
        if first is None:
            raise InvalidArgumentError("Normalization.adapt: data holds no batch")
        if not self.built:
            self.build(first.shape)
        mean, variance, count = None, None, 0
        for batch in itertools.chain([first], stream):
            self._check_adapt_shape(batch.shape)
            batch_mean, batch_variance = (
                np.mean(batch, axis=self._reduce_axis),
                np.var(batch, axis=self._reduce_axis),
            )
            batch_count = math.prod(batch.shape[d] for d in self._reduce_axis)
            if mean is None or variance is None:
                mean, variance, count = batch_mean, batch_variance, batch_count
                continue
            count += batch_count  # Keras' merge of the running and the batch statistics
            weight = batch_count / count
            merged = mean * (1 - weight) + batch_mean * weight
            variance = (variance + (mean - merged) ** 2) * (1 - weight) + (
                batch_variance + (batch_mean - merged) ** 2
            ) * weight
            mean = merged
        self.adapt_mean.assign(np.asarray(mean, self.adapt_mean.dtype.name))
        self.adapt_variance.assign(np.asarray(variance, self.adapt_variance.dtype.name))

    def _check_adapt_shape(self, shape: tuple[int, ...]) -> None:
        built = self._build_input_shape
        if len(shape) != len(built) or any(shape[d] != built[d] for d in self._keep_axis):
            raise ShapeError(
                f"{self.name}: Normalization was built for inputs of shape {built} (axis={self.axis}); "
                f"adapt got a batch of shape {tuple(shape)}"
            )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "invert": self.invert,
            "mean": self.input_mean,
            "variance": self.input_variance,
        }


#: CategoryEncoding's and the lookups' output modes ("binary" is Keras' old name of "multi_hot")
ENCODINGS = ("one_hot", "multi_hot", "count")


def output_mode_arg(kind: str, output_mode: Any, allowed: tuple[str, ...]) -> str:
    """``output_mode`` with Keras' old names ("binary", "tf-idf") replaced; one of ``allowed``."""
    mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
    if mode not in allowed:
        raise InvalidArgumentError(f"{kind}: output_mode must be one of {allowed}, got {output_mode!r}")
    return str(mode)


def refuse_sparse(kind: str, sparse: Any) -> None:
    """Raise an InvalidArgumentError naming ``kind`` for ``sparse=True`` (bridge tensors are dense)."""
    if sparse:
        raise InvalidArgumentError(
            f"{kind}: sparse=True is not supported (bridge tensors are dense); use sparse=False"
        )


def encode_categorical(
    ids: Tensor, output_mode: str, depth: int, dtype: DType | str, count_weights: Tensor | None = None
) -> Tensor:
    """Keras' ``encode_categorical_inputs``: ``ids`` (of rank <= 2; a scalar is one sample) one-hot
    encoded over ``depth`` classes, or per sample (the last axis) as a multi-hot or count vector.
    An id outside ``[0, depth)`` adds nothing."""
    if ids.ndim == 0:
        ids = ops.expand_dims(ids, -1)
    if output_mode == "one_hot":
        if ids.ndim > 1 and ids.shape[-1] == 1:
            ids = ops.squeeze(ids, -1)
        return ops.one_hot(ids, depth, dtype=dtype)
    axis = 1 if ids.ndim > 1 else 0
    hot = ops.one_hot(ids, depth, dtype=dtype if count_weights is None else count_weights.dtype)
    if output_mode == "multi_hot":
        return ops.max(hot, axis)
    if count_weights is not None:
        hot = hot * ops.expand_dims(count_weights, -1)
    return ops.sum(hot, axis)


class CategoryEncoding(Layer):
    """Integer features in ``[0, num_tokens)`` as ``"multi_hot"`` (default), ``"one_hot"`` or
    ``"count"`` vectors of ``num_tokens`` floats; ``count_weights`` (in ``"count"`` mode) weighs
    each id. An id outside the range raises ``IndexOutOfRangeError`` (inside ``br.jit`` it adds
    nothing). Dense only: ``sparse=True`` is refused."""

    def __init__(
        self,
        num_tokens: int | None = None,
        output_mode: str = "multi_hot",
        sparse: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if num_tokens is None:
            raise InvalidArgumentError(
                "CategoryEncoding: num_tokens must be set; where the number of tokens is not known, use "
                "IntegerLookup"
            )
        self.num_tokens = integer_arg("CategoryEncoding", "num_tokens", num_tokens, minimum=1)
        self.output_mode = output_mode_arg("CategoryEncoding", output_mode, ENCODINGS)
        refuse_sparse("CategoryEncoding", sparse)
        self.sparse = False

    def call(self, x: Tensor, count_weights: Any = None) -> Tensor:
        if x.dtype.kind not in "iu":
            x = x.astype(int64)  # as Keras, which casts float ids
        if not x._backend.tracing():  # eager: an id out of range raises
            checked_indices(f"CategoryEncoding {self.name!r}", x, self.num_tokens, 0, negative=False)
        weights = None
        if count_weights is not None:
            if self.output_mode != "count":
                raise InvalidArgumentError(
                    f"{self.name}: CategoryEncoding uses count_weights only with output_mode='count', "
                    f"not {self.output_mode!r}"
                )
            weights = ops.tensor(count_weights, dtype=self.compute_dtype, backend=x.backend, device=x.device)
            if weights.shape != x.shape:
                raise ShapeError(
                    f"{self.name}: CategoryEncoding's count_weights of shape {weights.shape} differ from "
                    f"the inputs' shape {x.shape}"
                )
        return encode_categorical(x, self.output_mode, self.num_tokens, self.compute_dtype, weights)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_tokens": self.num_tokens, "output_mode": self.output_mode}


__all__ = ["Rescaling", "Normalization", "CategoryEncoding"]
