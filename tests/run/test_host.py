"""The host probes: the CPU model read from cpuinfo, and launch overhead timed with a fake timer."""

from __future__ import annotations

from pathlib import Path

from quantbench.env import cpu_model
from quantbench.judge.host_note import host_difference
from quantbench.report.gate_lines import host_line
from quantbench.run.host_probe import launch_overhead_us


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


def test_host_note_only_beyond_the_threshold_and_only_when_both_probed() -> None:
    none = [host_difference(None, 12.0), host_difference(7.4, None), host_difference(0.0, 7.0)]
    assert none == [None, None, None]
    assert host_difference(8.0, 10.0) is None  # +25 % exactly: not beyond

    def host_note(baseline_us: float, session_us: float) -> str:
        found = host_difference(baseline_us, session_us)
        assert found is not None
        return host_line(found)

    slow = host_note(8.0, 10.08)
    assert slow.startswith("host: 10.1 us per kernel launch vs 8.0 us in the baseline (+26 %)") and len(slow) <= 120
    assert "slower" in slow
    fast = host_note(12.0, 6.0)
    assert "(-50 %)" in fast and "faster" in fast
