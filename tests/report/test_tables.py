"""End-of-session tables: number formatting, ratios to FP16 and the T4-study-shaped table."""

from __future__ import annotations

import pytest

from quantbench.results import CaseResult, Metric
from quantbench.report.tables import case_table, fmt_metric, fmt_value, group_cases, render, session_tables, study_table


@pytest.mark.parametrize("value, text", [
    (0, "0"), (0.0, "0"), (1234.5, "1,234"), (100.0, "100"), (99.94, "99.9"), (10.0, "10.0"),
    (9.999, "10.00"), (1.0, "1.00"), (0.5, "0.500"), (0.0004, "0.000"), (-250.0, "-250"), (-0.25, "-0.250"),
])
def test_fmt_value(value: float, text: str) -> None:
    assert fmt_value(value) == text


def test_fmt_metric() -> None:
    assert fmt_metric(None) == "-"
    assert fmt_metric(Metric("decode_tps", "tok/s", 200.0, 196.0, 204.0, 30, True, 0.01, "converged")) == "200 ±2.0%"
    assert fmt_metric(Metric("decode_tps", "tok/s", 200.0, 196.0, 204.0, 1, True, 0.0, "fixed")) == "200"
    assert fmt_metric(Metric.exact("weights_gb", "GB", 0.998, higher_is_better=False)) == "0.998"


def test_render_pads_columns() -> None:
    assert render([["a", "bbb"], ["cc", "d"]], ["H1", "H"]) == "H1 | H  \n---+----\na  | bbb\ncc | d  "


def _gen(method: str, e2e: float, decode: float, weights: float, stop: str = "converged", n: int = 20) -> CaseResult:
    return CaseResult("default", "eager", "generate-bs1", method, "float16", {
        "e2e_tps": Metric("e2e_tps", "tok/s", e2e, e2e, e2e, n, True, 0.0, stop),
        "decode_tps": Metric("decode_tps", "tok/s", decode, decode, decode, n, True, 0.0, stop),
        "weights_gb": Metric.exact("weights_gb", "GB", weights, higher_is_better=False),
    })


def _rows(table: str) -> list[list[str]]:
    """The table's rows, a table cut into blocks of columns (past 120) joined back."""
    rows: list[list[str]] = []
    for n, block in enumerate(table.split("\n\n")):
        cells = [[c.strip() for c in line.split("|")] for line in block.splitlines()[2:]]
        rows = cells if n == 0 else [a + b[1:] for a, b in zip(rows, cells)]
    return rows


def test_study_table_ratios_and_saving() -> None:
    results = [_gen("fp16", 40.0, 50.0, 1.0), _gen("nf4", 20.0, 25.0, 0.25)]
    rows = _rows(study_table(results))
    assert rows == [
        ["fp16", "40.0 ±0.0%", "1.00", "1.00x", ""],
        ["nf4", "20.0 ±0.0%", "0.250", "0.50x", "75%"],
    ]


def test_study_table_without_fp16_has_no_ratios() -> None:
    rows = _rows(study_table([_gen("int8", 30.0, 35.0, 0.6)]))
    assert rows == [["int8", "30.0 ±0.0%", "0.600", "-", ""]]


def test_case_table_stop_column_and_speed_ratio() -> None:
    results = [_gen("fp16", 40.0, 50.0, 1.0, "converged", 12), _gen("awq", 60.0, 75.0, 0.3, "budget", 30)]
    rows = _rows(case_table(results))
    assert [r[0] for r in rows] == ["fp16", "awq"]
    assert rows[0][-2:] == ["1.00x", "converged n=12"]
    assert rows[1][-2:] == ["1.50x", "budget n=30"]
    assert rows[0][3] == "50.0 ±0.0%"  # decode column
    assert rows[0][5] == "-"  # no ttft measured


def test_prefill_case_uses_prefill_columns() -> None:
    def pre(method: str, tps: float) -> CaseResult:
        return CaseResult("default", "eager", "prefill-128", method, "float16",
                          {"prefill_tps": Metric("prefill_tps", "tok/s", tps, tps, tps, 5, True, 0.0, "fixed")})

    table = case_table([pre("fp16", 1000.0), pre("bf16", 1100.0)])
    header = [c.strip() for c in table.splitlines()[0].split("|")]
    assert header == ["Method", "dtype", "Prefill tok/s", "Weights GB", "Peak GB", "Prefill tok/s vs fp16", "stop"]
    assert _rows(table)[1][-2:] == ["1.10x", "fixed n=5"]


def test_session_tables_group_and_put_the_study_table_first() -> None:
    results = [_gen("fp16", 40.0, 50.0, 1.0), _gen("nf4", 20.0, 25.0, 0.25)]
    other = CaseResult("default", "compiled", "generate-bs8", "fp16", "float16",
                       {"e2e_tps": Metric.exact("e2e_tps", "tok/s", 1.0, higher_is_better=True)})
    groups = group_cases([*results, other])
    assert list(groups) == [("default", "eager", "generate-bs1"), ("default", "compiled", "generate-bs8")]
    text = session_tables([*results, other])
    blocks = text.split("\n\n")
    assert blocks[0].splitlines()[0] == "quantbench · scenario default · eager · generate-bs1"
    assert blocks[0].splitlines()[1].startswith("Method | Throughput (tok/s)")
    assert blocks[1].startswith("Method | dtype")
    assert blocks[2].startswith("Method | Decode tok/s vs fp16")  # the case table past 120: its 2nd block
    assert blocks[3].splitlines()[0] == "quantbench · scenario default · compiled · generate-bs8"
    assert "Throughput (tok/s)" not in "\n\n".join(blocks[3:])
    assert max(map(len, text.splitlines())) <= 120


def test_a_table_past_120_columns_is_cut_into_blocks_under_its_first_column() -> None:
    from quantbench.report.tables import render

    header = ["Method", *(f"column number {i:02d}" for i in range(10))]
    rows = [["fp16", *(f"{i}.0 ±1.0%" for i in range(10))], ["nf4", *(["-"] * 10)]]
    text = render(rows, header)
    blocks = text.split("\n\n")
    assert len(blocks) == 2 and max(map(len, text.splitlines())) <= 120
    assert all(block.startswith("Method | column number") for block in blocks)
    assert [line.split(" | ")[0].strip() for line in blocks[1].splitlines()[2:]] == ["fp16", "nf4"]
    cells = " ".join(blocks)
    assert all(f"column number {i:02d}" in cells for i in range(10))
    assert render(rows[:1], header[:3]).count("\n") == 2  # narrow: one block, as before


def test_work_table_shows_device_work_with_the_kernel_level_speed_ratio() -> None:
    from quantbench.report.tables import work_table

    def m(name: str, value: float) -> Metric:
        return Metric.exact(name, "", value, higher_is_better=False)

    fp16 = CaseResult("default", "eager", "generate-bs1", "fp16", "float16",
                      {"decode_kernel_us": m("decode_kernel_us", 6522.0),
                       "decode_kernels": m("decode_kernels", 645.5)})
    int4 = CaseResult("default", "eager", "generate-bs1", "int4wo", "bfloat16",
                      {"decode_kernel_us": m("decode_kernel_us", 3785.0),
                       "decode_kernels": m("decode_kernels", 625.8)})
    lines = work_table([fp16, int4]).splitlines()
    cells = [[c.strip() for c in line.split("|")] for line in lines]
    assert cells[0] == ["Metric", "fp16", "int4wo"]  # a row per metric: narrow with many metrics
    assert [c[0] for c in cells[2:]] == [
        "Kernel time/token (us/token)", "Kernels/token (kernels/token)", "Kernel speed vs fp16"]
    assert cells[-1][1:] == ["1.00x", "1.72x"]  # 6522 / 3785
    assert work_table([CaseResult("default", "eager", "generate-bs1", "fp16", "f", {})]) is None
