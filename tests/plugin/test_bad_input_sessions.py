"""Bad input through whole ``pytest benches`` sessions (issue 15): a bad option is pytest's usage
error (exit 4) with one line, not an INTERNALERROR; an unwritable report folder stops the session
before any model loads; a baseline that cannot judge, or a comparison that judged nothing, is
exit 4 with one line, and a missing baseline passes only when the user allows it.

Sessions run as in ``tests/plugin/test_sessions.py`` (``session_runs.run_session``), on the tiny synthetic model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from quantbench.store.baseline import baseline_from_results, to_json
from quantbench.results import CaseResult, Metric
from quantbench.config import SCENARIOS
from session_runs import MODEL, Session, baseline_file, run_session

pytestmark = pytest.mark.session  # every test here starts a real pytest benches session


def _clean(session: Session) -> None:
    assert "INTERNALERROR" not in session.output and "Traceback" not in session.output, session.explain()


@pytest.mark.parametrize(("args", "message"), [
    (["--qb-methods", ""], "quantbench: --qb-methods: expected at least one method (fp16, bf16, int8, nf4, awq, "
                        "awq-gemlite, int8vw, int8wo, int4wo, fp8wo, fp8dq), got ''"),
    (["--qb-time-budget", "-5"], "quantbench: --qb-time-budget: expected a finite number > 0, got -5.0"),
    (["--qb-tolerance", "decode_tsp=0.1"], "quantbench: --qb-tolerance decode_tsp: unknown metric or kind "
                                           "'decode_tsp' (did you mean 'decode_tps'?)"),
    (["--qb-tolerance", "throughput=1.5"], "quantbench: --qb-tolerance throughput: expected a fraction in "
                                           "(0, 1) such as 0.1, got 1.5"),
])
def test_a_bad_option_is_a_one_line_usage_error(cache_dir: Path, work: Path, args: list[str], message: str) -> None:
    session = run_session(cache_dir, work, *args)
    assert session.code == 4, session.explain()  # pytest.ExitCode.USAGE_ERROR
    _clean(session)
    assert len(session.lines_with(message)) == 1, session.explain()


@pytest.mark.parametrize(("where", "reason"), [("file", "it is a file, not a folder"),
                                               ("/proc/qbr", "no such file or directory")])
@pytest.mark.parametrize("update", [False, True])
def test_an_unwritable_report_dir_stops_before_any_model_loads(
        cache_dir: Path, work: Path, tmp_path: Path, where: str, reason: str, update: bool) -> None:
    report = tmp_path / "report-file" if where == "file" else Path(where)
    if where == "file":
        report.write_text("not a folder")
    folder = tmp_path / "baselines"
    extra = ["--qb-update-baseline"] if update else []
    session = run_session(cache_dir, work, "--qb-methods", "fp16", "-k", "len128", "--qb-report-dir", str(report),
                          *extra, baseline_dir=folder)
    assert session.code == 4, session.explain()
    _clean(session)
    assert session.lines_with(f"quantbench: cannot write reports to {report}: {reason}; nothing was run")
    assert not folder.exists(), "no baseline is written by a session that did not run"


def _baseline(edit: object = None) -> bytes:
    tps = Metric("prefill_tps", "tok/s", 5000.0, 4000.0, 6000.0, 9, True, 0.05, "budget")
    data = json.loads(to_json(baseline_from_results(
        [CaseResult("default", "eager", "prefill-128", "fp16", "float16", {"prefill_tps": tps})],
        gpu="cpu", model_source=MODEL, scenario=SCENARIOS["default"].to_dict(), environment={},
        provenance={"kind": "measured"})))
    if callable(edit):
        edit(data)
    return json.dumps(data).encode()


def _nan(data: dict) -> None:
    data["results"]["eager/prefill-128"]["fp16"]["prefill_tps"]["median"] = math.nan


@pytest.mark.parametrize(("kind", "expected"), [
    ("nan-median", "results.eager/prefill-128.fp16.prefill_tps.median: expected a finite number > 0, got NaN"),
    ("empty-results", "results: expected at least one case, got {}"),
    ("dir-is-a-file", "is a file, not a folder: nothing compared"),
])
def test_a_baseline_that_cannot_judge_is_exit_4(cache_dir: Path, work: Path, tmp_path: Path,
                                               kind: str, expected: str) -> None:
    folder = tmp_path / "baselines"
    if kind == "dir-is-a-file":
        folder.write_text("not a folder")
    else:
        path = baseline_file(folder)
        path.parent.mkdir(parents=True)
        path.write_bytes(_baseline(_nan if kind == "nan-median" else lambda d: d.update(results={})))
    session = run_session(cache_dir, work, "--qb-methods", "fp16", "-k", "len128", "--benchmark-compare",
                          baseline_dir=folder)
    assert session.code == 4, session.explain()
    _clean(session)
    lines = session.lines_with(expected)  # refused at the start (issue 44): pytest.exit's line
    assert len(lines) == 1 and "quantbench: " in lines[0] and "nothing was run" in lines[0], session.explain()
    assert not session.lines_with("gate: pass")


@pytest.mark.parametrize("allow", [False, True])
def test_a_missing_baseline_is_exit_4_unless_allowed(cache_dir: Path, work: Path, tmp_path: Path,
                                                    allow: bool) -> None:
    folder = tmp_path / "baselines"
    extra = ["--qb-allow-missing-baseline"] if allow else []
    session = run_session(cache_dir, work, "--qb-methods", "fp16", "-k", "len128", "--benchmark-compare", *extra,
                          baseline_dir=folder)
    assert session.code == (0 if allow else 4), session.explain()
    (line,) = session.lines_with("no baseline for cpu")
    assert str(baseline_file(folder)) in line and "nothing compared" in line
    assert ("allowed" in line) == allow
    # exit 4 is counted as an error in pytest's (red) summary line; an allowed pass is not
    assert len(session.lines_with("ERROR quantbench gate - exit 4: nothing compared")) == int(not allow)
    assert not folder.exists(), "a compare never creates a baseline"
