"""Metrics of the probabilistic and hinge losses of ``bridge.losses`` (the cross-entropies,
the KL divergence, the Poisson loss, the hinges), averaged over the samples seen."""

from __future__ import annotations

from typing import Any

from .. import losses, ops
from ..errors import ArgumentTypeError
from ..tensor import Tensor
from .base import LossMean


class BinaryCrossentropy(LossMean):
    """The binary cross-entropy (``from_logits``, ``label_smoothing`` as the loss's)."""

    def __init__(
        self,
        name: str | None = "binary_crossentropy",
        dtype: Any = None,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
    ) -> None:
        loss = losses.BinaryCrossentropy(from_logits, label_smoothing, reduction="none")
        super().__init__(loss, name, dtype)
        self.from_logits, self.label_smoothing = from_logits, label_smoothing

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
        }


class CategoricalCrossentropy(LossMean):
    """The cross-entropy of one-hot (or soft) targets along ``axis``."""

    def __init__(
        self,
        name: str | None = "categorical_crossentropy",
        dtype: Any = None,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
    ) -> None:
        loss = losses.CategoricalCrossentropy(from_logits, label_smoothing, axis, reduction="none")
        super().__init__(loss, name, dtype)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis

    def get_config(self) -> dict[str, Any]:
        config = {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing, "axis": self.axis}
        return {**super().get_config(), **config}


class SparseCategoricalCrossentropy(LossMean):
    """The cross-entropy of integer class ids against scores along ``axis``; samples labelled
    ``ignore_class`` do not count where a ``sample_weight`` is given, and count as 0 where none
    is (as Keras)."""

    def __init__(
        self,
        name: str | None = "sparse_categorical_crossentropy",
        dtype: Any = None,
        from_logits: bool = False,
        ignore_class: int | None = None,
        axis: int = -1,
    ) -> None:
        loss = losses.SparseCategoricalCrossentropy(from_logits, ignore_class, reduction="none")
        super().__init__(loss, name, dtype)
        self.from_logits, self.ignore_class = from_logits, ignore_class
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ArgumentTypeError(f"SparseCategoricalCrossentropy: axis must be an int, got {axis!r}")
        self.axis = axis

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        if self.axis != -1:
            y_pred = ops.moveaxis(y_pred if isinstance(y_pred, Tensor) else ops.tensor(y_pred), self.axis, -1)
        super().update_state(y_true, y_pred, sample_weight)

    def get_config(self) -> dict[str, Any]:
        config = {"from_logits": self.from_logits, "ignore_class": self.ignore_class, "axis": self.axis}
        return {**super().get_config(), **config}


class KLDivergence(LossMean):
    """The Kullback-Leibler divergence of the predictions from the targets."""

    def __init__(self, name: str | None = "kl_divergence", dtype: Any = None) -> None:
        super().__init__(losses.KLDivergence(reduction="none"), name, dtype)


class Poisson(LossMean):
    """The Poisson loss ``y_pred - y_true * log(y_pred)``."""

    def __init__(self, name: str | None = "poisson", dtype: Any = None) -> None:
        super().__init__(losses.Poisson(reduction="none"), name, dtype)


class Hinge(LossMean):
    """The hinge loss of -1/1 (or 0/1) labels."""

    def __init__(self, name: str | None = "hinge", dtype: Any = None) -> None:
        super().__init__(losses.Hinge(reduction="none"), name, dtype)


class SquaredHinge(LossMean):
    """The squared hinge loss of -1/1 (or 0/1) labels."""

    def __init__(self, name: str | None = "squared_hinge", dtype: Any = None) -> None:
        super().__init__(losses.SquaredHinge(reduction="none"), name, dtype)


class CategoricalHinge(LossMean):
    """The categorical hinge loss of one-hot labels."""

    def __init__(self, name: str | None = "categorical_hinge", dtype: Any = None) -> None:
        super().__init__(losses.CategoricalHinge(reduction="none"), name, dtype)
