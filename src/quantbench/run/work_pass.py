"""The work pass of a generate case: what one decode step does, counted after the timed rounds.

Profiling slows what it watches, so these counters come from passes of their own that never
overlap the timed rounds: kernel time, kernels and launches per decode step from the CUDA profiler
(``run.device``) and Python calls per decode step (``run.python_calls``).
"""

from __future__ import annotations

from typing import Any

from quantbench.results import Metric
from quantbench.run.device import CPU_NOTE, device_metrics
from quantbench.run.python_calls import python_calls_per_step

# Python calls per step were the same for 6, 12 and 32 tokens on the tiny Qwen2 (commit 104d182).
HOST_CALL_TOKENS = 8
# Decode steps the profiled pass covers: profiling every step of a round took a large share of a
# session's wall time, and kernel time per step varies little with context length at these
# lengths (attention is a small share of a step's kernel time).
PROFILE_TOKENS = 16


def work_metrics(engine: Any, prompt: Any, new_tokens: int, step_ms: float, device: str, *,
                 profile: bool = True, calls: bool = True) -> tuple[dict[str, Metric], list[str]]:
    """One decode step's device time and work counters (``step_ms``: the timed rounds' median
    step) and the notes that qualify them: on a CPU the profiler sees no device (``CPU_NOTE``).
    ``profile`` or ``calls`` false leaves that pass out, and its figures with it (a test plugin's
    question: which pass leaves a cost behind for the next method)."""
    work = device_metrics(engine, prompt, min(PROFILE_TOKENS, new_tokens), step_ms) if profile else {}
    count = python_calls_per_step(engine, prompt, min(HOST_CALL_TOKENS, new_tokens)) if calls else None
    if count is not None:
        work["decode_py_calls"] = count
    return work, ([] if device == "cuda" else [CPU_NOTE])
