"""The benches: prefill throughput, and generation (TTFT, decode, per-token latency, end to end).

Each bench runs one case for one method through the harness and records every metric in
pytest-benchmark. The assertions check that the measurement is internally consistent; speed
verdicts belong to the baseline gate (``--benchmark-compare``), not to assertions here.
"""

from __future__ import annotations

import pytest

from quantbench.harness import mode_unavailable
from quantbench.plugin import record_benchmark


def test_prefill(loaded_model, prefill_length, harness, benchmark):
    case, run = harness.prefill_case(loaded_model, prefill_length)
    record_benchmark(benchmark, case, run)
    prefill = case.metrics["prefill_tps"]
    assert prefill.low <= prefill.median <= prefill.high
    assert prefill.n == len(run.samples) >= 1


def test_generate(loaded_model, batch_size, mode, harness, benchmark):
    reason = mode_unavailable(mode, harness.device)
    if reason:
        pytest.skip(reason)
    case, run = harness.generate_case(loaded_model, batch_size, mode)
    record_benchmark(benchmark, case, run)
    m = case.metrics
    for timing in run.samples:
        assert 0 < timing.ttft_ms < timing.total_ms
        assert len(timing.step_ms) == harness.settings.scenario.new_tokens - 1
    assert m["token_p50_ms"].median <= m["token_p90_ms"].median <= m["token_p99_ms"].median
    assert m["decode_tps"].n == m["e2e_tps"].n == len(run.samples)
