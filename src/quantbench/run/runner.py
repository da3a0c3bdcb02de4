"""The runner: loads each method's model and measures one bench case at a time.

It holds the session's measuring machinery (model source, pool, clock, memory probe, prompts,
engines, the FP16 quality reference, the timeline) and answers each case with a ``CaseResult``
and the raw ``Run``; the session record, not the runner, keeps the results (``record_parts``).
It knows nothing of pytest, so a script or a test drives it just the same: what it does besides
loading and timing (energy, heap freeze, availability check, host probes, work pass) and the
callbacks a plugin hooks in come as one bundle, ``run.probes.Probes`` (``Probes.null()`` in tests).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from quantbench.catalog import REFERENCE_METHOD
from quantbench.run.decode_loop import CaptureError
from quantbench.run.engine import compile_metrics, make_engine
from quantbench.run.measure import Run, generation_metrics, measure_generation, measure_prefill, prefill_metrics
from quantbench.run.memory import MemoryProbe, memory_metrics, probe_for
from quantbench.methods import METHODS, LoadedModel, LoadError, LoadRequest, Unavailable
from quantbench.run.pool import ModelPool
from quantbench.run.probes import Probes
from quantbench.run.prompts import PromptBook
from quantbench.results import CaseResult, Metric
from quantbench.session import Failures
from quantbench.run.roofline import kv_bytes_per_step, roofline_metrics, weight_bytes_per_step
from quantbench.config import Settings
from quantbench.sources import load_tokenizer, resolve_source
from quantbench.run import steady, quality
from quantbench.run.stopping import StopRule
from quantbench.run.timeline import TimeEntry, time_breakdown
from quantbench.run.timing import Clock, clock_for

__all__ = ["RecordParts", "Runner", "Unavailable"]  # Unavailable: raised by load, defined in methods

# A first full-length eager generation at a shape builds a cuDNN attention plan per KV length (it
# runs several times slower a token than the next one); plans are per shape, not per model, so a
# later method of a warmed shape (dtype, batch, prompt, tokens) warms up this short.
SHORT_WARMUP_TOKENS = 8


@dataclass(frozen=True)
class RecordParts:
    """What the session record (``session.Session``) takes from the runner, as copies."""

    environment: dict[str, Any]  # the model, the host probes, the steadying
    skipped: dict[str, str]  # method -> why it could not run here
    failures: dict[str, str]  # method -> why it failed to load, or which bench failed
    loads: dict[str, int]
    load_events: list[tuple[str, str]]  # ("load" | "unload", method), in order
    time: dict[str, Any]  # ``run.timeline.time_breakdown``


@dataclass
class Runner:
    settings: Settings
    device: str
    clock: Clock | None = None
    memory: MemoryProbe | None = None
    loaders: dict[str, Callable[[LoadRequest], LoadedModel]] | None = None
    engine_factory: Callable[[Any, str], Any] = make_engine
    probes: Probes = field(default_factory=Probes.default)
    timeline: list[TimeEntry] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    peak_bandwidth_gbs: float | None = None
    launch_overhead_us: float | None = None
    # Eager generation shapes some method of this process has warmed up at full length.
    warm_shapes: set[tuple[Any, ...]] = field(default_factory=set)
    begun: float | None = None  # pytest's configure: the wall clock counts imports ("start")
    failures: Failures = field(default_factory=Failures)  # the session's; the pool reports loads

    def __post_init__(self) -> None:
        now = time.perf_counter()
        self.started = min(now, self.begun or now)
        self.note_time("(session)", "start", now - self.started)
        self.energy = self.probes.energy_meter(self.device)
        self.clock = self.clock or clock_for(self.device)
        self.memory = self.memory or probe_for(self.device)
        s = self.settings
        self.source = resolve_source(s.model_for(self.device), s.cache_dir, s.seed)
        awq = resolve_source(s.awq_model, s.cache_dir, s.seed) if s.awq_model else None
        self.tokenizer = load_tokenizer(self.source)
        request = LoadRequest(self.source, self.device, s.cache_dir, awq, s.seed)
        self.pool = ModelPool(request, self.memory, self.loaders, self.failures, after_load=self._after_load)
        self.prompts = PromptBook(self.tokenizer, s.scenario, s.seed, self.device)
        self._engines: dict[tuple[str, str], Any] = {}
        self.reference: Any = None  # the FP16 QualityReference, once captured
        self.pinned = steady.pin_cpus(self.device, compiles=any("compiled" in m for m in s.modes)) if s.steady else None
        self.probes.freeze_heap()  # the collections before each case's rounds skip the imports
        self._host_probed = False
        self._spun = not s.steady
        # Building a synthetic checkpoint is loading, not harness overhead.
        self.note_time("(session)", "load", time.perf_counter() - now)

    # the session record

    def note_time(self, method: str, phase: str, seconds: float) -> None:
        """Add ``seconds`` of ``phase`` (``run.timeline.PHASES``) to ``method``'s time."""
        self.timeline.append(TimeEntry(method, phase, seconds))

    def note_run(self, method: str, run: Run, mode: str = "eager") -> None:
        """A case's timed rounds: its warm-up (compiling, in compiled mode) and its measuring."""
        self.note_time(method, "warmup" if mode == "eager" else "compile", run.warmup_s)
        self.note_time(method, "measure", run.measure_s)

    def record_parts(self) -> RecordParts:
        """What the session record needs of this runner so far."""
        return RecordParts(
            environment={"model_source": self.source.spec, "peak_copy_bandwidth_gbs": self.peak_bandwidth_gbs,
                         "launch_overhead_us": self.launch_overhead_us, "steady": self.settings.steady,
                         "cpu_affinity": self.pinned},
            skipped=dict(self.skipped), failures=dict(self.failures), loads=dict(self.pool.loads),
            load_events=list(self.pool.events), time=self.time_data())

    # models

    def load(self, method: str) -> LoadedModel:
        """The loaded method; raises ``Unavailable`` (skip) or ``LoadError`` (error)."""
        start = time.perf_counter()
        try:
            reason = self.probes.unavailable(method, self.device)  # imports the library: loading
            if reason:
                self.skipped[method] = reason
                raise Unavailable(reason)
            first = method not in self.pool.records and self.failures.load_failure(method) is None
            loaded = self.pool.acquire(method)
        finally:
            seconds = time.perf_counter() - start
        if first:
            prepare = self.pool.records[method].prepare_seconds
            self.note_time(method, "prepare", prepare)
            self.note_time(method, "load", seconds - prepare)
        return loaded

    def _after_load(self, loaded: LoadedModel) -> LoadedModel:
        """The freshly loaded model, or the replacement a plugin's callback gives for it."""
        model = self.probes.model_loaded(loaded.model, loaded.method)
        return loaded if model is None else replace(loaded, model=model)

    def unload(self) -> None:
        """Free the resident model (timed as loading: it is the libraries' cost)."""
        method = self.pool.current.method if self.pool.current else None
        start = time.perf_counter()
        self._engines.clear()
        self.pool.unload()
        if method:
            self.note_time(method, "load", time.perf_counter() - start)

    # measuring

    def steadied(self) -> Any:
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
        """A fresh engine from the factory (``make_engine``), or the replacement a plugin's
        callback gives for it."""
        engine = self.engine_factory(model, mode)
        replaced = self.probes.engine_made(engine, model, mode)
        return engine if replaced is None else replaced

    def probe_host(self) -> float | None:
        """The host probes, once per session before the first timed case of any kind: the
        device's copy bandwidth (returned) and the host's per-launch overhead (eager decode is
        bound by it, so a slow host explains a slow session, prefill-only sessions included)."""
        if not self._host_probed:
            start = time.perf_counter()
            self.peak_bandwidth_gbs, self.launch_overhead_us = self.probes.host(self.device, self.clock)
            self._host_probed = True
            self.note_time("(session)", "bandwidth", time.perf_counter() - start)
        return self.peak_bandwidth_gbs

    def _memory_metrics(self, loaded: LoadedModel) -> dict[str, Metric]:
        return memory_metrics(self.memory, self.pool.records[loaded.method], self.device)

    def _case(self, loaded: LoadedModel, mode: str, case: str, metrics: dict[str, Metric],
              extra_notes: list[str] | None = None) -> CaseResult:
        notes = [*self.source.notes, *self.pool.records[loaded.method].notes, *(extra_notes or [])]
        if self.device == "cpu":
            notes.append("CPU: weights_gb counts tensor bytes; memory readings are process RSS")
        return CaseResult(self.settings.scenario.name, mode, case, loaded.method, loaded.dtype,
                          metrics, tuple(notes))

    def prefill_case(self, loaded: LoadedModel, length: int) -> tuple[CaseResult, Run]:
        """Prefill throughput over ``length`` prompt tokens at batch 1."""
        prompt = self.prompts.prefill(loaded.model, length)
        engine = self._engine(loaded, "eager")
        self.probe_host()
        self.memory.reset_peak()
        with self.steadied():
            run = measure_prefill(engine, prompt, length, self.clock,
                                  self.stop_rule(self.settings.max_rounds), max(1, self.settings.scenario.warmup))
        self.note_run(loaded.method, run)
        metrics = {**prefill_metrics(run), **self._memory_metrics(loaded)}
        return self._case(loaded, "eager", f"prefill-{length}", metrics), run

    def generate_case(self, loaded: LoadedModel, batch: int, mode: str) -> tuple[CaseResult, Run]:
        """TTFT, decode, per-token latency and end-to-end throughput at one batch size."""
        sc = self.settings.scenario
        prompts = self.prompts.generation(loaded.model, batch)
        engine = self._engine(loaded, mode)
        self.memory.reset_peak()
        # Other modes: the first rounds compile and capture graphs; they are timed as compile_s.
        warmup = sc.warmup if mode == "eager" else max(2, sc.warmup)
        shape = (mode, str(getattr(loaded.model, "dtype", "")), batch, prompts[0].length, sc.new_tokens)
        with self.steadied():
            try:
                run = measure_generation(engine, prompts, batch, sc.new_tokens, self.clock,
                                         self.stop_rule(sc.prompts), warmup, self.energy.read_mj,
                                         SHORT_WARMUP_TOKENS if shape in self.warm_shapes else None)
            except CaptureError as exc:  # a known one is a skip with the error, never another loop
                known = getattr(METHODS.get(loaded.method), "uncapturable", None)
                raise (Unavailable(f"{exc} ({known})") if known else exc) from None
        if mode == "eager":
            self.warm_shapes.add(shape)
        self.note_run(loaded.method, run, mode)
        metrics = {**generation_metrics(run), **self._memory_metrics(loaded)}
        metrics.update(self._roofline(loaded, batch, prompts[0].length, metrics["decode_tps"].median))
        notes: list[str] = []
        if mode != "eager":
            compiled, notes = compile_metrics(engine, run)
            metrics.update(compiled)
        start = time.perf_counter()  # after the timed rounds, in passes of their own
        work, work_notes = self.probes.work_pass(engine, prompts[0], sc.new_tokens,
                                                 metrics["token_p50_ms"].median, self.device)
        self.note_time(loaded.method, "profile", time.perf_counter() - start)
        metrics.update(work)
        notes += work_notes + ([self.energy.reason] if self.energy.reason else [])
        return self._case(loaded, mode, f"generate-bs{batch}", metrics, notes), run

    def capture_reference(self, loaded: LoadedModel) -> None:
        """Keep the reference method's greedy tokens and logits on the quality prompts."""
        prompt = self.prompts.quality(loaded.model)
        self.reference = quality.QualityReference.capture(
            loaded.model, prompt.input_ids, prompt.attention_mask, self.settings.quality_tokens)

    def capture_reference_alone(self) -> None:
        """Load the reference method by itself, capture its outputs and free it: for a process
        whose methods lack it (an xdist worker's share). Nothing when it is captured already, is
        not among the session's methods, or cannot run or load (quality is then skipped)."""
        if (self.reference is not None or REFERENCE_METHOD not in self.settings.methods
                or REFERENCE_METHOD in self.skipped or self.failures.load_failure(REFERENCE_METHOD)):
            return
        try:
            loaded = self.load(REFERENCE_METHOD)
        except (Unavailable, LoadError):
            return
        start = time.perf_counter()
        self.capture_reference(loaded)
        self.note_time(REFERENCE_METHOD, "quality", time.perf_counter() - start)
        del loaded
        self.unload()

    def quality_case(self, loaded: LoadedModel, mode: str) -> CaseResult:
        """Agreement with FP16's greedy tokens and KL from FP16's next-token distributions
        (eager), or the compiled engine's greedy tokens against FP16's (compiled)."""
        start = time.perf_counter()
        if loaded.method == REFERENCE_METHOD and (mode == "eager" or self.reference is None):
            self.capture_reference(loaded)
        if self.reference is None:
            raise Unavailable("quality needs the FP16 reference: include fp16 in --qb-methods")
        if mode == "eager":
            metrics = quality.evaluate(loaded.model, self.reference)
        else:
            metrics = quality.through_engine(self._engine(loaded, mode), self.prompts.quality(loaded.model),
                                             self.reference)
        if self.tokenizer is not None and mode == "eager":
            metrics["perplexity"] = quality.text_perplexity(loaded.model, self.tokenizer)
        self.note_time(loaded.method, "quality", time.perf_counter() - start)
        return self._case(loaded, mode, "quality", metrics)

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
