"""The Hugging Face ``generate`` engine that measurement drives, in eager or compiled mode.

Each forward's logits pass through a logits processor that only marks the clock, so the timed
path is plain ``generate``: the regime users run and the T4 study measured. The timed path runs
without an end-of-sequence token (``eos_token_id=None``), so no round ends early and no EOS check
runs per step; the caller checks the count. (It used to set ``min_new_tokens``, whose logits
processor clones the logits and builds an EOS mask on every step, outside the compiled graph.)

``generate-compiled`` is transformers' own static-cache path: a static KV cache, and the decode forward
compiled by ``torch.compile`` (mode ``reduce-overhead`` on a GPU, so captured as CUDA graphs;
inductor's ``default`` mode on the CPU, where transformers compiles only when asked to for all
devices). transformers declines to compile any model whose quantizer is not marked compileable,
bitsandbytes included, although bitsandbytes registers its kernels as torch custom ops for
exactly this; on a GPU the engine lifts that refusal (``compat.allow_compile``) so NF4 and INT8 really
run compiled, and says so. torchao's tensor-subclass weights are unwrapped before compiling
(``compat.unwrap_torchao``), so dynamo's guards see plain tensors, except those that quantize
activations on the fly (fp8dq), which do not trace once unwrapped; the notes say which.
Dynamo's counters are read after the compile warm-ups, so a method
whose layers break the graph, or that still was not compiled (the CPU, where bitsandbytes' fake
kernels fail under inductor), says so instead of silently running eager inside a "compiled" label.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from quantbench import compat
from quantbench.results import Metric
from quantbench.run.decode_loop import GRAPH_MODES, DecodeLoop
from quantbench.run.prompts import Prompt


class StepMarker(LogitsProcessor):
    """Calls ``on_step`` once per generated token, right after that token's forward."""

    def __init__(self, on_step: Callable[[], None]) -> None:
        self.on_step = on_step

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self.on_step()
        return scores


class ForcedTokens(LogitsProcessor):
    """Teacher forcing inside ``generate``: records each step's logits, then makes ``tokens``'
    next column the only choice, so the model under test (compiled graphs included) decodes
    exactly the reference's continuation and its next-token distributions can be compared."""

    def __init__(self, tokens: torch.Tensor) -> None:
        self.tokens = tokens
        self.logits: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        step = len(self.logits)
        self.logits.append(scores.float().cpu())
        forced = torch.full_like(scores, float("-inf"))
        column = self.tokens[:, step:step + 1].to(scores.device)
        return forced.scatter_(1, column, 0.0)


def pad_token_id(model: Any) -> int | None:
    """The model's pad token, else its (first) end-of-sequence token, for batched ``generate``."""
    config = getattr(model, "generation_config", None)
    pad = getattr(config, "pad_token_id", None)
    eos = getattr(config, "eos_token_id", None)
    return pad if pad is not None else (eos[0] if isinstance(eos, list) else eos)


def short_reason(reason: str) -> str:
    """Dynamo's multi-line graph-break message cut to its title and explanation, for a table."""
    lines = [line.strip() for line in reason.splitlines() if line.strip()]
    if not lines:
        return reason
    explanation = next((line.removeprefix("Explanation:").strip() for line in lines[1:]
                        if line.startswith("Explanation:")), "")
    return f"{lines[0]}: {explanation}" if explanation else lines[0]


class HFEngine:
    """``generate`` and a single prefill forward for a loaded transformers model."""

    def __init__(self, model: Any, mode: str = "eager", unwrap: bool = True) -> None:
        self.model = model
        self.mode = mode
        self.last_tokens: torch.Tensor | None = None
        self.notes: list[str] = []
        self.on_gpu = next(model.parameters()).device.type == "cuda"
        if mode == "generate-compiled":
            compat.reset_dynamo()  # a fresh model: no guards or counts left by the previous one
            if self.on_gpu:
                self.notes += filter(None, [compat.allow_compile(model)])
            if unwrap:
                self.notes += filter(None, [compat.unwrap_torchao(model)])
        self.pad_token_id = pad_token_id(model)

    def _mode_kwargs(self) -> dict[str, Any]:
        if self.mode == "generate-compiled":
            return {"cache_implementation": "static",
                    "compile_config": compat.compile_config(self.on_gpu)}
        return {}

    def _greedy(self, prompt: Prompt, new_tokens: int, processor: LogitsProcessor,
                **stop: Any) -> torch.Tensor:
        return self.model.generate(
            input_ids=prompt.input_ids,
            attention_mask=prompt.attention_mask,
            max_new_tokens=new_tokens,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            pad_token_id=self.pad_token_id,
            logits_processor=LogitsProcessorList([processor]),
            **stop,
            **self._mode_kwargs(),
        )

    @torch.inference_mode()
    def generate(self, prompt: Prompt, new_tokens: int, on_step: Callable[[], None]) -> int:
        out = self._greedy(prompt, new_tokens, StepMarker(on_step), eos_token_id=None)
        self.last_tokens = out[:, prompt.input_ids.shape[1]:]
        return int(out.shape[1] - prompt.input_ids.shape[1])

    @torch.inference_mode()
    def teacher_forced_logits(self, prompt: Prompt, tokens: torch.Tensor) -> torch.Tensor:
        """``[B, n, V]`` float32 logits (CPU) at the positions that predict ``tokens`` after the
        prompt, through this engine's own decode path (static cache and compiled graphs in
        compiled mode). ``min_new_tokens`` is 0 here: its EOS mask would put -inf into the
        recorded logits, and the forced tokens already fix the length."""
        forcing = ForcedTokens(tokens)
        n = tokens.shape[1]
        self._greedy(prompt, n, forcing, min_new_tokens=0)
        if len(forcing.logits) != n:
            raise RuntimeError(f"teacher-forced generate stopped after {len(forcing.logits)} of {n} tokens")
        return torch.stack(forcing.logits, dim=1)

    def compile_stats(self) -> dict[str, Any]:
        """Graph breaks and graphs dynamo made since this engine was built (compiled mode), and on
        a GPU the graphs inductor ran without CUDA graphs, with its reasons: a skipped capture
        leaves every kernel launch on the host, so such a "compiled" decode stays launch-bound."""
        stats = compat.dynamo_counts(self.on_gpu)
        stats["break_reasons"] = [short_reason(r) for r in stats["break_reasons"]]
        return stats

    @torch.inference_mode()
    def prefill(self, prompt: Prompt) -> None:
        self.model(input_ids=prompt.input_ids, attention_mask=prompt.attention_mask,
                   use_cache=True, logits_to_keep=1)


def compile_metrics(engine: Any, run: Any) -> tuple[dict[str, Metric], list[str]]:
    """Compile time (the compile warm-up rounds) and dynamo's graph breaks, with reasons."""
    stats = engine.compile_stats() if hasattr(engine, "compile_stats") else {}
    notes = list(getattr(engine, "notes", []))
    out = {"compile_s": Metric.exact("compile_s", "s", run.warmup_s, higher_is_better=False)}
    if "graph_breaks" not in stats:
        return out, notes
    if stats["unique_graphs"] == 0:
        return out, notes + ["not compiled: transformers skipped torch.compile for this model "
                             "(its quantizer is not marked compileable), so it ran eager on a "
                             "static cache"]
    out["graph_breaks"] = Metric.exact("graph_breaks", "count", stats["graph_breaks"],
                                       higher_is_better=False)
    notes += [f"graph break: {r}" for r in stats.get("break_reasons", [])]
    if "cudagraph_skips" in stats:
        out["cudagraph_skips"] = Metric.exact("cudagraph_skips", "count",
                                              stats["cudagraph_skips"], higher_is_better=False)
        notes += [f"CUDA graphs not captured: {r}" for r in stats["cudagraph_skip_reasons"]]
    return out, notes


def make_engine(model: Any, mode: str) -> Any:
    """The engine a mode is measured with: quantbench's decode loop (``run.decode_loop``) in the
    graph modes, ``HFEngine`` (``generate``) in the others."""
    return DecodeLoop(model, mode) if mode in GRAPH_MODES else HFEngine(model, mode)
