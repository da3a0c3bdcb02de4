"""Timed generation and prefill rounds, driven by a fake engine on a fake clock.

The fake engine advances ``timing.FakeClock`` by a known prefill cost before the first token's
``on_step`` and by a known per-token cost before each later one, so every figure the measuring
code derives (TTFT, decode and end-to-end throughput, per-token percentiles, prefill throughput,
round counts and stop reasons) is known exactly in advance.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pytest

from quantbench.run.measure import (
    GenerationTiming,
    MeasurementError,
    PrefillTiming,
    Run,
    generation_metrics,
    measure_generation,
    measure_prefill,
    prefill_metrics,
    time_generation,
    time_prefill,
)
from quantbench.run.stopping import StopRule
from quantbench.run.timing import FakeClock

EXACT = 1e-12  # relative slack for values that go through one float division


class FakeEngine:
    """An ``Engine`` whose costs are known: prefill ms (per prompt), then ms per later token.

    ``step_ms`` may be a number (every later token costs the same) or a sequence giving the
    cost of token 2, 3, ... in order. ``prefill_by_call`` overrides the prefill cost of the
    n-th ``generate`` call (warm-up rounds included), for outliers at a known round.
    """

    def __init__(self, clock: FakeClock, prefill_ms: float | dict[Any, float], step_ms: float | Sequence[float],
                 tail_ms: float = 0.0, prefill_by_call: dict[int, float] | None = None,
                 short_by: int = 0) -> None:
        self.clock = clock
        self.prefill_ms = prefill_ms
        self.step_ms = step_ms
        self.tail_ms = tail_ms
        self.prefill_by_call = prefill_by_call or {}
        self.short_by = short_by
        self.generate_calls: list[Any] = []
        self.prefill_calls: list[Any] = []

    def _prefill_cost(self, prompt: Any) -> float:
        n = len(self.generate_calls) - 1
        if n in self.prefill_by_call:
            return self.prefill_by_call[n]
        if isinstance(self.prefill_ms, dict):
            return self.prefill_ms[prompt]
        return self.prefill_ms

    def _step_cost(self, i: int) -> float:
        if isinstance(self.step_ms, (int, float)):
            return self.step_ms
        return self.step_ms[i]

    def generate(self, prompt: Any, new_tokens: int, on_step: Callable[[], None]) -> int:
        self.generate_calls.append(prompt)
        produced = new_tokens - self.short_by
        self.clock.advance(self._prefill_cost(prompt))
        on_step()  # the first token's logits come out of the prefill forward
        for i in range(produced - 1):
            self.clock.advance(self._step_cost(i))
            on_step()
        self.clock.advance(self.tail_ms)
        return produced

    def prefill(self, prompt: Any) -> None:
        self.prefill_calls.append(prompt)
        self.clock.advance(self.prefill_ms[prompt] if isinstance(self.prefill_ms, dict) else self.prefill_ms)


def _never_converges(**kw: Any) -> StopRule:
    # target 0: only a zero-width interval counts as converged; the samples below always vary
    return StopRule(min_rounds=kw.pop("min_rounds", 2), max_rounds=kw.pop("max_rounds", 1000),
                    budget_s=kw.pop("budget_s", 1e9), target_rel=0.0, **kw)


# ---------------------------------------------------------------- one timed generation


def test_time_generation_reads_ttft_steps_and_total_exactly() -> None:
    clock = FakeClock()
    clock.advance(1000.0)  # marks are relative to the round's start, not to the clock's zero
    engine = FakeEngine(clock, prefill_ms=40.0, step_ms=10.0)
    t = time_generation(engine, "p", batch=2, new_tokens=9, clock=clock)
    assert t.ttft_ms == 40.0
    assert t.total_ms == 40.0 + 8 * 10.0
    assert t.step_ms == (10.0,) * 8
    assert (t.batch, t.new_tokens) == (2, 9)
    # decode: batch x (new - 1) / (total - ttft); e2e: batch x new / total
    assert t.decode_tps == pytest.approx(2 * 8 / 0.080, rel=EXACT)
    assert t.decode_tps == pytest.approx(200.0, rel=EXACT)
    assert t.e2e_tps == pytest.approx(2 * 9 / 0.120, rel=EXACT)
    assert t.e2e_tps == pytest.approx(150.0, rel=EXACT)
    assert clock.syncs == 1  # the host waits once per round, at the end
    assert engine.generate_calls == ["p"]


def test_time_generation_counts_work_after_the_last_token_in_total_only() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, prefill_ms=30.0, step_ms=5.0, tail_ms=20.0)
    t = time_generation(engine, "p", batch=1, new_tokens=5, clock=clock)
    assert t.ttft_ms == 30.0
    assert t.step_ms == (5.0, 5.0, 5.0, 5.0)
    assert t.total_ms == 30.0 + 4 * 5.0 + 20.0
    assert t.decode_tps == pytest.approx(4 / 0.040, rel=EXACT)  # (70 - 30) ms for 4 tokens
    assert t.e2e_tps == pytest.approx(5 / 0.070, rel=EXACT)


def test_time_generation_step_gaps_follow_each_token() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, prefill_ms=50.0, step_ms=[1.0, 2.0, 4.0, 8.0])
    t = time_generation(engine, "p", batch=1, new_tokens=5, clock=clock)
    assert t.step_ms == (1.0, 2.0, 4.0, 8.0)
    assert t.ttft_ms == 50.0
    assert t.total_ms == 65.0


@pytest.mark.parametrize("short_by", [1, 3])
def test_early_stop_is_a_measurement_error(short_by: int) -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, prefill_ms=10.0, step_ms=1.0, short_by=short_by)
    with pytest.raises(MeasurementError, match=f"produced {8 - short_by} tokens in {8 - short_by} steps, expected 8"):
        time_generation(engine, "p", batch=1, new_tokens=8, clock=clock)


def test_steps_not_matching_the_count_is_a_measurement_error() -> None:
    class SkipsAMark(FakeEngine):
        def generate(self, prompt: Any, new_tokens: int, on_step: Callable[[], None]) -> int:
            self.clock.advance(10.0)
            for _ in range(new_tokens - 1):
                on_step()
            return new_tokens

    clock = FakeClock()
    with pytest.raises(MeasurementError, match="produced 4 tokens in 3 steps, expected 4"):
        time_generation(SkipsAMark(clock, 0.0, 0.0), "p", batch=1, new_tokens=4, clock=clock)


def test_time_prefill_and_its_throughput() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, prefill_ms=25.0, step_ms=0.0)
    t = time_prefill(engine, "long prompt", tokens=128, clock=clock)
    assert t == PrefillTiming(25.0, 128)
    assert t.tps == pytest.approx(128 / 0.025, rel=EXACT)
    assert t.tps == pytest.approx(5120.0, rel=EXACT)
    assert engine.prefill_calls == ["long prompt"]
    assert clock.syncs == 1


def test_run_round_seconds() -> None:
    gen = GenerationTiming(10.0, 250.0, (), 1, 1)
    pre = PrefillTiming(500.0, 64)
    assert Run(samples=[gen, pre]).round_seconds == [0.25, 0.5]


# ---------------------------------------------------------------- rounds, warm-up and metrics


def test_generation_metrics_are_exact_for_known_costs() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, prefill_ms=40.0, step_ms=10.0)
    rule = StopRule(min_rounds=3, max_rounds=50, budget_s=100.0, target_rel=0.02)
    run = measure_generation(engine, ["a", "b"], batch=4, new_tokens=9, clock=clock, rule=rule, warmup=2)

    assert run.stop == "converged"  # identical rounds: zero-width interval at the minimum
    assert len(run.samples) == 3
    m = generation_metrics(run)
    assert set(m) == {"ttft_ms", "decode_tps", "e2e_tps", "token_p50_ms", "token_p90_ms", "token_p99_ms"}

    assert m["ttft_ms"].median == 40.0
    assert m["ttft_ms"].low == m["ttft_ms"].high == 40.0
    assert m["ttft_ms"].unit == "ms" and m["ttft_ms"].higher_is_better is False
    assert m["decode_tps"].median == pytest.approx(4 * 8 / 0.080, rel=EXACT)  # 400 tok/s
    assert m["decode_tps"].unit == "tok/s" and m["decode_tps"].higher_is_better is True
    assert m["e2e_tps"].median == pytest.approx(4 * 9 / 0.120, rel=EXACT)  # 300 tok/s
    for q in (50, 90, 99):
        metric = m[f"token_p{q}_ms"]
        assert (metric.median, metric.low, metric.high) == (10.0, 10.0, 10.0)
        assert metric.n == 3  # one percentile per round: a round's steps are not independent
    for name in ("ttft_ms", "decode_tps", "e2e_tps"):
        assert m[name].n == 3
        assert m[name].stop == "converged"
        assert m[name].cv == 0.0


def test_energy_is_read_around_the_measured_rounds_only() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, prefill_ms=40.0, step_ms=10.0)
    rule = StopRule(min_rounds=3, max_rounds=50, budget_s=100.0, target_rel=0.02)
    reads: list[float] = []

    def energy() -> float:  # a fake NVML total-energy counter: 1 mJ per fake millisecond
        reads.append(clock.now_s())
        return clock.now_s() * 1000.0

    run = measure_generation(engine, ["a"], batch=4, new_tokens=9, clock=clock, rule=rule,
                             warmup=2, energy=energy)
    assert reads == [0.240, 0.600]  # after two 120 ms warm-ups, then after three rounds
    assert run.energy_mj == pytest.approx(360.0, rel=EXACT)
    m = generation_metrics(run)["energy_mj_per_token"]
    assert m.median == pytest.approx(360.0 / (3 * 4 * 9), rel=EXACT) and m.stop == "fixed"
    unmetered = measure_generation(engine, ["a"], batch=4, new_tokens=9, clock=clock, rule=rule,
                                   warmup=0, energy=lambda: None)
    assert unmetered.energy_mj is None and "energy_mj_per_token" not in generation_metrics(unmetered)


def test_per_token_percentiles_use_every_step_gap() -> None:
    clock = FakeClock()
    # gaps 1, 2, ..., 100 ms: linear-interpolated percentiles are 50.5, 90.1 and 99.01
    engine = FakeEngine(clock, prefill_ms=7.0, step_ms=[float(i) for i in range(1, 101)])
    rule = StopRule(min_rounds=1, max_rounds=1, budget_s=0.0, target_rel=0.0, adaptive=False)
    run = measure_generation(engine, ["p"], batch=1, new_tokens=101, clock=clock, rule=rule, warmup=0)
    assert run.stop == "fixed"
    m = generation_metrics(run)
    assert m["token_p50_ms"].median == pytest.approx(50.5, rel=EXACT)
    assert m["token_p90_ms"].median == pytest.approx(90.1, rel=EXACT)
    assert m["token_p99_ms"].median == pytest.approx(99.01, rel=EXACT)
    assert m["token_p50_ms"].n == 1
    assert m["ttft_ms"].median == 7.0
    total = 7.0 + sum(range(1, 101))
    assert m["e2e_tps"].median == pytest.approx(101 / (total / 1000), rel=EXACT)
    assert m["decode_tps"].median == pytest.approx(100 / (sum(range(1, 101)) / 1000), rel=EXACT)


def test_token_percentiles_are_per_round_then_over_rounds() -> None:
    """Rounds of 1 ms steps and one round of 3 ms steps: the p50's samples are the three
    rounds' own p50s (1, 1, 3), not 24 steps of which 16 are 1 ms."""
    timings = [GenerationTiming(5.0, 5.0 + 8 * ms, (ms,) * 8, 1, 9) for ms in (1.0, 1.0, 3.0)]
    m = generation_metrics(Run(samples=timings, stop="budget"))["token_p50_ms"]
    assert (m.median, m.n) == (1.0, 3)
    assert m.high == 3.0  # the slow round is one of three samples, not one in three steps
    assert m.cv == pytest.approx(np.std([1.0, 1.0, 3.0], ddof=1) / np.mean([1.0, 1.0, 3.0]), rel=EXACT)


def test_single_token_generation_has_no_step_percentiles() -> None:
    run = Run(samples=[GenerationTiming(5.0, 10.0, (), 1, 1)], stop="fixed")
    m = generation_metrics(run)
    assert "token_p50_ms" not in m
    assert set(m) == {"ttft_ms", "decode_tps", "e2e_tps"}


def test_warmup_rounds_are_excluded_from_samples() -> None:
    clock = FakeClock()
    # calls 0 and 1 are the warm-up: very slow prefill (a cold cache); measured rounds are not
    engine = FakeEngine(clock, prefill_ms=20.0, step_ms=10.0, prefill_by_call={0: 900.0, 1: 500.0})
    rule = StopRule(min_rounds=4, max_rounds=4, budget_s=100.0, target_rel=0.0, adaptive=False)
    run = measure_generation(engine, ["a", "b", "c"], batch=1, new_tokens=3, clock=clock, rule=rule, warmup=2)

    assert len(engine.generate_calls) == 2 + 4
    assert len(run.samples) == 4
    assert [s.ttft_ms for s in run.samples] == [20.0] * 4
    assert generation_metrics(run)["ttft_ms"].median == 20.0
    # warm-up took (900 + 20) + (500 + 20) ms; each measured round 20 + 2 x 10 ms
    assert run.warmup_s == pytest.approx(1.44, rel=EXACT)
    assert run.measure_s == pytest.approx(4 * 0.040, rel=EXACT)
    # prompts are cycled: warm-up used a, b; measuring starts over at a
    assert engine.generate_calls == ["a", "b", "a", "b", "c", "a"]
    assert clock.syncs == 6


def test_prefill_metrics_exact() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, prefill_ms=32.0, step_ms=0.0)
    rule = StopRule(min_rounds=3, max_rounds=100, budget_s=100.0, target_rel=0.02)
    run = measure_prefill(engine, "x", tokens=1024, clock=clock, rule=rule, warmup=1)
    assert run.stop == "converged"
    assert len(run.samples) == 3
    assert len(engine.prefill_calls) == 4  # one warm-up forward, not sampled
    m = prefill_metrics(run)
    assert set(m) == {"prefill_tps"}
    assert m["prefill_tps"].median == pytest.approx(1024 / 0.032, rel=EXACT)  # 32000 tok/s
    assert m["prefill_tps"].unit == "tok/s"
    assert m["prefill_tps"].n == 3
    assert run.warmup_s == pytest.approx(0.032, rel=EXACT)
    assert run.measure_s == pytest.approx(0.096, rel=EXACT)


# ---------------------------------------------------------------- adaptive stopping


@pytest.mark.parametrize("min_rounds", [1, 3, 5])
def test_converges_at_min_rounds_for_steady_samples(min_rounds: int) -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, prefill_ms=10.0, step_ms=2.0)
    rule = StopRule(min_rounds=min_rounds, max_rounds=100, budget_s=100.0, target_rel=0.02)
    run = measure_generation(engine, ["p"], 1, 4, clock, rule, warmup=1)
    assert (run.stop, len(run.samples)) == ("converged", max(2, min_rounds))  # one is no interval


def test_converges_once_an_outlier_stops_moving_the_interval() -> None:
    """First measured round is a 1000 ms outlier, the rest are identical.

    With one outlier among n samples, a bootstrap median exceeds the common value only when
    more than half the picks are the outlier: about 26 % of resamples for n = 3 and 4, 5.8 %
    for n = 5, 6.2 % for n = 6, but 1.0 % for n = 7, under the 2.5 % tail. So the interval
    collapses to zero width (converged, even at a 0 target) at exactly round 7.
    """
    clock = FakeClock()
    engine = FakeEngine(clock, prefill_ms=10.0, step_ms=2.0, prefill_by_call={1: 1000.0})
    rule = StopRule(min_rounds=3, max_rounds=100, budget_s=1e9, target_rel=0.0)
    run = measure_generation(engine, ["p"], 1, 4, clock, rule, warmup=1)
    assert run.stop == "converged"
    assert len(run.samples) == 7
    assert [s.ttft_ms for s in run.samples] == [1000.0] + [10.0] * 6


def test_budget_stops_sampling_when_the_clock_passes_it() -> None:
    clock = FakeClock()
    # prompts alternate a cheap and a dear prefill so the interval never closes
    engine = FakeEngine(clock, prefill_ms={"a": 10.0, "b": 50.0}, step_ms=10.0)
    rule = _never_converges(min_rounds=2, budget_s=0.3)
    run = measure_generation(engine, ["a", "b"], 1, 5, clock, rule, warmup=1)
    # rounds take 50, 90, 50, 90, 50 ms: elapsed 0.05, 0.14, 0.19, 0.28, 0.33 s -> stop after 5
    assert run.stop == "budget"
    assert len(run.samples) == 5
    assert run.measure_s == pytest.approx(0.33, rel=1e-9)
    assert run.warmup_s == pytest.approx(0.05, rel=1e-9)


def test_budget_never_cuts_below_min_rounds() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, prefill_ms={"a": 10.0, "b": 50.0}, step_ms=10.0)
    rule = _never_converges(min_rounds=4, budget_s=0.0)
    run = measure_generation(engine, ["a", "b"], 1, 5, clock, rule, warmup=0)
    assert (run.stop, len(run.samples)) == ("budget", 4)


def test_round_cap() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, prefill_ms={"a": 10.0, "b": 50.0}, step_ms=10.0)
    rule = _never_converges(min_rounds=2, max_rounds=6, budget_s=1e9)
    run = measure_generation(engine, ["a", "b"], 1, 5, clock, rule, warmup=0)
    assert (run.stop, len(run.samples)) == ("max_rounds", 6)
    assert all(m.stop == "max_rounds" for m in generation_metrics(run).values())


def test_round_cap_wins_over_budget_when_both_are_reached() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, prefill_ms={"a": 10.0, "b": 50.0}, step_ms=10.0)
    rule = _never_converges(min_rounds=3, max_rounds=3, budget_s=0.0)
    run = measure_generation(engine, ["a", "b"], 1, 5, clock, rule, warmup=0)
    assert (run.stop, len(run.samples)) == ("max_rounds", 3)


@pytest.mark.parametrize("rounds", [1, 4, 20])
def test_fixed_rounds_ignore_convergence_and_budget(rounds: int) -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, prefill_ms={"a": 10.0, "b": 50.0}, step_ms=10.0)
    rule = StopRule(min_rounds=rounds, max_rounds=rounds, budget_s=0.0, target_rel=0.0, adaptive=False)
    run = measure_generation(engine, ["a", "b"], 1, 5, clock, rule, warmup=1)
    assert (run.stop, len(run.samples)) == ("fixed", rounds)
    assert len(engine.generate_calls) == rounds + 1


def test_fixed_steady_samples_still_take_every_round() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, prefill_ms=10.0, step_ms=1.0)
    rule = StopRule(min_rounds=20, max_rounds=20, budget_s=float("inf"), target_rel=0.02, adaptive=False)
    run = measure_generation(engine, ["p"], 1, 3, clock, rule, warmup=1)
    assert (run.stop, len(run.samples)) == ("fixed", 20)


def test_prefill_rounds_stop_on_budget() -> None:
    clock = FakeClock()

    class Alternating(FakeEngine):
        def prefill(self, prompt: Any) -> None:
            self.prefill_calls.append(prompt)
            self.clock.advance(10.0 if len(self.prefill_calls) % 2 else 30.0)

    engine = Alternating(clock, prefill_ms=0.0, step_ms=0.0)
    rule = _never_converges(min_rounds=2, budget_s=0.1)
    run = measure_prefill(engine, "x", tokens=64, clock=clock, rule=rule, warmup=1)
    # warm-up 10 ms; rounds 30, 10, 30, 10, 30 ms: elapsed 0.03, 0.04, 0.07, 0.08, 0.11 s
    assert (run.stop, len(run.samples)) == ("budget", 5)
    assert [s.ms for s in run.samples] == [30.0, 10.0, 30.0, 10.0, 30.0]
    assert prefill_metrics(run)["prefill_tps"].median == pytest.approx(64 / 0.030, rel=EXACT)


# ---------------------------------------------------------------- StopRule.decide directly


def test_stop_rule_decide_order() -> None:
    steady = [[5.0, 5.0, 5.0]]
    noisy = [[1.0, 100.0, 1.0, 100.0]]
    rule = StopRule(min_rounds=3, max_rounds=4, budget_s=1.0, target_rel=0.02)
    assert rule.decide(2, 99.0, steady) is None  # below the minimum nothing stops
    assert rule.decide(3, 0.0, steady) == "converged"
    assert rule.decide(4, 99.0, steady) == "converged"  # converged wins over cap and budget
    assert rule.decide(3, 0.5, noisy) is None
    assert rule.decide(3, 1.0, noisy) == "budget"  # elapsed equal to the budget stops
    assert rule.decide(4, 0.0, noisy) == "max_rounds"
    assert rule.decide(4, 5.0, noisy) == "max_rounds"
    # every watched series must be within the target
    assert rule.decide(3, 0.0, [[5.0, 5.0, 5.0], [1.0, 100.0, 1.0]]) is None


def test_stop_rule_fixed() -> None:
    rule = StopRule(min_rounds=1, max_rounds=3, budget_s=0.0, target_rel=1.0, adaptive=False)
    assert rule.decide(2, 1e9, [[1.0, 1.0]]) is None
    assert rule.decide(3, 0.0, [[1.0, 1.0, 1.0]]) == "fixed"
