"""Timed prefill and generation rounds, and the metrics they yield.

One timed generation serves every generation metric at once: marks are taken at the start,
after each forward that produced a token's logits, and at the end. From them:

* time to first token = first mark − start (the prefill and the first token's selection);
* decode throughput = batch × (new tokens − 1) / (total − TTFT), prefill taken out;
* per-token latency = the gaps between successive marks (each percentile per round, then over
  rounds);
* end-to-end throughput = batch × new tokens / total, the T4 study's figure.

Everything here talks to an ``Engine`` and a ``Clock``; neither torch nor a GPU is needed, so
tests drive it with a fake engine whose prefill and per-token costs are known exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

from quantbench.results import Metric
from quantbench.run.energy import energy_per_token
import numpy as np

from quantbench.run.stopping import StopRule, to_metric
from quantbench.stats import summarize
from quantbench.run.timing import Clock


class MeasurementError(RuntimeError):
    """A round whose result cannot be trusted (for example generation stopped early)."""


class Engine(Protocol):
    def generate(self, prompt: Any, new_tokens: int, on_step: Callable[[], None]) -> int:
        """Generate exactly ``new_tokens`` per sequence, calling ``on_step`` after each forward;
        return how many new tokens each sequence got."""

    def prefill(self, prompt: Any) -> None:
        """One forward pass over the prompt."""


@dataclass(frozen=True)
class GenerationTiming:
    """One timed generation of ``new_tokens`` for ``batch`` sequences."""

    ttft_ms: float
    total_ms: float
    step_ms: tuple[float, ...]
    batch: int
    new_tokens: int

    @property
    def decode_tps(self) -> float:
        return self.batch * (self.new_tokens - 1) / ((self.total_ms - self.ttft_ms) / 1000)

    @property
    def e2e_tps(self) -> float:
        return self.batch * self.new_tokens / (self.total_ms / 1000)


@dataclass
class Run:
    """The rounds of one bench case, with how sampling ended and where the time went."""

    samples: list[Any] = field(default_factory=list)
    stop: str = ""
    warmup_s: float = 0.0
    measure_s: float = 0.0
    energy_mj: float | None = None  # the device's energy over the measured rounds, if metered

    @property
    def round_seconds(self) -> list[float]:
        """Each round's duration in seconds, for pytest-benchmark's own statistics."""
        return [
            (s.total_ms if isinstance(s, GenerationTiming) else s.ms) / 1000 for s in self.samples
        ]


@dataclass(frozen=True)
class PrefillTiming:
    ms: float
    tokens: int

    @property
    def tps(self) -> float:
        return self.tokens / (self.ms / 1000)


def time_generation(engine: Engine, prompt: Any, batch: int, new_tokens: int, clock: Clock) -> GenerationTiming:
    """Generate once and read TTFT, per-step gaps and the total from the clock's marks."""
    marks: list[Any] = []
    start = clock.mark()
    produced = engine.generate(prompt, new_tokens, lambda: marks.append(clock.mark()))
    end = clock.mark()
    clock.sync()
    if produced != new_tokens or len(marks) != new_tokens:
        raise MeasurementError(
            f"generation produced {produced} tokens in {len(marks)} steps, expected {new_tokens}"
        )
    stamps = [clock.elapsed_ms(start, m) for m in marks]
    steps = tuple(b - a for a, b in zip(stamps, stamps[1:]))
    return GenerationTiming(stamps[0], clock.elapsed_ms(start, end), steps, batch, new_tokens)


def time_prefill(engine: Engine, prompt: Any, tokens: int, clock: Clock) -> PrefillTiming:
    start = clock.mark()
    engine.prefill(prompt)
    end = clock.mark()
    clock.sync()
    return PrefillTiming(clock.elapsed_ms(start, end), tokens)


EnergyReader = Callable[[], "float | None"]


def _rounds(take: Callable[[int], Any], watch: Callable[[list[Any]], list[list[float]]],
            rule: StopRule, warmup: int, clock: Clock, energy: EnergyReader | None = None,
            warm: Callable[[int], Any] | None = None) -> Run:
    run = Run()
    t0 = clock.now_s()
    for i in range(warmup):
        (warm or take)(i)
    t1 = clock.now_s()
    run.warmup_s = t1 - t0
    start_mj = energy() if energy else None
    while True:
        run.samples.append(take(len(run.samples)))
        stop = rule.decide(len(run.samples), clock.now_s() - t1, watch(run.samples))
        if stop:
            run.stop = stop
            break
    run.measure_s = clock.now_s() - t1
    end_mj = energy() if energy else None
    if start_mj is not None and end_mj is not None:
        run.energy_mj = end_mj - start_mj
    return run


def measure_generation(engine: Engine, prompts: Sequence[Any], batch: int, new_tokens: int,
                       clock: Clock, rule: StopRule, warmup: int,
                       energy: EnergyReader | None = None, warmup_tokens: int | None = None) -> Run:
    """Warm up (``warmup`` generations of ``warmup_tokens``, by default as long as a timed one:
    the first full-length generation of a shape builds cuDNN's attention plans, docs/gating.md),
    then take generation rounds over ``prompts`` (cycled) until ``rule`` stops; ``energy`` (the
    device's cumulative millijoules) is read around the measured rounds."""
    def take(i: int, tokens: int = new_tokens) -> GenerationTiming:
        return time_generation(engine, prompts[i % len(prompts)], batch, tokens, clock)

    def warm(i: int) -> GenerationTiming:
        return take(i, warmup_tokens or new_tokens)

    def watch(samples: list[GenerationTiming]) -> list[list[float]]:
        return [[s.ttft_ms for s in samples], [s.decode_tps for s in samples],
                [s.e2e_tps for s in samples]]

    return _rounds(take, watch, rule, warmup, clock, energy, warm)


def measure_prefill(engine: Engine, prompt: Any, tokens: int, clock: Clock, rule: StopRule,
                    warmup: int) -> Run:
    """Warm up, then time single forward passes over ``prompt`` until ``rule`` stops."""
    return _rounds(lambda i: time_prefill(engine, prompt, tokens, clock),
                   lambda samples: [[s.tps for s in samples]], rule, warmup, clock)


def generation_metrics(run: Run) -> dict[str, Metric]:
    """TTFT, decode and end-to-end throughput, and per-token latency percentiles."""
    samples: list[GenerationTiming] = run.samples
    out = {
        "ttft_ms": to_metric("ttft_ms", summarize([s.ttft_ms for s in samples]), run.stop),
        "decode_tps": to_metric("decode_tps", summarize([s.decode_tps for s in samples]), run.stop),
        "e2e_tps": to_metric("e2e_tps", summarize([s.e2e_tps for s in samples]), run.stop),
    }
    rounds = [s.step_ms for s in samples if s.step_ms]
    if rounds:
        # Each round's own percentile, summarised over rounds: the steps of one round share its
        # state (clocks, caches, a neighbour's load), so they are not independent samples, and
        # an interval over all steps of all rounds was far too narrow (±0.4 %, issue 19).
        for q in (50, 90, 99):
            out[f"token_p{q}_ms"] = to_metric(
                f"token_p{q}_ms", summarize([float(np.percentile(r, q)) for r in rounds]), run.stop)
    energy = energy_per_token(0.0, run.energy_mj, sum(s.batch * s.new_tokens for s in samples))
    if energy is not None:
        out["energy_mj_per_token"] = energy
    return out


def prefill_metrics(run: Run) -> dict[str, Metric]:
    return {"prefill_tps": to_metric("prefill_tps", summarize([s.tps for s in run.samples]), run.stop)}
