"""The package's import graph, read from the source with ``ast`` (nothing is imported), for the
tests that hold it: no circle (``test_import_graph``) and no upward import (``test_layers``).

An edge A -> B is an import of quantbench's own module B by A; ``graph`` gives the module-level
ones (statements that run when A is imported: top level, class bodies, ``try``/``if`` blocks)
and, apart, those inside a function, which run later; those under ``if TYPE_CHECKING:`` never
run and are not edges.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "quantbench"
ROOT = Path(__file__).resolve().parents[2] / "src" / PACKAGE


def module_names() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name, from its ``__init__.py``)."""
    names = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def split_imports(tree: ast.Module) -> tuple[list[ast.stmt], list[ast.stmt]]:
    """The import statements of a module, split into (run at import time, deferred into a function)."""
    eager: list[ast.stmt] = []
    deferred: list[ast.stmt] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for stmt in child.orelse:
                    visit_stmt(stmt, in_function)
                continue
            visit_stmt(child, in_function)

    def visit_stmt(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            (deferred if in_function else eager).append(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            visit(node, True)
        else:
            visit(node, in_function)

    visit(tree, False)
    return eager, deferred


def import_targets(stmt: ast.stmt, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The package's own modules that one import statement loads."""
    found: set[str] = set()
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            if alias.name in known:
                found.add(alias.name)
        return found
    assert isinstance(stmt, ast.ImportFrom)
    if stmt.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (stmt.level - 1)]
        source = ".".join(base + ([stmt.module] if stmt.module else []))
    else:
        source = stmt.module or ""
    if source.split(".")[0] != PACKAGE:
        return found
    for alias in stmt.names:
        sub = f"{source}.{alias.name}"
        if sub in known:
            found.add(sub)
        elif source in known:
            found.add(source)
    return found


def with_packages(targets: set[str], module: str, known: set[str]) -> set[str]:
    """``targets`` and the packages above them that importing them runs first (``a.b.c`` runs
    ``a/b/__init__.py``), less the packages that already hold ``module``, which run before it."""
    own = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 2)}
    out = set(targets)
    for target in targets:
        parts = target.split(".")
        out |= {".".join(parts[:i]) for i in range(1, len(parts))} & known
    return out - (own - {module}) - {PACKAGE}


def graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(module-level edges, deferred edges) of the package's own modules."""
    names = module_names()
    known = set(names)
    eager_edges: dict[str, set[str]] = {}
    deferred_edges: dict[str, set[str]] = {}
    for module, path in names.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        eager, deferred = split_imports(tree)
        eager_edges[module] = with_packages({t for s in eager for t in import_targets(s, module, is_package, known)},
                                             module, known) - {module}
        deferred_edges[module] = with_packages(
            {t for s in deferred for t in import_targets(s, module, is_package, known)}, module, known) - {module}
    return eager_edges, deferred_edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of more than one module (Tarjan), each sorted: every import circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            part = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                part.append(top)
                if top == node:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return found


def deferred_imports() -> list[str]:
    """Each module's imports of the package's own modules made inside functions, one line each."""
    _, deferred = graph()
    return [f"{m} -> {', '.join(sorted(t))}" for m, t in sorted(deferred.items()) if t]
