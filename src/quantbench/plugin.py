"""The pytest glue: options, parametrisation, test order, recording, tables and the gate.

Measurement lives in ``harness``/``measure``, reporting in ``tables``/``reports``, baselines and
verdicts in ``baseline``/``compare``; this module only wires them into a pytest session.
"""

from __future__ import annotations

from typing import Any

import pytest

from quantbench.results import CaseResult
from quantbench.settings import METHOD_NAMES, MODES, SettingsError, Settings, build_settings, read_pyproject

SETTINGS = pytest.StashKey[Settings]()
HARNESS = pytest.StashKey[Any]()
GATE = pytest.StashKey[dict]()
FLAGS: dict[str, str] = {}  # option dest -> its flag, so a bad value's message names the option


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("quantbench", "quantbench: LLM inference under quantization")
    group.addoption("--methods", default=None,
                    help=f"comma-separated methods to run ({','.join(METHOD_NAMES)})")
    group.addoption("--model", default=None,
                    help="hub id, local folder or synthetic:<name> (default from [tool.quantbench])")
    group.addoption("--awq-model", default=None, help="pre-quantized AWQ checkpoint (hub id or folder)")
    group.addoption("--device", default=None, help="auto, cuda or cpu")
    group.addoption("--scenario", default=None, help="default or t4-study")
    group.addoption("--modes", default=None, help=f"comma-separated modes ({','.join(MODES)})")
    group.addoption("--time-budget", dest="time_budget_s", type=float, default=None,
                    help="seconds of measuring per bench case before adaptive sampling stops")
    group.addoption("--qb-tolerance", dest="tolerance", action="append", default=None,
                    metavar="METRIC=FRACTION", help="regression tolerance, per metric or kind")
    group.addoption("--quantbench-update-baseline", dest="update_baseline", action="store_true",
                    default=None, help="write this run as the baseline for this GPU and model")
    group.addoption("--qb-cache-dir", dest="cache_dir", default=None)
    group.addoption("--qb-report-dir", dest="report_dir", default=None)
    group.addoption("--qb-baseline-dir", dest="baseline_dir", default=None)
    group.addoption("--qb-allow-missing-baseline", dest="allow_missing_baseline", action="store_true",
                    default=None, help="under --benchmark-compare, pass when there is no baseline yet")
    FLAGS.update({opt.dest: opt.names()[0] for opt in group.options})


def pytest_configure(config: pytest.Config) -> None:
    names = ("methods", "model", "awq_model", "device", "scenario", "modes", "time_budget_s",
             "tolerance", "update_baseline", "cache_dir", "report_dir", "baseline_dir",
             "allow_missing_baseline")
    overrides = {n: config.getoption(n, default=None) for n in names}
    compare = config.getoption("benchmark_compare", default=[])
    overrides["compare"] = True if compare != [] else None
    try:
        settings = build_settings(read_pyproject(config.rootpath), overrides, FLAGS)
    except SettingsError as exc:
        raise pytest.UsageError(f"quantbench: {exc}") from None
    root = config.rootpath
    if not settings.baseline_dir.is_absolute():
        settings = _with(settings, baseline_dir=root / settings.baseline_dir)
    if not settings.report_dir.is_absolute():
        settings = _with(settings, report_dir=root / settings.report_dir)
    config.stash[SETTINGS] = settings


def _with(settings: Settings, **changes: Any) -> Settings:
    from dataclasses import replace

    return replace(settings, **changes)


def settings_of(config: pytest.Config) -> Settings:
    return config.stash[SETTINGS]


def session_harness(config: pytest.Config) -> Any:
    """The session's harness, built on first use so plain unit-test runs never load a model."""
    if HARNESS not in config.stash:
        from quantbench.env import detect_device
        from quantbench.harness import Harness

        from quantbench.files import check_writable_dir, describe

        settings = settings_of(config)
        try:
            device = detect_device(settings.device)
        except RuntimeError as exc:
            pytest.exit(f"quantbench: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
        try:  # before any model loads: the session file is written after the first case
            check_writable_dir(settings.report_dir)
        except OSError as exc:
            pytest.exit(f"quantbench: cannot write reports to {settings.report_dir}: {describe(exc)}; "
                        "nothing was run", returncode=pytest.ExitCode.USAGE_ERROR)
        config.stash[HARNESS] = Harness(settings, device)
    return config.stash[HARNESS]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    settings = settings_of(metafunc.config)
    sc = settings.scenario
    if "loaded_model" in metafunc.fixturenames:
        metafunc.parametrize("loaded_model", settings.methods, indirect=True, scope="session")
    if "batch_size" in metafunc.fixturenames:
        metafunc.parametrize("batch_size", sc.batch_sizes, ids=[f"bs{b}" for b in sc.batch_sizes])
    if "prefill_length" in metafunc.fixturenames:
        metafunc.parametrize("prefill_length", sc.prefill_lengths,
                             ids=[f"len{n}" for n in sc.prefill_lengths])
    if "mode" in metafunc.fixturenames:
        metafunc.parametrize("mode", settings.modes)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order benches so one model is resident at a time: by mode (eager before compiled, so
    compilation cannot disturb an eager figure), then by method with FP16 first (it captures
    the quality reference), keeping file order within."""
    settings = settings_of(config)

    def key(pair: tuple[int, pytest.Item]) -> tuple[int, int, int]:
        index, item = pair
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "loaded_model" not in params:
            return (-1, -1, index)
        mode = params.get("mode", "eager")
        method = params["loaded_model"]
        return (settings.modes.index(mode) if mode in settings.modes else 0,
                -1 if method == "fp16" else settings.methods.index(method), index)

    items[:] = [item for _, item in sorted(enumerate(items), key=key)]
    _skip_unavailable_modes(settings, items)


def _skip_unavailable_modes(settings: Settings, items: list[pytest.Item]) -> None:
    """Mark a mode this device cannot run as skipped before any model loads for it."""
    from quantbench.env import detect_device
    from quantbench.harness import mode_unavailable

    try:
        device = detect_device(settings.device)
    except RuntimeError:
        return  # the harness reports it when the first bench starts
    for item in items:
        mode = getattr(getattr(item, "callspec", None), "params", {}).get("mode")
        reason = mode_unavailable(mode, device) if mode else None
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


def record_benchmark(benchmark: Any, case: CaseResult, run: Any) -> None:
    """Put a case into pytest-benchmark: every metric in ``extra_info`` (with the case's warm-up
    and measuring seconds) and each measured round in its own statistics, so
    ``--benchmark-save`` and its timing compare keep working."""
    benchmark.group = f"{case.mode}/{case.case}"
    benchmark.extra_info.update(case.to_dict())
    benchmark.extra_info.update(warmup_s=round(run.warmup_s, 3), measure_s=round(run.measure_s, 3),
                                rounds=len(run.samples), stop=run.stop)
    round_seconds = run.round_seconds
    benchmark._mode = "quantbench: rounds timed by the harness"  # marks the fixture as used
    if getattr(benchmark, "disabled", False) or not round_seconds:
        return
    stats = benchmark._make_stats(1)  # pytest-benchmark 5.x: the one entry point for outside timings
    for seconds in round_seconds:
        stats.update(seconds)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """Once a failure is reported, clear its traceback's frames: they hold the test's locals, the
    loaded model among them, which would otherwise stay on the GPU under the next method and
    inflate its peak and reserved memory (seen on an H100: NF4 peak 1.15 GB instead of 0.52)."""
    yield
    if call.excinfo is not None:
        import traceback

        traceback.clear_frames(call.excinfo.tb)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """After each bench that added a case, write the session file so far (marked partial)."""
    harness = item.config.stash.get(HARNESS, None)
    before = len(harness.results) if harness is not None else 0
    yield
    harness = item.config.stash.get(HARNESS, None)
    if harness is not None and len(harness.results) > before:
        from quantbench import gate

        gate.checkpoint_session(harness, settings_of(item.config))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    harness = config.stash.get(HARNESS, None)
    if harness is None:
        return
    harness.release()
    from quantbench import gate

    outcome = gate.finish_session(harness, settings_of(config), int(exitstatus))
    config.stash[GATE] = outcome
    if outcome.get("exit") is not None and int(exitstatus) == 0:
        session.exitstatus = outcome["exit"]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    outcome = config.stash.get(GATE, None)
    if not outcome:
        return
    tr = terminalreporter
    tr.section("quantbench results")
    for line in outcome.get("lines", []):
        tr.write_line(line)
