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

from quantbench.catalog import REFERENCE_METHOD
from quantbench.config import SettingsError, Settings, build_settings, read_pyproject
from quantbench.interrupts import sigterm_as_interrupt
from quantbench.plugin.fixtures import clear_previous, qb_model, quantbench
from quantbench.plugin.hooks import pytest_addhooks, pytest_quantbench_work_pass
from quantbench.plugin.keys import BEGUN, SESSION, SETTINGS
from quantbench.plugin.options import FLAGS, add_options, overrides
from quantbench.plugin import workers
from quantbench.plugin.session import QuantbenchSession, session_of
from quantbench.plugin.workers import (pytest_configure_node, pytest_testnodedown,
                                       pytest_xdist_auto_num_workers, pytest_xdist_make_scheduler)

__all__ = ["SETTINGS", "qb_model", "quantbench",  # the fixtures pytest finds in this plugin
           "pytest_addhooks", "pytest_quantbench_work_pass",  # quantbench's hookspecs, in plugin.hooks
           "pytest_configure_node", "pytest_testnodedown", "pytest_xdist_auto_num_workers",
           "pytest_xdist_make_scheduler"]  # pytest-xdist's hooks, in plugin.workers


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
    config.stash[SESSION] = QuantbenchSession(config)
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
        session_of(session.config).collected = True
        clear_previous(settings_of(session.config).report_dir)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """A bench that fails while it measures goes into the session's failures (a stored
    record would otherwise read as a clean session without that method, and ``sweep --from``
    as a pass). Then the traceback's frames are cleared: they hold the test's locals, the loaded
    model among them, which would otherwise stay on the GPU under the next method and inflate
    its peak and reserved memory."""
    report = (yield).get_result()
    if call.excinfo is None:
        return
    session: QuantbenchSession | None = item.config.stash.get(SESSION, None)
    method = getattr(getattr(item, "callspec", None), "params", {}).get("qb_model")
    if session is not None and method and report.failed and call.when == "call":
        session.note_failure(method, item.name, call.excinfo.value)
    import traceback

    traceback.clear_frames(call.excinfo.tb)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Judge the session and set its exit status (``plugin.session.QuantbenchSession.finish``;
    none on a worker or a session without benches)."""
    qb = session_of(session.config)
    qb.finish(int(exitstatus))
    if qb.outcome is not None:
        session.exitstatus = qb.outcome.code


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The gate's block, ending in its outcome (``QuantbenchSession.display``; a gate that failed
    is also counted as one error so that pytest's last line turns red). Last of the
    summaries (``trylast``): installed through its entry point, the plugin ran before
    pytest-benchmark's, whose tables then pushed the verdict up out of the last lines."""
    session_of(config).display(terminalreporter)
