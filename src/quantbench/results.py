"""The result records every other module shares: one metric, one bench case, one session.

Measurement produces these, reporting, baselines and comparison consume them. They are plain
frozen dataclasses with a dict form, so the same shape lands in pytest-benchmark's
``extra_info``, in the baseline JSON and in the reports.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from quantbench.catalog import current_mode


@dataclass(frozen=True)
class Metric:
    """One measured quantity: its median, the 95 % interval of that median and how it was got.

    ``stop`` says why sampling ended: ``converged`` (interval within the target), ``budget``
    (time budget spent), ``max_rounds``, ``fixed`` (a fixed-round scenario) or ``exact``
    (a count, not a timing, such as bytes of weights).
    """

    name: str
    unit: str
    median: float
    low: float
    high: float
    n: int
    higher_is_better: bool
    cv: float | None = None
    stop: str = "exact"
    approximate: bool = False

    @property
    def rel_halfwidth(self) -> float:
        """Half the interval's width relative to the median (0.02 means ±2 %)."""
        if self.median == 0:
            return 0.0
        return (self.high - self.low) / 2 / abs(self.median)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Metric:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def exact(cls, name: str, unit: str, value: float, *, higher_is_better: bool) -> Metric:
        """A value that is counted, not sampled: no spread."""
        return cls(name, unit, value, value, value, 1, higher_is_better, 0.0, "exact")


@dataclass(frozen=True)
class CaseResult:
    """All metrics of one method in one bench case (for example ``generate-bs1`` in ``eager``)."""

    scenario: str
    mode: str
    case: str
    method: str
    dtype: str
    metrics: dict[str, Metric] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def case_key(self) -> str:
        """Where this case lives in a baseline: ``<mode>/<case>``."""
        return f"{self.mode}/{self.case}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "mode": self.mode,
            "case": self.case,
            "method": self.method,
            "dtype": self.dtype,
            "metrics": {k: m.to_dict() for k, m in self.metrics.items()},
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseResult:
        return cls(
            scenario=data["scenario"],
            mode=current_mode(data["mode"]),
            case=data["case"],
            method=data["method"],
            dtype=data.get("dtype", ""),
            metrics={k: Metric.from_dict(v) for k, v in data["metrics"].items()},
            notes=tuple(data.get("notes", ())),
        )


# Columns every terminal line and table of quantbench fits in (verdicts, tables, A/B power).
WIDTH = 120


def fmt_value(value: float) -> str:
    """How a figure reads in every table and line: three significant figures, no scientific
    notation for the usual ranges (the judge's one-line failures and the report's tables alike)."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def percent(fraction: float) -> str:
    """A tolerance as a percentage with the digits it needs (10%, 3%, 0.5%)."""
    return f"{fraction * 100:.2g}%"


def signed_percent(change: float, infinite: str | None = None) -> str:
    """A relative change as a signed percentage (+12.3%); one that is not finite as
    ``infinite``, else ``+inf`` or ``-inf``."""
    if math.isfinite(change):
        return f"{change * 100:+.1f}%"
    if infinite is not None:
        return infinite
    return "+inf" if change > 0 else "-inf"
