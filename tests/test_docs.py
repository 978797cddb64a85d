"""Every Python code block of the documentation and the README runs, once per backend, so the docs
cannot go stale.

Each page is one test per backend: its Python blocks run in order in one namespace (a page is a
story whose blocks build on each other), under ``br.use_backend(backend)``, in a scratch folder.
A traceback points at the page's own line. Comments steer it, each on the line just before what it
steers:

- ``<!-- docs: output -->`` before a ``text`` block: the block is what the Python block before it
  prints, compared line by line (trailing spaces aside).
- ``<!-- docs: only torch -->`` before a Python block: it runs on that backend only (code that is
  about one framework, such as a torch ``DataLoader``).
- ``<!-- docs: needs torch tensorflow -->`` anywhere: the page uses these frameworks itself, and is
  left out (like any ``needs`` test) where one is not installed.

Why a parametrized test of our own rather than pytest-markdown-docs or Sybil: those run each block
in isolation, or need a parser setup per backend, while here a page runs per backend like every
other test of the suite, with the same ``needs`` deselection, in about 80 lines and no dependency.
Shell blocks are commands, not Python: the README's two commands are what ``.ci/run`` runs, and
the ``python -m bridge`` ones are run by tests/test_cli.py.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import textwrap
import types
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import bridge as br

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BACKENDS = ("torch", "tensorflow")
FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
DIRECTIVE = re.compile(r"<!--\s*docs:\s*(.*?)\s*-->")


@dataclass
class Block:
    language: str
    line: int  # 1-based line of the block's first code line
    code: str
    directives: list[str] = field(default_factory=list)


def read_blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a markdown page, with the directive comment just before each."""
    blocks: list[Block] = []
    lines = page.read_text().splitlines()
    index, pending = 0, []
    while index < len(lines):
        line = lines[index]
        fence = FENCE.match(line)
        if fence is None:
            if line.strip():
                pending = DIRECTIVE.findall(line)
            index += 1
            continue
        indent, marker, language = fence.groups()
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(marker):
            end += 1
        body = [text[len(indent) :] if text.startswith(indent) else text for text in lines[index + 1 : end]]
        blocks.append(Block(language.lower(), index + 2, textwrap.dedent("\n".join(body)), pending))
        index, pending = end + 1, []
    return blocks


def page_needs(page: Path) -> list[str]:
    words = [d.split()[1:] for d in DIRECTIVE.findall(page.read_text()) if d.startswith("needs")]
    return [module for group in words for module in group]


def run_page(page: Path, backend: str) -> None:
    # A real module, importable while the page runs: torch.compile imports the module named by
    # the globals of a function it traces (a page's function under br.jit).
    module = types.ModuleType("__docs__")
    sys.modules[module.__name__] = module
    try:
        _run_blocks(page, backend, module.__dict__)
    finally:
        del sys.modules[module.__name__]


def _run_blocks(page: Path, backend: str, namespace: dict[str, object]) -> None:
    printed: str | None = ""
    for block in read_blocks(page):
        only = [d.split()[1] for d in block.directives if d.startswith("only")]
        if block.language in ("python", "py") and (not only or backend in only):
            buffer = io.StringIO()
            # Blank lines in front keep the page's line numbers in tracebacks.
            code = compile("\n" * (block.line - 1) + block.code, str(page), "exec")
            with contextlib.redirect_stdout(buffer), br.use_backend(backend):
                exec(code, namespace)
            printed = buffer.getvalue()
        elif block.language in ("python", "py"):
            printed = None  # a block for another backend: no output to compare with
        elif "output" in block.directives:
            assert printed is not None, f"{page}:{block.line}: an output block after a block that did not run"
            shown = [line.rstrip() for line in printed.rstrip().splitlines()]
            expected = [line.rstrip() for line in block.code.rstrip().splitlines()]
            assert shown == expected, f"{page}:{block.line}: the block above prints something else"


@pytest.mark.parametrize(
    ("page", "backend"),
    [
        pytest.param(page, backend, marks=pytest.mark.needs(backend, *page_needs(page)))
        for page in PAGES
        for backend in BACKENDS
    ],
    ids=lambda value: str(value.relative_to(ROOT)) if isinstance(value, Path) else value,
)
def test_every_code_block_runs(page: Path, backend: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    default = br.get_backend()
    try:
        run_page(page, backend)
    finally:
        br.set_backend(default)


def test_the_reader_finds_the_blocks_and_directives(tmp_path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# t\n\n<!-- docs: only torch -->\n```python\nprint(1)\n```\n\n<!-- docs: output -->\n"
        "```text\n1\n```\n\n!!! note\n    ```py\n    x = 2\n    ```\n"
    )
    blocks = read_blocks(page)
    assert [(b.language, b.line, b.code, b.directives) for b in blocks] == [
        ("python", 5, "print(1)", ["only torch"]),
        ("text", 10, "1", ["output"]),
        ("py", 15, "x = 2", []),
    ]


def test_a_wrong_output_block_fails(tmp_path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```python\nprint(2)\n```\n<!-- docs: output -->\n```text\n3\n```\n")
    with pytest.raises(AssertionError, match="prints something else"):
        run_page(page, "numpy")


def test_a_failing_block_reports_the_page_line(tmp_path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# t\n\n```python\nx = 1\nraise ValueError('boom')\n```\n")
    with pytest.raises(ValueError, match="boom") as raised:
        run_page(page, "numpy")
    assert raised.traceback[-1].lineno + 1 == 5


def test_an_output_block_after_a_block_of_another_backend_fails(tmp_path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nprint(1)\n```\n<!-- docs: only torch -->\n```python\nprint(2)\n```\n"
        "<!-- docs: output -->\n```text\n1\n```\n"
    )
    with pytest.raises(AssertionError, match="did not run"):
        run_page(page, "numpy")
