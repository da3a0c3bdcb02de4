"""The runner's side of interleaved rounds (``--qb-interleave``): the session's methods loaded
side by side, while they fit, measured by ``run.interleave``, then freed.

At a generate case's first item (the reference method's, which the pool holds), every other
method is loaded next to it, each once; a method is kept only while the device keeps
``RESERVE`` of its memory free for caches and activations (on the CPU: twice the largest
model). Eager cases only: a compiled case notes ``COMPILED_NOTE`` and runs each method alone.
Those that do not fit, or fail to load beside the others, are left to their own sequential
benches with a note saying their ratio was not paired. The interleaved rounds
give each method its ratio to the reference (decode and end to end, with the paired interval),
which its own generate case then carries; everything else in that case (the timed rounds'
absolute figures, memory, device work) is still measured by its own bench with the method
alone in memory, so memory figures never include another model.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from quantbench.catalog import REFERENCE_METHOD
from quantbench.methods import LoadedModel, LoadError
from quantbench.device_memory import free_device_memory
from quantbench.results import Metric
from quantbench.run.interleave import interleaved_rounds, ratio_metrics
from quantbench.run.memory import tensor_bytes

RESERVE = 0.25  # share of device memory left free with every interleaved model resident
# Compiled cases are measured one method after another. Interleaving them compiled every method
# twice (beside FP16, then for its own bench after dynamo's reset): AWQ's second compile could
# fail inside inductor, and the interleaved rounds of the compiled methods took minutes before
# any method's own bench.
COMPILED_NOTE = ("not interleaved: compiled and graph cases run one method at a time (else each is "
                 "built twice); ratio to FP16 not paired")


@dataclass
class Ratios:
    """What one interleaved case gives each method: its ratio metrics and notes."""

    metrics: dict[str, dict[str, Metric]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)


def memory_fits(device: str) -> Callable[[dict[str, LoadedModel]], bool]:
    """Whether the device still has room beside ``models``: ``RESERVE`` of the GPU's memory free,
    or on the CPU twice the largest model's bytes available."""
    def fits(models: dict[str, LoadedModel]) -> bool:
        if device == "cuda":
            import torch

            free, total = torch.cuda.mem_get_info()
            return free >= RESERVE * total
        import psutil

        largest = max(tensor_bytes(m.model) for m in models.values())
        return psutil.virtual_memory().available >= 2 * largest
    return fits


def load_beside(pool: Any, methods: list[str], fits: Callable[[dict[str, LoadedModel]], bool],
                skip: Callable[[str], str | None]) -> tuple[dict[str, LoadedModel], dict[str, list[str]]]:
    """The pool's resident model and as many of ``methods`` beside it as fit, in order, and a
    note for each one left out (``skip`` names those that cannot run here: no note, their own
    benches say why)."""
    models = {pool.current.method: pool.current}
    notes: dict[str, list[str]] = {}
    full = False
    for method in methods:
        if method in models or skip(method) or pool.failures.load_failure(method):
            continue
        if full:
            notes[method] = [f"not interleaved: the device was full with {', '.join(models)}; "
                             "ratio to FP16 not paired"]
            continue
        try:
            models[method] = pool.load_beside(method)
        except LoadError as exc:
            notes[method] = [f"not interleaved: {exc}"]
            full = "out of memory" in str(exc).lower()
            continue
        if not fits(models):
            del models[method]
            free_device_memory()
            full = True
            notes[method] = [f"not interleaved: it did not fit beside {', '.join(models)}; "
                             "ratio to FP16 not paired"]
    return models, notes


def interleave_case(runner: Any, batch: int, mode: str,
                    fits: Callable[[dict[str, LoadedModel]], bool] | None = None) -> Ratios:
    """Load the session's methods beside the reference, run interleaved rounds of this generate
    case, free them again and return each method's ratios to the reference."""
    methods = list(runner.settings.methods)
    if mode != "eager":
        return Ratios(notes={m: [COMPILED_NOTE] for m in methods if m != REFERENCE_METHOD})
    if runner.pool.current is None or runner.pool.current.method != REFERENCE_METHOD:
        line = f"not interleaved: --qb-interleave pairs every method with {REFERENCE_METHOD}, which is not running"
        return Ratios(notes={m: [line] for m in methods if m != REFERENCE_METHOD})
    models, notes = load_beside(runner.pool, methods, fits or memory_fits(runner.device),
                                lambda m: runner.probes.unavailable(m, runner.device))
    try:
        runs = _rounds(runner, models, batch) if len(models) > 1 else {}
    except Exception as exc:  # noted on every method; their own benches still run alone
        traceback.clear_frames(exc.__traceback__)  # the frames hold the engines and models
        line = f"not interleaved: the interleaved rounds failed: {type(exc).__name__}: {exc}".splitlines()[0]
        return Ratios(notes={m: [line] for m in models if m != REFERENCE_METHOD})
    finally:
        models = {}
        free_device_memory()
    out = Ratios(notes=notes)
    if not runs:
        return out
    rounds = f"interleaved with {', '.join(runs)}: {len(runs[REFERENCE_METHOD].samples)} paired rounds"
    for method, run in runs.items():
        runner.note_run(method, run, mode)
        if method != REFERENCE_METHOD:
            out.metrics[method] = ratio_metrics(runs[REFERENCE_METHOD], run)
            out.notes[method] = [f"ratio to FP16 {rounds} ({run.stop})"]
    return out


def _rounds(runner: Any, models: dict[str, LoadedModel], batch: int) -> dict[str, Any]:
    engines = {m: runner.new_engine(loaded.model, "eager") for m, loaded in models.items()}
    sc = runner.settings.scenario
    rule = runner.stop_rule(sc.prompts)
    # A paired ratio needs pairs to have an interval: three at least, whatever the session's
    # own minimum (one round, issue 19).
    rule = replace(rule, budget_s=rule.budget_s * len(models), min_rounds=max(3, rule.min_rounds))
    prompts = runner.prompts.generation(models[REFERENCE_METHOD].model, batch)
    with runner.steadied():  # garbage collection paused, as in every case's own timed rounds
        return interleaved_rounds(engines, prompts, batch, sc.new_tokens, runner.clock, rule, sc.warmup,
                                  REFERENCE_METHOD)
