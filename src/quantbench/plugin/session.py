"""One pytest session's quantbench state, kept in one object as pytest-benchmark keeps its own in
one ``BenchmarkSession``: the per-case records, the failures (one ``session.Failures`` that the
model pool and the failed benches report into) and the outcome.

``QuantbenchSession.finish`` judges and publishes at the session's end, ``display`` prints the
gate's block, and the exit status is the outcome's (``report.outcome.exit_status``), from what
the publishing steps returned (``report.outcome.Written``), never from the lines they printed.
Under pytest-xdist a worker only writes its own record and tells the controller whether it could;
the controller merges the workers' records (``plugin.workers``, ``quantbench.merge``) and judges
once; a single process judges its own record.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from quantbench import exits
from quantbench.config import Settings
from quantbench.env import environment
from quantbench.exits import one_line
from quantbench.files import describe
from quantbench.merge import worker_lines
from quantbench.plugin import workers
from quantbench.plugin.keys import SESSION, SETTINGS
from quantbench.report.exports import export_session
from quantbench.report.outcome import Outcome, Written
from quantbench.report.tables import session_lines
from quantbench.results import CaseResult
from quantbench.session import Failures, Session

INTERRUPTED_JUDGING = "interrupted while the session was judged (Ctrl-C or SIGTERM)"


class QuantbenchSession:
    """The session's records, failures and outcome; stashed on the pytest config
    (``session_of``) by the plugin's ``pytest_configure``."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: list[CaseResult] = []
        self.failures = Failures()
        self.runner: Any = None  # run.runner.Runner, built with the first bench (plugin.fixtures)
        self.collected = False  # the session collected a bench to run
        self.outcome: Outcome | None = None  # the gate's, once finished (None: no block)

    @property
    def settings(self) -> Settings:
        """The session's settings, read when used: a plugin configured later may replace them."""
        return self.config.stash[SETTINGS]

    @property
    def path(self) -> Path:
        """Where this process checkpoints its record (a worker: its own file)."""
        return workers.session_file(self.config, self.settings)

    def record(self, *, partial: bool) -> Session:
        """The session record so far: the machine (``env`` looks it up once per process), the
        cases, the failures, and what the runner holds (``Runner.record_parts``: the model, the
        host probes, skips, loads, time)."""
        parts = self.runner.record_parts()
        return Session(environment={**environment(self.runner.device, Path.cwd()), **parts.environment},
                       scenario=self.settings.scenario.to_dict(), results=list(self.results),
                       partial=partial, skipped=parts.skipped, failures=dict(self.failures),
                       loads=parts.loads, load_events=parts.load_events, time=parts.time)

    def checkpoint(self) -> Written:
        """Write the record so far, marked partial (a session cut off by a CI time limit keeps
        every case it finished); a failure (a full disk, say) does not stop the session."""
        return write_record(self.record(partial=True), self.path)

    def note_failure(self, method: str, test: str, exc: BaseException) -> None:
        """A bench of ``method`` failed while measuring: the record keeps the first such failure
        of each method, in one line (a load failure, already recorded, is kept instead)."""
        self.failures.bench_failed(method, f"{method} failed in {test}: {one_line(exc, 200)}")
        if self.runner is not None:
            self.checkpoint()

    def finish(self, status: int) -> None:
        """Write the final record and judge it (``pytest_sessionfinish``), keeping the outcome:
        quality thresholds always, the baseline when ``--benchmark-compare`` or
        ``--qb-update-baseline`` asks. An interrupt while judging (Ctrl-C, SIGTERM) is exit 2
        with no report left."""
        try:
            self.outcome = self._judged(status)
        except KeyboardInterrupt:
            from quantbench.report.publish import clear_reports

            clear_reports(self.settings.report_dir)
            self.outcome = Outcome([f"quantbench: {INTERRUPTED_JUDGING}: nothing judged, no report left"],
                                   exits.INTERRUPTED, unjudged=INTERRUPTED_JUDGING)

    def display(self, terminalreporter: Any) -> None:
        """The gate's block, ending in its outcome; a gate that failed is also counted as one
        error (``gate_report``) so that pytest's last line turns red with its exit status."""
        if self.outcome is None:
            return
        terminalreporter.section("quantbench results")
        for line in self.outcome.lines:
            terminalreporter.write_line(line)
        if self.outcome.code:
            report = gate_report(self.outcome.code, self.outcome.why)
            terminalreporter.stats.setdefault("error", []).append(report)

    def _judged(self, status: int) -> Outcome | None:
        """The gate's outcome (``None``: no block, as on a worker or a session without benches)."""
        settings = self.settings
        interrupted = status == exits.INTERRUPTED
        lost: list[str] = []
        before: list[str] = []
        if workers.is_controller(self.config):
            record = workers.merged_session(self.config, settings)
            lost = workers.unwritten_records(self.config)
            if record is None:
                if lost:  # no worker could write its record: nothing to judge, and it must not pass
                    why = "no worker's session record was written: nothing judged"
                    return Outcome([*lost, f"quantbench: {why}"], status, unjudged=why)
                return self._nothing_ran(status)
            record.partial = record.partial or interrupted or bool(lost)
            recorded = write_record(record, settings.report_dir / "session.json")
            before = worker_lines(record) + lost
        elif self.runner is None:
            return self._nothing_ran(status)
        else:
            self.runner.unload()
            record = self.record(partial=interrupted)
            recorded = write_record(record, self.path)
            if workers.is_worker(self.config):
                workers.tell_controller(self.config, recorded.unwritten or None, len(record.results))
                return None
        return self._published(record, status, recorded, lost, before)

    def _published(self, record: Session, status: int, recorded: Written, lost: list[str],
                   before: list[str]) -> Outcome:
        """Judge ``record``, export it and write the reports; ``lost``: the workers' records that
        were not written, ``before``: the lines above the record's tables."""
        from quantbench.judge import gate  # scipy: imported once a session is judged
        from quantbench.report.gate_lines import update_lines
        from quantbench.report.publish import publish

        settings = self.settings
        # an update of a record missing cases (a worker's lost) is refused like a failed session's
        verdict, update = gate.run(record, settings, status or (exits.USAGE if lost else 0))
        exported = export_session(settings.exports, record)
        unwritten = [w.unwritten for w in (recorded, exported) if w.unwritten]
        published = publish(verdict, record, settings.report_dir, show_all=settings.all_verdicts,
                            before_outcome=update_lines(update) + list(exported.lines) + unwritten, status=status,
                            problems=[*(Written.failed(line, tag="") for line in lost), recorded, exported])
        return replace(published, lines=before + session_lines(record) + [""] + published.lines)

    def _nothing_ran(self, status: int) -> Outcome | None:
        """A gate that was asked for (``--benchmark-compare``, ``--qb-update-baseline``) in a
        session that collected benches and ran none (``--benchmark-skip``, say from a stray
        ``PYTEST_ADDOPTS``) is exit 4 with one line, never a silent pass."""
        settings = self.settings
        if status or not self.collected or not (settings.compare or settings.update_baseline):
            return None
        asked = " and ".join(flag for flag, on in (("--benchmark-compare", settings.compare),
                                                   ("--qb-update-baseline", settings.update_baseline)) if on)
        skip = self.config.getoption("benchmark_skip", default=False)
        where = ", from PYTEST_ADDOPTS," if "--benchmark-skip" in os.environ.get("PYTEST_ADDOPTS", "") else ""
        why = f"--benchmark-skip{where} skipped every bench" if skip else "every bench was skipped"
        left = "nothing judged" + ("; no baseline written" if settings.update_baseline else "")
        line = f"quantbench: {asked} asked for the gate, but no bench ran ({why}): {left}"
        return Outcome([line], status, unjudged=f"no bench ran ({why})")


def session_of(config: pytest.Config) -> QuantbenchSession:
    """The session object the plugin stashed on ``config``."""
    return config.stash[SESSION]


def write_record(record: Session, path: Path) -> Written:
    """Write ``record`` to ``path``: nothing to say when it was, else the line saying why not."""
    try:
        record.write(path)
    except OSError as exc:
        return Written.failed(f"session file not written to {path.parent}: {describe(exc)}")
    return Written()


def gate_report(code: int, why: str) -> pytest.CollectReport:
    """The failed gate as one report under pytest's ``error`` stats, so that pytest's last line
    reads "N passed, 1 error" in red and its short summary "ERROR quantbench gate - exit 1: ...".
    pytest writes that line after every ``pytest_terminal_summary`` (``TerminalReporter``'s
    ``pytest_sessionfinish`` wraps them), so a report added here is counted; the exit status is
    the session's, set in ``pytest_sessionfinish``; ``why`` is its true cause (a failed load is
    exit 1 and says so, not "nothing compared"). The message points up rather than repeating the
    verdict."""
    why = why if len(why) <= 120 else why[:119] + "…"
    text = f"exit {code}: {why} (see above)" if why else f"exit {code} (see above)"
    return pytest.CollectReport("quantbench gate", "failed", text, [])
