"""tools/griffe_bridge.py, the Griffe extensions the API reference is built with: a factory op's
docstring is read from its third argument or ``doc=``; a docstring Griffe cannot know without
running the module (an f-string, a name) leaves the attribute bare instead of failing the build."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import griffe  # installed with the docs extra, which dev includes

TOOL = Path(__file__).resolve().parents[1] / "tools" / "griffe_bridge.py"

SOURCE = """
WORD = "late"

add = _binary("add", "arith", "Elementwise ``x1 + x2``.")
negative = _unary("negative", kind="numeric", doc="Elementwise ``-x``.")
later = _binary("later", "arith", f"A {WORD} docstring.")
named = _unary("named", "float", WORD)
keyword_fstring = _unary("keyword_fstring", "float", doc=f"{WORD}")
short = _binary("short", "arith")
starred = _binary(*("starred", "arith", "doc"))
"""


def test_factory_docstrings_are_read_where_they_are_literals(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("griffe_bridge", TOOL)
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    (tmp_path / "factories.py").write_text(SOURCE)
    module = griffe.load(
        "factories", search_paths=[tmp_path], extensions=griffe.load_extensions(tool.FactoryOps)
    )
    add, negative = module.members["add"], module.members["negative"]
    assert isinstance(add, griffe.Function) and add.docstring.value == "Elementwise ``x1 + x2``."
    assert [p.name for p in add.parameters] == ["x1", "x2"]
    assert isinstance(negative, griffe.Function) and negative.docstring.value == "Elementwise ``-x``."
    for bare in ("later", "named", "keyword_fstring", "short", "starred"):
        assert isinstance(module.members[bare], griffe.Attribute), bare
