"""Griffe extensions for the API reference (mkdocs.yml, plugins: mkdocstrings).

``CommentDocstrings``: bridge documents constants and class attributes with ``#:`` comments
above them (the Sphinx convention); Griffe reads only a string after an attribute, so this
extension makes those comments the attributes' docstrings.

``FactoryOps``: ``bridge/ops/math.py`` makes most elementwise ops with factories
(``add = _binary("add", "arith", "Elementwise ``x1 + x2``.")``), which set each function's name and
docstring at run time. Griffe reads the source without running it, so it would list them as bare
module attributes without a docstring. This extension turns each such attribute into the
function it becomes, with the factory's signature and the docstring given to the factory (the
third argument or ``doc=``, where it is a string literal; others are left bare attributes).
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Any

import griffe

# factory name -> the parameters of the functions it makes
FACTORIES = {"_binary": ("x1", "x2"), "_unary": ("x",)}


def factory_doc(arguments: Sequence[Any]) -> str | None:
    """The docstring given to a factory: its keyword ``doc=`` or its third positional argument,
    where that is a string literal; None where there is none, or it is computed (an f-string, a
    name, a call), which Griffe cannot know without running the module."""
    keywords = {a.name: a.value for a in arguments if isinstance(a, griffe.ExprKeyword)}
    positional = [a for a in arguments if not isinstance(a, (griffe.ExprKeyword, griffe.ExprVarKeyword))]
    if "doc" in keywords:
        given = keywords["doc"]
    elif len(positional) >= 3 and not any(isinstance(a, griffe.ExprVarPositional) for a in positional[:3]):
        given = positional[2]
    else:
        return None
    try:
        doc = ast.literal_eval(str(given))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return doc if isinstance(doc, str) else None


class FactoryOps(griffe.Extension):
    def on_module_members(self, *, node: Any, mod: griffe.Module, agent: Any, **kwargs: Any) -> None:
        for name, member in list(mod.members.items()):
            if not isinstance(member, griffe.Attribute) or not isinstance(member.value, griffe.ExprCall):
                continue
            value = member.value
            factory = str(value.function)
            doc = factory_doc(value.arguments) if factory in FACTORIES else None
            if doc is None:
                continue  # left a bare attribute: the docs build goes on
            parameters = griffe.Parameters(
                *(
                    griffe.Parameter(p, annotation="Any", kind=griffe.ParameterKind.positional_or_keyword)
                    for p in FACTORIES[factory]
                )
            )
            function = griffe.Function(
                name,
                lineno=member.lineno,
                endlineno=member.endlineno,
                parameters=parameters,
                returns="Tensor",
                docstring=griffe.Docstring(doc, lineno=member.lineno),
            )
            mod.set_member(name, function)


class CommentDocstrings(griffe.Extension):
    def on_attribute_instance(self, *, node: Any, attr: griffe.Attribute, agent: Any, **kwargs: Any) -> None:
        lines = getattr(agent, "code", "").splitlines()  # the source of the module being visited
        if attr.docstring is not None or attr.lineno is None or not lines:
            return
        comment: list[str] = []
        index = attr.lineno - 2  # the line above the attribute, 0-based
        while index >= 0 and lines[index].lstrip().startswith("#:"):
            comment.insert(0, lines[index].lstrip()[2:].strip())
            index -= 1
        if comment:
            attr.docstring = griffe.Docstring(" ".join(comment), lineno=index + 2, parent=attr)
