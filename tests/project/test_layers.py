"""The package's layers hold: a module imports only modules of its own layer or of lower ones.

From the bottom up: records and the other leaves everything stands on (results, session, files,
validate, exits, catalog, stats, with compat, env, merge, device_memory and interrupts, which import nothing
above them), then config, then model sources and methods, then run (measuring), then what judges
and keeps the measurements (judge: the session gate; store: baselines and their windows; ab: the
same-host A/B; history: trends), then report (all the words and charts), and at the top what
pytest and the command line call (plugin, commands, testing). Data flows one
way (docs/methods.md): a lower layer that imports a higher one is a layer turned upside down, even
when no import circle closes. The edges are ``import_graph``'s, read from the source with
``ast``: module-level imports and those inside functions (both run), not those under
``if TYPE_CHECKING:`` (never run).
"""

from __future__ import annotations

from pathlib import Path

from import_graph import PACKAGE, graph, module_names

LAYERS: tuple[tuple[str, ...], ...] = (
    ("results", "session", "files", "validate", "exits", "catalog", "stats",
     "compat", "env", "merge", "device_memory", "interrupts"),
    ("config",),
    ("sources", "methods"),
    ("run",),
    ("judge", "store", "ab", "history"),
    ("report",),
    ("plugin", "commands", "testing", "__main__"),
)


def layer_of(module: str, layers: tuple[tuple[str, ...], ...] = LAYERS) -> int | None:
    """The layer index of a module by its first name below the package (``quantbench`` itself:
    0, it imports nothing); ``None`` for a module no layer names."""
    parts = module.split(".")
    if parts == [PACKAGE]:
        return 0
    for index, names in enumerate(layers):
        if parts[1] in names:
            return index
    return None


def violations(edges: dict[str, set[str]], layers: tuple[tuple[str, ...], ...] = LAYERS) -> list[str]:
    """``a -> b (layer i -> j)`` for every import of a higher layer's module, sorted."""
    found = []
    for module, targets in sorted(edges.items()):
        own = layer_of(module, layers)
        for target in sorted(targets):
            theirs = layer_of(target, layers)
            if own is not None and theirs is not None and theirs > own:
                found.append(f"{module} -> {target} (layer {own} imports layer {theirs})")
    return found


def test_every_module_has_a_layer():
    unplaced = sorted(m for m in module_names() if layer_of(m) is None)
    assert not unplaced, "modules in no layer (name their place in LAYERS): " + ", ".join(unplaced)


def test_a_planted_upward_import_is_found():
    layers = (("low",), ("high",))
    edges = {"quantbench.low.a": {"quantbench.high.b"}, "quantbench.high.b": {"quantbench.low.c"},
             "quantbench.low.c": {"quantbench.low.a"}}
    assert violations(edges, layers) == ["quantbench.low.a -> quantbench.high.b (layer 0 imports layer 1)"]


def test_the_judging_packages_sit_between_run_and_report():
    """The gate, the store, the A/B and the history read measurements and are read by report:
    one of them importing report (the words) or report's readers is found."""
    for name in ("judge", "store", "ab", "history"):
        assert layer_of("quantbench.run.x") < layer_of(f"quantbench.{name}.x") < layer_of("quantbench.report.x")
    edges = {"quantbench.store.baseline": {"quantbench.report.tables"},
             "quantbench.history.trend": {"quantbench.judge.compare", "quantbench.plugin"}}
    assert violations(edges) == [
        "quantbench.history.trend -> quantbench.plugin (layer 4 imports layer 6)",
        "quantbench.store.baseline -> quantbench.report.tables (layer 4 imports layer 5)"]


def test_no_module_imports_a_higher_layer():
    eager, deferred = graph()
    both = {m: eager[m] | deferred[m] for m in eager}
    found = violations(both)
    assert not found, "imports that go up the layers:\n" + "\n".join("  " + line for line in found)


# Test folders that hold no package of their own: the top-level modules (core), the repository
# (project), the lab's scripts (lab) and the plugins test sessions load (plugins).
TEST_FOLDERS_BEYOND_PACKAGES = {"core", "project", "lab", "plugins"}


def test_the_tests_are_laid_out_like_the_package() -> None:
    """Each folder under tests/ is one of the package's subpackages or a named extra, and no test
    file sits at the top: a newcomer finds a module's tests where the module is."""
    tests = Path(__file__).resolve().parents[1]
    package = tests.parent / "src" / PACKAGE
    subpackages = {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}
    folders = {p.name for p in tests.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    assert folders - subpackages - TEST_FOLDERS_BEYOND_PACKAGES == set()
    assert sorted(p.name for p in tests.glob("test_*.py")) == []
