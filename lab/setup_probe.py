"""Where a session's set-up time goes before its first model loads, on the machine it runs on.

On lent H200s the session record's "(session) load" phase (``Runner.__post_init__``: energy meter,
clock, memory probe, model source, tokenizer, prompts, CPU pinning) took 5-11 s, against 0.3 s
for the CPU session here (docs/results/h200-2026-12-04b). This times each of those steps in the
runner's own order, the quality case's KL on the host, then a full garbage collection with the
FP16 model loaded, before and after ``steady.freeze_heap``. With ``--runner``, in a new process
once the checkpoint is cached: a real ``Runner``'s set-up first thing (CUDA not yet touched, as in
a session), under cProfile.

    python lab/setup_probe.py [--model synthetic:qwen2.5-0.5b-instruct] [--cache-dir DIR] [--runner] > out.jsonl

Each line: step, seconds. Synthetic checkpoint (seeded random weights; speed only).
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path
from typing import Any, Callable


def timed(step: str, fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    value = fn()
    print(json.dumps({"step": step, "s": round(time.perf_counter() - start, 4)}), flush=True)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="synthetic:qwen2.5-0.5b-instruct")
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/qbc"))
    parser.add_argument("--runner", action="store_true",
                        help="only a real Runner's set-up, first thing in the process (run after the"
                             " full probe has cached the checkpoint): what a session's set-up pays")
    args = parser.parse_args()
    if args.runner:
        from quantbench.config import build_settings
        from quantbench.env import detect_device

        settings = build_settings({}, {"cache_dir": str(args.cache_dir), "model": args.model})
        runner_profile(settings, detect_device("auto"))
        return

    torch = timed("import torch", lambda: __import__("torch"))
    timed("import transformers", lambda: __import__("transformers"))
    timed("import quantbench.plugin + run.runner",
          lambda: (__import__("quantbench.plugin"), __import__("quantbench.run.runner")))
    from quantbench.config import build_settings
    from quantbench.env import detect_device
    from quantbench.methods import LoadRequest
    from quantbench.run import steady
    from quantbench.run.energy import EnergyMeter
    from quantbench.run.memory import probe_for
    from quantbench.run.pool import ModelPool
    from quantbench.run.prompts import PromptBook
    from quantbench.run.timing import clock_for
    from quantbench.sources import load_tokenizer, resolve_source

    device = detect_device("auto")
    settings = build_settings({}, {"cache_dir": str(args.cache_dir)})
    timed("torch.cuda.init", lambda: torch.cuda.init() if device == "cuda" else None)
    timed("EnergyMeter", lambda: EnergyMeter(0 if device == "cuda" else None))
    timed("clock_for", lambda: clock_for(device))
    memory = timed("probe_for", lambda: probe_for(device))
    source = timed("resolve_source", lambda: resolve_source(args.model, args.cache_dir, settings.seed))
    tokenizer = timed("load_tokenizer", lambda: load_tokenizer(source))
    timed("PromptBook", lambda: PromptBook(tokenizer, settings.scenario, settings.seed, device))
    timed("pin_cpus", lambda: steady.pin_cpus(device))
    # The quality case's KL runs on the host in float64 over [4, 32, vocab] logits, once a method:
    # what moving it to the GPU could save.
    from quantbench.run.quality import mean_kl
    a, b = torch.randn(4, 32, 151936), torch.randn(4, 32, 151936)
    timed("mean_kl on the host (quality, per method)", lambda: mean_kl(a, b))
    pool = ModelPool(LoadRequest(source, device, args.cache_dir, None, settings.seed), memory, None)
    model = timed("load fp16", lambda: pool.acquire("fp16"))
    print(json.dumps({"step": "objects tracked", "n": len(gc.get_objects())}), flush=True)
    timed("gc.collect", gc.collect)
    timed("gc.collect again", gc.collect)
    timed("steady.freeze_heap", steady.freeze_heap)
    timed("gc.collect after freeze", gc.collect)
    del model


def runner_profile(settings: Any, device: str, top: int = 12) -> None:
    """A real ``Runner``'s set-up with the checkpoint now cached, as every session after the
    first has it: its own "(session) load" figure and the calls that took it (cProfile,
    cumulative seconds)."""
    import cProfile
    import pstats

    from quantbench.run.runner import Runner

    profile = cProfile.Profile()
    runner = profile.runcall(Runner, settings, device)
    load = runner.time_data()["per_method"]["(session)"]["load"]
    print(json.dumps({"step": "Runner set-up, cached ((session) load)", "s": round(load, 4)}), flush=True)
    stats = pstats.Stats(profile)
    ranked = sorted(stats.stats.items(), key=lambda item: item[1][3], reverse=True)[:top]
    for (path, line, name), (_, _, _, cumulative, _) in ranked:
        print(json.dumps({"call": f"{Path(path).name}:{line}:{name}", "cumulative_s": round(cumulative, 4)}),
              flush=True)


if __name__ == "__main__":
    main()
