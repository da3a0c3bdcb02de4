"""The sessions a baseline was made from: a rolling window per GPU and model.

A wall-clock figure moves far more *between* sessions (processes, machines) than within one, so the
gate can only judge a wall-clock change against the spread of whole sessions. A baseline therefore
keeps, beside its merged figures, one entry per session it was made from: the session's date,
commit and versions, and the median of every gated metric. ``--qb-update-baseline`` adds the new
session to the window (the oldest leaves past ``WINDOW`` entries) instead of replacing the file,
so every update adds evidence; ``calibrate`` writes a fresh window from the sessions it is given.
The merged figures are recomputed from the window each time (``calibrate.merge_sessions``): the
median of the session medians, with the 95 % prediction interval for one more session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from quantbench.catalog import gated, spec
from quantbench.results import CaseResult, Metric

WINDOW = 10  # sessions an update keeps (asv and Bencher keep a history per machine likewise)
_ENV_KEYS = ("gpu", "driver", "cuda", "host_cpu", "launch_overhead_us", "versions")

Medians = dict[str, dict[str, dict[str, float]]]  # case_key -> method -> metric -> median


@dataclass(frozen=True)
class Entry:
    """One session in a baseline's window: when and with what it ran, and its medians."""

    date: str
    commit: str | None
    environment: dict[str, Any]
    medians: Medians

    def to_dict(self) -> dict[str, Any]:
        return {"date": self.date, "commit": self.commit, "environment": self.environment,
                "results": self.medians}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        return cls(str(data.get("date") or ""), data.get("commit"), dict(data.get("environment") or {}),
                   {c: {m: dict(v) for m, v in by.items()} for c, by in data["results"].items()})

    def metrics(self) -> dict[tuple[str, str], dict[str, Metric]]:
        """The entry's medians as metrics by (case key, method), with no spread: exact for
        counts and memory, otherwise of ``sessions`` stop (their noise is the window's spread)."""
        return {(case_key, method): {n: _metric(n, v) for n, v in values.items()}
                for case_key, by_method in self.medians.items() for method, values in by_method.items()}

    def as_results(self, like: dict[tuple[str, str], CaseResult]) -> list[CaseResult]:
        """The entry as case results carrying ``metrics()``; ``like`` supplies each case's
        scenario and dtype when known."""
        out = []
        for (case_key, method), metrics in self.metrics().items():
            mode, _, case = case_key.partition("/")
            shape = like.get((case_key, method))
            out.append(CaseResult(shape.scenario if shape else "", mode, case, method,
                                  shape.dtype if shape else "", metrics))
        return out


def _metric(name: str, value: float) -> Metric:
    s = spec(name)
    if s.kind in ("count", "memory"):
        return Metric.exact(name, s.unit, value, higher_is_better=s.higher_is_better)
    return Metric(name, s.unit, value, value, value, 1, s.higher_is_better, None, "sessions")


def entry(environment: dict[str, Any], results: Sequence[CaseResult]) -> Entry:
    """The window entry of one session: its gated medians, date, commit and versions."""
    medians: Medians = {}
    for r in results:
        kept = {n: m.median for n, m in r.metrics.items() if gated(n)}
        if kept:
            medians.setdefault(r.case_key, {})[r.method] = kept
    env = {k: environment[k] for k in _ENV_KEYS if environment.get(k) is not None}
    return Entry(str(environment.get("date") or ""), environment.get("commit"), env, medians)


def evidence(entries: Sequence[Entry], case_key: str, method: str, name: str) -> list[float]:
    """The session medians the window holds for one metric, oldest first."""
    return [e.medians[case_key][method][name] for e in entries
            if name in e.medians.get(case_key, {}).get(method, {})]


def evidence_by_row(entries: Sequence[Entry], mode: str, name: str) -> list[list[float]]:
    """The session medians of one metric for every (case, method) row of one mode, a list per
    row: what ``stats.pooled_spread`` pools."""
    rows: dict[tuple[str, str], list[float]] = {}
    for e in entries:
        for case_key, by_method in e.medians.items():
            if case_key.partition("/")[0] == mode:
                for method, values in by_method.items():
                    if name in values:
                        rows.setdefault((case_key, method), []).append(values[name])
    return list(rows.values())
