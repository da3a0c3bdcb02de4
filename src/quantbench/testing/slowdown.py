"""Test-only pytest plugin: make every model forward pass a known fraction slower.

Load it with ``-p quantbench.testing.slowdown --qb-slowdown 0.2`` to prove the gate catches a
regression: after each forward the plugin waits ``fraction`` times that forward's own duration
(device-synchronised), so prefill, time to first token, per-token latency and throughput all get
worse by about that fraction while memory stays as it was.

In the graph modes no Python runs per token, so a host wait would slow nothing a serving loop
does: there the decode step gets a GPU spin (``torch.cuda._sleep``) of ``fraction`` times the
step's own duration, measured in the uncaptured warm-up steps, and the capture holds it. The
forward hooks stand aside while a graph is captured or a step compiled.
"""

from __future__ import annotations

import time
from typing import Any, Callable

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


def _standing_aside() -> bool:
    """Whether a CUDA graph is being captured or a step compiled (no host wait may go in)."""
    import torch

    capturing = torch.cuda.is_available() and torch.cuda.is_current_stream_capturing()
    return capturing or torch.compiler.is_compiling()


def slow_down(model: Any, fraction: float) -> None:
    """Hook ``model`` so each forward call takes ``1 + fraction`` times as long."""
    if getattr(model, "_qb_slowdown", None) is not None:
        return
    device = next(model.parameters()).device
    started: list[float] = []

    def before(module: Any, args: Any, kwargs: Any) -> None:
        if _standing_aside():
            return
        _sync(device)
        started.append(time.perf_counter())

    def after(module: Any, args: Any, kwargs: Any, output: Any) -> None:
        if _standing_aside() or not started:
            return
        _sync(device)
        time.sleep(fraction * (time.perf_counter() - started.pop()))

    model.register_forward_pre_hook(before, with_kwargs=True)
    model.register_forward_hook(after, with_kwargs=True)
    model._qb_slowdown = fraction


class SpinCalibration:
    """GPU clock cycles per millisecond of ``torch.cuda._sleep``, measured once."""

    per_ms: float | None = None

    @classmethod
    def cycles(cls, ms: float) -> int:
        import torch

        if cls.per_ms is None:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            torch.cuda._sleep(2_000_000)
            end.record()
            end.synchronize()
            cls.per_ms = 2_000_000 / max(start.elapsed_time(end), 1e-3)
        return int(ms * cls.per_ms)


def slowed_step(step: Callable[..., Any], fraction: float) -> Callable[..., Any]:
    """A decode-loop step followed by a GPU spin of ``fraction`` times its duration: timed in
    the uncaptured calls (per batch and cache length), spun in the captured one."""
    import torch

    took_ms: dict[tuple[int, ...], float] = {}

    def slowed(model: Any, s: Any) -> Any:
        key = tuple(s.seq.shape)
        if s.seq.device.type != "cuda":
            return step(model, s)
        if torch.cuda.is_current_stream_capturing():
            out = step(model, s)
            torch.cuda._sleep(SpinCalibration.cycles(fraction * took_ms.get(key, 0.0)))
            return out
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        out = step(model, s)
        end.record()
        end.synchronize()
        took_ms[key] = start.elapsed_time(end)
        return out
    return slowed


def pytest_quantbench_model_loaded(model: Any, config: pytest.Config) -> None:
    """Every model the session loads waits after each forward, when ``--qb-slowdown`` asks."""
    when_set(config, "qb_slowdown", slow_down, model)


def pytest_quantbench_engine_made(engine: Any, config: pytest.Config) -> None:
    """Every graph-mode decode loop's step spins ``--qb-slowdown`` times longer (the capture holds
    the spin); other engines run the hooked model's forwards, slowed already."""
    fraction = config.getoption("qb_slowdown") or 0
    if fraction <= 0:
        return
    from quantbench.run.decode_loop import DecodeLoop  # torch: loaded with the engine

    if isinstance(engine, DecodeLoop):
        engine.wrap_step(lambda step: slowed_step(step, fraction))
