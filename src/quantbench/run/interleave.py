"""Interleaved generation rounds: every method's round r before any method's round r + 1.

Why: measured one after another, each method meets whatever the shared host does while it runs.
Host time per FP16 decode token has doubled between two sessions of one machine while BF16 read
0.73x FP16 end to end with kernel times 1.00x apart: the ratio of two medians
carried the drift between them. Here the methods are all resident and warmed up;
round r takes one generation of each (the order rotated every round, so none always goes first),
so a drift lands on every method of a round alike, and each method's ratio to the reference
comes from its paired rounds: per round the log of method / reference, then mean ± Student t
(``stats.paired_test``), reported as a ratio with its 95 % interval.

Like ``run.measure`` this drives ``Engine`` objects and a ``Clock`` only; tests plant a drift in a
fake clock and watch it cancel.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from quantbench.catalog import spec
from quantbench.results import Metric
from quantbench.run.measure import Engine, GenerationTiming, Run, time_generation
from quantbench.run.stopping import StopRule
from quantbench.run.timing import Clock
from quantbench.stats import paired_test

# (ratio metric, the per-round figure it is the ratio of)
RATIOS = (("decode_ratio", "decode_tps"), ("e2e_ratio", "e2e_tps"))


def round_order(methods: Sequence[str], r: int) -> list[str]:
    """Round ``r``'s order: the methods rotated by ``r``."""
    k = r % len(methods)
    return [*methods[k:], *methods[:k]]


def interleaved_rounds(engines: Mapping[str, Engine], prompts: Sequence[Any], batch: int,
                       new_tokens: int, clock: Clock, rule: StopRule, warmup: int,
                       reference: str) -> dict[str, Run]:
    """Warm every engine up (in turn), then take rounds of one generation per method until
    ``rule`` stops on the ratios to ``reference`` (their spread, the budget or the round cap).
    Round r uses prompt r (cycled) for every method, so each pair saw the same input."""
    names = list(engines)
    if reference not in engines or len(names) < 2:
        raise ValueError(f"interleaving needs {reference} and at least one other method, got {names}")
    runs = {name: Run() for name in names}
    for name in names:
        t0 = clock.now_s()
        for i in range(warmup):
            time_generation(engines[name], prompts[i % len(prompts)], batch, new_tokens, clock)
        runs[name].warmup_s = clock.now_s() - t0
    t1 = clock.now_s()
    spent = dict.fromkeys(names, 0.0)
    rounds = 0
    while True:
        for name in round_order(names, rounds):
            start = clock.now_s()
            runs[name].samples.append(time_generation(engines[name], prompts[rounds % len(prompts)],
                                                      batch, new_tokens, clock))
            spent[name] += clock.now_s() - start
        rounds += 1
        stop = rule.decide(rounds, clock.now_s() - t1, _watched(runs, reference))
        if stop:
            break
    for name, run in runs.items():
        run.stop = stop
        run.measure_s = spent[name]
    return runs


def _watched(runs: Mapping[str, Run], reference: str) -> list[list[float]]:
    ref: list[GenerationTiming] = runs[reference].samples
    out = []
    for name, run in runs.items():
        if name != reference:
            for _, field in RATIOS:
                out.append([getattr(s, field) / getattr(r, field) for s, r in zip(run.samples, ref)])
    return out


def ratio_metrics(reference: Run, other: Run) -> dict[str, Metric]:
    """Decode and end-to-end throughput of ``other`` over ``reference`` from their paired rounds:
    the geometric mean ratio and its 95 % interval (Student t over the per-round log ratios).
    Fewer than two pairs give the one ratio without an interval."""
    out = {}
    for name, field in RATIOS:
        logs = [math.log(getattr(o, field) / getattr(r, field))
                for o, r in zip(other.samples, reference.samples, strict=True)]
        s = spec(name)
        if len(logs) < 2:
            value = math.exp(logs[0])
            out[name] = Metric(name, s.unit, value, value, value, len(logs), True, 0.0, other.stop)
            continue
        test = paired_test(logs)
        out[name] = Metric(name, s.unit, math.exp(test.mean), math.exp(test.mean - test.halfwidth),
                           math.exp(test.mean + test.halfwidth), test.k, True, test.stdev, other.stop)
    return out
