import cProfile, pstats, sys, time, io
import torch
from quantbench.settings import build_settings
from quantbench.harness import Harness
from quantbench.engine import HFEngine
h = Harness(build_settings({}, {"methods": "fp16", "cache_dir": "/tmp/qbc"}), "cuda")
m = h.model("fp16")
e = HFEngine(m.model)
pp = h.prefill_prompt(m, 128)
for i in range(2):
    t = time.perf_counter(); e.prefill(pp); torch.cuda.synchronize(); print("prefill", i, round(time.perf_counter() - t, 3), flush=True)
p = h.generation_prompts(m, 1)[0]
for i in range(3):
    pr = cProfile.Profile(); t = time.perf_counter(); pr.enable()
    e.generate(p, 128, lambda: None); torch.cuda.synchronize()
    pr.disable(); print("generate", i, round(time.perf_counter() - t, 3), flush=True)
    if i == 0:
        s = io.StringIO(); pstats.Stats(pr, stream=s).sort_stats("cumtime").print_stats(30); print(s.getvalue()[:6000])
