"""A bad baseline is refused before any model loads (issue 44, item 12): on a fresh H100 lease
the README's ``pytest benches --benchmark-compare`` ran the whole default session, 184.7 s, and
only then said the committed baseline's scenario differs. Now the scenario, model, GPU and schema
of the stored baseline are checked when the first bench sets up: one line, exit 4, no load. A
recording loader (``--qbt-record-loads``, tests/plugins) shows that no method was loaded, and
the model cache shows that no checkpoint was built either."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

from quantbench.config import SCENARIOS
from quantbench.store.baseline import baseline_from_results, to_json
from quantbench.results import CaseResult, Metric
from session_runs import MODEL, baseline_file, run_session


def _baseline(edit: Callable[[dict[str, Any]], None]) -> str:
    tps = Metric("prefill_tps", "tok/s", 5000.0, 4000.0, 6000.0, 9, True, 0.05, "budget")
    data = json.loads(to_json(baseline_from_results(
        [CaseResult("default", "eager", "prefill-128", "fp16", "float32", {"prefill_tps": tps})],
        gpu="cpu", model_source=MODEL, scenario=SCENARIOS["default"].to_dict(), environment={},
        provenance={"kind": "measured"})))
    edit(data)
    return json.dumps(data)


BAD = {
    # the committed H100 baseline's case: made at 128 new tokens, run at the default's 64
    "scenario": (lambda d: d["scenario"].update(new_tokens=128),
                 "baseline scenario differs in new_tokens: baseline 128, run 64"),
    "model": (lambda d: d.update(model_source="/ckpt/other/qwen2-tiny"),
              "baseline is for model /ckpt/other/qwen2-tiny, this run uses synthetic:qwen2-tiny"),
    "gpu": (lambda d: d.update(gpu="NVIDIA H100 80GB HBM3"),
            "baseline is for NVIDIA H100 80GB HBM3, this GPU is cpu"),
    "schema": (lambda d: d.update(schema="quantbench.baseline/9"), "quantbench.baseline/9"),
}


@pytest.mark.parametrize("option", ["--benchmark-compare", "--qb-update-baseline"])
@pytest.mark.parametrize("kind", list(BAD))
@pytest.mark.session
def test_a_bad_baseline_is_refused_before_the_first_load(tmp_path: Path, kind: str,
                                                         option: str) -> None:
    edit, expected = BAD[kind]
    folder = tmp_path / "baselines"
    path = baseline_file(folder)
    path.parent.mkdir(parents=True)
    path.write_text(_baseline(edit))
    stored = path.read_bytes()
    loads, cache = tmp_path / "loads.txt", tmp_path / "cache"
    session = run_session(cache, tmp_path / "work", "--qb-methods", "fp16", "-k", "len128", option,
                          "--qbt-record-loads", str(loads), baseline_dir=folder)
    assert session.code == 4, session.explain()
    (line,) = session.lines_with(expected)
    assert "quantbench: " in line and line.rstrip(" !").endswith("nothing was run"), line
    if kind == "scenario" and option == "--benchmark-compare":
        assert "(it matches --qb-scenario decode-128)" in line  # the way out, named
    assert not loads.exists(), f"a method was loaded before the refusal: {loads.read_text()}"
    assert not (cache / "synthetic").exists(), "a checkpoint was built before the refusal"
    assert path.read_bytes() == stored
    assert not (session.report_dir / "session.json").exists()


@pytest.mark.session
def test_a_good_baseline_lets_the_session_load_and_run(tmp_path: Path) -> None:
    folder = tmp_path / "baselines"
    path = baseline_file(folder)
    path.parent.mkdir(parents=True)
    path.write_text(_baseline(lambda d: None))
    loads = tmp_path / "loads.txt"
    session = run_session(tmp_path / "cache", tmp_path / "work", "--qb-methods", "fp16", "-k", "len128",
                          "--benchmark-compare", "--qbt-record-loads", str(loads), "--qb-tolerance",
                          "throughput=0.99", baseline_dir=folder)
    assert loads.read_text().split() == ["fp16"], session.explain()  # the recorder records loads
    assert session.code in (0, 1), session.explain()
