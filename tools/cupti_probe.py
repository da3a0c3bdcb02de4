"""Does a finished torch.profiler pass slow the decode steps timed after it?

Why: inside a default session eager FP16 decode of the 0.5B model read 64 ms per token on a lent
H200, while the same ``generate`` in a process of its own (tools/raw_decode.py) read 17-29 ms. Every
case's profiled pass runs before the next case's timed rounds; Kineto leaves CUPTI attached after a
trace unless ``TEARDOWN_CUPTI=1`` (pytorch/pytorch#144455), so every later kernel launch may pay
CUPTI's callback. This times the harness's own ``generate`` before any profiler, after one
profiled pass, and after a second one, in one process, with torch.profiler itself (not the
harness's wrapper, which sets ``TEARDOWN_CUPTI``); run it with the variable unset, ``0`` and ``1``.

    python tools/cupti_probe.py [--tokens 128] [--reps 3] > out.jsonl

Each line: phase, ms per token (median, min, max), the profiled pass's own seconds, and
``TEARDOWN_CUPTI`` as the process saw it. Synthetic checkpoint (seeded random weights; speed only).
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

    def per_token_ms() -> list[float]:
        out = []
        for _ in range(a.reps):
            torch.cuda.synchronize()
            t = time.perf_counter()
            engine.generate(P, n, type(None))
            torch.cuda.synchronize()
            out.append((time.perf_counter() - t) * 1000 / n)
        return out

    def report(phase: str, ms: list[float], profile_s: float | None = None) -> None:
        print(json.dumps({"phase": phase, "ms_per_token_median": round(statistics.median(ms), 2),
                          "min": round(min(ms), 2), "max": round(max(ms), 2), "tokens": n,
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
