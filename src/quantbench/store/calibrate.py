"""Merge several sessions into one baseline, so the gate knows the run-to-run noise.

One session's interval says how steady the numbers were *within* that session; eager batch-1
figures move far more *between* sessions (processes, machines). Merging repeated sessions records that
spread: each metric's median is the median of the k sessions' medians, and its interval is the
95 % prediction interval for one more session, median ± t(k-1) × s × sqrt(1 + 1/k), with s the
standard deviation of the session medians and t(k-1) Student's 97.5 % quantile
(``stats.merge_metric``). The interval is widened to span every session's own interval.
The gate reads a baseline's standard error as half the width / 1.96, so its z-test then asks
whether a new session lies outside that prediction interval, not outside one session's interval.
The same merge serves ``--qb-update-baseline`` (``add_session``: the window grows by one) and
``python -m quantbench calibrate`` (``commands.calibrate``: a fresh window).
"""

from __future__ import annotations

from typing import Any, Sequence

from quantbench.store.baseline import Baseline, baseline_from_results
from quantbench.store.window import WINDOW, entry
from quantbench.results import CaseResult
from quantbench.session import Session
from quantbench.stats import merge_metric


def merge_sessions(sessions: Sequence[Session] | Sequence[Sequence[CaseResult]], min_sessions: int = 1,
                   left_out: dict[str, list[str]] | None = None) -> list[CaseResult]:
    """Case results for every case any session ran, each metric merged over the sessions that
    measured it (a session may have run a subset, for example only batch 1). A sampled metric
    seen in fewer than ``min_sessions`` sessions is left out (named in ``left_out`` under
    ``"mode/case method"``): its
    interval would hold one session's own noise only, and a gate on it cries wolf at the next
    session on another machine. Exact metrics (weights, memory) need one session."""
    keyed = [{(r.case_key, r.method): r for r in getattr(s, "results", s)} for s in sessions]
    merged: dict[tuple[str, str], CaseResult] = {}
    for table in keyed:
        for key, result in table.items():
            if key in merged:
                continue
            others = [k[key] for k in keyed if key in k]
            metrics = {}
            for name in dict.fromkeys(n for o in others for n in o.metrics):
                samples = [o.metrics[name] for o in others if name in o.metrics]
                if len(samples) < min_sessions and any(m.stop != "exact" for m in samples):
                    if left_out is not None:
                        left_out.setdefault(f"{key[0]} {key[1]}", []).append(name)
                    continue
                metrics[name] = merge_metric(samples)
            if metrics:
                merged[key] = CaseResult(result.scenario, result.mode, result.case, result.method,
                                         result.dtype, metrics, result.notes)
    return list(merged.values())


def add_session(old: Baseline | None, session: Session, provenance: dict[str, Any],
                size: int = WINDOW) -> Baseline:
    """``old`` with ``session`` added to its window (the oldest leaving past ``size``), every
    figure merged anew over the window; ``old`` of ``None`` (or of no window: a /1 file) starts
    a window with this session alone. The newest session enters with its own intervals."""
    entries = (*(old.sessions if old else ()), entry(session.environment, session.results))[-size:]
    like = {(r.case_key, r.method): r for r in session.results}
    older = [e.as_results(like) for e in entries[:-1]]
    results = merge_sessions([*older, session.results])
    env = {**session.environment, "sessions": [e.date for e in entries]}
    return baseline_from_results(results, gpu=session.gpu, model_source=session.model_source,
                                 scenario=session.scenario, environment=env,
                                 provenance={**provenance, "sessions": len(entries)},
                                 sessions=entries)
