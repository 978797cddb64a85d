"""A model being rebuilt from a file (``load_model``): its weights come from the file, so layers
skip their initializers (a 100 MB model is built in a fraction of the time); and the file bounds
what it may make bridge allocate: no more weight elements than it holds, and a sample of sensible
size to build on, so that a crafted config (a ``Dense`` of 10**12 units, inputs of 10**12
features) is refused before any memory is taken, not met by the OOM killer."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from ..errors import InvalidArgumentError

#: The largest sample a model may be built on while a file loads, in elements (64 MiB of float32),
#: unless the file's weights are larger.
MIN_INPUT_CAP = 1 << 24

#: Weight elements a model being loaded may create beyond twice what its file holds.
SLACK = 1 << 20

_left: ContextVar[list[int] | None] = ContextVar("bridge_weight_elements_left", default=None)


@contextmanager
def loading(weight_elements: int) -> Iterator[None]:
    """Within: layers create their weights as zeros (the file assigns them), of at most twice the
    ``weight_elements`` the file holds (plus ``SLACK``) in all, and models are built on samples of
    at most ``max(weight_elements, MIN_INPUT_CAP)`` elements."""
    # with room to spare, so that a model that differs a little from its file is met by the
    # mismatch check, which names each weight, rather than refused here
    token = _left.set([2 * weight_elements + SLACK, max(weight_elements, MIN_INPUT_CAP)])
    try:
        yield
    finally:
        _left.reset(token)


def weights_from_file() -> bool:
    """Whether a file being loaded will assign every weight created now (so none needs drawing)."""
    return _left.get() is not None


def _elements(shape: Any) -> int:
    return math.prod(int(n) for n in shape)


def take_weight(owner: str, shape: Any) -> None:
    """Count a new weight of ``shape`` against what the file holds; raise if it is more."""
    left = _left.get()
    if left is None:
        return
    size = _elements(shape)
    if size > left[0]:
        raise InvalidArgumentError(
            f"{owner}: a weight of shape {tuple(shape)} ({size} elements) is more than is left of the "
            "weights in the file being loaded: its config asks for weights the file does not hold"
        )
    left[0] -= size


def check_input(owner: str, shape: Any) -> None:
    """Raise if a model would be built on a sample of ``shape`` larger than a loading file allows."""
    left = _left.get()
    if left is not None and _elements(shape) > left[1]:
        raise InvalidArgumentError(
            f"{owner}: building on inputs of shape {tuple(shape)} is more than the file being loaded "
            f"allows ({left[1]} elements per sample)"
        )
