"""quantbench's pytest plugin (entry point ``pytest11``): options, settings, parametrisation,
test order, the fixtures, and the end-of-session gate.

``pip install quantbench`` gives any repository these hooks and the fixtures of
``plugin.fixtures``; measurement lives in ``run``, verdicts in ``judge``, formatting in
``report``. This module only wires them into a pytest session.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Any

import pytest

from quantbench import exits
from quantbench.catalog import REFERENCE_METHOD
from quantbench.config import SettingsError, Settings, build_settings, read_pyproject
from quantbench.interrupts import sigterm_as_interrupt
from quantbench.merge import worker_lines
from quantbench.plugin.fixtures import Bench, clear_previous, qb_model, quantbench, write_record
from quantbench.plugin.hooks import pytest_addhooks, pytest_quantbench_work_pass
from quantbench.plugin.keys import BEGUN, BENCH, SETTINGS
from quantbench.plugin.options import FLAGS, add_options, overrides
from quantbench.plugin import workers
from quantbench.report.exports import export_session
from quantbench.report.tables import session_lines
from quantbench.plugin.workers import (pytest_configure_node, pytest_testnodedown,
                                       pytest_xdist_auto_num_workers, pytest_xdist_make_scheduler)

__all__ = ["SETTINGS", "qb_model", "quantbench",  # the fixtures pytest finds in this plugin
           "pytest_addhooks", "pytest_quantbench_work_pass",  # quantbench's hookspecs, in plugin.hooks
           "pytest_configure_node", "pytest_testnodedown", "pytest_xdist_auto_num_workers",
           "pytest_xdist_make_scheduler"]  # pytest-xdist's hooks, in plugin.workers

GATE = pytest.StashKey[dict]()
COLLECTED = pytest.StashKey[bool]()  # the session collected a bench to run
EXIT_INTERRUPTED = exits.INTERRUPTED  # Ctrl-C or SIGTERM: later cases never ran


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[BEGUN] = time.perf_counter()
    config.add_cleanup(sigterm_as_interrupt())  # SIGTERM ends the session as Ctrl-C does: exit 2
    workers.configure_worker(config)
    try:
        settings = build_settings(read_pyproject(config.rootpath), overrides(config), FLAGS)
    except SettingsError as exc:
        raise pytest.UsageError(f"quantbench: {exc}") from None
    root = config.rootpath
    if not settings.baseline_dir.is_absolute():
        settings = replace(settings, baseline_dir=root / settings.baseline_dir)
    if not settings.report_dir.is_absolute():
        settings = replace(settings, report_dir=root / settings.report_dir)
    settings = replace(settings, exports=tuple((fmt, root / path) for fmt, path in settings.exports))
    if settings.interleave and config.getoption("numprocesses", default=None):
        raise pytest.UsageError("quantbench: --qb-interleave needs every method in one process; "
                                "drop -n")
    config.stash[SETTINGS] = settings
    workers.configure_controller(config, settings)


def settings_of(config: pytest.Config) -> Settings:
    return config.stash[SETTINGS]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    settings = settings_of(metafunc.config)
    sc = settings.scenario
    names = metafunc.fixturenames
    if "qb_model" in names:
        metafunc.parametrize("qb_model", settings.methods, indirect=True, scope="session")
    if "qb_batch_size" in names:
        metafunc.parametrize("qb_batch_size", sc.batch_sizes, ids=[f"bs{b}" for b in sc.batch_sizes])
    if "qb_prefill_length" in names:
        metafunc.parametrize("qb_prefill_length", sc.prefill_lengths,
                             ids=[f"len{n}" for n in sc.prefill_lengths])
    if "qb_mode" in names:
        metafunc.parametrize("qb_mode", settings.modes)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order benches so one model is resident at a time: by mode (eager before compiled, so
    compilation cannot disturb an eager figure), then by method with the reference method first
    (it captures the quality reference), keeping file order within."""
    settings = settings_of(config)

    def key(pair: tuple[int, pytest.Item]) -> tuple[int, int, int]:
        index, item = pair
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "qb_model" not in params:
            return (-1, -1, index)
        mode = params.get("qb_mode", settings.modes[0])
        method = params["qb_model"]
        return (settings.modes.index(mode) if mode in settings.modes else 0,
                -1 if method == REFERENCE_METHOD else settings.methods.index(method), index)

    items[:] = [item for _, item in sorted(enumerate(items), key=key)]


def pytest_collection_finish(session: pytest.Session) -> None:
    """A session that will run a bench starts by removing the last run's record and reports."""
    if any("qb_model" in getattr(item, "fixturenames", ()) for item in session.items):
        session.config.stash[COLLECTED] = True
        clear_previous(settings_of(session.config).report_dir)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """A bench that fails while it measures goes into the session record's failures (a stored
    record would otherwise read as a clean session without that method: on an H200 every
    compiled fp8dq case failed and ``sweep --from`` said pass). Then the traceback's frames are
    cleared: they hold the test's locals, the loaded model among them, which would otherwise
    stay on the GPU under the next method and inflate its peak and reserved memory (seen on an
    H100: NF4 peak 1.15 GB instead of 0.52)."""
    report = (yield).get_result()
    if call.excinfo is None:
        return
    bench: Bench | None = item.config.stash.get(BENCH, None)
    method = getattr(getattr(item, "callspec", None), "params", {}).get("qb_model")
    if bench is not None and method and report.failed and call.when == "call":
        bench.note_failure(method, item.name, call.excinfo.value)
    import traceback

    traceback.clear_frames(call.excinfo.tb)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the final session record, then judge it: quality thresholds always, the baseline
    when ``--benchmark-compare`` or ``--qb-update-baseline`` asks. Under pytest-xdist each
    worker only writes its own record; the controller merges them and judges once. The exit
    status is the gate's (``report.publish.final_status``): pytest's own when a bench failed or
    the session was interrupted, and an interrupt while judging (Ctrl-C, SIGTERM) is exit 2 with
    no report left."""
    config = session.config
    try:
        outcome = _finish(config, int(exitstatus))
    except KeyboardInterrupt:
        from quantbench.report.publish import clear_reports

        clear_reports(settings_of(config).report_dir)
        why = "interrupted while the session was judged (Ctrl-C or SIGTERM)"
        outcome = {"lines": [f"quantbench: {why}: nothing judged, no report left"],
                   "code": exits.INTERRUPTED, "why": why}
    if outcome is not None:
        config.stash[GATE] = outcome
        session.exitstatus = outcome["code"]


def _finish(config: pytest.Config, status: int) -> dict | None:
    """The gate's block for ``pytest_sessionfinish``: lines, exit status and its cause (``None``:
    no block, as on a worker or a session without benches)."""
    settings = settings_of(config)
    interrupted = status == EXIT_INTERRUPTED
    bench: Bench | None = config.stash.get(BENCH, None)
    extra: list[str] = []
    lost: list[str] = []
    if workers.is_controller(config):
        record = workers.merged_session(config, settings)
        lost = workers.unwritten_records(config)
        if record is None:
            if lost:  # no worker could write its record: nothing to judge, and it must not pass
                why = "no worker's session record was written: nothing judged"
                return {"lines": [*lost, f"quantbench: {why}"], "code": status or exits.USAGE,
                        "why": why}
            return _nothing_ran(config, settings, status)
        record.partial = record.partial or interrupted or bool(lost)
        unwritten = write_record(record, settings.report_dir / "session.json")
        extra = worker_lines(record) + lost
    elif bench is None:
        return _nothing_ran(config, settings, status)
    else:
        bench.runner.release()
        record = bench.session(partial=interrupted)
        unwritten = bench.write_session(record)
        if workers.is_worker(config):
            workers.tell_controller(config, unwritten, len(record.results))
            return None
    from quantbench.judge import gate  # scipy: imported once a session is judged
    from quantbench.report.publish import publish

    # an update of a record missing cases (a worker's lost) is refused like a failed session's
    verdict, update_lines = gate.run(record, settings, status or (exits.USAGE if lost else 0))
    exported, unexported = export_session(settings.exports, record)
    problems = [line for line in (*lost, unwritten, unexported) if line]
    published = publish(verdict, record, settings.report_dir, show_all=settings.all_verdicts,
                        before_outcome=update_lines + exported + [p for p in (unwritten, unexported) if p],
                        status=status, problems=problems)
    lines = extra + session_lines(record) + [""] + published.lines
    return {"lines": lines, "code": published.code, "why": published.why}


def _nothing_ran(config: pytest.Config, settings: Settings, status: int) -> dict | None:
    """A gate that was asked for (``--benchmark-compare``, ``--qb-update-baseline``) in a session
    that collected benches and ran none (``--benchmark-skip``, say from a stray
    ``PYTEST_ADDOPTS``) is exit 4 with one line, never a silent pass."""
    if status or not config.stash.get(COLLECTED, False) or not (settings.compare or settings.update_baseline):
        return None
    asked = " and ".join(flag for flag, on in (("--benchmark-compare", settings.compare),
                                               ("--qb-update-baseline", settings.update_baseline)) if on)
    skip = config.getoption("benchmark_skip", default=False)
    where = ", from PYTEST_ADDOPTS," if "--benchmark-skip" in os.environ.get("PYTEST_ADDOPTS", "") else ""
    why = f"--benchmark-skip{where} skipped every bench" if skip else "every bench was skipped"
    left = "nothing judged" + ("; no baseline written" if settings.update_baseline else "")
    line = f"quantbench: {asked} asked for the gate, but no bench ran ({why}): {left}"
    return {"lines": [line], "code": exits.USAGE, "why": f"no bench ran ({why})"}


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The gate's block, ending in its outcome; a gate that failed is also counted as one error
    (``gate_report``) so that pytest's last line turns red with its exit status. Last of the
    summaries (``trylast``): installed through its entry point, the plugin ran before
    pytest-benchmark's, whose tables then pushed the verdict up out of the last lines."""
    outcome = config.stash.get(GATE, None)
    if not outcome:
        return
    terminalreporter.section("quantbench results")
    for line in outcome["lines"]:
        terminalreporter.write_line(line)
    if outcome.get("code"):
        report = gate_report(outcome["code"], outcome.get("why", ""))
        terminalreporter.stats.setdefault("error", []).append(report)


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
