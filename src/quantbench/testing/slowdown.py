"""Test-only pytest plugin: make every model forward pass a known fraction slower.

Load it with ``-p quantbench.testing.slowdown --qb-slowdown 0.2`` to prove the gate catches a
regression: after each forward the plugin waits ``fraction`` times that forward's own duration
(device-synchronised), so prefill, time to first token, per-token latency and throughput all get
worse by about that fraction while memory stays as it was.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from quantbench.testing import when_set


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("quantbench").addoption(
        "--qb-slowdown", dest="qb_slowdown", type=float, default=0.0,
        help="test only: slow every forward pass down by this fraction (0.2 = 20 %)")


def _sync(device: Any) -> None:
    import torch

    if getattr(device, "type", "cpu") == "cuda":
        torch.cuda.synchronize(device)


def slow_down(model: Any, fraction: float) -> None:
    """Hook ``model`` so each forward call takes ``1 + fraction`` times as long."""
    if getattr(model, "_qb_slowdown", None) is not None:
        return
    device = next(model.parameters()).device
    started: list[float] = []

    def before(module: Any, args: Any, kwargs: Any) -> None:
        _sync(device)
        started.append(time.perf_counter())

    def after(module: Any, args: Any, kwargs: Any, output: Any) -> None:
        _sync(device)
        time.sleep(fraction * (time.perf_counter() - started.pop()))

    model.register_forward_pre_hook(before, with_kwargs=True)
    model.register_forward_hook(after, with_kwargs=True)
    model._qb_slowdown = fraction


def pytest_configure(config: pytest.Config) -> None:
    when_set(config, "qb_slowdown", slow_down)
