"""quantbench's pytest plugin (entry point ``pytest11``): options, settings, parametrisation,
test order, the fixtures, and the end-of-session gate.

``pip install quantbench`` gives any repository these hooks and the fixtures of
``plugin.fixtures``; measurement lives in ``run``, verdicts in ``judge``, formatting in
``report``. This module only wires them into a pytest session.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from quantbench import exits
from quantbench.catalog import REFERENCE_METHOD
from quantbench.config import SettingsError, Settings, build_settings, read_pyproject
from quantbench.merge import worker_lines
from quantbench.plugin.fixtures import Bench, clear_previous, qb_model, quantbench, write_record
from quantbench.plugin.keys import BEGUN, BENCH, SETTINGS
from quantbench.plugin.options import FLAGS, add_options, overrides
from quantbench.plugin import workers
from quantbench.report.exports import export_session
from quantbench.report.tables import session_lines
from quantbench.plugin.workers import (pytest_configure_node, pytest_testnodedown,
                                       pytest_xdist_auto_num_workers, pytest_xdist_make_scheduler)

__all__ = ["SETTINGS", "qb_model", "quantbench",  # the fixtures pytest finds in this plugin
           "pytest_configure_node", "pytest_testnodedown", "pytest_xdist_auto_num_workers",
           "pytest_xdist_make_scheduler"]  # pytest-xdist's hooks, in plugin.workers

GATE = pytest.StashKey[dict]()
EXIT_INTERRUPTED = exits.INTERRUPTED  # SIGINT or Ctrl-C: later cases never ran


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[BEGUN] = time.perf_counter()
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
    worker only writes its own record; the controller merges them and judges once."""
    config = session.config
    settings = settings_of(config)
    interrupted = int(exitstatus) == EXIT_INTERRUPTED
    bench: Bench | None = config.stash.get(BENCH, None)
    extra: list[str] = []
    status = int(exitstatus)
    if workers.is_controller(config):
        record = workers.merged_session(config, settings)
        lost = workers.unwritten_records(config)
        if record is None:
            if lost:  # no worker could write its record: nothing to judge, and it must not pass
                code = exits.USAGE if status == 0 else status
                config.stash[GATE] = {"lines": [*lost, "quantbench: no worker's session record "
                                                "was written: nothing judged"], "code": code}
                session.exitstatus = code
            return
        record.partial = record.partial or interrupted or bool(lost)
        status = status or (exits.USAGE if lost else 0)  # an update of a record missing cases: refused
        unwritten = write_record(record, settings.report_dir / "session.json")
        extra = worker_lines(record) + lost
    elif bench is None:
        return
    else:
        bench.runner.release()
        record = bench.session(partial=interrupted)
        unwritten = bench.write_session(record)
        if workers.is_worker(config):
            workers.tell_controller(config, unwritten, len(record.results))
            return
    from quantbench.judge import gate  # scipy: imported once a session is judged
    from quantbench.report.publish import publish, reports_unwritten

    verdict, update_lines = gate.run(record, settings, status)
    exported, unexported = export_session(settings.exports, record)
    unwritten = unwritten or unexported
    tail = update_lines + exported + ([unwritten] if unwritten else [])
    published = publish(verdict, record, settings.report_dir, show_all=settings.all_verdicts,
                        before_outcome=tail)
    lines = extra + session_lines(record) + [""] + published
    unusable = unwritten or status or reports_unwritten(published)
    code = verdict.code or (exits.USAGE if unusable else exits.OK)
    config.stash[GATE] = {"lines": lines, "code": code}
    if int(exitstatus) == 0:
        session.exitstatus = code


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
        terminalreporter.stats.setdefault("error", []).append(gate_report(outcome["code"]))


def gate_report(code: int) -> pytest.CollectReport:
    """The failed gate as one report under pytest's ``error`` stats, so that pytest's last line
    reads "N passed, 1 error" in red and its short summary "ERROR quantbench gate - exit 1: ...".
    pytest writes that line after every ``pytest_terminal_summary`` (``TerminalReporter``'s
    ``pytest_sessionfinish`` wraps them), so a report added here is counted; the exit status is
    the session's, set in ``pytest_sessionfinish``. The message points up rather than repeating
    the verdict."""
    why = ("a regression or quality failure" if code == exits.REGRESSION else
           "nothing compared or baseline not written")
    return pytest.CollectReport("quantbench gate", "failed", f"exit {code}: {why} (see above)", [])
