"""Where a session's time went: loading, model work and the harness's own overhead."""

from __future__ import annotations

import pytest

from quantbench.report.tables import time_lines
from quantbench.run.timeline import TimeEntry
from quantbench.run.timeline import time_breakdown as breakdown


def time_breakdown(timeline: tuple[list[TimeEntry], float]) -> tuple[list[str], dict]:
    """The printed lines and the session record's figures of a (timeline, wall seconds) pair."""
    data = breakdown(*timeline)
    return time_lines(data), data


def _session() -> tuple[list[TimeEntry], float]:
    return ([
        TimeEntry("(session)", "load", 2.0),  # building the synthetic checkpoint
        TimeEntry("fp16", "prepare", 0.0),
        TimeEntry("fp16", "load", 3.0),
        TimeEntry("fp16", "warmup", 1.0),
        TimeEntry("fp16", "measure", 4.0),
        TimeEntry("(session)", "bandwidth", 0.25),
        TimeEntry("fp16", "warmup", 0.5),
        TimeEntry("fp16", "measure", 2.0),
        TimeEntry("fp16", "load", 0.25),  # release
        TimeEntry("awq", "prepare", 5.0),
        TimeEntry("awq", "load", 1.0),
        TimeEntry("awq", "compile", 1.5),
        TimeEntry("awq", "measure", 2.0),
        TimeEntry("awq", "quality", 0.5),
    ], 24.0)


def test_exact_load_work_and_outside() -> None:
    lines, data = time_breakdown(_session())
    load = 2.0 + 0.0 + 3.0 + 0.25 + 5.0 + 1.0  # 11.25
    work = 1.0 + 4.0 + 0.25 + 0.5 + 2.0 + 1.5 + 2.0 + 0.5  # 11.75
    assert data["wall_s"] == 24.0
    assert data["load_s"] == load == 11.25
    assert data["work_s"] == work == 11.75
    assert data["outside_s"] == 24.0 - load - work == 1.0
    assert data["outside_share"] == 1.0 / (24.0 - 11.25)
    assert data["outside_share"] == pytest.approx(0.0784313725490196, rel=1e-15)
    assert lines[-1] == ("session wall 24.0 s = loading & preparing 11.2 + model work 11.8 "
                         "+ outside it 1.0 (7.8% of non-loading time)")


def test_per_method_phases_are_summed() -> None:
    _, data = time_breakdown(_session())
    per = data["per_method"]
    assert set(per) == {"(session)", "fp16", "awq"}
    fp16 = per["fp16"]
    assert (fp16["prepare"], fp16["load"], fp16["warmup"], fp16["measure"]) == (0.0, 3.25, 1.5, 6.0)
    awq = per["awq"]
    assert (awq["prepare"], awq["load"], awq["compile"], awq["measure"], awq["quality"]) == (5.0, 1.0, 1.5, 2.0, 0.5)
    assert per["(session)"]["load"] == 2.0 and per["(session)"]["bandwidth"] == 0.25
    assert all(isinstance(p, dict) for p in per.values())


def test_table_rows_in_first_seen_order() -> None:
    lines, _ = time_breakdown(_session())
    assert len(lines) == 2
    table = lines[0].splitlines()
    assert [c.strip() for c in table[0].split("|")] == [
        "Method", "start s", "prepare s", "load s", "warm-up s", "measuring s", "compile s",
        "profile s", "quality s", "bandwidth s"]
    rows = [[c.strip() for c in line.split("|")] for line in table[2:]]
    assert rows == [
        ["(session)", "0.0", "0.0", "2.0", "0.0", "0.0", "0.0", "0.0", "0.0", "0.2"],
        ["fp16", "0.0", "0.0", "3.2", "1.5", "6.0", "0.0", "0.0", "0.0", "0.0"],
        ["awq", "0.0", "5.0", "1.0", "0.0", "2.0", "1.5", "0.0", "0.5", "0.0"],
    ]


def test_outside_is_never_negative() -> None:
    _, data = time_breakdown(([TimeEntry("fp16", "load", 1.0), TimeEntry("fp16", "measure", 5.0)], 4.0))
    assert data["outside_s"] == 0.0
    assert data["outside_share"] == 0.0
    assert data["work_s"] == 5.0 and data["load_s"] == 1.0


def test_all_loading_gives_zero_share() -> None:
    lines, data = time_breakdown(([TimeEntry("(session)", "load", 3.0), TimeEntry("fp16", "prepare", 2.0)], 5.0))
    assert (data["load_s"], data["work_s"], data["outside_s"], data["outside_share"]) == (5.0, 0.0, 0.0, 0.0)
    assert lines[-1].endswith("outside it 0.0 (0.0% of non-loading time)")


def test_empty_timeline_has_no_table() -> None:
    lines, data = time_breakdown(([], 2.0))
    assert lines == ["session wall 2.0 s = loading & preparing 0.0 + model work 0.0 "
                     "+ outside it 2.0 (100.0% of non-loading time)"]
    assert data == {"wall_s": 2.0, "load_s": 0, "work_s": 0, "outside_s": 2.0, "outside_share": 1.0,
                    "per_method": {}}


def test_the_time_line_fits_120_columns_with_four_digit_figures() -> None:
    lines, _ = time_breakdown(([TimeEntry("fp16", "load", 999.9), TimeEntry("fp16", "warmup", 8888.8)], 9999.9))
    assert lines[-1] == ("session wall 9999.9 s = loading & preparing 999.9 + model work 8888.8 "
                         "+ outside it 111.2 (1.2% of non-loading time)")
    assert len(lines[-1]) <= 120
