"""Host time per decode token: plain HF ``generate`` against the harness's own path, in one process.

Why: eager batch-1 decode on lent H200s read 16-39 tok/s for a 0.5B model (25-60 ms per token,
nearly all of it outside the GPU). This tells whether the harness (its per-step marker, CUDA
events, pinning to four CPUs) adds to that, or whether the host is simply that slow. (Those
session figures were later found to be cold first rounds: lab/decode_probe.py.)

    python lab/raw_decode.py [--dtype float16] [--tokens 128] [--reps 3] [--pin N] > out.jsonl

Each line: variant, dtype, ms per token over the timed reps (median, min, max). Synthetic
checkpoint from the harness's cache (seeded random weights; speed only).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch


DEV = "cuda" if torch.cuda.is_available() else "cpu"


def sync() -> None:
    if DEV == "cuda":
        torch.cuda.synchronize()


def timed(fn, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", default="float16")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--pin", type=int, default=0, help="pin to N CPUs (skipping the first) and N torch threads")
    ap.add_argument("--cache", default="/tmp/qbc")
    ap.add_argument("--model", default="qwen2.5-0.5b-instruct")
    a = ap.parse_args()
    from transformers import AutoModelForCausalLM

    from quantbench.run.engine import HFEngine
    from quantbench.run.timing import CudaClock, HostClock
    from quantbench.sources.resolve import materialize_synthetic

    if a.pin:
        cpus = sorted(os.sched_getaffinity(0))[1:1 + a.pin]
        os.sched_setaffinity(0, cpus)
        torch.set_num_threads(a.pin)
    folder = materialize_synthetic(a.model, Path(a.cache), 0)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, a.dtype)).to(DEV).eval()
    ids = torch.randint(1, min(20000, model.config.vocab_size), (1, 128), device=DEV,
                        generator=torch.Generator(DEV).manual_seed(0))
    mask = torch.ones_like(ids)
    n = a.tokens

    @torch.inference_mode()
    def plain() -> None:
        model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n,
                       do_sample=False, temperature=None, top_p=None, top_k=None, pad_token_id=0)

    engine = HFEngine(model, "eager")
    clock = CudaClock() if DEV == "cuda" else HostClock()

    class P:
        input_ids, attention_mask = ids, mask

    def harness() -> None:
        marks = []
        engine.generate(P, n, lambda: marks.append(clock.mark()))

    @torch.inference_mode()
    def loop() -> None:  # gpt-fast style eager loop: the model's forward and argmax, nothing else
        from transformers import DynamicCache

        cache = DynamicCache()
        out = model(input_ids=ids, past_key_values=cache, use_cache=True)
        tok = out.logits[:, -1:].argmax(-1)
        for _ in range(n - 1):
            out = model(input_ids=tok, past_key_values=cache, use_cache=True)
            tok = out.logits[:, -1:].argmax(-1)

    for name, fn in (("plain_generate", plain), ("harness_generate", harness), ("forward_loop", loop)):
        fn()  # warm
        secs = timed(fn, a.reps)
        ms = [s * 1000 / n for s in secs]
        print(json.dumps({"variant": name, "dtype": a.dtype, "pin": a.pin, "tokens": n,
                          "ms_per_token_median": round(statistics.median(ms), 2),
                          "min": round(min(ms), 2), "max": round(max(ms), 2),
                          "threads": torch.get_num_threads(), "cpus": len(os.sched_getaffinity(0))}),
              flush=True)


if __name__ == "__main__":
    main()
