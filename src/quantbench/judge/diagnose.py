"""What failed, by (case, method): the rows of one verdict kind, the one a line leads with, and
which family of work moved (``report.what_moved`` says it in one line).

What moved is read from the metric families of the catalog: GPU work (device time, kernels),
host work (launches, Python calls, synchronisations, copies, allocations), the wall clock,
memory, or the outputs (quality). A wall-clock lead whose case and method held their device
figures and counters moved *only* the wall clock: the machine or the host path, not the work done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from quantbench.catalog import SPECS, spec
from quantbench.judge.compare import FAILING, PASS, Row

CATALOG_ORDER = {name: i for i, name in enumerate(SPECS)}  # a tie's lead: the catalog's order
# The family a line leads with, when several moved: the one nearest the cause first.
LEAD_ORDER = ("gpu", "host", "memory", "quality", "wall", "info")


@dataclass(frozen=True)
class Diagnosis:
    """The rows of one verdict kind in one (case, method), the one its line shows first, the
    family that moved (the lead's), and whether the wall clock moved alone (device time and
    work counters of that case and method passed)."""

    case_key: str
    method: str
    rows: tuple[Row, ...]
    lead: Row
    family: str
    wall_only: bool = False


def _worst(rows: list[Row]) -> Row:
    """The row that moved most (its change furthest below zero; + = better in ``Row.change``);
    on a tie the catalog's order decides (synchronisations before the copies they bring)."""
    return min(rows, key=lambda r: (r.change if r.change is not None else 0.0,
                                    CATALOG_ORDER.get(r.metric, len(CATALOG_ORDER))))


def diagnose(rows: Iterable[Row], verdicts: tuple[str, ...] = FAILING) -> list[Diagnosis]:
    """One ``Diagnosis`` per (case, method) with a row of ``verdicts``, in the rows' order."""
    rows = list(rows)
    picked: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        if row.verdict in verdicts:
            picked.setdefault((row.case_key, row.method), []).append(row)
    out = []
    for (case_key, method), bad in picked.items():
        families = {spec(r.metric).family for r in bad}
        lead_family = next(f for f in (*LEAD_ORDER, *sorted(families)) if f in families)
        lead = _worst([r for r in bad if spec(r.metric).family == lead_family])
        wall_only = lead_family == "wall" and any(
            (r.case_key, r.method) == (case_key, method) and r.verdict == PASS
            and spec(r.metric).family in ("gpu", "host") for r in rows)
        out.append(Diagnosis(case_key, method, tuple(bad), lead, lead_family, wall_only))
    return out
