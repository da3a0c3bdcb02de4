"""Where a session's time went: each load, warm-up, measuring and quality phase, per method.

The runner appends one ``TimeEntry`` per phase; ``time_breakdown`` sums them into what the
session record keeps (loading, model work and the share of wall time spent outside both, which
is the harness's own overhead).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable

PHASES = ("start", "prepare", "load", "warmup", "measure", "compile", "profile", "quality", "bandwidth")
# "start": from pytest's configure to the runner's first line (imports of torch and the model
# libraries, collection): the libraries' cost, like loading, and part of what a user waits for.
LOADING = ("start", "load", "prepare")


@dataclass
class TimeEntry:
    method: str
    phase: str  # one of PHASES
    seconds: float


def time_breakdown(entries: Iterable[TimeEntry], wall: float) -> dict[str, Any]:
    """Per-method seconds by phase, and the share of non-loading wall time spent outside model
    work (loading is excluded: it is the libraries' cost, not the harness's)."""
    per: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for entry in entries:
        per[entry.method][entry.phase] += entry.seconds
    load = sum(sum(p[k] for k in LOADING) for p in per.values())
    work = sum(v for p in per.values() for k, v in p.items() if k not in LOADING)
    outside = max(0.0, wall - load - work)
    share = outside / (wall - load) if wall > load else 0.0
    return {"wall_s": wall, "load_s": load, "work_s": work, "outside_s": outside,
            "outside_share": share, "per_method": {m: dict(p) for m, p in per.items()}}
