"""``python -m quantbench`` (or ``quantbench``): the commands that work on saved files.

    python -m quantbench compare SESSION.json    re-judge a saved session against its baseline
    python -m quantbench calibrate S1.json ...   make a baseline from repeated sessions
    python -m quantbench fetch smollm2           download a small real model (GGUF) into the cache
    python -m quantbench ab --base PY --head PY -- <pytest args>
                                                 same-host A/B of two installs, paired test
    python -m quantbench sweep --models M1,M2 [--out DIR] -- <pytest args>
                                                 one session per model size, then the speed-up map
    python -m quantbench history [S.json ...] [--out DIR] [--fail-on-drift]
                                                 every metric over time: steps, drift, one page
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from quantbench import exits
from quantbench.commands import fetch, sweep
from quantbench.config import SettingsError, build_settings, read_pyproject
from quantbench.files import check_writable_dir, describe
from quantbench.interrupts import sigterm_as_interrupt
from quantbench.session import Session, SessionError


def compare_main(argv: Sequence[str]) -> int:
    """Judge a saved ``session.json`` exactly as ``pytest benches --benchmark-compare`` would
    have at its end: the same settings (``[tool.quantbench]`` of the current folder), baseline
    and verdicts; the reports go to ``--report-dir``."""
    from quantbench.judge.gate import judge_session  # scipy: only a command that judges loads it
    from quantbench.report.publish import clear_reports, publish

    parser = exits.ArgumentParser(prog="python -m quantbench compare",
                                  description=compare_main.__doc__.split("\n\n")[0])
    parser.add_argument("session", type=Path, help="a session.json written by pytest benches")
    parser.add_argument("--baseline-dir", type=Path, default=None,
                        help="where baselines live (default: [tool.quantbench] baseline_dir)")
    parser.add_argument("--report-dir", type=Path, default=None,
                        help="where the reports go (default: a folder beside the session file)")
    parser.add_argument("--tolerance", action="append", default=None, metavar="METRIC=FRACTION")
    parser.add_argument("--all-verdicts", action="store_true",
                        help="show every verdict row, not only the failing ones")
    parser.add_argument("--allow-missing-baseline", action="store_true", default=None,
                        help="no baseline yet for this GPU and model is a pass, not exit 4")
    parser.add_argument("--allow-partial", action="store_true",
                        help="judge a partial (cut-off) session's finished cases instead of refusing it")
    args = parser.parse_args(argv)
    try:
        settings = build_settings(read_pyproject(Path.cwd()),
                                  {"tolerance": args.tolerance, "compare": True,
                                   "allow_missing_baseline": args.allow_missing_baseline})
    except SettingsError as exc:
        print(f"quantbench compare: {exc}", file=sys.stderr)
        return exits.USAGE
    report_dir = args.report_dir or args.session.with_name(args.session.stem + "-compare")
    settings = replace(settings, report_dir=report_dir,
                       baseline_dir=args.baseline_dir or settings.baseline_dir)
    try:
        session = Session.read(args.session)
    except SessionError as exc:
        print(f"quantbench compare: {exc}", file=sys.stderr)
        return exits.USAGE
    if session.partial and not args.allow_partial:
        print(f"quantbench compare: session file {args.session} is partial (cut off, or a worker "
              "crashed): the cases it never reached would pass as 'not run'; rerun it, or pass "
              "--allow-partial to judge what it finished", file=sys.stderr)
        return exits.USAGE
    try:
        check_writable_dir(report_dir)
        clear_reports(report_dir)  # a previous compare's verdicts are not this one's
    except OSError as exc:
        print(f"quantbench compare: cannot write reports to {report_dir}: {describe(exc)}; "
              "nothing judged", file=sys.stderr)
        return exits.USAGE
    verdict = judge_session(session, settings)
    published = publish(verdict, session, settings.report_dir,
                        show_all=args.all_verdicts or settings.all_verdicts, flag="--all-verdicts")
    lines = published.lines
    if session.partial:
        lines.insert(0, "partial session (--allow-partial): only the cases it finished are judged")
    print("\n".join(lines))
    return published.code


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; Ctrl-C or SIGTERM ends it with one line and exit 2 (a child process it
    started is ended with it), and what it was writing is left whole or not at all."""
    argv = list(sys.argv[1:] if argv is None else argv)
    restore = sigterm_as_interrupt()
    try:
        return _dispatch(argv)
    except KeyboardInterrupt:
        name = argv[0] if argv else "quantbench"
        print(f"quantbench {name}: interrupted (Ctrl-C or SIGTERM)", file=sys.stderr)
        return exits.INTERRUPTED
    finally:
        restore()


def _dispatch(argv: list[str]) -> int:
    commands = {"compare": compare_main, "sweep": sweep.main, "fetch": fetch.main}
    # calibrate, ab and history judge (scipy): imported only when asked for
    if argv and argv[0] == "calibrate":
        from quantbench.commands.calibrate import main as calibrate_main

        return calibrate_main(argv[1:])
    if argv and argv[0] == "ab":
        from quantbench.commands.ab import main as ab_main

        return ab_main(argv[1:])
    if argv and argv[0] == "history":
        from quantbench.commands.history import main as history_main

        return history_main(argv[1:])
    if not argv or argv[0] not in commands:
        print(__doc__.strip(), file=sys.stderr)
        return exits.USAGE
    return commands[argv[0]](argv[1:])
