"""Test-only pytest plugin: leave out a generate case's work pass, or part of it.

Load it with ``-p quantbench.testing.nowork --qb-skip-pass profile`` (or ``calls``, or ``both``)
to see whether a method measured after another pays for the earlier one's passes. On lent H200s
the method measured second paid more host time per token than FP16 with the same kernels,
launches and Python calls (BF16 compiled 1.8-2.7x FP16's host time, docs/findings.md); between
FP16's timed rounds and the next method's come FP16's CUDA profiler pass (``run.device``) and its
Python-call count (``run.python_calls``). A session without one of them answers which, if either,
leaves the cost behind. The skipped figures are simply absent from the record.
"""

from __future__ import annotations

import pytest

from quantbench.testing import note_work_pass, patch

CHOICES = ("profile", "calls", "both")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("quantbench").addoption(
        "--qb-skip-pass", dest="qb_skip_pass", choices=CHOICES, default=None,
        help="test only: leave out the CUDA profiler pass (profile), the Python-call count "
             "(calls) or both from every generate case's work pass")


def pytest_configure(config: pytest.Config) -> None:
    skip = config.getoption("qb_skip_pass")
    if not skip:
        return
    from quantbench.run import work_pass  # torch: loaded only when the switch is on

    if skip in ("profile", "both"):
        patch(config, work_pass, "device_metrics", lambda *args, **kwargs: {})
    if skip in ("calls", "both"):
        patch(config, work_pass, "python_calls_per_step", lambda *args, **kwargs: None)
    note_work_pass(config, f"work pass without its {'passes' if skip == 'both' else skip} "
                           "(quantbench.testing.nowork)")
