"""The layers of bridge's import graph: ``python .ci/import_layers.py [ROOT]``.

Reads every module of ``bridge/`` with ``ast`` (nothing is imported) and takes the imports a
module runs when it is imported: those at module level and in class bodies, not those inside
functions nor under ``if TYPE_CHECKING:``, and of them those of bridge modules (a lazy import
of an optional third-party package is another matter). Importing ``bridge.a.b`` from outside the package
``bridge.a`` also runs ``bridge/a/__init__.py``, so that counts as importing ``bridge.a`` too.

Prints the modules layer by layer (layer 0 imports no bridge module; layer n imports only lower
layers) and exits with status 1 on an import cycle, or on a function-local import unless a
trailing ``# import cycle: <why>`` marks it as breaking a cycle that really exists (the module it
imports reaches the importing module). ``ROOT`` is the folder holding ``bridge/`` (by default
this repository).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = "bridge"
MARKER = "# import cycle:"


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The bridge modules an import statement in ``module`` names."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        # ``from pkg import name``: the submodule ``pkg.name``, else an attribute of ``pkg``
        names = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in known else prefix for a in node.names]
    found = set()
    for name in names:
        while name and name not in known:  # ``import bridge.a.b.attr``: the module is bridge.a.b
            name = name.rpartition(".")[0]
        if name.split(".")[0] == PACKAGE:
            found.add(name)
    return found


def with_parents(targets: set[str], module: str) -> set[str]:
    """Add the packages whose ``__init__`` an import runs: those not already above ``module``."""
    out = set(targets)
    for target in targets:
        parts = target.split(".")
        for i in range(1, len(parts)):
            name = ".".join(parts[:i])
            if not (module == name or module.startswith(name + ".")):
                out.add(name)
    return out


def walk(body: list[ast.stmt], in_function: bool):
    """Yield (import node, inside a function) for the statements of ``body``, recursively."""
    for stmt in body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            yield stmt, in_function
        elif isinstance(stmt, ast.If) and is_type_checking(stmt.test):
            yield from walk(stmt.orelse, in_function)
        else:
            inner = in_function or isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef))
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                for child in getattr(stmt, field, []):
                    block = child.body if isinstance(child, (ast.ExceptHandler, ast.match_case)) else [child]
                    yield from walk(block, inner)


def read_graph(root: Path):
    paths = {module_name(p, root): p for p in sorted((root / PACKAGE).rglob("*.py"))}
    known = set(paths)
    graph: dict[str, set[str]] = {}
    local: list[tuple[str, int, str, set[str], bool]] = []  # module, line, text, targets, marked
    for module, path in paths.items():
        source = path.read_text()
        lines = source.splitlines()
        graph[module] = set()
        for node, in_function in walk(ast.parse(source).body, False):
            targets = with_parents(imported(node, module, path.name == "__init__.py", known), module)
            targets.discard(module)
            if not in_function:
                graph[module] |= targets
            elif targets:
                text = lines[node.lineno - 1]
                local.append((module, node.lineno, text.strip(), targets, MARKER in text))
    return paths, graph, local


def reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, stack = set(), [start]
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            stack.extend(graph[node])
    return False


def find_cycle(graph: dict[str, set[str]], nodes: set[str]) -> list[str]:
    """One cycle among ``nodes`` (each of which lies on or above a cycle)."""
    node, path = min(nodes), []
    while node not in path:
        path.append(node)
        node = min(dep for dep in graph[node] if dep in nodes)
    return path[path.index(node) :] + [node]


def main(root: Path) -> int:
    paths, graph, local = read_graph(root)
    layers: list[list[str]] = []
    placed: dict[str, int] = {}
    while len(placed) < len(graph):
        layer = sorted(m for m in graph if m not in placed and graph[m] <= placed.keys())
        if not layer:
            break
        for m in layer:
            placed[m] = len(layers)
        layers.append(layer)
    for number, layer in enumerate(layers):
        print(f"layer {number}: {', '.join(layer)}")
    problems = []
    rest = set(graph) - placed.keys()
    if rest:
        problems.append("import cycle: " + " -> ".join(find_cycle(graph, rest)))
    for module, line, text, targets, marked in local:
        where = f"{paths[module].relative_to(root)}:{line}: {text}"
        real = any(reaches(graph, target, module) for target in targets)
        if not marked:
            problems.append(
                f"{where}: function-local import; import it at module level "
                f"(or mark it '{MARKER} <why>' if it breaks a real cycle)"
            )
        elif not real:
            problems.append(f"{where}: marked as breaking a cycle, but no cycle: import it at module level")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent))
