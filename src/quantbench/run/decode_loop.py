"""quantbench's own serving-grade decode loop: one CUDA graph a token over a static KV cache.

Why: Hugging Face ``generate`` synchronises with the GPU once a token and, compiled, evaluates
dynamo's guards on every call; on Hopper that host work hides what a quantization method's
kernels save. Serving engines (vLLM, SGLang, gpt-fast) pay neither: they capture the decode step
once per batch size and replay it with the next token and the position kept on the device. These
modes time that loop, so a method is measured where users deploy it:

* ``graph``: the model's eager decode step, captured as is in a ``torch.cuda.CUDAGraph``;
* ``graph-compiled``: the step compiled by inductor first (no CUDA graphs of its own), then
  captured by hand, so no guard is evaluated at replay.

The loop (``DecodeLoop.generate``): prefill the prompt (not captured), pick the first token, then
replay the step once a token. The step reads the token at ``pos`` from the sequence buffer, marks
``pos`` in the attention mask, runs the forward over the static cache, writes the greedy next
token at ``pos + 1`` and advances ``pos`` and the position ids, all in place on the device; the
host only replays and records a CUDA event (the clock's mark) between replays, and waits once,
when the round ends. On a CPU the same step runs without capture, which is how the tests check
that it decodes exactly the tokens ``generate`` does.

A capture is checked once per batch size: the first tokens replayed must equal those of the same
step run without capture (a step whose Python kept host state would replay it frozen). A step
that cannot be captured (a kernel that synchronises, an ``.item()``) raises ``CaptureError``
with the error in one line; it is never measured some other way under the same label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from quantbench import compat
from quantbench.run.measure import MeasurementError
from quantbench.run.pool import one_line
from quantbench.run.prompts import Prompt

GRAPH_MODES = ("graph", "graph-compiled")
CACHE_BLOCK = 128  # static cache lengths are rounded up to this, so nearby lengths share a graph
CHECK_TOKENS = 8  # tokens compared between replay and the uncaptured step, once per capture
WARM_STEPS = 3  # uncaptured steps before capture: lazy allocation, Triton autotuning, compiling


class CaptureError(MeasurementError):
    """The decode step could not be captured as a CUDA graph (or replayed other tokens)."""


@dataclass
class Slots:
    """The static buffers one captured step reads and writes, for one batch and cache length."""

    cache: Any  # transformers' StaticCache
    seq: torch.Tensor  # [B, L] token ids: the prompt, then each generated token
    mask: torch.Tensor  # [B, L] attention mask: the prompt's, then 1 as each position fills
    pos: torch.Tensor  # [1] the cache position the next step writes
    pos_ids: torch.Tensor  # [B, 1] the position id of that token (left padding taken out)
    logits: torch.Tensor | None = None  # the last step's logits
    graph: Callable[[], torch.Tensor] | None = None  # replays the captured step (never on a CPU)


def decode_step(model: Any, s: Slots) -> torch.Tensor:
    """One token, all on the device: attend the token at ``pos``, write the greedy next token at
    ``pos + 1``, advance; returns the logits it chose from."""
    tok = s.seq.index_select(1, s.pos)
    s.mask.index_fill_(1, s.pos, 1)
    logits = model(input_ids=tok, attention_mask=s.mask, position_ids=s.pos_ids,
                   cache_position=s.pos, past_key_values=s.cache, use_cache=True,
                   logits_to_keep=1).logits[:, -1]
    s.seq.index_copy_(1, s.pos + 1, logits.argmax(-1, keepdim=True))
    s.pos.add_(1)
    s.pos_ids.add_(1)
    return logits


class DecodeLoop:
    """The ``graph`` and ``graph-compiled`` engines: ``generate``, ``prefill`` and the quality
    hooks the runner asks of an engine, over quantbench's own loop."""

    def __init__(self, model: Any, mode: str, graphs: Any = None) -> None:
        if mode not in GRAPH_MODES:
            raise ValueError(f"unknown decode-loop mode {mode!r}; known: {', '.join(GRAPH_MODES)}")
        self.model = model
        self.mode = mode
        self.device = next(model.parameters()).device
        # What captures the step: CUDA graphs on a GPU, none on a CPU (tests pass a fake).
        self.graphs = graphs if graphs is not None else (
            CudaGraphs() if self.device.type == "cuda" else None)
        self.last_tokens: torch.Tensor | None = None
        self._slots: dict[tuple[int, int], Slots] = {}
        step = decode_step
        if mode == "graph-compiled":
            compat.reset_dynamo()
            # A graph break is counted (``compile_stats``), not refused: the capture holds the
            # whole step either way, and the capture check catches host state frozen between graphs.
            step = torch.compile(decode_step, dynamic=False)
        self._step = step
        how = "captured by hand after inductor compiled it" if mode == "graph-compiled" else "captured as is"
        where = ("one CUDA graph a decode token" if self.graphs is not None
                 else "on the CPU the step runs without capture")
        self.notes = [f"quantbench's decode loop ({mode}): static KV cache, the step {how}; "
                      f"{where}; token and position kept on the device"]

    def wrap_step(self, wrap: Callable[[Callable[..., torch.Tensor]], Callable[..., torch.Tensor]]) -> None:
        """Replace the decode step with ``wrap(step)`` (``step(model, slots)``), before the first
        capture: what a plugin adds to every step (a test plugin's GPU spin) is then captured too."""
        self._step = wrap(self._step)

    # the loop

    @torch.inference_mode()
    def generate(self, prompt: Prompt, new_tokens: int, on_step: Callable[[], None]) -> int:
        """Prefill, then ``new_tokens - 1`` replays of the captured step; ``on_step`` after each
        token's forward (the clock's mark: a CUDA event, no synchronisation)."""
        s = self._ready(prompt, new_tokens)
        self._prefill(s, prompt)
        on_step()
        for _ in range(new_tokens - 1):
            self._advance(s)
            on_step()
        start = prompt.length
        self.last_tokens = s.seq[:, start:start + new_tokens].clone()  # the buffer is reused
        return new_tokens

    @torch.inference_mode()
    def teacher_forced_logits(self, prompt: Prompt, tokens: torch.Tensor) -> torch.Tensor:
        """``[B, n, V]`` float32 logits (CPU) predicting ``tokens`` after the prompt, through the
        replayed graph: after each step the forced token overwrites the one it chose."""
        n = tokens.shape[1]
        s = self._ready(prompt, n)
        start = prompt.length
        forced = tokens.to(self.device)
        out = [self._prefill(s, prompt).float().cpu()]
        s.seq[:, start] = forced[:, 0]
        for i in range(1, n):
            out.append(self._advance(s).float().cpu())
            s.seq[:, start + i] = forced[:, i]
        return torch.stack(out, dim=1)

    @torch.inference_mode()
    def prefill(self, prompt: Prompt) -> None:
        """One forward over the prompt, as the prefill cases time it (no cache kept)."""
        self.model(input_ids=prompt.input_ids, attention_mask=prompt.attention_mask,
                   use_cache=True, logits_to_keep=1)

    def compile_stats(self) -> dict[str, Any]:
        """Dynamo's graph breaks (``graph-compiled``); nothing for the eager step."""
        return compat.dynamo_counts(False) if self.mode == "graph-compiled" else {}

    # the buffers and the capture

    def _prefill(self, s: Slots, prompt: Prompt) -> torch.Tensor:
        """Reset the cache and the buffers to ``prompt``, run its forward and write the first
        token at the prompt's end; returns the logits it chose from."""
        length = prompt.length
        s.cache.reset()
        s.mask.zero_()
        s.mask[:, :length] = prompt.attention_mask
        s.seq.zero_()
        s.seq[:, :length] = prompt.input_ids
        ids = s.mask[:, :length].cumsum(-1) - 1
        ids.masked_fill_(s.mask[:, :length] == 0, 1)
        logits = self.model(input_ids=prompt.input_ids, attention_mask=s.mask, position_ids=ids,
                            cache_position=torch.arange(length, device=self.device),
                            past_key_values=s.cache, use_cache=True, logits_to_keep=1).logits[:, -1]
        s.seq[:, length] = logits.argmax(-1)
        s.pos.fill_(length)
        s.pos_ids.copy_(ids[:, -1:] + 1)
        return logits

    def _advance(self, s: Slots) -> torch.Tensor:
        """One decode step: the graph replayed, or on a CPU the step itself; its logits."""
        s.logits = s.graph() if s.graph is not None else self._step(self.model, s)
        return s.logits

    def _ready(self, prompt: Prompt, new_tokens: int) -> Slots:
        """The slots for this batch and length, built (and on a GPU captured) on first use."""
        length = -(-(prompt.length + new_tokens + 1) // CACHE_BLOCK) * CACHE_BLOCK
        key = (prompt.batch, length)
        if key not in self._slots:
            self._slots[key] = self._build(prompt, length)
        return self._slots[key]

    def _build(self, prompt: Prompt, length: int) -> Slots:
        from transformers import StaticCache

        batch, dev = prompt.batch, self.device
        s = Slots(cache=StaticCache(config=self.model.config, max_cache_len=length),
                  seq=torch.zeros(batch, length, dtype=torch.long, device=dev),
                  mask=torch.zeros(batch, length, dtype=torch.long, device=dev),
                  pos=torch.zeros(1, dtype=torch.long, device=dev),
                  pos_ids=torch.zeros(batch, 1, dtype=torch.long, device=dev))
        if self.graphs is not None:
            self._capture(s, prompt)
        return s

    def _capture(self, s: Slots, prompt: Prompt) -> None:
        """Warm the step up, capture it, and check that replaying it decodes the tokens the
        uncaptured step does."""
        room = s.seq.shape[1] - prompt.length - 2  # steps the cache holds after the prefill
        steps = min(CHECK_TOKENS, room)

        def warm() -> None:
            self._prefill(s, prompt)
            for _ in range(min(max(WARM_STEPS, steps), room)):
                self._advance(s)

        try:
            self.graphs.warm(warm)
            expected = s.seq[:, prompt.length:prompt.length + steps + 1].clone()
            replay = self.graphs.capture(lambda: self._step(self.model, s))
        except Exception as exc:
            raise CaptureError(f"not captured: {one_line(exc, 300)}") from None
        self._prefill(s, prompt)
        for _ in range(steps):
            replay()
        if not torch.equal(s.seq[:, prompt.length:prompt.length + steps + 1], expected):
            raise CaptureError("not captured: the replayed graph decoded other tokens than the "
                               "step run without capture (host state frozen into the graph)")
        s.graph = replay


class CudaGraphs:
    """``torch.cuda.CUDAGraph`` capture, every graph of one loop in one memory pool."""

    def __init__(self) -> None:
        self.pool: Any = None

    def warm(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on a side stream, as capture needs (lazy allocations, autotuning, compiling)."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            fn()
        torch.cuda.current_stream().wait_stream(side)

    def capture(self, fn: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
        """Capture ``fn`` (nothing runs); the returned call replays it and gives its output."""
        self.pool = self.pool or torch.cuda.graph_pool_handle()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            out = fn()

        def replay() -> torch.Tensor:
            graph.replay()
            return out
        return replay
