"""Why the second method of a session pays more host time per decode token than the first.

In every default session of lease H (docs/results/h200-2026-12-02d) BF16, which runs after FP16,
spent 17-28 ms of host time per decode token against FP16's 13-17, with the same 1,023 launches
and 2,636 Python calls per token; where BF16 ran first in a process of its own (2026-11-26) the
two were equal, and in interleaved rounds BF16/FP16 read 0.95-1.06. So something an earlier
method leaves in the process slows the later one. Between FP16's timed rounds and BF16's the
runner does: the work pass (CUDA profiler over 16 and 1 decode steps and a prefill; Python
calls counted with ``sys.monitoring`` over 8 and 1 steps), the quality pass, releasing FP16 and
loading BF16. Here each of those runs alone, in that order, in one process, and after each the
same FP16 model is timed again (reps of ``--tokens``) beside the harness's own host probe
(microseconds per kernel launch, ``run.host_probe``), which moves if a launch got dearer; a BF16
model is timed before any pass and, freshly loaded, after them all (the session's pattern):

    python lab/order_probe.py [--tokens 128] [--reps 3] [--device cuda] > out.jsonl

Each line: phase, ms per token of each rep, each rep's median host interval between steps, and
launch overhead in us. Run it twice, with ``TEARDOWN_CUPTI`` unset and ``=1``, to see whether
Kineto keeping CUPTI subscribed after a trace (pytorch/pytorch#144455) is the cost. Synthetic
checkpoint (seeded random weights; speed only).
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
    ap.add_argument("--device", default="cuda")
    run(ap.parse_args())


def run(a: argparse.Namespace) -> None:
    from transformers import AutoConfig, AutoModelForCausalLM

    from quantbench.run.device import device_metrics
    from quantbench.run.engine import HFEngine
    from quantbench.run.host_probe import launch_overhead_us
    from quantbench.device_memory import free_device_memory
    from quantbench.run.python_calls import python_calls_per_step
    from quantbench.run.quality import QualityReference
    from quantbench.sources.resolve import materialize_synthetic

    dev, n, cuda = a.device, a.tokens, a.device == "cuda"
    folder = materialize_synthetic(a.model, Path(a.cache), 0)
    half = torch.float16 if cuda else torch.float32

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def engine_of(dtype: torch.dtype) -> HFEngine:
        return HFEngine(AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(dev).eval(), "eager")

    vocab = min(20000, AutoConfig.from_pretrained(folder).vocab_size)
    ids = torch.randint(1, vocab, (1, 128), generator=torch.Generator().manual_seed(0)).to(dev)

    class Prompt:
        input_ids, attention_mask, batch, length = ids, torch.ones_like(ids), 1, 128

    def timed(engine: HFEngine) -> dict[str, list]:
        out: dict[str, list] = {"ms_per_token": [], "step_p50_ms": []}
        for _ in range(a.reps):
            stamps: list[float] = []
            sync()
            t = time.perf_counter()
            engine.generate(Prompt, n, lambda: stamps.append(time.perf_counter()))
            sync()
            out["ms_per_token"].append(round((time.perf_counter() - t) * 1000 / n, 2))
            out["step_p50_ms"].append(round(statistics.median(b - a for a, b in zip(stamps, stamps[1:])) * 1000, 2))
        return out

    def report(phase: str, engine: HFEngine, seconds: float = 0.0) -> None:
        figures = timed(engine)
        print(json.dumps({"phase": phase, **figures, "launch_us": round(launch_overhead_us(dev, sync), 2),
                          "phase_s": round(seconds, 2), "tokens": n,
                          "TEARDOWN_CUPTI": os.environ.get("TEARDOWN_CUPTI")}), flush=True)

    def after(phase: str, engine: HFEngine, work: object) -> None:
        t = time.perf_counter()
        work()
        report(phase, engine, time.perf_counter() - t)

    def fresh(dtype: torch.dtype) -> HFEngine:
        engine = engine_of(dtype)
        engine.generate(Prompt, n, type(None))  # full length: cuDNN's plans for every KV length
        return engine

    fp16 = fresh(half)
    report("fp16, warm, before anything", fp16)
    report("fp16, again (the spread of nothing)", fp16)
    other = fresh(torch.bfloat16)
    report("bf16, before any pass (as in interleaved rounds)", other)
    del other
    free_device_memory()
    after("after Python calls counted (8 and 1 steps)", fp16,
          lambda: python_calls_per_step(fp16, Prompt, 8))
    if cuda:
        after("after the CUDA profiler pass (16 and 1 steps, prefill)", fp16,
              lambda: device_metrics(fp16, Prompt, 16, None))
        after("after a second CUDA profiler pass", fp16, lambda: device_metrics(fp16, Prompt, 16, None))
    after("after the quality reference (greedy tokens and logits)", fp16,
          lambda: QualityReference.capture(fp16.model, ids, torch.ones_like(ids), 32))
    report("bf16, loaded after the passes (as its own bench runs)", fresh(torch.bfloat16))
    free_device_memory()
    report("a second fp16 model, loaded after the passes", fresh(half))

if __name__ == "__main__":
    main()
