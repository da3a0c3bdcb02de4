"""The lab's teardown plugin (``lab/teardown_plugin.py``, outside the package): the primer's records are cut from a trace,
a trace without them is refused, the switch sets and restores ``TEARDOWN_CUPTI`` and the
profiler the runner calls, and its work-pass hook notes how each case was profiled."""

from __future__ import annotations

import os
from typing import Any, Callable

import pytest

import sys
from pathlib import Path

from quantbench import compat

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))
import teardown_plugin as teardown  # noqa: E402  (lab/ is not a package)
from teardown_plugin import after_primer, primed  # noqa: E402
from fakes import FakeConfig, quantbench_hooks  # noqa: E402

# The primer (two adds, two event synchronisations ending at 30 and 60 ns), then the measured
# call: a launch at 70 ns, its kernel at 75 ns, a stream synchronisation at 80 ns.
TRACE = [("add_kernel", "kernel", 5, 2), ("cudaEventSynchronize", "cuda_runtime", 20, 10),
         ("add_kernel", "kernel", 5, 35), ("cudaEventSynchronize_v2", "cuda_runtime", 20, 40),
         ("cudaLaunchKernel", "cuda_runtime", 4, 70), ("gemv", "kernel", 50, 75),
         ("cudaStreamSynchronize", "cuda_runtime", 60, 80)]


def test_the_primers_records_are_cut_and_the_calls_kept() -> None:
    assert after_primer(TRACE) == TRACE[4:]


def test_a_record_without_a_start_is_dropped() -> None:
    assert after_primer([*TRACE, ("gemv", "kernel", 50, None)]) == TRACE[4:]


def test_a_trace_without_gpu_records_is_refused() -> None:
    host_only = [r for r in TRACE if r[1] != "kernel"]
    with pytest.raises(RuntimeError, match="no kernel record after the primer"):
        after_primer(host_only)


def test_a_trace_that_lost_the_primer_is_refused() -> None:
    with pytest.raises(RuntimeError, match="no cudaEventSynchronize record in the trace"):
        after_primer(TRACE[4:])


@pytest.mark.parametrize("before", [None, "0"])
def test_the_switch_sets_and_restores(monkeypatch: pytest.MonkeyPatch, before: str | None) -> None:
    if before is None:
        monkeypatch.delenv("TEARDOWN_CUPTI", raising=False)
    else:
        monkeypatch.setenv("TEARDOWN_CUPTI", before)
    original = compat.cuda_activity
    config = FakeConfig({"qb_teardown_cupti": True})
    teardown.pytest_configure(config)  # type: ignore[arg-type]
    assert os.environ["TEARDOWN_CUPTI"] == "1" and compat.cuda_activity is not original
    for undo in config.cleanups:
        undo()
    assert os.environ.get("TEARDOWN_CUPTI") == before and compat.cuda_activity is original


def test_each_trace_is_primed_inside_it_and_the_primer_cut() -> None:
    seen: dict[str, Any] = {}

    def activity(fn: Callable[[], Any], before: Callable[[], Any] | None = None) -> list[tuple]:
        seen["before"] = before
        fn()
        return TRACE

    ran: list[int] = []
    assert primed(activity)(lambda: ran.append(1)) == TRACE[4:]
    assert seen["before"] is teardown.prime and ran == [1]


class OwnPass:
    """A work pass that stands in for quantbench's (a replacement, returned first)."""

    @staticmethod
    def pytest_quantbench_work_pass() -> tuple[dict[str, float], list[str]]:
        return {"decode_kernel_us": 1.0}, ["a note"]


@pytest.mark.parametrize(("on", "notes"), [(True, ["a note", teardown.NOTE]), (False, ["a note"])])
def test_the_work_pass_says_how_it_profiled(on: bool, notes: list[str]) -> None:
    hook = quantbench_hooks(teardown, OwnPass())
    work = hook.pytest_quantbench_work_pass(engine=1, prompt=2, new_tokens=8, step_ms=1.0, device="cuda",
                                            config=FakeConfig({"qb_teardown_cupti": on}))
    assert work == ({"decode_kernel_us": 1.0}, notes)


def test_off_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEARDOWN_CUPTI", raising=False)
    original = compat.cuda_activity
    config = FakeConfig({"qb_teardown_cupti": False})
    teardown.pytest_configure(config)  # type: ignore[arg-type]
    assert "TEARDOWN_CUPTI" not in os.environ and compat.cuda_activity is original
    assert config.cleanups == []
