"""Interleaved rounds (``run.interleave``) against sequential ones, on a fake clock whose host
drift is planted: every decode step costs the method's own kernel time plus a host overhead that
grows with the clock. Two methods with the same kernel time measured one after the other read a
spurious ratio; interleaved, the drift hits both alike and the paired ratio stays at 1."""

from __future__ import annotations

import math
from typing import Any, Callable

import pytest

from quantbench.run.interleave import interleaved_rounds, ratio_metrics, round_order
from quantbench.run.measure import GenerationTiming, Run, measure_generation
from quantbench.run.stopping import StopRule
from quantbench.run.timing import FakeClock

NEW_TOKENS = 16
ROUNDS = 12
FIXED = StopRule(ROUNDS, ROUNDS, float("inf"), 0.0, adaptive=False)


class DriftingEngine:
    """Prefill and each decode step cost ``kernel_ms`` plus a host overhead of
    ``host_ms * (1 + drift_per_s * clock seconds)``: the same code on a host that slows down."""

    def __init__(self, clock: FakeClock, kernel_ms: float, host_ms: float = 1.0,
                 drift_per_s: float = 0.0) -> None:
        self.clock, self.kernel_ms, self.host_ms, self.drift = clock, kernel_ms, host_ms, drift_per_s
        self.calls = 0

    def _step(self) -> None:
        self.clock.advance(self.kernel_ms + self.host_ms * (1 + self.drift * self.clock.now_s()))

    def generate(self, prompt: Any, new_tokens: int, on_step: Callable[[], None]) -> int:
        self.calls += 1
        for _ in range(new_tokens):
            self._step()
            on_step()
        return new_tokens

    def prefill(self, prompt: Any) -> None:
        self._step()


def _ratio(metrics: dict, name: str) -> tuple[float, float, float]:
    m = metrics[name]
    return m.median, m.low, m.high


def test_planted_drift_gives_sequential_a_spurious_ratio_and_interleaved_none() -> None:
    drift = 0.5  # host overhead +50 % per second of session
    clock = FakeClock()
    fp16, bf16 = DriftingEngine(clock, 2.0, 1.0, drift), DriftingEngine(clock, 2.0, 1.0, drift)
    seq = {name: measure_generation(engine, ["p"], 1, NEW_TOKENS, clock, FIXED, 1)
           for name, engine in (("fp16", fp16), ("bf16", bf16))}
    seq_median = (sorted(s.e2e_tps for s in seq["bf16"].samples)[ROUNDS // 2]
                  / sorted(s.e2e_tps for s in seq["fp16"].samples)[ROUNDS // 2])
    assert seq_median < 0.92  # the same speed reads 8 % slower only for having run second
    sequential = ratio_metrics(seq["fp16"], seq["bf16"])  # pairing cannot rescue drifted rounds
    assert sequential["e2e_ratio"].high < 0.92

    clock = FakeClock()
    engines = {"fp16": DriftingEngine(clock, 2.0, 1.0, drift), "bf16": DriftingEngine(clock, 2.0, 1.0, drift)}
    runs = interleaved_rounds(engines, ["p"], 1, NEW_TOKENS, clock, FIXED, 1, "fp16")
    ratios = ratio_metrics(runs["fp16"], runs["bf16"])
    for name in ("decode_ratio", "e2e_ratio"):
        value, low, high = _ratio(ratios, name)
        assert low <= 1.0 <= high
        assert abs(value - 1) < 0.002 and high - low < 0.02
        assert ratios[name].n == ROUNDS and ratios[name].unit == "x"
    assert engines["fp16"].calls == engines["bf16"].calls == ROUNDS + 1  # one warm-up each


def test_a_real_difference_survives_the_drift() -> None:
    clock = FakeClock()
    engines = {"fp16": DriftingEngine(clock, 3.0, 1.0, 0.05), "int4": DriftingEngine(clock, 1.0, 1.0, 0.05)}
    runs = interleaved_rounds(engines, ["p"], 1, NEW_TOKENS, clock, FIXED, 1, "fp16")
    value, low, high = _ratio(ratio_metrics(runs["fp16"], runs["int4"]), "decode_ratio")
    # per step 4 ms against 2 ms at the start; the host part grows alike, so the ratio dips
    # a little below 2 as the session goes on, with an interval that says so
    assert 1.9 < low <= value <= high < 2.0


def test_without_drift_the_ratio_is_exact() -> None:
    clock = FakeClock()
    engines = {"fp16": DriftingEngine(clock, 4.0, 0.0), "bf16": DriftingEngine(clock, 3.0, 1.0),
               "nf4": DriftingEngine(clock, 1.0, 1.0)}
    runs = interleaved_rounds(engines, ["a", "b"], 1, NEW_TOKENS, clock, FIXED, 2, "fp16")
    assert _ratio(ratio_metrics(runs["fp16"], runs["bf16"]), "e2e_ratio") == pytest.approx((1.0, 1.0, 1.0))
    assert _ratio(ratio_metrics(runs["fp16"], runs["nf4"]), "decode_ratio") == pytest.approx((2.0, 2.0, 2.0))
    assert all(r.stop == "fixed" and len(r.samples) == ROUNDS for r in runs.values())
    assert runs["fp16"].warmup_s == pytest.approx(2 * NEW_TOKENS * 4.0 / 1000)
    assert runs["nf4"].measure_s == pytest.approx(ROUNDS * NEW_TOKENS * 2.0 / 1000)


def test_rounds_rotate_so_no_method_always_goes_first() -> None:
    assert [round_order(["a", "b", "c"], r) for r in range(4)] == [
        ["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]
    order: list[str] = []
    clock = FakeClock()

    class Logged(DriftingEngine):
        def __init__(self, name: str) -> None:
            super().__init__(clock, 1.0)
            self.name = name

        def generate(self, prompt: Any, new_tokens: int, on_step: Callable[[], None]) -> int:
            order.append(f"{self.name}:{prompt}")
            return super().generate(prompt, new_tokens, on_step)

    rule = StopRule(2, 2, float("inf"), 0.0, adaptive=False)
    interleaved_rounds({"x": Logged("x"), "y": Logged("y")}, ["p0", "p1"], 1, 4, clock, rule, 1, "x")
    # warm-ups first, each method in turn; then round r runs prompt r for every method
    assert order == ["x:p0", "y:p0", "x:p0", "y:p0", "y:p1", "x:p1"]


def test_adaptive_rounds_stop_when_the_ratio_settles() -> None:
    clock = FakeClock()
    engines = {"fp16": DriftingEngine(clock, 2.0, 1.0, 0.05), "bf16": DriftingEngine(clock, 2.0, 1.0, 0.05)}
    rule = StopRule(3, 50, float("inf"), 0.02)
    runs = interleaved_rounds(engines, ["p"], 1, NEW_TOKENS, clock, rule, 1, "fp16")
    assert runs["bf16"].stop == "converged" and len(runs["bf16"].samples) == 3


def test_interleaving_needs_the_reference_and_another_method() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="needs fp16 and at least one other method"):
        interleaved_rounds({"fp16": DriftingEngine(clock, 1.0)}, ["p"], 1, 4, clock, FIXED, 1, "fp16")
    with pytest.raises(ValueError, match="needs fp16"):
        interleaved_rounds({"a": DriftingEngine(clock, 1.0), "b": DriftingEngine(clock, 1.0)}, ["p"], 1, 4,
                           clock, FIXED, 1, "fp16")


def test_one_pair_gives_the_ratio_without_an_interval() -> None:
    ref = Run([GenerationTiming(10.0, 110.0, (), 1, 11)], "budget")
    other = Run([GenerationTiming(5.0, 55.0, (), 1, 11)], "budget")
    m = ratio_metrics(ref, other)["e2e_ratio"]
    assert (m.median, m.low, m.high, m.n, m.stop) == (2.0, 2.0, 2.0, 1, "budget")
    assert math.isclose(ratio_metrics(ref, other)["decode_ratio"].median, 2.0)


def test_interleaved_rounds_run_with_garbage_collection_paused() -> None:
    """As a case's own timed rounds do (``run.steady``): a collection must not land in one
    method's round of a pair."""
    import gc
    from types import SimpleNamespace

    from quantbench.config import Settings
    from quantbench.run import steady
    from quantbench.run.resident import _rounds

    clock, seen = FakeClock(), []

    class Watching(DriftingEngine):
        def generate(self, prompt: Any, new_tokens: int, on_step: Callable[[], None]) -> int:
            seen.append(gc.isenabled())
            return super().generate(prompt, new_tokens, on_step)

    settings = Settings()
    runner = SimpleNamespace(
        settings=settings, clock=clock, steadied=lambda: steady.gc_paused(True),
        new_engine=lambda model, mode: Watching(clock, 2.0),
        stop_rule=lambda n: StopRule(3, 3, float("inf"), 0.0, adaptive=False),
        prompts=SimpleNamespace(generation=lambda model, batch: ["p"]))
    models = {m: SimpleNamespace(model=m) for m in ("fp16", "bf16")}
    assert gc.isenabled()
    runs = _rounds(runner, models, 1)
    assert len(runs["bf16"].samples) == 3 and seen and not any(seen)
    assert gc.isenabled()  # given back after the rounds
