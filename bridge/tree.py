"""Pytrees: nested lists, tuples, namedtuples and dicts; everything else (None included, as in
Keras' ``keras.tree``) is a leaf. Layers, ``Model.fit``, ``jit``, ``grad`` and ``bridge.testing``
all walk structures through this module.

Dict leaves come in insertion order, as Python iterates dicts, not in sorted-key order as JAX
and Keras' tree: the leaves of a layer's attributes are its tracked sublayers and weights, and
Keras tracks a dict of layers in insertion order, which fixes the order of ``weights`` (and so of
``get_weights``/``set_weights``); it also works for keys that do not sort (``{1: a, "b": c}``).
Where two dicts must match regardless of order (several trees in ``map_leaves``, comparing
results by ``leaves_with_paths``), they are matched key by key.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any, NoReturn

from .errors import InvalidArgumentError


def is_namedtuple(x: Any) -> bool:
    """Whether ``x`` is a namedtuple (a tuple with ``_fields``)."""
    return isinstance(x, tuple) and hasattr(x, "_fields")


def is_node(x: Any) -> bool:
    """Whether ``x`` has children (a list, tuple or dict) rather than being a leaf."""
    return isinstance(x, (list, tuple, dict))


def leaves(tree: Any) -> list[Any]:
    """The leaves of ``tree``, depth first."""
    if isinstance(tree, dict):
        return [leaf for item in tree.values() for leaf in leaves(item)]
    if isinstance(tree, (list, tuple)):
        return [leaf for item in tree for leaf in leaves(item)]
    return [tree]


def leaves_with_paths(tree: Any, path: str = "") -> list[tuple[str, Any]]:
    """``(path, leaf)`` pairs in ``leaves`` order; a path reads as Python indexing after ``path``:
    ``[0]['a']`` for a list's first item's key ``"a"``, ``.x`` for a namedtuple's field ``x``."""
    if isinstance(tree, dict):
        return [pair for key, item in tree.items() for pair in leaves_with_paths(item, f"{path}[{key!r}]")]
    if is_namedtuple(tree):
        return [
            pair
            for field, item in zip(tree._fields, tree)
            for pair in leaves_with_paths(item, f"{path}.{field}")
        ]
    if isinstance(tree, (list, tuple)):
        return [pair for i, item in enumerate(tree) for pair in leaves_with_paths(item, f"{path}[{i}]")]
    return [(path, tree)]


def map_leaves(fn: Callable[..., Any], tree: Any, *others: Any) -> Any:
    """``tree`` with every leaf replaced by ``fn(leaf, *matching leaves of others)``.

    ``others`` must have ``tree``'s structure: sequences of the same length where ``tree`` has a
    list or tuple (either kind), dicts with the same keys (in any order) where it has a dict."""
    return _map(fn, tree, others, "")


def replace_leaves(tree: Any, new_leaves: list[Any]) -> Any:
    """``tree`` with its leaves replaced, in ``leaves`` order, by ``new_leaves``."""
    count = len(leaves(tree))
    if len(new_leaves) != count:
        raise InvalidArgumentError(f"replace_leaves: the tree has {count} leaves, got {len(new_leaves)}")
    supply = iter(new_leaves)
    return map_leaves(lambda _: next(supply), tree)


def _map(fn: Callable[..., Any], tree: Any, others: tuple[Any, ...], path: str) -> Any:
    if isinstance(tree, dict):
        for other in others:
            if not isinstance(other, dict) or other.keys() != tree.keys():
                _mismatch(path, tree, other)
        mapped = [_map(fn, tree[k], tuple(o[k] for o in others), f"{path}[{k!r}]") for k in tree]
        return _rebuild(tree, mapped)
    if isinstance(tree, (list, tuple)):
        for other in others:
            if not isinstance(other, (list, tuple)) or len(other) != len(tree):
                _mismatch(path, tree, other)
        mapped = [_map(fn, item, tuple(o[i] for o in others), f"{path}[{i}]") for i, item in enumerate(tree)]
        return _rebuild(tree, mapped)
    for other in others:
        if is_node(other):
            _mismatch(path, tree, other)
    return fn(tree, *others)


def _rebuild(node: Any, children: list[Any]) -> Any:
    """A node of ``node``'s type (and keys) holding ``children``."""
    if isinstance(node, defaultdict):
        return defaultdict(node.default_factory, zip(node, children))
    if isinstance(node, dict):
        return type(node)(zip(node, children))
    return type(node)(*children) if is_namedtuple(node) else type(node)(children)


def _describe(x: Any) -> str:
    if isinstance(x, dict):
        return f"a dict with keys {list(x)}"
    if isinstance(x, (list, tuple)):
        return f"a {type(x).__name__} of {len(x)}"
    return f"a leaf ({type(x).__name__})"


def _mismatch(path: str, tree: Any, other: Any) -> NoReturn:
    raise InvalidArgumentError(
        f"map_leaves: the trees differ in structure at {path or 'the root'}: "
        f"{_describe(tree)} against {_describe(other)}"
    )
