"""Where does the first eager FP16 ``generate`` on a GPU spend its time? Times two prefills, then
three batch-1 generates of 128 tokens, and prints the cProfile of the first (cumulative time,
top 30). On an H100 it showed cuDNN SDPA building an execution plan for each new decode shape:
docs/results/h100-2026-11-24/diag-first-generate-profile.log.
usage: python3 lab/generate_profile.py   (run with PYTHONPATH=.gpu-site:src; needs CUDA)
"""
import cProfile, pstats, sys, time, io
import torch
from quantbench.config import build_settings
from quantbench.run.runner import Runner
from quantbench.run.engine import HFEngine
h = Runner(build_settings({}, {"methods": "fp16", "cache_dir": "/tmp/qbc"}), "cuda")
m = h.load("fp16")
e = HFEngine(m.model)
pp = h.prompts.prefill(m.model, 128)
for i in range(2):
    t = time.perf_counter(); e.prefill(pp); torch.cuda.synchronize(); print("prefill", i, round(time.perf_counter() - t, 3), flush=True)
p = h.prompts.generation(m.model, 1)[0]
for i in range(3):
    pr = cProfile.Profile(); t = time.perf_counter(); pr.enable()
    e.generate(p, 128, lambda: None); torch.cuda.synchronize()
    pr.disable(); print("generate", i, round(time.perf_counter() - t, 3), flush=True)
    if i == 0:
        s = io.StringIO(); pstats.Stats(pr, stream=s).sort_stats("cumtime").print_stats(30); print(s.getvalue()[:6000])
