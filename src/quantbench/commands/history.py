"""``python -m quantbench history``: every gated metric over time, its steps and its drift.

    python -m quantbench history [SESSION.json ...] [--baseline-dir DIR] [--metric NAME ...]
        [--tolerance METRIC=FRACTION] [--out DIR] [--export FORMAT=FILE] [--fail-on-drift]

Reads the stored baselines (``<dir>/<gpu>/<model>.json``, the versions under ``history/`` and
the sessions a baseline lists) and any session files given (``series``), judges every (case,
method, metric) series of each GPU and model (``history.trend``: change points with ruptures, drift
with a Theil-Sen line; every point against the current baseline as the gate would judge it), and
writes one self-contained HTML page with a PNG per chart (``report.history_page``). A drift is a
metric that moved beyond its tolerance across the window while no single step did: the slope
that per-change gates miss. ``--export`` writes the newest session of each GPU and model for
github-action-benchmark or Bencher (``report.exports``).

Exit statuses: 0 done; 1 a drift for the worse under ``--fail-on-drift``; 4 a usage error or an
input that cannot be used (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from quantbench import exits
from quantbench.catalog import SPECS
from quantbench.config import Settings, SettingsError, build_settings, read_pyproject
from quantbench.history.trend import judge_group
from quantbench.history.series import HistoryError, collect, default_metrics
from quantbench.files import describe
from quantbench.report.exports import ExportError, parse_exports, write_exports
from quantbench.report.history_page import write_page
from quantbench.report.trend_lines import findings
from quantbench.validate import unknown

PROG = "quantbench history"


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one ``HistoryError`` line (exit 4), not its exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise HistoryError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m quantbench history",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("sessions", nargs="*", type=Path, help="session.json files to add")
    parser.add_argument("--baseline-dir", type=Path, default=None,
                        help="where baselines live (default: [tool.quantbench] baseline_dir)")
    parser.add_argument("--metric", action="append", default=None, metavar="NAME",
                        help="a metric to show (repeatable, or comma-separated; default: every "
                             "gated metric)")
    parser.add_argument("--tolerance", action="append", default=None, metavar="METRIC=FRACTION")
    parser.add_argument("--out", type=Path, default=Path(".quantbench/history"),
                        help="where the page and charts go (default .quantbench/history)")
    parser.add_argument("--export", action="append", default=None, metavar="FORMAT=FILE",
                        help="write the newest session of each GPU and model for a dashboard: "
                             "github-action-benchmark=FILE or bencher=FILE (repeatable)")
    parser.add_argument("--fail-on-drift", action="store_true",
                        help="exit 1 when a metric drifted for the worse")
    return parser


def _metrics(given: Sequence[str] | None) -> list[str]:
    if not given:
        return default_metrics()
    names = [n.strip() for item in given for n in item.split(",") if n.strip()]
    for name in names:
        if name not in SPECS:
            raise HistoryError(str(unknown("--metric", "metric", name, SPECS)))
    return names


def run(args: argparse.Namespace, settings: Settings, command: str) -> tuple[list[str], int]:
    """Collect, judge, draw and export; the terminal lines and the exit status."""
    metrics = _metrics(args.metric)
    exports = parse_exports(args.export or [])
    groups, notes = collect(args.baseline_dir or settings.baseline_dir, args.sessions)
    judged = {id(g): judge_group(g, metrics, settings) for g in groups}
    everything = [line for lines in judged.values() for line in lines]
    if not everything:
        raise HistoryError("nothing to show: no baseline or session holds any of the metrics asked")
    out = [f"history: {len(groups)} GPU and model(s), {len(everything)} series"]
    for group in groups:
        kind = "session(s)" if group.sessions else "baseline version(s)"
        out.append(f"  {group.title}: {len(group.samples)} {kind}, {len(judged[id(group)])} series")
    written = write_page(args.out, groups, judged, notes, command)
    out += [f"page: {written[0]} ({len(written) - 1} chart(s) beside it)"]
    newest = [(g, g.sessions[-1]) for g in groups if g.sessions]  # a baseline is not a run
    out += write_exports(exports, [(g.gpu, g.model_source, s.results, s.date, s.commit)
                                   for g, s in newest], metrics)
    steps, drifts = findings(everything)
    out += notes + steps + (drifts or ["drift: none found"])
    worse = any(line.trend.drift == "worse" for line in everything)
    return out, exits.REGRESSION if worse and args.fail_on_drift else exits.OK


def main(argv: Sequence[str] | None = None) -> int:
    """The ``history`` command."""
    import shlex

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(argv)
        settings = build_settings(read_pyproject(Path.cwd()), {"tolerance": args.tolerance})
        lines, code = run(args, settings, " ".join(["python -m quantbench history",
                                                      *map(shlex.quote, argv)]))
    except (SettingsError, HistoryError, ExportError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exits.USAGE
    except OSError as exc:
        print(f"{PROG}: cannot write {exc.filename or args.out}: {describe(exc)}", file=sys.stderr)
        return exits.USAGE
    except ImportError as exc:
        print(f"{PROG}: needs the report extra ({exc.name} is missing): "
              "pip install 'quantbench[report]'", file=sys.stderr)
        return exits.USAGE
    print("\n".join(lines))
    return code
