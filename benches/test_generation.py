"""The benches: prefill throughput, and generation (TTFT, decode, per-token latency, end to end).

Each bench runs one case for one method through the ``quantbench`` fixture, which records every
metric in pytest-benchmark and in the session record. The assertions check that the measurement
is internally consistent; speed verdicts belong to the gate (``--benchmark-compare``).
"""

from __future__ import annotations


def test_prefill(qb_model, qb_prefill_length, quantbench, benchmark):
    case, run = quantbench.prefill(qb_model, qb_prefill_length, benchmark)
    prefill = case.metrics["prefill_tps"]
    assert prefill.low <= prefill.median <= prefill.high
    assert prefill.n == len(run.samples) >= 1


def test_generate(qb_model, qb_batch_size, qb_mode, quantbench, benchmark):
    case, run = quantbench.generate(qb_model, qb_batch_size, qb_mode, benchmark)
    m = case.metrics
    for timing in run.samples:
        assert 0 < timing.ttft_ms < timing.total_ms
        assert len(timing.step_ms) == quantbench.settings.scenario.new_tokens - 1
    assert m["token_p50_ms"].median <= m["token_p90_ms"].median <= m["token_p99_ms"].median
    assert m["decode_tps"].n == m["e2e_tps"].n == len(run.samples)
