"""Test-only pytest plugin: leave out a generate case's work pass, or part of it.

Load it with ``-p quantbench.testing.nowork --qb-skip-pass profile`` (or ``calls``, or ``both``)
to see whether a method measured after another pays for the earlier one's passes: the method
measured second can pay more host time per token than FP16 with the same kernels, launches and
Python calls (docs/findings.md); between
FP16's timed rounds and the next method's come FP16's CUDA profiler pass (``run.device``) and its
Python-call count (``run.python_calls``). A session without one of them answers which, if either,
leaves the cost behind. The skipped figures are simply absent from the record.
"""

from __future__ import annotations

from typing import Any

import pytest

CHOICES = ("profile", "calls", "both")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("quantbench").addoption(
        "--qb-skip-pass", dest="qb_skip_pass", choices=CHOICES, default=None,
        help="test only: leave out the CUDA profiler pass (profile), the Python-call count "
             "(calls) or both from every generate case's work pass")


def pytest_quantbench_work_pass(engine: Any, prompt: Any, new_tokens: int, step_ms: float,
                                device: str, config: pytest.Config) -> tuple[dict[str, Any], list[str]] | None:
    """The work pass without the part ``--qb-skip-pass`` names, noted on the case; without the
    option, ``None``: quantbench's own pass runs."""
    skip = config.getoption("qb_skip_pass")
    if not skip:
        return None
    from quantbench.run.work_pass import work_metrics  # torch: loaded with the engine

    work, notes = work_metrics(engine, prompt, new_tokens, step_ms, device,
                               profile=skip not in ("profile", "both"), calls=skip not in ("calls", "both"))
    left = "passes" if skip == "both" else skip
    return work, [*notes, f"work pass without its {left} (quantbench.testing.nowork)"]
