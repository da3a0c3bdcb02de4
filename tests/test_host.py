"""The host probes: the CPU model read from cpuinfo, and launch overhead timed with a fake timer."""

from __future__ import annotations

from pathlib import Path

from quantbench.host import cpu_model, launch_overhead_us


def test_cpu_model_is_the_first_model_name(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9654 96-Core "
                    "Processor\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 9654 96-Core Processor\n")
    assert cpu_model(info) == "AMD EPYC 9654 96-Core Processor"


def test_cpu_model_is_none_without_cpuinfo_or_model_name(tmp_path: Path) -> None:
    assert cpu_model(tmp_path / "missing") is None
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t:\n")
    assert cpu_model(info) is None


def test_launch_overhead_is_the_median_round_per_launch() -> None:
    # Rounds of 100 launches lasting 1 ms, 3 ms and 2 ms: 10, 30 and 20 us per launch.
    ticks = iter([0.0, 0.001, 1.0, 1.003, 2.0, 2.002])
    syncs = []
    us = launch_overhead_us("cpu", lambda: syncs.append(1), timer=lambda: next(ticks),
                            launches=100, rounds=3)
    assert abs(us - 20.0) < 1e-9
    assert len(syncs) == 4  # once after the first launch, then once per round
