"""Does compiling one model slow later eager runs in the same process, and why?

Phases, one process, one GPU: (A) eager batch-1 generate for each method; (B) compile FP16
(compiled mode, batch 1); (C) eager again for each method; (D) gc.freeze(), eager again;
(E) gc disabled during each round, eager again. D and E run only when some method's phase C
is more than 10 % below its phase A (or with QB_DISTURB_ALL=1), so one GPU call can afford
A-C. Each row: end-to-end tok/s (harness median), time spent in Python's garbage collector
while measuring, collections by generation, objects the collector tracks, threads and child
processes.
usage: python3 lab/disturb.py METHOD...   (run with PYTHONPATH=.gpu-site:src; QB_DEVICE=cpu for a CPU)
Results: docs/results/h100-2026-11-24/disturb-cut-off.log, docs/results/h100-2026-11-25/disturb2.log,
docs/results/cpu-2026-11-24/disturb-cpu-tiny.log.
"""
import gc
import json
import os
import sys
import threading
import time

from quantbench.run.runner import Runner
from quantbench.config import build_settings

methods = sys.argv[1:] or ["nf4", "fp16"]
gc_time = [0.0]
gc_runs = [0, 0, 0]
_t0 = [0.0]


def on_gc(phase, info):
    if phase == "start":
        _t0[0] = time.perf_counter()
    else:
        gc_time[0] += time.perf_counter() - _t0[0]
        gc_runs[info["generation"]] += 1


gc.callbacks.append(on_gc)
s = build_settings({}, {"cache_dir": "/tmp/qbc", "methods": ",".join(dict.fromkeys(methods + ["fp16"]))})
h = Runner(s, os.environ.get("QB_DEVICE", "cuda"))
rows = []


def children() -> int:
    me = str(os.getpid())
    n = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if open(f"/proc/{pid}/stat").read().split(") ")[1].split()[1] == me:
                    n += 1
            except OSError:
                pass
    return n


def eager(phase: str, method: str, disable_gc: bool = False) -> None:
    loaded = h.load(method)
    gc_time[0] = 0.0
    gc_runs[:] = [0, 0, 0]
    if disable_gc:
        gc.disable()
    t = time.perf_counter()
    case, run = h.generate_case(loaded, 1, "eager")
    wall = time.perf_counter() - t
    gc.enable()
    row = {"phase": phase, "method": method, "e2e_tps": round(case.metrics["e2e_tps"].median, 2),
           "rounds": case.metrics["e2e_tps"].n, "case_wall_s": round(wall, 1),
           "gc_s": round(gc_time[0], 3), "gc_runs_by_gen": list(gc_runs),
           "gc_tracked_objects": len(gc.get_objects()), "gc_frozen": gc.get_freeze_count(),
           "threads": threading.active_count(), "child_processes": children()}
    rows.append(row)
    print(json.dumps(row), flush=True)
    h.release()


for m in methods:
    eager("A eager first", m)
loaded = h.load("fp16")
case, run = h.generate_case(loaded, 1, "compiled")
print(json.dumps({"phase": "B compiled fp16", "e2e_tps": round(case.metrics["e2e_tps"].median, 1),
                  "compile_s": round(run.warmup_s, 1), "gc_tracked_objects": len(gc.get_objects()),
                  "child_processes": children()}), flush=True)
h.release()
for m in methods:
    eager("C eager after compile", m)
first = {r["method"]: r["e2e_tps"] for r in rows if r["phase"] == "A eager first"}
after = {r["method"]: r["e2e_tps"] for r in rows if r["phase"] == "C eager after compile"}
slower = [m for m in methods if after[m] < 0.9 * first[m]]
print(json.dumps({"slower_after_compile": slower}), flush=True)
if not slower and not os.environ.get("QB_DISTURB_ALL"):
    sys.exit(0)  # nothing to explain: the GC phases D and E only run after a slowdown
gc.freeze()
for m in methods:
    eager("D after gc.freeze()", m)
gc.unfreeze()
for m in methods:
    eager("E gc disabled in the case", m, disable_gc=True)
