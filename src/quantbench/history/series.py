"""Every metric over time, gathered from what quantbench keeps: baselines and session files.

A *sample* is one point in time of one GPU and model: a session (a ``session.json`` given on the
command line, or an entry of a baseline's window of sessions, ``store.window``: the sessions it
was made from, oldest first, medians only) or, where no session is known, a stored baseline version
(``<dir>/<gpu>/<model>.json`` and the versions kept under ``history/``). Samples of one GPU and
model form a ``Group``; a series is one (case, method, metric) across a group's samples.
Sessions are deduplicated by their date (a session file wins over a baseline's entry, which
holds no interval). Files are read with the loaders that check them (``store.baseline``,
``session``); anything unusable is a one-line ``HistoryError``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from quantbench.catalog import GATED_KINDS, SPECS
from quantbench.store.baseline import Baseline, BaselineError, from_dict, gpu_slug, model_slug
from quantbench.store.compatible import check_compatible
from quantbench.results import Metric
from quantbench.session import Session, SessionError

VERSION_KEYS = ("driver", "cuda", "python")  # besides the environment's ``versions`` table
_STAMP = re.compile(r"\.(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z(?:_\d+)?\.json$")

CaseMetrics = dict[tuple[str, str], dict[str, Metric]]  # (case_key, method) -> metric -> Metric


class HistoryError(ValueError):
    """An input the history cannot use; the message is the one-line reason."""


@dataclass(frozen=True)
class Sample:
    """One GPU and model at one time: ``kind`` is ``session`` or ``baseline``; ``versions``
    holds the library, driver, CUDA and Python versions it ran with."""

    date: str
    kind: str
    source: str
    commit: str | None
    versions: Mapping[str, str]
    results: CaseMetrics


@dataclass
class Group:
    """One GPU and model: its current baseline, its stored versions (oldest first) and its
    session samples (in date order)."""

    gpu: str
    model_source: str
    baseline: Baseline | None = None
    baseline_path: Path | None = None
    versions: list[Sample] = field(default_factory=list)
    sessions: list[Sample] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.gpu} / {self.model_source}"

    @property
    def samples(self) -> list[Sample]:
        """The points of every series: the sessions, or the baseline versions without any."""
        return self.sessions or self.versions

    def series_keys(self, metrics: Iterable[str]) -> list[tuple[str, str, str]]:
        """Every (case_key, method, metric) of ``metrics`` some sample holds, sorted."""
        wanted = set(metrics)
        return sorted({(c, m, name) for s in self.samples for (c, m), by in s.results.items()
                       for name in by if name in wanted})


def versions_of(environment: Mapping[str, Any]) -> dict[str, str]:
    """Library versions plus driver, CUDA and Python: what an upgrade changes."""
    out = {k: str(v) for k, v in (environment.get("versions") or {}).items() if v is not None}
    out.update({k: str(environment[k]) for k in VERSION_KEYS if environment.get(k)})
    return out


def default_metrics() -> list[str]:
    """The metrics a history shows unless told: every metric of a gated kind."""
    return [name for name, s in SPECS.items() if s.kind in GATED_KINDS]


def _version_date(baseline: Baseline, path: Path) -> str:
    env = baseline.environment
    dates = [d for d in [*(env.get("sessions") or []), env.get("date")] if isinstance(d, str)]
    if dates:
        return max(dates)
    stamp = _STAMP.search(path.name)
    if stamp:
        y, mo, d, h, mi, s = stamp.groups()
        return f"{y}-{mo}-{d}T{h}:{mi}:{s}+00:00"
    return ""


def _window_samples(path: Path, baseline: Baseline) -> list[Sample]:
    """The baseline's window of sessions, read and checked with it (``store.window.Entry``), as
    samples, oldest first; an entry without a date cannot be placed in time."""
    out = []
    for i, entry in enumerate(baseline.sessions):
        if not entry.date:
            raise HistoryError(f"baseline {path}: sessions[{i}]: expected an object with a date")
        out.append(Sample(entry.date, "session", f"{path.name} sessions[{i}]",
                          entry.commit or entry.environment.get("commit"), versions_of(entry.environment),
                          entry.metrics()))
    return out


def read_baseline(path: Path) -> tuple[Baseline, list[Sample]]:
    """A baseline file, checked by ``store.baseline``, and the sessions of its window (if any)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HistoryError(f"baseline {path} is unusable: {exc}") from None
    try:
        baseline = from_dict(data)
    except BaselineError as exc:
        raise HistoryError(f"baseline {path}: {exc}") from None
    return baseline, _window_samples(path, baseline)


def _results(baseline: Baseline) -> CaseMetrics:
    return {(c, m): dict(by) for c, methods in baseline.results.items() for m, by in methods.items()}


def _group(groups: dict[tuple[str, str], Group], gpu: str, source: str) -> Group:
    key = (gpu_slug(gpu), model_slug(source))
    return groups.setdefault(key, Group(gpu, source))


def _baseline_files(baseline_dir: Path) -> list[tuple[Path, bool]]:
    """``(path, is_current)``: each GPU folder's history (in the order written), then its
    current files."""
    files = []
    for folder in sorted(p for p in baseline_dir.iterdir() if p.is_dir()):
        history = folder / "history"
        if history.is_dir():
            files += [(p, False) for p in sorted(history.glob("*.json")) if not p.name.startswith(".")]
        files += [(p, True) for p in sorted(folder.glob("*.json")) if not p.name.startswith(".")]
    return files


def collect(baseline_dir: Path | None, session_paths: Iterable[Path]) -> tuple[list[Group], list[str]]:
    """Every group with its samples, and one note per input left out (another scenario)."""
    groups: dict[tuple[str, str], Group] = {}
    entries: dict[tuple[str, str], list[Sample]] = {}
    if baseline_dir is not None:
        if not baseline_dir.is_dir():
            raise HistoryError(f"no baseline folder at {baseline_dir}")
        for path, current in _baseline_files(baseline_dir):
            baseline, listed = read_baseline(path)
            group = _group(groups, baseline.gpu, baseline.model_source)
            entries.setdefault((gpu_slug(group.gpu), model_slug(group.model_source)), []).extend(listed)
            group.versions.append(Sample(_version_date(baseline, path), "baseline", str(path),
                                         baseline.environment.get("commit"),
                                         versions_of(baseline.environment), _results(baseline)))
            if current:
                group.baseline, group.baseline_path = baseline, path
    notes: list[str] = []
    first: dict[int, dict[str, Any]] = {}
    for path in session_paths:
        try:
            session = Session.read(path)
        except SessionError as exc:
            raise HistoryError(str(exc)) from None
        date = session.environment.get("date")
        if not isinstance(date, str):
            raise HistoryError(f"session file {path} has no environment date to place it in time")
        group = _group(groups, session.gpu, session.model_source)
        # Judged against the baseline's scenario, else the first session's of this GPU and model.
        reference = group.baseline or Baseline(group.gpu, group.model_source, first.setdefault(
            id(group), session.scenario), {})
        try:
            check_compatible(reference, gpu=session.gpu, model_source=session.model_source,
                             scenario=session.scenario)
        except BaselineError as exc:
            whose = "" if group.baseline else " (no baseline: 'baseline' is the first session)"
            notes.append(f"left out {path}: {exc}{whose}")
            continue
        twin = next((s.source for s in group.sessions if s.date == date), None)
        if twin is not None:
            same = "given twice" if twin == str(path) else f"the same session ({date}) as {twin}"
            notes.append(f"left out {path}: {same}")
            continue
        results: CaseMetrics = {(r.case_key, r.method): dict(r.metrics) for r in session.results}
        group.sessions.append(Sample(date, "session", str(path), session.environment.get("commit"),
                                     versions_of(session.environment), results))
    for key, listed in entries.items():
        dates = {s.date for s in groups[key].sessions}
        for sample in listed:
            if sample.date not in dates:
                dates.add(sample.date)
                groups[key].sessions.append(sample)
    for group in groups.values():
        group.sessions.sort(key=lambda s: s.date)
    return [groups[k] for k in sorted(groups)], notes
