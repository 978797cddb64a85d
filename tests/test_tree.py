"""``bridge.tree``: the one pytree walker (lists, tuples, namedtuples, dicts; other values are leaves)."""

from __future__ import annotations

import collections

import pytest

import bridge as br
from bridge import tree

Point = collections.namedtuple("Point", "x y")


def test_leaves_come_depth_first_with_dicts_in_insertion_order():
    nested = [1, (2, Point(3, None)), {"b": 4, "a": [5]}]
    assert tree.leaves(nested) == [1, 2, 3, None, 4, 5]
    assert tree.leaves(7) == [7] and tree.leaves([]) == [] and tree.leaves({}) == []
    assert tree.leaves({1: "int key", "s": "str key"}) == ["int key", "str key"]  # keys need not sort


def test_leaves_with_paths_read_as_indexing():
    nested = [{"a": 1}, Point(x=2, y=(3,))]
    assert tree.leaves_with_paths(nested) == [("[0]['a']", 1), ("[1].x", 2), ("[1].y[0]", 3)]
    assert tree.leaves_with_paths(5, "result") == [("result", 5)]


def test_map_leaves_keeps_every_node_type():
    nested = {"p": Point(1, 2), "l": [3, (4,)], "o": collections.OrderedDict(z=5)}
    mapped = tree.map_leaves(lambda v: v * 10, nested)
    assert mapped == {"p": Point(10, 20), "l": [30, (40,)], "o": collections.OrderedDict(z=50)}
    assert type(mapped["p"]) is Point and type(mapped["o"]) is collections.OrderedDict
    assert list(mapped) == ["p", "l", "o"]
    counts = collections.defaultdict(list, {"a": 1})
    assert tree.map_leaves(str, counts).default_factory is list


def test_map_leaves_over_several_trees_matches_dicts_by_key():
    first = {"a": 1, "b": [2, 3]}
    second = {"b": (20, 30), "a": 10}  # other key order, a tuple where first has a list
    assert tree.map_leaves(lambda u, v: u + v, first, second) == {"a": 11, "b": [22, 33]}


@pytest.mark.parametrize(
    "other, message",
    [
        ({"a": 1}, r"at the root: a dict with keys \['a', 'b'\] against a dict with keys \['a'\]"),
        ({"a": 1, "b": [2]}, r"at \['b'\]: a list of 2 against a list of 1"),
        ({"a": [1], "b": [2, 3]}, r"at \['a'\]: a leaf \(int\) against a list of 1"),
    ],
)
def test_map_leaves_refuses_trees_of_another_structure(other, message):
    with pytest.raises(br.InvalidArgumentError, match=message):
        tree.map_leaves(lambda u, v: u, {"a": 1, "b": [2, 3]}, other)


def test_replace_leaves_in_order_and_checks_the_count():
    assert tree.replace_leaves([1, {"k": Point(2, 3)}], ["a", "b", "c"]) == ["a", {"k": Point("b", "c")}]
    with pytest.raises(br.InvalidArgumentError, match="the tree has 2 leaves, got 3"):
        tree.replace_leaves((1, 2), [1, 2, 3])
