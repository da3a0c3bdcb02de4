"""One session record from the partial ones of ``pytest benches -n N``'s workers.

Each xdist worker checkpoints its own ``workers/<id>.json`` (schema ``quantbench.session/1``)
after every case; at the end the controller merges them into the one ``session.json`` that the
gate, ``python -m quantbench compare`` and the reports read, exactly as a single-process
session's. A worker that crashed leaves the cases it finished; the merged record is then marked
partial and names the crash under ``environment["workers"]``.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any, Mapping

from quantbench.session import Session

# Environment entries that differ per worker (its own GPU) and are kept per worker.
PER_WORKER_ENV = ("gpu", "peak_copy_bandwidth_gbs", "launch_overhead_us")


def worker_order(worker_id: str) -> tuple[int, str]:
    """Sort key for xdist worker ids, numerically: gw2 before gw10."""
    digits = re.sub(r"\D", "", worker_id)
    return (int(digits) if digits else -1, worker_id)


def merge_time(parts: list[dict[str, Any]], elapsed_s: float | None) -> dict[str, Any]:
    """``time_breakdown`` figures of several workers as one: phases per method, loading, work
    and time outside both are summed (worker-seconds); ``wall_s`` sums the workers' walls so
    ``outside_share`` keeps its meaning, and ``elapsed_s`` is the session's own wall clock."""
    per: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for part in parts:
        for method, phases in (part.get("per_method") or {}).items():
            for phase, seconds in phases.items():
                per[method][phase] += seconds
    total = {key: sum(float(p.get(key, 0.0)) for p in parts)
             for key in ("wall_s", "load_s", "work_s", "outside_s")}
    nonload = total["wall_s"] - total["load_s"]
    out: dict[str, Any] = {**total, "outside_share": total["outside_s"] / nonload if nonload > 0 else 0.0,
                           "per_method": {m: dict(p) for m, p in per.items()}}
    if elapsed_s is not None:
        out["elapsed_s"] = elapsed_s
    return out


def merge_worker_sessions(parts: Mapping[str, Session], workers: Mapping[str, Mapping[str, Any]],
                          elapsed_s: float | None = None) -> Session | None:
    """The session of all workers' ``parts`` (worker id -> its record), or ``None`` when no
    worker ran a case. ``workers`` holds what the controller knows of each worker (its GPU,
    ``crashed``: why it went down); any crash, or any part still partial, makes it partial."""
    if not parts:
        return None
    ids = sorted(set(parts) | set(workers), key=worker_order)
    first = parts[min(parts, key=worker_order)]
    environment = dict(first.environment)
    summary: dict[str, dict[str, Any]] = {}
    results, events, skipped, failures, loads = [], [], {}, {}, Counter()
    for wid in ids:
        info = dict(workers.get(wid, {}))
        part = parts.get(wid)
        if part is not None:
            info.update({k: part.environment[k] for k in PER_WORKER_ENV if k in part.environment})
            info["methods"] = sorted({r.method for r in part.results})
            info["cases"] = len(part.results)
            info["partial"] = part.partial
            results += part.results
            events += part.load_events
            skipped.update(part.skipped)
            failures.update(part.failures)
            loads.update(part.loads)
        summary[wid] = info
    partial = any(p.partial for p in parts.values()) or any(
        info.get("crashed") for info in summary.values())
    environment["workers"] = summary
    return Session(environment=environment, scenario=dict(first.scenario), results=results,
                   partial=partial, skipped=skipped, failures=failures, loads=dict(loads),
                   load_events=events,
                   time=merge_time([p.time for p in parts.values()], elapsed_s))


def worker_lines(record: Session) -> list[str]:
    """One terminal line per worker: its GPU, methods and cases, and a crash if any."""
    lines = []
    for wid, info in (record.environment.get("workers") or {}).items():
        gpu = f"GPU {info['cuda_device']}" if info.get("cuda_device") is not None else "no GPU"
        line = (f"worker {wid} ({gpu}): {info.get('cases', 0)} cases of "
                f"{','.join(info.get('methods', [])) or 'no method'}")
        if info.get("crashed"):
            line += f"; crashed: {info['crashed']}"
        lines.append(line)
    return lines
