"""The size map's answer at a glance: for each mode and case, one row per method and one column per
model size, each cell the end-to-end ratio to FP16 (with its paired interval where interleaved)
beside the kernel-level one, so where a method pays, and where only its kernels do, reads across.

It draws only from the map's rows (``report.sweep_map.MapRow``), so a findings table copied from
``map.md`` carries the session's figures and nothing retyped, and from the sessions' failures, so
a method that failed at a size reads "failed" there, not "not run" (the sessions table says why).
"""

from __future__ import annotations

from typing import Any, Sequence

from quantbench.catalog import REFERENCE_METHOD

NOT_RUN = "not run"
FAILED = "failed"
NO_REFERENCE = f"no {REFERENCE_METHOD}"  # a size whose sessions had no reference case


def billions(parameters: int | None) -> str:
    """A parameter count as the map writes it: ``0.49B``, ``135.0M``, ``?`` when unknown."""
    if not parameters:
        return "?"
    return f"{parameters / 1e9:.2f}B" if parameters >= 1e8 else f"{parameters / 1e6:.1f}M"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A markdown table's lines: the header, its rule, one line per row."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in rows)]


def cell(row: Any) -> str:
    """``**e2e** (low–high) / kernel``: the end-to-end ratio in bold, its paired interval when
    there is one, then the kernel-level ratio ("-" where either was not measured)."""
    if not row.has_reference:
        return NO_REFERENCE
    e2e = "-" if row.e2e_ratio is None else f"**{row.e2e_ratio:.2f}**"
    if row.e2e_paired and row.e2e_low is not None and row.e2e_high is not None:
        e2e += f" ({row.e2e_low:.2f}–{row.e2e_high:.2f})"
    kernel = "-" if row.kernel_ratio is None else f"{row.kernel_ratio:.2f}"
    return f"{e2e} / {kernel}"


def failed_methods(runs: Sequence[Any]) -> set[tuple[str, str, str]]:
    """(model, mode, method) for each method a session's record says failed, in each mode that
    session measured (``report.sweep_map.ModelRun``)."""
    return {(run.model, mode, method) for run in runs if run.session
            for mode in {r.mode for r in run.session.results} for method in run.session.failures}


def pay_tables(rows: Sequence[Any], failed: set[tuple[str, str, str]] = frozenset()) -> list[str]:
    """Markdown lines: one method × size table per (mode, case), methods in the map's order;
    ``failed`` (``failed_methods``) marks the cells of methods that failed there."""
    lines: list[str] = []
    groups: dict[tuple[str, str], list[Any]] = {}
    for row in rows:
        groups.setdefault((row.mode, row.case), []).append(row)
    for (mode, case), group in groups.items():
        sizes: dict[str, int] = {}
        for row in sorted(group, key=lambda r: r.parameters or 0):
            sizes.setdefault(row.model, row.parameters or 0)
        methods = list(dict.fromkeys([*(r.method for r in group if r.method != REFERENCE_METHOD),
                                      *(m for model, md, m in sorted(failed) if md == mode and model in sizes)]))
        if not methods:
            continue
        by_key: dict[tuple[str, str], list[Any]] = {}
        for row in group:  # a method measured in two sessions of one size shows both
            by_key.setdefault((row.method, row.model), []).append(row)
        header = ["Method", *(billions(p) if p else m for m, p in sizes.items())]
        table = [[method, *("; ".join(cell(r) for r in by_key[(method, m)]) if (method, m) in by_key
                            else FAILED if (m, mode, method) in failed else NOT_RUN for m in sizes)]
                 for method in methods]
        lines += ["", f"### {mode}, {case}", "", *markdown_table(header, table)]
    if not lines:
        return []
    return ["", "## Where each method pays", "",
            f"Each cell: **end to end × {REFERENCE_METHOD}** (paired 95 % interval where interleaved) / "
            f"kernel time per decode token × {REFERENCE_METHOD}; higher is faster.", *lines]
