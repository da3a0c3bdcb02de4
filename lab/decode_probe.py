"""Why a session's timed eager decode read ~3x what a process of its own read, on a lent H200.

Inside a default session eager FP16 decode of the 0.5B model read 64-89 ms per token, while the
same ``generate`` in a process of its own (lab/raw_decode.py) read 17-29 ms. Two suspects, timed
here in one process with the harness's own ``generate``:

* the warm-up: the session warmed up with 8 tokens, then timed ONE round of the full length, so
  the timed round was the first full-length generation; the first reps below follow an 8-token
  warm-up in the same way;
* a finished profiler pass: Kineto leaves CUPTI attached unless ``TEARDOWN_CUPTI=1``
  (pytorch/pytorch#144455), so later launches may pay its callback; reps follow one and two
  profiled passes of torch.profiler itself.

Then, to learn what a warm-up must cover (the H100 diagnosis of 2026-11-24 found cuDNN SDPA
building a plan per new decode shape): a second FP16 model (same shapes: are the plans shared
between models?), a BF16 model (another dtype) and batch 8 (other shapes), each after an 8-token
warm-up. ``--sdpa flash,efficient,math`` runs it all under ``torch.nn.attention.sdpa_kernel``
with those backends only; the profiled pass names the attention kernels that ran.

    python lab/decode_probe.py [--tokens 128] [--reps 3] [--sdpa B1,B2] [--device cpu] > out.jsonl

Each line: phase, ms per token of each rep, each rep's new cudaMalloc segments and median host
interval between its steps, the profiled pass's own seconds, and ``TEARDOWN_CUPTI`` as the
process saw it. Synthetic checkpoint (seeded random weights; speed only).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import time
from pathlib import Path

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--cache", default="/tmp/qbc")
    ap.add_argument("--model", default="qwen2.5-0.5b-instruct")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--sdpa", default="", help="comma-separated SDPBackend names, e.g. flash,efficient,math")
    a = ap.parse_args()
    backends = [getattr(SDPBackend, {"flash": "FLASH_ATTENTION", "efficient": "EFFICIENT_ATTENTION",
                                     "cudnn": "CUDNN_ATTENTION"}.get(b, b.upper())) for b in a.sdpa.split(",") if b]
    with sdpa_kernel(backends) if backends else contextlib.nullcontext():
        run(a)


def run(a: argparse.Namespace) -> None:
    from transformers import AutoConfig, AutoModelForCausalLM

    from torch.profiler import ProfilerActivity, profile
    from quantbench.run.device import family
    from quantbench.run.engine import HFEngine
    from quantbench.sources.resolve import materialize_synthetic

    dev, n = a.device, a.tokens
    cuda = dev == "cuda"
    folder = materialize_synthetic(a.model, Path(a.cache), 0)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def segments_now() -> int:
        return torch.cuda.memory_stats().get("segment.all.allocated", 0) if cuda else 0

    def engine_of(dtype: torch.dtype) -> HFEngine:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(dev).eval()
        return HFEngine(model, "eager")

    vocab = min(20000, AutoConfig.from_pretrained(folder).vocab_size)

    def prompt(batch: int) -> object:
        ids = torch.randint(1, vocab, (batch, 128), generator=torch.Generator().manual_seed(0)).to(dev)

        class P:
            input_ids, attention_mask = ids, torch.ones_like(ids)
        return P

    def reps(engine: HFEngine, p: object) -> dict[str, list]:
        """Each rep's ms per token, its new cudaMalloc segments and the median host interval
        between its steps (is a cold rep slow in a few steps or in all of them?)."""
        out: dict[str, list] = {"ms_per_token": [], "new_segments": [], "step_p50_ms": []}
        for _ in range(a.reps):
            stamps: list[float] = []
            before = segments_now()
            sync()
            t = time.perf_counter()
            engine.generate(p, n, lambda: stamps.append(time.perf_counter()))
            sync()
            out["ms_per_token"].append(round((time.perf_counter() - t) * 1000 / n, 2))
            out["new_segments"].append(segments_now() - before)
            out["step_p50_ms"].append(round(statistics.median(b - a for a, b in zip(stamps, stamps[1:])) * 1000, 2))
        return out

    def report(phase: str, figures: dict[str, list], **extra: object) -> None:
        print(json.dumps({"phase": phase, **figures, "tokens": n, "sdpa": a.sdpa or "default",
                          "TEARDOWN_CUPTI": os.environ.get("TEARDOWN_CUPTI"), **extra}), flush=True)

    fp16, one = engine_of(torch.float16 if cuda else torch.float32), prompt(1)
    fp16.generate(one, 8, type(None))  # an 8-token warm-up, as the sessions of 2026-12-02 had
    report("fp16 bs1, before any profiler", reps(fp16, one))
    if cuda:
        for k in (1, 2):
            t = time.perf_counter()
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                fp16.generate(one, 16, type(None))
                sync()
            names = [e.name() for e in prof.profiler.kineto_results.events()]
            attention = sorted({x[:80] for x in names if family(x) == "attention"})
            report(f"fp16 bs1, after profiled pass {k}", reps(fp16, one),
                   profile_s=round(time.perf_counter() - t, 2), records=len(names), attention_kernels=attention)
    second = engine_of(fp16.model.dtype)
    second.generate(one, 8, type(None))
    report("a second fp16 model, bs1", reps(second, one))
    del second
    bf16 = engine_of(torch.bfloat16)
    bf16.generate(one, 8, type(None))
    report("bf16 bs1", reps(bf16, one))
    eight = prompt(8)
    fp16.generate(eight, 8, type(None))
    report("fp16 bs8", reps(fp16, eight))


if __name__ == "__main__":
    main()
