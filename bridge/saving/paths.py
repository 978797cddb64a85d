"""The names of a model's state in files: a path per weight and per seed generator.

A path follows the model's structure, not the layers' global names, so that the same architecture
built twice in one process (``dense_2``, ``dense_3``) still matches its file: each sublayer is named
by its class in snake case, numbered among its siblings of that class as Keras numbers them
(``dense``, ``dense_1``), and each weight by the name ``add_weight`` gave it. The second Dense of
a Sequential's kernel is ``dense_1/kernel``; a Dense inside a custom layer ``Block``, the first of
its model, ``block/dense/kernel``."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from .._registry import snake_case
from ..random import SeedGenerator
from ..variable import Variable

if TYPE_CHECKING:
    from ..nn.layer import Layer


def _numbered(base: str, counts: Counter[str]) -> str:
    number = counts[base]
    counts[base] += 1
    return base if number == 0 else f"{base}_{number}"


def _walk(layer: Layer, prefix: str, seen: set[int], found: dict[str, Any], kind: type) -> None:
    """Add ``layer``'s own objects of ``kind`` (Variables or SeedGenerators), then its sublayers',
    to ``found`` under their paths; each object once, where it is first reached."""
    names: Counter[str] = Counter()
    variables, sublayers = layer._tracked()
    own: list[tuple[str, Any]]
    if kind is Variable:
        own = [(str(v.name or "variable").rsplit("/", 1)[-1], v) for v in variables]
    else:
        own = [(attribute, g) for attribute, g in vars(layer).items() if isinstance(g, SeedGenerator)]
    for name, item in own:
        if id(item) not in seen:
            seen.add(id(item))
            found[prefix + _numbered(name, names)] = item
    for sublayer in sublayers:
        _walk(
            sublayer, prefix + _numbered(snake_case(type(sublayer).__name__), names) + "/", seen, found, kind
        )


def weight_paths(layer: Layer) -> dict[str, Variable]:
    """Every weight of ``layer`` (the Variables of ``layer.weights``) by its path."""
    found: dict[str, Variable] = {}
    _walk(layer, "", set(), found, Variable)
    return found


def seed_generator_paths(layer: Layer) -> dict[str, SeedGenerator]:
    """Every seed generator of ``layer`` and its sublayers (a Dropout's) by its path, such as
    ``dropout/seed_generator``."""
    found: dict[str, SeedGenerator] = {}
    _walk(layer, "", set(), found, SeedGenerator)
    return found
