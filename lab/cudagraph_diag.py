"""Why does a torchao weight-only model decode at ~13 ms/token in compiled mode when FP16 takes
~2.6 ms? Counts, per decode step, what inductor's CUDA-graph tree manager does: replays a
recorded graph (execute_node), records a new one (record_function) or runs without graphs
(run_eager), and the invariant check that sent it to record again.
usage: python3 lab/cudagraph_diag.py METHOD...   (PYTHONPATH=.gpu-site:.scratch/tao:src;
QB_DEVICE=cpu QB_MODEL=synthetic:qwen2-tiny checks the script itself on a CPU)"""
import collections
import json
import os
import sys
import time

import torch
from torch._inductor import cudagraph_trees as ct

from quantbench.run.engine import HFEngine
from quantbench.methods import METHODS, LoadRequest
from quantbench.run.prompts import token_prompt
from quantbench.config import build_settings
from quantbench.sources import resolve_source

calls: collections.Counter = collections.Counter()


def counting(cls, name, key=None):
    orig = getattr(cls, name)

    def wrapper(self, *a, **k):
        out = orig(self, *a, **k)
        calls[key(out) if key else name] += 1
        return out
    setattr(cls, name, wrapper)


counting(ct.CUDAGraphTreeManager, "record_function")
counting(ct.CUDAGraphTreeManager, "execute_node")
counting(ct.CUDAGraphTreeManager, "run_eager")
counting(ct.CUDAGraphNode, "check_invariants", key=lambda out: f"check:{out[0].name}")

DEVICE = os.environ.get("QB_DEVICE", "cuda")
s = build_settings({}, {"cache_dir": "/tmp/qbc", "model": os.environ.get("QB_MODEL")})
src = resolve_source(s.model, s.cache_dir, s.seed)
for name in sys.argv[1:]:
    loaded = METHODS[name].load(LoadRequest(src, DEVICE, s.cache_dir, None, s.seed))
    engine = HFEngine(loaded.model, "compiled")
    prompt = token_prompt(loaded.model.config.vocab_size, 64, 1, 0, DEVICE)
    t = time.perf_counter()
    for _ in range(2):
        engine.generate(prompt, 32, lambda: None)
    if DEVICE == "cuda":
        torch.cuda.synchronize()
    compile_s = time.perf_counter() - t
    calls.clear()
    t = time.perf_counter()
    engine.generate(prompt, 64, lambda: None)
    if DEVICE == "cuda":
        torch.cuda.synchronize()
    print(json.dumps({"method": name, "compile_s": round(compile_s, 1),
                      "ms_per_token": round((time.perf_counter() - t) / 64 * 1e3, 2),
                      "calls_in_64_tokens": dict(calls), **engine.compile_stats()}), flush=True)
    del engine, loaded
