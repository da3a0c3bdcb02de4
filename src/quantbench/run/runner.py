"""The runner: loads each method's model and measures one bench case at a time.

It holds the session's measuring machinery (model source, pool, clock, memory probe, prompts,
engines, the FP16 quality reference, the timeline) and answers each case with a ``CaseResult``
and the raw ``Run``; it keeps no list of results (the session record does). It knows nothing of
pytest, so it can be driven from a script or a test just the same.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from quantbench.catalog import REFERENCE_METHOD
from quantbench.run.device import CPU_NOTE as DEVICE_CPU_NOTE
from quantbench.run.device import device_metrics
from quantbench.run.energy import EnergyMeter
from quantbench.run.engine import compile_metrics
from quantbench.run.python_calls import python_calls_per_step
from quantbench.run.host_probe import launch_overhead_us
from quantbench.run.measure import Run, generation_metrics, measure_generation, measure_prefill, prefill_metrics
from quantbench.run.memory import MemoryProbe, memory_metrics, probe_for, release_device_memory
from quantbench.methods import LoadedModel, LoadRequest, unavailable_reason
from quantbench.run.pool import ModelPool
from quantbench.run.prompts import Prompt, text_prefill_prompt, text_prompts, token_prompt, token_prompts
from quantbench.results import CaseResult, Metric
from quantbench.run.roofline import copy_bandwidth_gbs, kv_bytes_per_step, roofline_metrics, weight_bytes_per_step
from quantbench.config import Settings
from quantbench.sources import load_tokenizer, resolve_source
from quantbench.run import steady
from quantbench.run.stats import StopRule
from quantbench.run.timeline import TimeEntry, time_breakdown
from quantbench.run.timing import Clock, clock_for


class Unavailable(Exception):
    """A method that cannot run here; the message is the skip reason."""


QUALITY_PROMPTS = 4  # prompts in the quality batch
# Python calls per step were the same for 6, 12 and 32 tokens on the tiny Qwen2 (commit 104d182).
HOST_CALL_TOKENS = 8
# Decode steps the profiled pass covers: with all 128 of the default scenario it took 25 % of an
# H100 session's wall time (g1, docs/results/h100-2026-11-25b); kernel time per step varies little
# with context length at these lengths (attention was 4 % of FP16's kernel time).
PROFILE_TOKENS = 16
# An eager warm-up round only has to run every kernel and code path once: a few tokens do that,
# and a full round of a slow method (bitsandbytes INT8) cost seconds of every session.
WARMUP_TOKENS = 8
QUALITY_PROMPT_TOKENS = 64  # prompt length when there is no tokenizer


@dataclass
class Runner:
    settings: Settings
    device: str
    clock: Clock | None = None
    memory: MemoryProbe | None = None
    loaders: dict[str, Callable[[LoadRequest], LoadedModel]] | None = None
    engine_factory: Callable[[Any, str], Any] | None = None
    timeline: list[TimeEntry] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    peak_bandwidth_gbs: float | None = None
    launch_overhead_us: float | None = None

    def __post_init__(self) -> None:
        self.started = time.perf_counter()
        self.energy = EnergyMeter(0 if self.device == "cuda" and self.loaders is None else None)
        self.clock = self.clock or clock_for(self.device)
        self.memory = self.memory or probe_for(self.device)
        s = self.settings
        self.source = resolve_source(s.model_for(self.device), s.cache_dir, s.seed)
        awq = resolve_source(s.awq_model, s.cache_dir, s.seed) if s.awq_model else None
        self.tokenizer = load_tokenizer(self.source)
        request = LoadRequest(self.source, self.device, s.cache_dir, awq, s.seed)
        self.pool = ModelPool(request, self.memory, self.loaders)
        self._prompts: dict[int, list[Prompt]] = {}
        self._engines: dict[tuple[str, str], Any] = {}
        self.reference: Any = None  # the FP16 QualityReference, once captured
        self.pinned = steady.pin_cpus(self.device) if s.steady else None
        self._spun = not s.steady
        # Building a synthetic checkpoint is loading, not harness overhead.
        self.timeline.append(TimeEntry("(session)", "load", time.perf_counter() - self.started))

    # models

    def load(self, method: str) -> LoadedModel:
        """The loaded method; raises ``Unavailable`` (skip) or ``LoadError`` (error)."""
        start = time.perf_counter()
        try:
            if self.loaders is None:
                reason = unavailable_reason(method, self.device)  # imports the library: loading
                if reason:
                    self.skipped[method] = reason
                    raise Unavailable(reason)
            first = method not in self.pool.records and method not in self.pool.failures
            loaded = self.pool.acquire(method)
        finally:
            seconds = time.perf_counter() - start
        if first:
            prepare = self.pool.records[method].prepare_seconds
            self.timeline.append(TimeEntry(method, "prepare", prepare))
            self.timeline.append(TimeEntry(method, "load", seconds - prepare))
        return loaded

    def release(self) -> None:
        """Free the resident model (timed as loading: it is the libraries' cost)."""
        method = self.pool.current.method if self.pool.current else None
        start = time.perf_counter()
        self._engines.clear()
        self.pool.release()
        if method:
            self.timeline.append(TimeEntry(method, "load", time.perf_counter() - start))

    # inputs

    def _vocab(self, loaded: LoadedModel) -> int:
        return int(loaded.model.config.vocab_size)

    def generation_prompts(self, loaded: LoadedModel, batch: int) -> list[Prompt]:
        sc = self.settings.scenario
        if batch not in self._prompts:
            if self.tokenizer is not None:
                self._prompts[batch] = text_prompts(self.tokenizer, sc.prompts, batch, self.device,
                                                    sc.prompt_tokens)
            else:
                self._prompts[batch] = token_prompts(self._vocab(loaded), sc.prompts,
                                                     sc.prompt_tokens, batch, self.settings.seed,
                                                     self.device)
        return self._prompts[batch]

    def prefill_prompt(self, loaded: LoadedModel, length: int) -> Prompt:
        if self.tokenizer is not None:
            return text_prefill_prompt(self.tokenizer, length, 1, self.device)
        return token_prompt(self._vocab(loaded), length, 1, self.settings.seed + length, self.device)

    # measuring

    def _steady(self) -> Any:
        """Around each case's timed rounds: the CPU spun up once, garbage collection paused."""
        if not self._spun:
            self._spun = bool(steady.spin())
        return steady.gc_paused(self.settings.steady)

    def stop_rule(self, max_rounds: int) -> StopRule:
        sc = self.settings.scenario
        if not sc.adaptive:
            return StopRule(sc.prompts, sc.prompts, float("inf"), 0.0, adaptive=False)
        return StopRule(sc.min_rounds, max_rounds, self.settings.budget_for(self.device),
                        self.settings.target_rel_ci)

    def _engine(self, loaded: LoadedModel, mode: str) -> Any:
        """One engine per method and mode, so a compiled model compiles once per shape."""
        key = (loaded.method, mode)
        if key not in self._engines:
            self._engines[key] = self.new_engine(loaded.model, mode)
        return self._engines[key]

    def new_engine(self, model: Any, mode: str) -> Any:
        """A fresh engine: the factory given, else ``HFEngine``."""
        if self.engine_factory is not None:
            return self.engine_factory(model, mode)
        from quantbench.run.engine import HFEngine

        return HFEngine(model, mode)

    def probe_host(self) -> float | None:
        """The host probes, once per session before the first timed case of any kind: the
        device's copy bandwidth (returned) and the host's per-launch overhead (eager decode is
        bound by it, so a slow host explains a slow session, prefill-only sessions included)."""
        if self.peak_bandwidth_gbs is None and self.loaders is None:
            start = time.perf_counter()
            nbytes = (1 << 30) if self.device == "cuda" else (1 << 27)
            self.peak_bandwidth_gbs = copy_bandwidth_gbs(self.device, self.clock, nbytes)
            self.launch_overhead_us = launch_overhead_us(self.device, self.clock.sync)
            release_device_memory()  # the probe's 2 GiB of buffers must not stay reserved
            self.timeline.append(TimeEntry("(session)", "bandwidth", time.perf_counter() - start))
        return self.peak_bandwidth_gbs

    def _memory_metrics(self, loaded: LoadedModel) -> dict[str, Metric]:
        return memory_metrics(self.memory, self.pool.records[loaded.method], self.device)

    def _note_time(self, method: str, run: Run, mode: str = "eager") -> None:
        self.timeline.append(TimeEntry(method, "compile" if mode == "compiled" else "warmup",
                                       run.warmup_s))
        self.timeline.append(TimeEntry(method, "measure", run.measure_s))

    def _case(self, loaded: LoadedModel, mode: str, case: str, metrics: dict[str, Metric],
              extra_notes: list[str] | None = None) -> CaseResult:
        notes = [*self.source.notes, *self.pool.records[loaded.method].notes, *(extra_notes or [])]
        if self.device == "cpu":
            notes.append("CPU: weights_gb counts tensor bytes; memory readings are process RSS")
        return CaseResult(self.settings.scenario.name, mode, case, loaded.method, loaded.dtype,
                          metrics, tuple(notes))

    def prefill_case(self, loaded: LoadedModel, length: int) -> tuple[CaseResult, Run]:
        """Prefill throughput over ``length`` prompt tokens at batch 1."""
        prompt = self.prefill_prompt(loaded, length)
        engine = self._engine(loaded, "eager")
        self.probe_host()
        self.memory.reset_peak()
        with self._steady():
            run = measure_prefill(engine, prompt, length, self.clock,
                                  self.stop_rule(self.settings.max_rounds), max(1, self.settings.scenario.warmup))
        self._note_time(loaded.method, run)
        metrics = {**prefill_metrics(run), **self._memory_metrics(loaded)}
        return self._case(loaded, "eager", f"prefill-{length}", metrics), run

    def generate_case(self, loaded: LoadedModel, batch: int, mode: str) -> tuple[CaseResult, Run]:
        """TTFT, decode, per-token latency and end-to-end throughput at one batch size."""
        sc = self.settings.scenario
        prompts = self.generation_prompts(loaded, batch)
        engine = self._engine(loaded, mode)
        self.memory.reset_peak()
        # Compiled: the first rounds compile and capture graphs; they are timed as compile_s.
        warmup = sc.warmup if mode == "eager" else max(2, sc.warmup)
        short = min(WARMUP_TOKENS, sc.new_tokens) if mode == "eager" else None
        with self._steady():
            run = measure_generation(engine, prompts, batch, sc.new_tokens, self.clock,
                                     self.stop_rule(sc.prompts), warmup, self.energy.read_mj, short)
        self._note_time(loaded.method, run, mode)
        metrics = {**generation_metrics(run), **self._memory_metrics(loaded)}
        metrics.update(self._roofline(loaded, batch, prompts[0].length, metrics["decode_tps"].median))
        notes: list[str] = []
        if mode == "compiled":
            compiled, notes = compile_metrics(engine, run)
            metrics.update(compiled)
        if self.engine_factory is None:
            work, work_notes = self._work_pass(loaded.method, engine, prompts[0],
                                               metrics["token_p50_ms"].median)
            metrics.update(work)
            notes += work_notes
        return self._case(loaded, mode, f"generate-bs{batch}", metrics, notes), run

    def _work_pass(self, method: str, engine: Any, prompt: Prompt,
                   step_ms: float) -> tuple[dict[str, Metric], list[str]]:
        """Device time and work counters in their own passes after the timed rounds, which
        they never overlap (profiling slows what it watches): kernel time, kernels and launches
        per decode step from the CUDA profiler, and Python calls per decode step."""
        start = time.perf_counter()
        work = device_metrics(engine, prompt, min(PROFILE_TOKENS, self.settings.scenario.new_tokens),
                              step_ms)
        calls = python_calls_per_step(engine, prompt, min(HOST_CALL_TOKENS,
                                                          self.settings.scenario.new_tokens))
        if calls is not None:
            work["decode_py_calls"] = calls
        self.timeline.append(TimeEntry(method, "profile", time.perf_counter() - start))
        notes = [] if self.device == "cuda" else [DEVICE_CPU_NOTE]
        return work, notes + ([self.energy.reason] if self.energy.reason else [])

    def quality_prompt(self, loaded: LoadedModel) -> Prompt:
        """The fixed prompt batch every method's outputs are compared on."""
        if self.tokenizer is not None:
            return text_prompts(self.tokenizer, 1, QUALITY_PROMPTS, self.device)[0]
        return token_prompt(self._vocab(loaded), QUALITY_PROMPT_TOKENS, QUALITY_PROMPTS,
                            self.settings.seed + 7, self.device)

    def capture_reference(self, loaded: LoadedModel) -> None:
        """Keep the reference method's greedy tokens and logits on the quality prompts."""
        from quantbench.run import quality

        prompt = self.quality_prompt(loaded)
        self.reference = quality.QualityReference.capture(
            loaded.model, prompt.input_ids, prompt.attention_mask, self.settings.quality_tokens)

    def quality_case(self, loaded: LoadedModel, mode: str) -> CaseResult:
        """Agreement with FP16's greedy tokens and KL from FP16's next-token distributions
        (eager), or the compiled engine's greedy tokens against FP16's (compiled)."""
        from quantbench.run import quality

        start = time.perf_counter()
        if loaded.method == REFERENCE_METHOD and (mode == "eager" or self.reference is None):
            self.capture_reference(loaded)
        if self.reference is None:
            raise Unavailable("quality needs the FP16 reference: include fp16 in --qb-methods")
        if mode == "eager":
            metrics = quality.evaluate(loaded.model, self.reference)
        else:
            metrics = self._engine_quality(self._engine(loaded, mode), self.quality_prompt(loaded))
        if self.tokenizer is not None and mode == "eager":
            metrics["perplexity"] = quality.text_perplexity(loaded.model, self.tokenizer)
        self.timeline.append(TimeEntry(loaded.method, "quality", time.perf_counter() - start))
        return self._case(loaded, mode, "quality", metrics)

    def _engine_quality(self, engine: Any, prompt: Any) -> dict[str, Metric]:
        """Agreement and KL through a mode's own engine: its free greedy tokens against FP16's,
        and its logits teacher-forced on FP16's tokens (so a compiled graph is what is judged).
        FP16's eager model captured the reference, so compiled FP16 shows what compiling alone
        changes."""
        from quantbench.run import quality

        reference = self.reference
        engine.generate(prompt, reference.n_tokens, lambda: None)
        tokens = engine.last_tokens.cpu()
        logits = engine.teacher_forced_logits(prompt, reference.tokens)
        return quality.against_reference(reference, tokens, logits)

    def _roofline(self, loaded: LoadedModel, batch: int, prompt_len: int, decode_tps: float) -> dict[str, Metric]:
        model = loaded.model
        embed = model.get_input_embeddings().weight
        context = prompt_len + self.settings.scenario.new_tokens / 2
        per_step = weight_bytes_per_step(model) + kv_bytes_per_step(
            model.config, batch, context, embed.element_size())
        return roofline_metrics(per_step, decode_tps / batch, self.probe_host())

    def time_data(self) -> dict[str, Any]:
        """Where the session's time went so far (``run.timeline.time_breakdown``)."""
        return time_breakdown(self.timeline, time.perf_counter() - self.started)
