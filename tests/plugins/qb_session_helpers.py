"""Test-only pytest plugin for ``tests/plugin/test_sessions.py``: faults injected into a real session.

Loaded into a ``pytest benches`` subprocess with ``-p qb_session_helpers`` (this folder on
``PYTHONPATH``); it does nothing unless one of its options is given:

``--qbt-hide-package NAME``  make ``import NAME`` fail as if the package were not installed
                             (``sys.modules[NAME] = None``), before any model is loaded;
``--qbt-fail-load METHOD``   replace METHOD's loader with one that raises a CUDA out-of-memory
                             ``RuntimeError`` (what PyTorch raises), as a real load failure would;
``--qbt-die-at TEXT``        kill the process outright (``os._exit``, no pytest teardown) when
                             the first test whose id contains TEXT starts, as a CI time limit's
                             SIGKILL would;
``--qbt-interrupt-at TEXT``  raise ``KeyboardInterrupt`` there instead, as ``timeout -s INT`` or
                             Ctrl-C would: pytest then still runs its session end;
``--qbt-fail-case TEXT``     the first test whose id contains TEXT raises while it runs (its model
                             loaded), as a compile error inside a bench would;
``--qbt-never-converge``     set the convergence target to 0 so sampling stops only on the time
                             budget or the round cap (exposes which budget a session really uses);
``--qbt-full-disk``          in an ``-n`` worker, every session record it writes fails with
                             ENOSPC, as on a full disk (the controller's session.json is written);
``--qbt-record-loads FILE``  every method's loader appends the method's name to FILE, then loads
                             as it would (a fake loader that tells whether, and when, one ran);
``--qbt-term-at TEXT``       send this process SIGTERM when the first test whose id contains TEXT
                             starts, as a CI runner cancelling the job would.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import sys

import pytest

OOM_MESSAGE = ("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of "
               "14.74 GiB of which 1.02 GiB is free.")


FAIL_CASE_MESSAGE = "Attempted to unset UNKNOWN_MODE, but there wasn't one active\n(inductor's trace)"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("qb-session-helpers", "test-only fault injection (tests/plugins)")
    group.addoption("--qbt-hide-package", dest="qbt_hide_package", action="append", default=[],
                    metavar="NAME", help="make NAME unimportable in this session")
    group.addoption("--qbt-fail-load", dest="qbt_fail_load", action="append", default=[],
                    metavar="METHOD", help="make METHOD's load raise CUDA out of memory")
    group.addoption("--qbt-die-at", dest="qbt_die_at", default=None, metavar="TEXT",
                    help="os._exit(9) when a test whose id contains TEXT starts")
    group.addoption("--qbt-interrupt-at", dest="qbt_interrupt_at", default=None, metavar="TEXT",
                    help="raise KeyboardInterrupt when a test whose id contains TEXT starts")
    group.addoption("--qbt-fail-case", dest="qbt_fail_case", default=None, metavar="TEXT",
                    help="the test whose id contains TEXT raises while it runs")
    group.addoption("--qbt-never-converge", dest="qbt_never_converge", action="store_true",
                    default=False, help="sampling never converges (target_rel_ci = 0)")
    group.addoption("--qbt-full-disk", dest="qbt_full_disk", action="store_true", default=False,
                    help="session records written by this process (a worker's) fail with ENOSPC")
    group.addoption("--qbt-record-loads", dest="qbt_record_loads", default=None, metavar="FILE",
                    help="every method's load appends its name to FILE first")
    group.addoption("--qbt-term-at", dest="qbt_term_at", default=None, metavar="TEXT",
                    help="SIGTERM this process when a test whose id contains TEXT starts")


def _failing_load(request):  # noqa: ANN001, ANN202 - same signature as a Method.load
    raise RuntimeError(OOM_MESSAGE)


@pytest.hookimpl(trylast=True)  # after quantbench.plugin has built the session's settings
def pytest_configure(config: pytest.Config) -> None:
    for name in config.getoption("qbt_hide_package"):
        sys.modules[name] = None  # type: ignore[assignment]  # import raises ModuleNotFoundError

    failing = config.getoption("qbt_fail_load")
    if failing:
        from quantbench import methods

        saved = dict(methods.METHODS)
        for name in failing:
            methods.METHODS[name] = dataclasses.replace(methods.METHODS[name], load=_failing_load)

        def restore() -> None:
            methods.METHODS.clear()
            methods.METHODS.update(saved)

        config.add_cleanup(restore)

    record = config.getoption("qbt_record_loads")
    if record:
        from quantbench import methods

        saved_methods = dict(methods.METHODS)

        def recording(method):  # noqa: ANN001, ANN202
            def load(request):  # noqa: ANN001, ANN202 - a Method.load
                with open(record, "a", encoding="utf-8") as fh:
                    fh.write(method.name + "\n")
                return method.load(request)
            return load

        for name, method in saved_methods.items():
            methods.METHODS[name] = dataclasses.replace(method, load=recording(method))
        config.add_cleanup(lambda: (methods.METHODS.clear(), methods.METHODS.update(saved_methods)))

    if config.getoption("qbt_full_disk") and hasattr(config, "workerinput"):
        from quantbench.session import Session

        def full(self, path):  # noqa: ANN001, ANN202 - Session.write's signature
            raise OSError(errno.ENOSPC, "No space left on device", str(path))

        saved_write = Session.write
        Session.write = full
        config.add_cleanup(lambda: setattr(Session, "write", saved_write))

    if config.getoption("qbt_never_converge"):
        from quantbench.plugin import SETTINGS

        config.stash[SETTINGS] = dataclasses.replace(config.stash[SETTINGS], target_rel_ci=0.0)


def pytest_runtest_setup(item: pytest.Item) -> None:
    text = item.config.getoption("qbt_term_at")
    if text and text in item.nodeid:
        import signal

        os.kill(os.getpid(), signal.SIGTERM)
    text = item.config.getoption("qbt_die_at")
    if text and text in item.nodeid:
        sys.stdout.flush()
        os._exit(9)
    text = item.config.getoption("qbt_interrupt_at")
    if text and text in item.nodeid:
        raise KeyboardInterrupt


def pytest_runtest_call(item: pytest.Item) -> None:
    text = item.config.getoption("qbt_fail_case")
    if text and text in item.nodeid:
        raise RuntimeError(FAIL_CASE_MESSAGE)
