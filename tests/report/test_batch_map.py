"""The map's batch axis (``report.batch_map``): speed-up over FP16 at each batch, the largest
batch at which a method still beats FP16, and the throughput-by-batch chart, from fake sessions."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from quantbench.report.batch_map import batch_of, batch_rows, batch_tables
from quantbench.report.sweep_map import ModelRun, map_markdown, map_rows, write_map
from fakes import BIG, PARAMS, case, session

# decode tok/s by batch: int4wo wins at 1 and 4 and loses from 16; fp8dq the other way round.
TPS = {"fp16": {1: 100.0, 4: 380.0, 16: 1400.0, 64: 4800.0},
       "int4wo": {1: 170.0, 4: 500.0, 16: 1100.0, 64: 2000.0},
       "fp8dq": {1: 90.0, 4: 350.0, 16: 1500.0, 64: 6000.0},
       "int8wo": {1: 80.0, 4: 300.0, 16: 900.0, 64: 3000.0}}


def runs() -> list[ModelRun]:
    results = [replace(case(method, "graph-compiled", tps, 5.0, 3000.0), case=f"generate-bs{b}")
               for method, by_batch in TPS.items() for b, tps in by_batch.items()]
    return [ModelRun(BIG, PARAMS[BIG], 0, "passed", "out/big", session(BIG, results))]


def test_batch_of_reads_generate_case_ids_only() -> None:
    assert (batch_of("generate-bs16"), batch_of("generate-bs1"), batch_of("prefill-1024"),
            batch_of("quality")) == (16, 1, None, None)


def test_the_largest_batch_beating_fp16_and_every_ratio() -> None:
    rows = {r.method: r for r in batch_rows(map_rows(runs()))}
    assert rows["int4wo"].ratios == {1: 1.7, 4: 500 / 380, 16: 1100 / 1400, 64: 2000 / 4800}
    assert (rows["int4wo"].wins_at, rows["int4wo"].largest_win) == ([1, 4], 4)
    assert (rows["fp8dq"].wins_at, rows["fp8dq"].largest_win) == ([16, 64], 64)
    assert (rows["int8wo"].wins_at, rows["int8wo"].largest_win) == ([], None)
    assert rows["fp16"].tps == TPS["fp16"]


def test_the_map_says_where_each_method_stops_paying(tmp_path: Path) -> None:
    text = map_markdown(runs(), map_rows(runs()), ["sweep"])
    section = text[text.index("## Where each method stops paying"):]
    header = next(line for line in section.splitlines() if line.startswith("| Model"))
    assert header.split("|")[5:10] == [" × FP16 bs1 ", " × FP16 bs4 ", " × FP16 bs16 ", " × FP16 bs64 ",
                                       " Largest batch beating FP16 "]
    int4 = next(line for line in section.splitlines() if "| int4wo |" in line)
    assert int4.split("|")[5:10] == [" 1.70 ", " 1.32 ", " 0.79 ", " 0.42 ", " bs4 "]
    assert "| int8wo |" in section and section.count("| none |") == 1
    assert "| fp16 |" not in section  # FP16 is the yardstick, 1.00 everywhere
    written, notes = write_map(tmp_path, runs(), ["sweep"])
    assert notes == [] and (tmp_path / "batch.png") in written and (tmp_path / "batch.png").stat().st_size > 0


def test_a_single_batch_map_has_no_batch_section_or_chart(tmp_path: Path) -> None:
    one = [ModelRun(BIG, PARAMS[BIG], 0, "passed", "out/big",
                    session(BIG, [case("fp16", "eager", 100.0, 15.0), case("int4wo", "eager", 90.0, 5.0)]))]
    assert batch_tables(map_rows(one)) == []
    written, _ = write_map(tmp_path, one, ["sweep"])
    assert not (tmp_path / "batch.png").exists() and tmp_path / "batch.png" not in written


def test_the_map_says_how_close_each_method_runs_to_the_hardware() -> None:
    from quantbench.results import Metric

    extra = {"decode_bandwidth_gbs": 2680.4, "roofline_pct": 80.2, "gpu_busy_pct": 96.4}
    fp16 = case("fp16", "graph-compiled", 100.0, 15.0, 6000.0)
    fp16 = replace(fp16, metrics={**fp16.metrics, **{k: Metric.exact(k, "", v, higher_is_better=True) for k, v in extra.items()}})
    run = [ModelRun(BIG, PARAMS[BIG], 0, "passed", "out/big", session(BIG, [fp16]))]
    (row,) = map_rows(run)
    assert (row.bandwidth_gbs, row.roofline_pct, row.gpu_busy_pct) == (2680.4, 80.2, 96.4)
    line = next(x for x in map_markdown(run, [row], ["sweep"]).splitlines() if "| fp16 |" in x)
    assert line.endswith("| 2680 (80 %) | 96 % |")
