"""Issue 22, the second round of "no silent pass": the gate, ``compare``, ``calibrate`` and ``ab``
driven in-process with files a user could hand them (partial sessions, hand-edited baselines,
two folders of one name, a full report disk, 100k nested brackets). Each bad input is one line
and exit 4 (``quantbench.exits.USAGE``), each lost measurement a failure (exit 1), never a pass.
Whole ``pytest benches`` sessions are in ``test_bad_session_settings.py``.
"""

from __future__ import annotations

import errno
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from quantbench.commands.ab import main as ab_main
from quantbench.commands import calibrate
from quantbench.judge import gate
from quantbench.store.baseline import baseline_path
from quantbench.judge.compare import REGRESSION, judge_metric
from quantbench.judge.quality import quality_rows
from quantbench.results import CaseResult, Metric
from quantbench.run.quality import mean_kl
from quantbench.session import Session
from quantbench.report.reasons import notes_text, reason_text, words
from quantbench.report.gate_lines import context_lines, update_lines, verdict_outcome
from fakes import FakeAbRunner, ab
from stored import GPU, MODEL, compare as _compare, case as _case, metric as _metric, saved as _saved
from stored import session as _session, settings as _settings, store as _store


def _run(session: Session, settings: Any, exitstatus: int) -> tuple[gate.Verdict, list[str]]:
    """``gate.run``, with the update's lines as the plugin prints them."""
    verdict, update = gate.run(session, settings, exitstatus)
    return verdict, update_lines(update)


def _one_line(err: str, start: str) -> str:
    assert err.count("\n") == 1 and err.startswith(start), err
    return err.strip()


@pytest.fixture(autouse=True)
def _no_project_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``compare`` and ``ab`` read ``[tool.quantbench]`` of the current folder: none here."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


# item 3: compare refuses a partial session (ab and sweep do), unless asked to judge it


@pytest.mark.parametrize("how", ["interrupted", "merged, a worker crashed"])
def test_compare_refuses_a_partial_session(tmp_path: Path, capsys, how: str) -> None:
    _store(tmp_path, [_case("fp16"), _case("nf4")])
    env = {"workers": {"gw1": {"crashed": "Not properly terminated"}}} if how.startswith("merged") else {}
    session = tmp_path / "s" / "session.json"
    Session({"gpu": GPU, "model_source": MODEL, **env}, _settings(tmp_path).scenario.to_dict(),
            [_case("fp16")], partial=True).write(session)
    assert _compare(tmp_path, session) == 4
    line = _one_line(capsys.readouterr().err, "quantbench compare: ")
    assert line == (f"quantbench compare: session file {session} is partial (cut off, or a worker crashed): "
                    "the cases it never reached would pass as 'not run'; rerun it, or pass --allow-partial "
                    "to judge what it finished")
    assert _compare(tmp_path, session, "--allow-partial") == 0
    assert capsys.readouterr().out.startswith("partial session (--allow-partial)")


# item 4: a metric the baseline lacks is named, as a case or method it lacks is



def test_a_metric_deleted_from_the_baseline_is_named(tmp_path: Path) -> None:
    def drop(data: dict) -> None:
        del data["results"]["eager/generate-bs1"]["fp16"]["decode_tps"]
        del data["results"]["eager/generate-bs1"]["fp16"]["weights_gb"]

    _store(tmp_path, [_case("fp16")], edit=drop)
    verdict = gate.judge_session(_session(tmp_path, [_case("fp16", 50.0)]), _settings(tmp_path, compare=True))
    assert verdict.code == 1  # e2e_tps, still in the baseline, halved
    assert "no baseline for eager/generate-bs1 fp16 decode_tps, weights_gb (not compared)" in notes_text(verdict.comparison)


# item 5: --qb-update-baseline does not shrink a baseline


def test_an_update_of_fewer_methods_keeps_the_others_in_the_window(tmp_path: Path) -> None:
    """The baseline keeps a window of sessions (issue 19): a session of fp16 alone is added to
    it, nf4 stays judged from the sessions that measured it, and a 70 % nf4 slowdown then fails
    (3.3x worse: past the one-session prior)."""
    settings = _settings(tmp_path, update_baseline=True)
    verdict, lines = _run(_session(tmp_path, [_case("fp16"), _case("nf4")]), settings, 0)
    assert verdict.code == 0, lines
    verdict, lines = _run(_session(tmp_path, [_case("fp16")]), settings, 0)
    assert verdict.code == 0 and "baseline window: 2 session(s); wall-clock rows gate from 3" in lines
    path = baseline_path(tmp_path / "b", GPU, MODEL)
    stored = json.loads(path.read_text())
    assert set(stored["results"]["eager/generate-bs1"]) == {"fp16", "nf4"} and len(stored["sessions"]) == 2
    slow = gate.judge_session(_session(tmp_path, [_case("fp16"), _case("nf4", tps=30.0)]),
                      _settings(tmp_path, compare=True))
    assert slow.code == 1 and "nf4" in verdict_outcome(slow)


def test_an_update_refuses_a_stored_file_it_cannot_read(tmp_path: Path) -> None:
    path = baseline_path(tmp_path / "b", GPU, MODEL)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    verdict, lines = _run(_session(tmp_path, [_case("fp16")]), _settings(tmp_path, update_baseline=True), 0)
    assert verdict.code == 4 and path.read_text() == "{not json"
    assert lines[0].startswith(f"quantbench: baseline not updated: {path} is unreadable (invalid JSON")
    assert lines[0].endswith("move it away to start afresh")


# item 6: KL against a NaN or inf reference is NaN, and fails


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_kl_against_a_broken_reference_fails(bad: float) -> None:
    reference = torch.randn(1, 4, 8)
    reference[0, 2, 3] = bad
    assert math.isnan(mean_kl(reference, torch.randn(1, 4, 8)))
    masked = torch.randn(1, 4, 8)
    masked[0, :, 0] = -math.inf  # a masked token is not a broken reference
    assert math.isfinite(mean_kl(masked, masked.clone())) and mean_kl(masked, masked.clone()) == 0.0
    kl = Metric.exact("kl_divergence", "nats", mean_kl(reference, reference.clone()), higher_is_better=False)
    case = CaseResult("default", "eager", "quality", "nf4", "float32", {"kl_divergence": kl})
    (row,) = quality_rows([case], _settings(Path(".")), synthetic=True)
    assert row.verdict == "quality fail" and reason_text(row) == "nf4 KL divergence is NaN"


# item 7: two local folders of one name do not share a baseline


def test_two_folders_of_one_name_do_not_judge_or_overwrite_each_other(tmp_path: Path) -> None:
    llama, qwen = "/ckpt/llama-3-8b/hf", "/ckpt/qwen2.5-0.5b/hf"
    path = _store(tmp_path, [_case("fp16")], model=llama)
    assert path.name == "hf.json" and baseline_path(tmp_path / "b", GPU, qwen) == path
    before = path.read_bytes()
    verdict = gate.judge_session(_session(tmp_path, [_case("fp16")], model=qwen), _settings(tmp_path, compare=True))
    assert verdict.code == 4
    assert context_lines(verdict) == [f"quantbench: baseline unusable: baseline is for model {llama}, this run uses {qwen} "
                             "(two folders of one name share a baseline file: rename one)"]
    _, lines = _run(_session(tmp_path, [_case("fp16")], model=qwen), _settings(tmp_path, update_baseline=True), 0)
    assert lines == [f"quantbench: baseline not updated: {path} cannot take this session: baseline is for "
                     f"model {llama}, this run uses {qwen} (two folders of one name share a baseline file: "
                     "rename one); move it away to start afresh, or make one with python -m quantbench calibrate"]
    assert path.read_bytes() == before
    ok = gate.judge_session(_session(tmp_path, [_case("fp16")], model="./hf"), _settings(tmp_path, compare=True))
    assert ok.code == 0  # a relative spelling of the same folder is the same model


# item 9: ab with nothing judged is exit 4; a metric head stops emitting is a regression


class EmptyRunner(FakeAbRunner):
    """Every run finishes with no case measured (its only method cannot run here)."""

    def __call__(self, argv, cwd, env, log):  # noqa: ANN001, ANN204
        report = Path(argv[argv.index("--qb-report-dir") + 1])
        log.write_text("all skipped\n")
        Session({"gpu": GPU, "model_source": MODEL}, _settings(Path(".")).scenario.to_dict(), [],
                partial=False, skipped={"int4wo": "int4wo: torchao's int4 needs CUDA"}).write(report / "session.json")
        return 0


def test_an_ab_that_judged_nothing_is_exit_4(tmp_path: Path, capsys) -> None:
    assert ab(tmp_path, EmptyRunner({})) == 4
    line = _one_line(capsys.readouterr().err, "quantbench ab: nothing judged: ")
    assert line.endswith("(cases per run: 0, 0, 0, 0, 0, 0); skipped: int4wo: torchao's int4 needs CUDA")
    assert not (tmp_path / "ab" / "summary.md").exists()


def test_a_metric_head_stops_emitting_is_a_regression(tmp_path: Path, capsys) -> None:
    lost = FakeAbRunner({"base": [100, 101, 99], "head": [100, 101, 99]},
                      extra={side: [_case("nf4", case="generate-bs8")] for side in ("base", "head")})
    original = lost.__call__

    def without_e2e(argv, cwd, env, log):  # noqa: ANN001, ANN202
        code = original(argv, cwd, env, log)
        path = Path(argv[argv.index("--qb-report-dir") + 1]) / "session.json"
        if path.parent.name.startswith("head"):
            data = json.loads(path.read_text())
            for result in data["results"]:
                result["metrics"].pop("e2e_tps", None)
            path.write_text(json.dumps(data))
        return code

    assert ab_main(["--base", "b", "--head", "h", "--pairs", "3", "--out", str(tmp_path / "ab2"), "--"],
                   run=without_e2e) == 1
    data = json.loads((tmp_path / "ab2" / "comparison.json").read_text())
    rows = {(r["case_key"], r["metric"]): r for r in data["comparison"]["rows"]}
    assert rows[("eager/generate-bs8", "e2e_tps")]["verdict"] == "regression"
    assert rows[("eager/generate-bs8", "e2e_tps")]["reason"] == (
        "every base run measured it; head run(s) 1, 2, 3 did not")
    assert capsys.readouterr().out.splitlines()[-1].startswith("ab: FAIL")


# item 10: one rule for the gate and ab: a method that ran in the baseline and cannot run now fails


@pytest.mark.parametrize(("field", "reason", "note"), [
    ("skipped", "nf4: bitsandbytes is not installed", "skipped: nf4: bitsandbytes is not installed"),
    ("failures", "nf4 failed to load: out of memory", "nf4 failed to load: out of memory"),
])
def test_a_method_that_cannot_run_now_fails_the_gate(tmp_path: Path, field: str, reason: str, note: str) -> None:
    _store(tmp_path, [_case("fp16"), _case("nf4")])
    session = _session(tmp_path, [_case("fp16")], **{field: {"nf4": reason}})
    verdict = gate.judge_session(session, _settings(tmp_path, compare=True))
    assert verdict.code == 1
    assert f"lost: nf4 ran in the baseline and cannot run now ({note})" in notes_text(verdict.comparison)
    lost = [r for r in verdict.comparison.rows if r.method == "nf4"]
    assert lost and all(r.verdict == REGRESSION and reason_text(r).startswith("ran in the baseline, cannot run now")
                        for r in lost)
    assert not any(line.startswith("moved: ") for line in context_lines(verdict))  # nothing moved: it is gone
    not_selected = gate.judge_session(_session(tmp_path, [_case("fp16")]), _settings(tmp_path, compare=True))
    assert not_selected.code == 0  # a method merely not selected this run stays "not run"


# item 13: ab's bad --out and --base-args are usage errors


def test_ab_out_that_is_a_file_is_one_line_and_exit_4(tmp_path: Path, capsys) -> None:
    out = tmp_path / "a-file"
    out.write_text("")
    runner = FakeAbRunner({"base": [100] * 3, "head": [100] * 3})
    assert ab_main(["--base", "b", "--head", "h", "--out", str(out), "--"], run=runner) == 4
    assert runner.calls == []
    assert capsys.readouterr().err == f"quantbench ab: cannot write to --out {out}: it is a file, not a folder\n"


def test_ab_unclosed_quote_is_one_line_and_exit_4(tmp_path: Path, capsys) -> None:
    runner = FakeAbRunner({"base": [100] * 3, "head": [100] * 3})
    with pytest.raises(SystemExit) as exc:
        ab_main(["--base", "b", "--head", "h", "--base-args", '"unclosed', "--out", str(tmp_path / "ab"), "--"],
                run=runner)
    assert exc.value.code == 4 and runner.calls == []
    assert capsys.readouterr().err == "quantbench ab: --base-args/--head-args: No closing quotation (see --help)\n"


# item 15: 100k nested brackets are a one-line refusal, not a RecursionError


@pytest.mark.parametrize("where", ["session", "baseline", "calibrate"])
def test_deeply_nested_json_is_refused_in_one_line(tmp_path: Path, capsys, where: str) -> None:
    deep = "[" * 100_000
    if where == "baseline":
        path = _store(tmp_path, [_case("fp16")])
        path.write_text(deep)
        assert _compare(tmp_path, _saved(tmp_path, [_case("fp16")])) == 4
        assert capsys.readouterr().out.strip() == (
            f"quantbench: baseline unusable: baseline {path}: invalid JSON: nested too deeply")
        return
    bad = tmp_path / "deep.json"
    bad.write_text(deep)
    if where == "session":
        assert _compare(tmp_path, bad) == 4
        start = "quantbench compare: "
    else:
        good = _saved(tmp_path, [_case("fp16")])
        assert calibrate.main([str(good), str(bad), "--baseline-dir", str(tmp_path / "c")]) == 4
        start = "quantbench calibrate: "
    assert _one_line(capsys.readouterr().err, start).endswith(
        f"session file {bad} is unusable: invalid JSON: nested too deeply")


# item 19: a refused update says why


def test_a_refused_update_says_why(tmp_path: Path) -> None:
    path = _store(tmp_path, [_case("fp16")])
    settings = _settings(tmp_path, compare=True, update_baseline=True)
    _, lines = _run(_session(tmp_path, [_case("fp16", 50.0)]), settings, 0)
    assert lines == [f"baseline not updated: the session failed the gate (2 regression(s) or quality failure(s)); "
                     f"{path} is unchanged"]
    path.write_text("{")
    _, lines = _run(_session(tmp_path, [_case("fp16")]), settings, 0)
    assert lines == [f"baseline not updated: the comparison with the stored baseline was unusable (exit 4); "
                     f"{path} is unchanged"]


# item 20: compare's reports that cannot be written are exit 4, with no half-written chart


def test_compare_report_dir_that_is_a_file_is_exit_4(tmp_path: Path, capsys) -> None:
    _store(tmp_path, [_case("fp16")])
    blocker = tmp_path / "reports"
    blocker.write_text("")
    assert _compare(tmp_path, _saved(tmp_path, [_case("fp16")])) == 4
    assert capsys.readouterr().err == (f"quantbench compare: cannot write reports to {blocker}: it is a file, "
                                       "not a folder; nothing judged\n")


def test_compare_on_a_full_disk_is_exit_4_and_leaves_no_empty_chart(tmp_path: Path, capsys,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from quantbench.report import publish as report_files

    def full(path: Path, comparison: Any, results: Any) -> None:
        path.write_bytes(b"")  # what savefig leaves when the disk fills
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(report_files, "write_chart", full)
    _store(tmp_path, [_case("fp16")])
    assert _compare(tmp_path, _saved(tmp_path, [_case("fp16")])) == 4
    out = capsys.readouterr().out
    assert f"quantbench: reports not written to {tmp_path / 'reports'}: no space left on device" in out
    assert list((tmp_path / "reports").iterdir()) == []


# item 21's compare half: the missing-baseline advice names an option compare takes


def test_compare_takes_allow_missing_baseline(tmp_path: Path, capsys) -> None:
    session = _saved(tmp_path, [_case("fp16")])
    assert _compare(tmp_path, session) == 4
    assert "(compare: --allow-missing-baseline)" in capsys.readouterr().out
    assert _compare(tmp_path, session, "--allow-missing-baseline") == 0
    assert "(allowed: allow_missing_baseline)" in capsys.readouterr().out


# item 22: a NaN median is never "within tolerance"


@pytest.mark.parametrize("now", [math.nan, math.inf])
def test_a_non_finite_median_is_a_regression(now: float) -> None:
    base = _metric("decode_tps", 100.0)
    current = Metric("decode_tps", "tok/s", now, now, now, 9, True, 0.01, "converged")
    verdict, reason, _ = judge_metric(base, current, 0.1)
    assert verdict == REGRESSION and words(reason) == f"not a finite value: baseline 100.0, now {now}"


# a baseline made with the older default (128 new tokens a round) names the scenario that judges it


def test_a_baseline_of_the_older_default_names_the_scenario_that_judges_it(tmp_path: Path) -> None:
    def older(data: dict) -> None:
        data["scenario"]["new_tokens"] = 128

    path = _store(tmp_path, [_case("fp16")], edit=older)
    before = path.read_bytes()
    verdict = gate.judge_session(_session(tmp_path, [_case("fp16")]), _settings(tmp_path, compare=True))
    assert verdict.code == 4
    assert context_lines(verdict) == ["quantbench: baseline unusable: baseline scenario differs in new_tokens: baseline 128, "
                             "run 64 (it matches --qb-scenario decode-128)"]
    settings = _settings(tmp_path, compare=True, scenario="decode-128")
    session = Session({"gpu": GPU, "model_source": MODEL}, settings.scenario.to_dict(), [_case("fp16")],
                      partial=False)
    assert gate.judge_session(session, settings).code == 0
    assert path.read_bytes() == before


def test_a_baseline_no_named_scenario_matches_gets_no_hint(tmp_path: Path) -> None:
    def odd(data: dict) -> None:
        data["scenario"]["new_tokens"] = 100

    _store(tmp_path, [_case("fp16")], edit=odd)
    verdict = gate.judge_session(_session(tmp_path, [_case("fp16")]), _settings(tmp_path, compare=True))
    assert context_lines(verdict) == ["quantbench: baseline unusable: baseline scenario differs in new_tokens: baseline 100, "
                             "run 64"]
