"""The size map's "where each method pays" tables (``report.pay_table``): one method × size table
per mode and case, each cell end to end (with its paired interval) beside the kernel level."""

from __future__ import annotations

from quantbench.results import Metric
from quantbench.report.pay_table import NOT_RUN, billions, pay_tables
from quantbench.report.sweep_map import ModelRun, map_markdown, map_rows
from fakes import BIG, PARAMS, SMALL, case, gpu_runs, session


def test_one_row_per_method_one_column_per_size_in_size_order() -> None:
    runs = gpu_runs()  # 7B given before 0.5B; 7B compiled has no fp16
    lines = pay_tables(map_rows(runs))
    eager = lines[lines.index("### eager, generate-bs1"):]
    assert eager[2] == "| Method | 0.49B | 7.62B |"
    # 0.5B: awq 100/320 end to end, 1437/1500 in kernels; 7B: 72/120 and 6500/3800
    assert eager[4] == "| awq | **0.31** / 0.96 | **0.60** / 1.71 |"
    assert eager[5] == f"| int4wo | {NOT_RUN} | **0.75** / 2.00 |"
    compiled = lines[lines.index("### generate-compiled, generate-bs1"):]
    assert compiled[4] == "| int4wo | no fp16 |"
    assert all("| fp16 |" not in line for line in lines)  # the reference is every cell's 1.00


def test_a_paired_ratio_shows_its_interval() -> None:
    bf16 = case("bf16", "eager", 150.0, 0.988, 2090.0)
    bf16.metrics["decode_ratio"] = Metric("decode_ratio", "x", 0.98, 0.95, 1.01, 5, True, None, "fixed")
    runs = [ModelRun(SMALL, PARAMS[SMALL], 0, "passed", "out/s",
                     session(SMALL, [case("fp16", "eager", 100.0, 0.988, 2070.0), bf16]))]
    assert "| bf16 | **0.98** (0.95–1.01) / 0.99 |" in pay_tables(map_rows(runs))


def test_a_method_measured_in_two_sessions_of_one_size_shows_both() -> None:
    runs = [ModelRun(BIG, PARAMS[BIG], 0, "passed", f"out/{i}",
                     session(BIG, [case("fp16", "eager", 100.0, 15.2, 6000.0),
                                   case("nf4", "eager", tps, 5.8, 6000.0)]))
            for i, tps in enumerate((80.0, 90.0))]
    assert "| nf4 | **0.80** / 1.00; **0.90** / 1.00 |" in pay_tables(map_rows(runs))


def test_the_map_carries_the_tables_and_nothing_without_methods() -> None:
    runs = gpu_runs()
    text = map_markdown(runs, map_rows(runs), ["sweep"])
    assert "## Where each method pays" in text and text.index("## Where each") < text.index("## Notes")
    only_fp16 = [ModelRun(SMALL, PARAMS[SMALL], 0, "passed", "o", session(SMALL, [case("fp16", "eager", 1.0, 1.0)]))]
    assert pay_tables(map_rows(only_fp16)) == []


def test_sizes_in_billions_and_millions() -> None:
    assert (billions(494_032_768), billions(1_234_567), billions(None)) == ("0.49B", "1.2M", "?")
