"""Griffe extensions for the API reference (mkdocs.yml, plugins: mkdocstrings).

``CommentDocstrings``: bridge documents constants and class attributes with ``#:`` comments
above them (the Sphinx convention); Griffe reads only a string after an attribute, so this
extension makes those comments the attributes' docstrings.

``FactoryOps``: ``bridge/ops/math.py`` makes most elementwise ops with factories
(``add = _binary("add", "arith", "Elementwise ``x1 + x2``.")``), which set each function's name and
docstring at run time. Griffe reads the source without running it, so it would list them as bare
module attributes without a docstring. This extension turns each such attribute into the
function it becomes, with the factory's signature and the docstring given to the factory.
"""

from __future__ import annotations

import ast
from typing import Any

import griffe

# factory name -> the parameters of the functions it makes
FACTORIES = {"_binary": ("x1", "x2"), "_unary": ("x",)}


class FactoryOps(griffe.Extension):
    def on_module_members(self, *, node: Any, mod: griffe.Module, agent: Any, **kwargs: Any) -> None:
        for name, member in list(mod.members.items()):
            if not isinstance(member, griffe.Attribute) or not isinstance(member.value, griffe.ExprCall):
                continue
            value = member.value
            factory = str(value.function)
            if factory not in FACTORIES or len(value.arguments) < 3:
                continue
            doc = ast.literal_eval(str(value.arguments[2]))
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
