"""The package's import graph has no circle, read from the source with ``ast`` (nothing is imported).

An edge A -> B is a module-level import of quantbench's own module B by A: statements that run when A is
imported (top level, class bodies, ``try``/``if`` blocks), but not those inside a function, which run later, and not
those under ``if TYPE_CHECKING:``, which never run. A circle among the module-level edges is what makes an import
order matter; the imports inside functions are listed by ``deferred_imports`` so they stay visible.
"""

from __future__ import annotations

import ast

from import_graph import split_imports, import_targets, with_packages, cycles, graph


def test_graph_reads_the_whole_package():
    eager, _ = graph()
    assert "quantbench.exits" in eager
    assert "quantbench.plugin" in eager
    assert any(eager.values()), "no import read at all: the parser is broken"


def test_cycles_finds_a_planted_circle():
    planted = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(planted) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_function_and_type_checking_imports_are_not_module_level():
    tree = ast.parse(
        "import quantbench.exits\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from quantbench import files\n"
        "def f():\n    from quantbench import session\n")
    eager, deferred = split_imports(tree)
    assert [type(s).__name__ for s in eager] == ["Import", "ImportFrom"]
    assert len(deferred) == 1 and deferred[0].module == "quantbench"


def test_relative_imports_resolve_to_modules():
    known = {"quantbench", "quantbench.run", "quantbench.run.stats", "quantbench.files"}
    stmt = ast.parse("from . import stats\nfrom ..files import x\nfrom .. import files\n").body
    assert import_targets(stmt[0], "quantbench.run.timing", False, known) == {"quantbench.run.stats"}
    assert import_targets(stmt[1], "quantbench.run.timing", False, known) == {"quantbench.files"}
    assert import_targets(stmt[2], "quantbench.run", True, known) == {"quantbench.files"}


def test_no_import_circle():
    eager, _ = graph()
    found = cycles(eager)
    lines = ["  " + " <-> ".join(c) for c in found]
    assert not found, "import circles among module-level imports:\n" + "\n".join(lines)


def test_no_circle_hides_in_a_function():
    """An import inside a function may stay there to keep a heavy optional dependency lazy, but not to
    dodge a circle: the graph with those imports added has none either (``deferred_imports`` lists them)."""
    eager, deferred = graph()
    both = {m: eager[m] | deferred[m] for m in eager}
    found = cycles(both)
    assert not found, "circles through imports inside functions:\n" + "\n".join("  " + " <-> ".join(c) for c in found)


def test_importing_a_submodule_runs_its_package_first():
    known = {"quantbench", "quantbench.sources", "quantbench.sources.model", "quantbench.methods.base",
             "quantbench.methods"}
    assert with_packages({"quantbench.sources.model"}, "quantbench.methods.base", known) == {
        "quantbench.sources", "quantbench.sources.model"}
    assert with_packages({"quantbench.sources.model"}, "quantbench.sources.resolve", known) == {
        "quantbench.sources.model"}
