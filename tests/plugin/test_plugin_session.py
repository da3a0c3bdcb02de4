"""The plugin's session object (``plugin.session.QuantbenchSession``): it owns the records, the
failures and the outcome, and the exit status comes from what publishing returned
(``report.outcome.Written``), never from the lines it printed. In-process, with fake records and
a fake runner; the real sessions are ``test_sessions``, ``test_silent_passes`` and ``test_workers``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from quantbench import exits
from quantbench.config import Settings
from quantbench.plugin import session as plugin_session
from quantbench.plugin.keys import SESSION, SETTINGS
from quantbench.plugin.session import QuantbenchSession, session_of
from quantbench.report.outcome import Outcome, Written, exit_status
from quantbench.results import CaseResult, Metric
from quantbench.run.runner import RecordParts
from quantbench.session import Session

MODEL = "synthetic:qwen2-tiny"


class Config:
    """What the session object reads of ``pytest.Config``: a real stash and the options."""

    def __init__(self, settings: Settings, **options: Any) -> None:
        self.stash = pytest.Stash()
        self.stash[SETTINGS] = settings
        self.options = {"dist": "no", "benchmark_skip": False, **options}

    def getoption(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)


class Runner:
    """The parts of ``run.runner.Runner`` the session's record takes; counts its unloads."""

    device = "cpu"

    def __init__(self, failures: Any) -> None:
        self.failures = failures
        self.unloaded = 0

    def record_parts(self) -> RecordParts:
        return RecordParts({"model_source": MODEL}, {"int4wo": "int4wo needs a CUDA GPU"},
                           dict(self.failures), {"fp16": 1, "nf4": 1}, [("load", "fp16")], {})

    def unload(self) -> None:
        self.unloaded += 1


def quality(method: str, kl: float) -> CaseResult:
    return CaseResult("default", "eager", "quality", method, "x",
                      {"kl_divergence": Metric.exact("kl_divergence", "nats", kl, higher_is_better=False)})


def started(tmp_path: Path, *results: CaseResult, **settings: Any) -> QuantbenchSession:
    """A session object as ``pytest_configure`` leaves it, with a runner and ``results`` recorded."""
    config = Config(Settings(report_dir=tmp_path / "report", baseline_dir=tmp_path / "baselines", **settings))
    config.stash[SESSION] = session = QuantbenchSession(config)  # type: ignore[arg-type]
    session.runner = Runner(session.failures)
    session.results.extend(results)
    return session


class Reporter:
    """A terminal reporter that keeps what it is told."""

    def __init__(self) -> None:
        self.sections: list[str] = []
        self.lines: list[str] = []
        self.stats: dict[str, list] = {}

    def section(self, title: str) -> None:
        self.sections.append(title)

    def write_line(self, line: str) -> None:
        self.lines.append(line)


def test_a_passing_session_is_exit_0_with_its_final_record_written(tmp_path: Path) -> None:
    session = started(tmp_path, quality("nf4", 0.01))
    session.finish(exits.OK)
    assert session_of(session.config) is session  # type: ignore[arg-type]
    assert (session.outcome.code, session.outcome.why) == (exits.OK, "")
    assert session.outcome.lines[-1] == "gate: pass"
    assert session.runner.unloaded == 1  # the last model freed before judging
    record = Session.read(tmp_path / "report" / "session.json")
    assert record.partial is False and [r.method for r in record.results] == ["nf4"]
    assert record.skipped == {"int4wo": "int4wo needs a CUDA GPU"}
    reporter = Reporter()
    session.display(reporter)
    assert reporter.sections == ["quantbench results"] and reporter.lines == session.outcome.lines
    assert reporter.stats == {}  # a pass adds no error


def test_a_quality_failure_is_exit_1_and_counted_as_one_error(tmp_path: Path) -> None:
    session = started(tmp_path, quality("nf4", 2.0))
    session.finish(exits.OK)
    assert (session.outcome.code, session.outcome.why) == (exits.REGRESSION, "a regression or quality failure")
    reporter = Reporter()
    session.display(reporter)
    (error,) = reporter.stats["error"]
    assert error.longrepr == "exit 1: a regression or quality failure (see above)"


def test_pytests_own_status_wins_and_names_its_cause(tmp_path: Path) -> None:
    session = started(tmp_path, quality("nf4", 0.01))
    session.finish(exits.REGRESSION)  # a bench failed
    assert (session.outcome.code, session.outcome.why) == (exits.REGRESSION,
                                                           "a bench failed or a method could not load")
    session.finish(exits.INTERRUPTED)
    assert session.outcome.code == exits.INTERRUPTED
    assert Session.read(tmp_path / "report" / "session.json").partial is True


def test_the_failures_of_the_pool_and_the_benches_are_one_map_in_the_record(tmp_path: Path) -> None:
    session = started(tmp_path, quality("nf4", 0.01))
    session.failures.load_failed("int8", "int8 failed to load: RuntimeError: CUDA out of memory")
    session.note_failure("nf4", "test_generate[nf4-bs1-eager]", RuntimeError("boom\nmore"))
    session.note_failure("nf4", "test_generate[nf4-bs8-eager]", RuntimeError("later"))
    checkpoint = Session.read(tmp_path / "report" / "session.json")  # note_failure checkpoints
    assert checkpoint.partial is True
    assert checkpoint.failures == {"nf4": "nf4 failed in test_generate[nf4-bs1-eager]: RuntimeError: boom",
                                   "int8": "int8 failed to load: RuntimeError: CUDA out of memory"}


def test_an_unwritten_session_file_is_exit_4_with_its_cause(tmp_path: Path) -> None:
    prefill = CaseResult("default", "eager", "prefill-len128", "fp16", "x",
                         {"prefill_tps": Metric.exact("prefill_tps", "tok/s", 900.0, higher_is_better=True)})
    session = started(tmp_path, prefill)  # no quality case: no verdict row, so no reports either
    (tmp_path / "report").write_text("")  # a file where the report folder should be
    session.finish(exits.OK)
    why = f"session file not written to {tmp_path / 'report'}: it is a file, not a folder"
    assert (session.outcome.code, session.outcome.why) == (exits.USAGE, why)
    assert session.outcome.lines[-2:] == [f"quantbench: {why}", f"gate: exit 4: {why}"]
    judged = started(tmp_path, quality("nf4", 0.01))  # the reports fail too, and are named first
    judged.finish(exits.OK)
    assert judged.outcome.code == exits.USAGE
    assert judged.outcome.why.startswith(f"reports not written to {tmp_path / 'report'}: ")


def test_the_written_result_drives_the_exit_status_not_the_printed_text(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    said = "this line reads like nothing went wrong"
    monkeypatch.setattr(plugin_session, "write_record",
                        lambda record, path: Written.failed("the disk said no", tag=said + " "))
    session = started(tmp_path, quality("nf4", 0.01))
    session.finish(exits.OK)
    assert (session.outcome.code, session.outcome.why) == (exits.USAGE, "the disk said no")
    assert f"{said} the disk said no" in session.outcome.lines

    alarming = "quantbench: reports not written to nowhere: a full disk"
    monkeypatch.setattr(plugin_session, "write_record", lambda record, path: Written((alarming,)))
    passing = started(tmp_path / "b", quality("nf4", 0.01))
    passing.finish(exits.OK)
    assert (passing.outcome.code, passing.outcome.lines[-1]) == (exits.OK, "gate: pass")


def test_an_interrupt_while_judging_is_exit_2_with_no_report_left(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from quantbench.judge import gate

    def interrupted(*args: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(gate, "run", interrupted)
    session = started(tmp_path, quality("nf4", 0.01))
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "summary.md").write_text("an earlier verdict")
    session.finish(exits.OK)
    assert session.outcome.code == exits.INTERRUPTED
    assert session.outcome.why == "interrupted while the session was judged (Ctrl-C or SIGTERM)"
    assert session.outcome.lines == ["quantbench: interrupted while the session was judged (Ctrl-C or "
                                     "SIGTERM): nothing judged, no report left"]
    assert not (tmp_path / "report" / "summary.md").exists()


@pytest.mark.parametrize("asked", ["compare", "update_baseline"])
def test_a_gate_asked_for_with_no_bench_run_is_exit_4(tmp_path: Path, asked: str) -> None:
    session = started(tmp_path, **{asked: True})
    session.runner = None  # no bench ever built the runner
    session.finish(exits.OK)
    assert session.outcome is None  # nothing collected: no block, pytest's own status
    session.collected = True
    session.config.options["benchmark_skip"] = True
    session.finish(exits.OK)
    assert (session.outcome.code, session.outcome.why) == (
        exits.USAGE, "no bench ran (--benchmark-skip skipped every bench)")
    (line,) = session.outcome.lines
    assert ("no baseline written" in line) == (asked == "update_baseline")


def test_a_worker_writes_its_record_tells_the_controller_and_judges_nothing(tmp_path: Path) -> None:
    session = started(tmp_path, quality("nf4", 0.01), quality("int8", 0.02))
    session.config.workerinput = {"workerid": "gw1", "quantbench_run": "run1"}  # type: ignore[attr-defined]
    session.config.workeroutput = {}  # type: ignore[attr-defined]
    session.finish(exits.OK)
    assert session.outcome is None
    assert session.config.workeroutput == {"quantbench": {"unwritten": None, "cases": 2}}  # type: ignore[attr-defined]
    assert Session.read(tmp_path / "report" / "workers" / "run1" / "gw1.json").partial is False


def test_exit_status_is_decided_in_one_place() -> None:
    from quantbench.judge.findings import Problem, Unjudged
    from quantbench.judge.gate import Verdict

    verdict = Verdict(None, exits.OK)
    reports = Written.failed("reports not written to r: interrupted while writing them", interrupted=True)
    export = Written.failed("export not written: x.json: no space", tag="")
    assert exit_status(exits.OK, verdict) == (exits.OK, "")
    assert exit_status(exits.OK, verdict, [Written(("reports in r",)), export]) == (
        exits.USAGE, "export not written: x.json: no space")
    assert exit_status(exits.OK, verdict, [export, reports])[0] == exits.INTERRUPTED
    assert exit_status(exits.OK, None, unjudged="no bench ran") == (exits.USAGE, "no bench ran")
    assert exit_status(exits.REGRESSION, None, unjudged="no record") == (exits.REGRESSION, "no record")
    refused = Verdict(None, exits.USAGE, unjudged=Unjudged(Problem.UNUSABLE, exits.USAGE, Path("b.json"),
                                                           detail="another GPU"))
    assert exit_status(exits.OK, refused, [export]) == (exits.USAGE, "baseline unusable: another GPU")
    outcome = Outcome(["x"], exits.OK, verdict, (export,))
    assert (outcome.code, outcome.why) == exit_status(exits.OK, verdict, [export])
    assert (reports.code, export.code, Written().code) == (exits.INTERRUPTED, exits.USAGE, None)
