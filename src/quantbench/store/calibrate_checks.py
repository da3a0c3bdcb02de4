"""calibrate's checks on its inputs, beyond each session file's schema (``validate.session``).

* **Each session counts once.** The same file given twice (by another spelling or a symlink:
  paths are compared resolved) would count its medians twice and narrow the interval; refused.
* **A session far slower than the others is named.** A session is *far slower* when the median,
  over the throughput metrics (catalog kind ``throughput``) it shares with at least one other
  session, of (its median / the median of the other sessions' medians of that metric) is below
  ``SLOW_RATIO`` = 1/3. Sessions run at once on a shared CPU fall an order of magnitude behind,
  while ordinary variation between sessions on one kind of GPU stays far above it. Such a
  session widens the prediction interval until the gate can no longer see a regression, so it
  is named with the advice to leave it out (``--exclude-result 'SESSION:*/*/*'``) or rerun it.
* **Sessions that disagree on the host probe are named.** When the sessions' launch overheads
  (``environment.launch_overhead_us``) are more than ``catalog.HOST_DIFFERENCE`` (25 %) apart, eager
  batch-1 figures, which that overhead bounds, may mix hosts.
* **An existing baseline is not shrunk by accident.** A new baseline that lacks metrics the stored
  one holds (one session replaced a 22-metric baseline with 5) is refused unless ``--force``; the
  check runs inside the baseline's write lock (``write_baseline``'s ``guard``).
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Callable, Sequence

from quantbench.store.baseline import Baseline, BaselineError, from_json
from quantbench.catalog import spec
from quantbench.catalog import HOST_DIFFERENCE

SLOW_RATIO = 1 / 3


def refuse_duplicates(paths: Sequence[Path]) -> None:
    """``BaselineError`` when two paths name one file."""
    seen: dict[Path, Path] = {}
    for path in paths:
        key = path.resolve()
        if key in seen:
            raise BaselineError(f"{path} is the same file as {seen[key]}: each session counts once")
        seen[key] = path


def _throughputs(session: dict[str, Any]) -> dict[tuple[str, str, str], float]:
    return {(r.case_key, r.method, name): m.median for r in session.results
            for name, m in r.metrics.items() if spec(name).kind == "throughput"}


def slow_sessions(sessions: Sequence[dict[str, Any]], paths: Sequence[Path]) -> list[str]:
    """One line per session far slower than the others (see the module docstring)."""
    tables = [_throughputs(s) for s in sessions]
    lines = []
    for i, (table, path) in enumerate(zip(tables, paths)):
        ratios = []
        for key, median in table.items():
            others = [t[key] for j, t in enumerate(tables) if j != i and key in t]
            if others:
                ratios.append(median / statistics.median(others))
        if ratios and statistics.median(ratios) < SLOW_RATIO:
            lines.append(f"ran far slower than the others (contention?): {path}: its throughput medians are "
                         f"{statistics.median(ratios):.2f}x the other sessions' (below 1/3); leave it out or "
                         "rerun it")
    return lines


def probe_spread(sessions: Sequence[dict[str, Any]], paths: Sequence[Path]) -> str | None:
    """A line when the sessions' host probes are more than ``HOST_DIFFERENCE`` apart."""
    probes = [(s.environment.get("launch_overhead_us"), p) for s, p in zip(sessions, paths)]
    probes = sorted((us, str(p)) for us, p in probes if us)
    if len(probes) < 2 or probes[-1][0] / probes[0][0] - 1 <= HOST_DIFFERENCE:
        return None
    (low, low_path), (high, high_path) = probes[0], probes[-1]
    return (f"host probe differs between sessions: {low:.1f} us per kernel launch ({low_path}) to "
            f"{high:.1f} us ({high_path}), more than {HOST_DIFFERENCE * 100:.0f} % apart: eager batch-1 "
            "figures may mix hosts")


def no_shrink(new: Baseline, path: Path, force: bool, dropped: list[str],
              advice: str = "pass --force to replace it") -> Callable[[bytes | None], None]:
    """A ``write_baseline`` guard: refuse (unless ``force``) a ``new`` baseline lacking metrics the
    stored one holds; with ``force``, what is dropped is added to ``dropped``. A stored file that
    cannot be read as a baseline is replaced (its history copy keeps it)."""
    def guard(old_bytes: bytes | None) -> None:
        try:
            old = from_json(old_bytes.decode("utf-8")) if old_bytes is not None else None
        except (BaselineError, UnicodeDecodeError):
            return
        if old is None:
            return
        kept = {(c, m, metric.name) for c, m, metric in new.entries()}
        held = [f"{c} {m} {metric.name}" for c, m, metric in old.entries()]
        lost = [f"{c} {m} {metric.name}" for c, m, metric in old.entries() if (c, m, metric.name) not in kept]
        if lost and not force:
            shown = ", ".join(lost[:3]) + (f", and {len(lost) - 3} more" if len(lost) > 3 else "")
            raise BaselineError(f"{path} holds {len(held)} metrics; the new baseline would drop {len(lost)} "
                                f"of them ({shown}): {advice}")
        dropped.extend(lost)
    return guard
