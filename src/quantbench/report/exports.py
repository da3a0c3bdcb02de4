"""A session's figures in the formats of the dashboards people already run.

- ``github-action-benchmark=FILE``: the action's custom tools read a JSON list of
  ``{"name", "unit", "value", "range", "extra"}`` (``range`` and ``extra`` optional strings), one
  file per direction: ``FILE``'s stem gets ``-bigger-is-better`` (``tool: customBiggerIsBetter``)
  and ``-smaller-is-better`` (``tool: customSmallerIsBetter``); a direction with no metric gets no
  file, since the action refuses an empty list. ``value`` is the median, ``range`` the larger
  half-width of the 95 % interval (``± x``), ``extra`` the exact interval, samples and commit.
- ``bencher=FILE``: Bencher Metric Format, ``{benchmark: {measure: {"value", "lower_value",
  "upper_value"}}}``: the median and the 95 % interval's bounds. The benchmark is
  ``<gpu>/<model>/<mode>/<case>/<method>``; the measure the metric's name as a slug
  (``decode-tps``).

Names carry the GPU and model slugs, so one dashboard can hold several GPUs without collisions.
Files are replaced atomically (``files.replace_bytes``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Mapping, Sequence

from quantbench.config.exports import BENCHER, ExportError, parse_export
from quantbench.files import replace_bytes, describe
from quantbench.store.baseline import gpu_slug, model_slug
from quantbench.report.outcome import Written
from quantbench.results import Metric

if TYPE_CHECKING:
    from quantbench.session import Session

GAB_SUFFIXES = {True: "-bigger-is-better", False: "-smaller-is-better"}

# (gpu, model_source, {(case_key, method): {metric: Metric}}, date, commit)
Run = tuple[str, str, Mapping[tuple[str, str], Mapping[str, Metric]], str | None, str | None]


def parse_exports(items: Sequence[str], where: str = "--export") -> tuple[tuple[str, Path], ...]:
    return tuple(parse_export(where, item) for item in items)


def gab_paths(path: Path) -> dict[bool, Path]:
    """Higher-is-better -> its file, lower-is-better -> its file."""
    return {hib: path.with_name(path.stem + suffix + (path.suffix or ".json"))
            for hib, suffix in GAB_SUFFIXES.items()}


def _rows(runs: Iterable[Run], metrics: Sequence[str] | None
          ) -> Iterator[tuple[str, Metric, str | None, str | None]]:
    for gpu, source, results, date, commit in runs:
        for (case_key, method), by_name in sorted(results.items()):
            for name, metric in sorted(by_name.items()):
                if metrics is None or name in metrics:
                    prefix = f"{gpu_slug(gpu)}/{model_slug(source)}/{case_key}/{method}"
                    yield prefix, metric, date, commit


def github_action_benchmark(runs: Iterable[Run], metrics: Sequence[str] | None = None
                            ) -> dict[bool, list[dict[str, object]]]:
    """The custom-tool entries, by direction (``True``: bigger is better)."""
    out: dict[bool, list[dict[str, object]]] = {True: [], False: []}
    for prefix, m, date, commit in _rows(runs, metrics):
        half = max(m.median - m.low, m.high - m.median)
        extra = [f"95% interval {m.low!r} .. {m.high!r}", f"n {m.n}, {m.stop}"]
        extra += [f"session {date}" if date else "", f"commit {commit}" if commit else ""]
        out[m.higher_is_better].append({"name": f"{prefix}/{m.name}", "unit": m.unit,
                                        "value": m.median, "range": f"± {half:.4g}",
                                        "extra": "\n".join(e for e in extra if e)})
    return out


def bencher(runs: Iterable[Run], metrics: Sequence[str] | None = None) -> dict[str, dict]:
    """The Bencher Metric Format document."""
    out: dict[str, dict] = {}
    for prefix, m, _, _ in _rows(runs, metrics):
        out.setdefault(prefix, {})[m.name.replace("_", "-")] = {
            "value": m.median, "lower_value": m.low, "upper_value": m.high}
    return out


def _dump(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_bytes(path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return path


def write_exports(exports: Sequence[tuple[str, Path]], runs: Sequence[Run],
                  metrics: Sequence[str] | None = None) -> list[str]:
    """Write each export; one line per file written (or per direction left out)."""
    lines = []
    for fmt, path in exports:
        if fmt == BENCHER:
            lines.append(f"export ({fmt}): {_dump(path, bencher(runs, metrics))}")
            continue
        by_direction = github_action_benchmark(runs, metrics)
        for hib, target in gab_paths(path).items():
            tool = "customBiggerIsBetter" if hib else "customSmallerIsBetter"
            if by_direction[hib]:
                lines.append(f"export ({fmt}, {tool}): {_dump(target, by_direction[hib])}")
            else:  # the action refuses an empty list; an older file would be stale
                target.unlink(missing_ok=True)
                lines.append(f"export ({fmt}, {tool}): no metric, {target} not written")
    return lines


def session_run(session: Session) -> Run:
    """A ``Session`` as one export run."""
    results = {(r.case_key, r.method): r.metrics for r in session.results}
    env = session.environment
    return session.gpu, session.model_source, results, env.get("date"), env.get("commit")


def export_session(exports: Sequence[tuple[str, Path]], session: Session) -> Written:
    """The gate's exports of its session (``--qb-export``): the lines of what was written, or the
    one line saying which file could not be (the session then exits 4, like an unwritten
    session record)."""
    try:
        return Written(tuple(write_exports(exports, [session_run(session)])))
    except OSError as exc:
        return Written.failed(f"export not written: {exc.filename or ''}: {describe(exc)}", tag="")
