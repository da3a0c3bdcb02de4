"""The fixtures a bench asks for: ``quantbench`` (run and record one case) and ``qb_model``.

``qb_model`` is parametrised over the session's methods (indirectly, session-scoped), and
``qb_mode``, ``qb_batch_size`` and ``qb_prefill_length`` over the scenario, by the plugin's
``pytest_generate_tests``; only fixtures with the ``qb_`` prefix are touched, so a test's own
arguments named ``mode`` or ``batch_size`` are left alone.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import pytest

from quantbench import compat, exits
from quantbench.config import Settings, home_problem
from quantbench.env import detect_device, device_name
from quantbench.files import check_writable_dir, describe
from quantbench.methods import LoadedModel, LoadError, Unavailable
from quantbench.plugin import workers
from quantbench.plugin.hooks import session_probes
from quantbench.plugin.keys import BEGUN, BENCH, SETTINGS
from quantbench.plugin.session import QuantbenchSession, session_of
from quantbench.results import CaseResult
from quantbench.run.measure import Run
from quantbench.sources import SourceError
from quantbench.sources.cache import DamagedCache


class Bench:
    """One session's bench helper: runs a case through the runner, puts it into
    pytest-benchmark and into the session's records (``plugin.session``), checkpointed."""

    def __init__(self, settings: Settings, runner: Any, session: QuantbenchSession) -> None:
        self.settings = settings
        self.runner = runner
        self.session = session
        self.ratios: dict[tuple[str, int], Any] = {}  # (mode, batch) -> run.resident.Ratios

    @property
    def device(self) -> str:
        return self.runner.device

    def prefill(self, model: LoadedModel, length: int, benchmark: Any) -> tuple[CaseResult, Run]:
        """Prefill throughput over ``length`` prompt tokens at batch 1."""
        case, run = self.runner.prefill_case(model, length)
        self.record(case, benchmark, run)
        return case, run

    def generate(self, model: LoadedModel, batch: int, mode: str, benchmark: Any) -> tuple[CaseResult, Run]:
        """TTFT, decode, per-token latency and end-to-end throughput at one batch size; under
        ``--qb-interleave`` also the ratios to FP16 from the case's interleaved rounds, taken at
        its first item (FP16's, which runs first) for every method at once."""
        if self.settings.interleave and (mode, batch) not in self.ratios:
            from quantbench.run.resident import interleave_case  # scipy: only under --qb-interleave

            self.ratios[(mode, batch)] = interleave_case(self.runner, batch, mode)
        try:
            case, run = self.runner.generate_case(model, batch, mode)
        except Unavailable as exc:  # a graph mode's known capture failure, with its error
            pytest.skip(str(exc))
        ratios = self.ratios.get((mode, batch))
        if ratios is not None:
            case = replace(case, metrics={**case.metrics, **ratios.metrics.get(model.method, {})},
                           notes=case.notes + tuple(ratios.notes.get(model.method, ())))
        self.record(case, benchmark, run)
        return case, run

    def quality(self, model: LoadedModel, mode: str, benchmark: Any) -> CaseResult:
        """Agreement and KL against the reference method; judged by thresholds at session end."""
        try:
            case = self.runner.quality_case(model, mode)
        except Unavailable as exc:
            pytest.skip(str(exc))
        self.record(case, benchmark, None)
        return case

    def record(self, case: CaseResult, benchmark: Any, run: Run | None) -> None:
        """Add ``case`` to the session's records and to pytest-benchmark, then checkpoint the file
        (a session cut off by a CI time limit still leaves every case it finished)."""
        self.session.results.append(case)
        benchmark.group = case.case_key
        benchmark.extra_info.update(case.to_dict())
        if run is None:
            compat.mark_used(benchmark, "quantbench: not timed")
        else:
            benchmark.extra_info.update(warmup_s=round(run.warmup_s, 3),
                                        measure_s=round(run.measure_s, 3),
                                        rounds=len(run.samples), stop=run.stop)
            compat.record_rounds(benchmark, "quantbench: rounds timed by the runner",
                                 run.round_seconds)
        self.session.checkpoint()


def bench_of(config: pytest.Config) -> Bench:
    """The session's bench helper, built on first use so unit-test runs never load a model."""
    if BENCH not in config.stash:
        from quantbench.run.runner import Runner  # torch and transformers: once a bench runs

        settings = config.stash[SETTINGS]

        def stop(reason: str) -> None:
            pytest.exit(f"quantbench: {reason}; nothing was run", returncode=exits.USAGE)

        try:
            device = detect_device(settings.device)
        except RuntimeError as exc:
            pytest.exit(f"quantbench: {exc}", returncode=exits.USAGE)
        refused = baseline_refusal(settings, device)
        if refused:
            stop(refused)
        session = session_of(config)
        session_path = session.path
        try:  # before any model loads: the session file is written after the first case
            check_writable_dir(session_path.parent)
        except OSError as exc:
            stop(f"cannot write reports to {session_path.parent}: {describe(exc)}")
        problem = home_problem(settings.cache_dir, "--qb-cache-dir")
        if problem:
            stop(problem)
        try:
            with workers.cache_lock(config, settings.cache_dir):
                runner = Runner(settings, device, probes=session_probes(config),
                                begun=config.stash.get(BEGUN, None), failures=session.failures)
        except OSError as exc:
            where = exc.filename or settings.cache_dir
            stop(f"cannot write the model cache ({where}): {describe(exc)}")
        except (SourceError, DamagedCache) as exc:
            stop(str(exc))
        session.runner = runner
        config.stash[BENCH] = Bench(settings, runner, session)
    return config.stash[BENCH]


def baseline_refusal(settings: Settings, device: str) -> str | None:
    """Why the baseline the gate was asked to use or update refuses this session, found before
    any model is built or loaded (``judge.gate.refusal``: schema, GPU, model and scenario), in
    one line (``report.gate_lines``)."""
    if not (settings.compare or settings.update_baseline):
        return None
    from quantbench.judge.gate import refusal  # scipy: only a session with a gate loads it
    from quantbench.report.gate_lines import refusal_text

    refused = refusal(settings, gpu=device_name(device), model_source=settings.model_for(device),
                      scenario=settings.scenario.to_dict())
    return None if refused is None else refusal_text(refused)


def clear_previous(report_dir: Path) -> None:
    """Remove the last run's ``session.json`` and reports from ``report_dir`` once this run has
    collected a bench to run: a run killed before its first case, or one that judges nothing,
    must not leave them to be read as its own (``compare`` would pass a stale session). A run
    without benches (``pytest tests``) leaves them alone."""
    from quantbench.report.publish import clear_reports  # scipy, through the chart's verdicts

    try:
        (report_dir / "session.json").unlink(missing_ok=True)
    except OSError:
        return  # an unwritable report folder: the first bench stops with one line
    clear_reports(report_dir)


@pytest.fixture(scope="session")
def quantbench(pytestconfig: pytest.Config) -> Bench:
    """The session's bench helper: ``quantbench.generate(qb_model, batch, mode, benchmark)``."""
    return bench_of(pytestconfig)


@pytest.fixture(scope="session")
def qb_model(request: pytest.FixtureRequest, quantbench: Bench) -> Iterator[LoadedModel]:
    """One method's model, loaded once per session and freed before the next method loads.

    A method that cannot run here is skipped with the reason; one that fails to load (CUDA
    out-of-memory included) errors its own benches with the reason, and the others still run.
    """
    workers.before_load(request.config, quantbench.runner, request.param)
    try:
        loaded = quantbench.runner.load(request.param)
    except Unavailable as exc:
        pytest.skip(str(exc))
    except LoadError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield loaded
    del loaded
    quantbench.runner.unload()
