"""Why a session's timed eager decode read ~3x what a process of its own read, on a lent H200.

Inside a default session eager FP16 decode of the 0.5B model read 64-89 ms per token, while the
same ``generate`` in a process of its own (tools/raw_decode.py) read 17-29 ms. Two suspects, timed
here in one process with the harness's own ``generate``:

* the warm-up: the session warmed up with 8 tokens, then timed ONE round of the full length, so
  the timed round was the first full-length generation; the first reps below follow an 8-token
  warm-up in the same way;
* a finished profiler pass: Kineto leaves CUPTI attached unless ``TEARDOWN_CUPTI=1``
  (pytorch/pytorch#144455), so later launches may pay its callback; reps follow one and two
  profiled passes of torch.profiler itself.

    python tools/decode_probe.py [--tokens 128] [--reps 3] > out.jsonl

Each line: phase, ms per token of each rep, each rep's new cudaMalloc segments and median host
interval between its steps, the profiled pass's own seconds, and ``TEARDOWN_CUPTI`` as the
process saw it. Synthetic checkpoint (seeded random weights; speed only).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--cache", default="/tmp/qbc")
    ap.add_argument("--model", default="qwen2.5-0.5b-instruct")
    a = ap.parse_args()
    from transformers import AutoModelForCausalLM

    from torch.profiler import ProfilerActivity, profile
    from quantbench.run.engine import HFEngine
    from quantbench.sources.resolve import materialize_synthetic

    folder = materialize_synthetic(a.model, Path(a.cache), 0)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float16).to("cuda").eval()
    ids = torch.randint(1, 20000, (1, 128), device="cuda", generator=torch.Generator("cuda").manual_seed(0))

    class P:
        input_ids, attention_mask = ids, torch.ones_like(ids)

    engine = HFEngine(model, "eager")
    n = a.tokens

    segments: list[int] = []
    step_p50: list[float] = []

    def per_token_ms() -> list[float]:
        """Each rep's ms per token; beside it, the rep's new cudaMalloc segments and the median
        host interval between its steps (is a cold rep slow in a few steps or in all of them?)."""
        out = []
        segments.clear()
        step_p50.clear()
        for _ in range(a.reps):
            stamps: list[float] = []
            before = torch.cuda.memory_stats().get("segment.all.allocated", 0)
            torch.cuda.synchronize()
            t = time.perf_counter()
            engine.generate(P, n, lambda: stamps.append(time.perf_counter()))
            torch.cuda.synchronize()
            out.append((time.perf_counter() - t) * 1000 / n)
            segments.append(torch.cuda.memory_stats().get("segment.all.allocated", 0) - before)
            step_p50.append(round(statistics.median(b - a for a, b in zip(stamps, stamps[1:])) * 1000, 2))
        return out

    def report(phase: str, ms: list[float], profile_s: float | None = None) -> None:
        print(json.dumps({"phase": phase, "ms_per_token": [round(x, 2) for x in ms],
                          "new_segments": list(segments), "step_p50_ms": list(step_p50), "tokens": n,
                          "profile_s": profile_s, "TEARDOWN_CUPTI": os.environ.get("TEARDOWN_CUPTI")}),
              flush=True)

    engine.generate(P, 8, type(None))  # warm: every kernel once
    report("before any profiler", per_token_ms())
    for k in (1, 2):
        t = time.perf_counter()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            engine.generate(P, 16, type(None))
            torch.cuda.synchronize()
        records = prof.profiler.kineto_results.events()
        took = round(time.perf_counter() - t, 2)
        report(f"after profiled pass {k} ({len(records)} records)", per_token_ms(), took)


if __name__ == "__main__":
    main()
