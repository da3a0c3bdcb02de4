"""Test-only pytest plugin: CUPTI torn down after every profiled call, each trace primed first.

Load it with ``-p teardown_plugin`` (``lab/`` on ``PYTHONPATH``) to try, on a GPU, whether the
cost a method pays for being measured after another one's CUDA profiler pass (docs/findings.md, "The method
measured second pays more host time") goes when Kineto releases CUPTI after each trace
(``TEARDOWN_CUPTI=1``; pytorch/pytorch#144455 reports training 10-20 % slower after a finished
trace without it). On lease F (docs/results/h200-2026-12-02c) that setting alone broke the work
counters: each trace lost some of its first records to CUPTI re-attaching, so the N-token and
1-token profiles lost different numbers (kernels per token 1,029 -> 1,099.73). Here every trace
first runs ``PRIME`` rounds of a one-element add and a CUDA event synchronisation, and every
record that starts before the end of the last primer synchronisation is dropped, so what a
re-attach loses is the primer's. The measured call must not synchronise on CUDA events itself
(the profiled ``generate`` calls do not: their step hook does nothing).
On lease AB (docs/results/h200-2026-12-04g, 0.5B compiled) even the primer's records were lost in
both cases' traces, and both were refused: the plugin stays as the probe that showed it.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import pytest

PRIME = 3
PRIMER_SYNC = "cudaEventSynchronize"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("quantbench").addoption(
        "--qb-teardown-cupti", dest="qb_teardown_cupti", action="store_true", default=False,
        help="test only: tear CUPTI down after every profiled call (TEARDOWN_CUPTI=1), each "
             "trace primed so the records a re-attach loses are the primer's")


def after_primer(records: Sequence[tuple[str, str, int, int | None]]) -> list[tuple]:
    """The records that start at or after the end of the last primer synchronisation; a trace
    with no kernel among them is refused rather than read as no GPU work."""
    ends = [start + duration for name, _, duration, start in records
            if name.startswith(PRIMER_SYNC) and start is not None]
    if not ends:
        raise RuntimeError(f"no {PRIMER_SYNC} record in the trace: the primer was lost as well")
    cut = max(ends)
    kept = [r for r in records if r[3] is not None and r[3] >= cut]
    if not any(activity == "kernel" for _, activity, _, _ in kept):
        # Kineto starts a trace without GPU activities when a previous teardown has not finished.
        raise RuntimeError("no kernel record after the primer: the trace ran without GPU activities")
    return kept


def prime() -> None:
    """``PRIME`` rounds of a one-element add and a CUDA event synchronisation."""
    import torch

    x = torch.zeros(1, device="cuda")
    for _ in range(PRIME):
        x.add_(1)
        done = torch.cuda.Event()
        done.record()
        done.synchronize()


def primed(cuda_activity: Callable[..., list[tuple]]) -> Callable[[Callable[[], Any]], list[tuple]]:
    """``cuda_activity`` with each trace primed and the primer's records cut."""
    def activity(fn: Callable[[], Any]) -> list[tuple]:
        return after_primer(cuda_activity(fn, before=prime))
    return activity


NOTE = "profiled with CUPTI torn down after each primed trace (lab/teardown_plugin.py)"


def pytest_configure(config: pytest.Config) -> None:
    """Set ``TEARDOWN_CUPTI`` and prime the profiler's traces for this session; both come back
    when it ends."""
    if not config.getoption("qb_teardown_cupti"):
        return
    from quantbench import compat

    patches = pytest.MonkeyPatch()
    config.add_cleanup(patches.undo)
    patches.setenv("TEARDOWN_CUPTI", "1")
    patches.setattr(compat, "cuda_activity", primed(compat.cuda_activity))


@pytest.hookimpl(wrapper=True)
def pytest_quantbench_work_pass(config: pytest.Config) -> Any:
    """Every generate case's work pass says how it profiled, when the switch is on."""
    work, notes = yield
    if not config.getoption("qb_teardown_cupti"):
        return work, notes
    return work, [*notes, NOTE]
