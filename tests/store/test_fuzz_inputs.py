"""Fuzzing the files and values quantbench reads (issue 15): valid baselines, session files and
``[tool.quantbench]`` tables are mutated field by field (wrong types, NaN and infinities, zero and
negative numbers, missing and misspelt keys, swapped bounds). Each mutant is either refused with a
one-line error (the gate's exit 4, calibrate's exit 4, pytest's usage error) or accepted, and an
accepted baseline must still judge a 2x slowdown as a regression (or, where its stored noise is
that wide, as within noise): never a pass, never another exception.

Examples are bounded so the module runs in seconds; hypothesis's example database is off so CI
leaves no files behind.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, example, given, settings, strategies as st

from quantbench.commands import calibrate
from quantbench.store.baseline import BaselineError, baseline_from_results, baseline_path, from_json, load_baseline
from quantbench.catalog import spec
from quantbench.judge.compare import INFO, NOT_RUN, REGRESSION, UNCONFIRMED, WITHIN_NOISE, compare
from quantbench.report.reasons import comparison_dict
from quantbench.store.compatible import check_compatible
from quantbench.stats import ALPHA
from quantbench.results import CaseResult, Metric
from quantbench.config import SettingsError, build_settings

GPU = "NVIDIA H100 80GB HBM3"
MODEL = "synthetic:qwen2.5-0.5b-instruct"
SETTINGS = build_settings({}, {})
FUZZ = settings(max_examples=300, deadline=None, database=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

ODD_VALUES = [None, "915", "lots", "", math.nan, math.inf, -math.inf, 0, 0.0, -915.0, -1, True, False,
              [], {}, [1, 2], {"median": 1}, 1e300, 1e-300, 2**64, "NaN"]


def _metric(name: str, median: float, rel: float = 0.01) -> Metric:
    s = spec(name)
    if rel == 0:
        return Metric.exact(name, s.unit, median, higher_is_better=s.higher_is_better)
    return Metric(name, s.unit, median, median * (1 - rel), median * (1 + rel), 9, s.higher_is_better,
                  0.02, "converged")


def _results() -> list[CaseResult]:
    def case(name: str, method: str, tps: float) -> CaseResult:
        return CaseResult("default", "eager", name, method, "float16", {
            "decode_tps": _metric("decode_tps", tps), "ttft_ms": _metric("ttft_ms", 12.0),
            "weights_gb": _metric("weights_gb", 0.998, 0), "roofline_pct": _metric("roofline_pct", 3.1)})
    return [case("generate-bs1", "fp16", 900.0), case("generate-bs1", "nf4", 400.0),
            case("generate-bs8", "fp16", 5000.0)]


def _valid_baseline() -> dict[str, Any]:
    return baseline_from_results(_results(), gpu=GPU, model_source=MODEL, scenario=SETTINGS.scenario.to_dict(),
                                 environment={"launch_overhead_us": 7.4, "date": "2026-11-25"},
                                 provenance={"kind": "measured", "command": "pytest benches", "sessions": 5}).to_dict()


def _valid_session(scale: float = 1.0) -> dict[str, Any]:
    results = [replace(r, metrics={n: replace(m, median=m.median * scale, low=m.low * scale,
                                              high=m.high * scale) if m.stop != "exact" else m
                                   for n, m in r.metrics.items()}) for r in _results()]
    return {"environment": {"gpu": GPU, "model_source": MODEL, "date": "2026-11-25",
                            "launch_overhead_us": 7.4},
            "results": [r.to_dict() for r in results], "partial": False,
            "scenario": SETTINGS.scenario.to_dict(), "loads": {"fp16": 1}}


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into ``data``, containers included."""
    out: list[tuple] = [prefix] if prefix else []
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        out += _paths(value, (*prefix, key))
    return out


def _scaled(value: Any, factor: float) -> Any:
    """A number times ``factor``; a metric's median and bounds together (still a valid metric
    for a positive factor); anything else unchanged."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value * factor
    if isinstance(value, dict) and {"median", "low", "high"} <= set(value):
        return {**value, **{k: _scaled(value[k], factor) for k in ("median", "low", "high")}}
    return value


def _mutate(data: Any, path: tuple, how: str, value: Any) -> None:
    *parents, last = path
    holder = data
    for key in parents:
        holder = holder[key]
    if not isinstance(holder, (dict, list)):
        return  # an earlier change replaced this path's parent with a scalar
    if how == "delete":
        holder.pop(last)
    elif how == "rename" and isinstance(holder, dict):
        holder[f"{last}x"] = holder.pop(last)
    elif how == "swap" and isinstance(holder[last], dict) and {"low", "high"} <= set(holder[last]):
        holder[last]["low"], holder[last]["high"] = holder[last]["high"], holder[last]["low"]
    elif how == "scale":
        holder[last] = _scaled(holder[last], value)
    elif how == "set":
        holder[last] = value


def mutations(valid: dict[str, Any]) -> st.SearchStrategy:
    """One to three changes, each at a path into ``valid``: an odd value, a scaled number or
    metric, a deleted or misspelt key, swapped bounds."""
    change = st.one_of(
        st.tuples(st.just("set"), st.sampled_from(ODD_VALUES)),
        st.tuples(st.just("scale"), st.sampled_from([1e-6, 0.5, 0.9, 1.1, 2.0, 1e6, 0.0, -1.0])),
        st.tuples(st.sampled_from(["delete", "rename", "swap"]), st.none()),
    )
    one = st.tuples(st.sampled_from(_paths(valid)), change).map(lambda t: (t[0], *t[1]))
    return st.lists(one, min_size=1, max_size=3)


def _apply(valid: dict[str, Any], changes: list[tuple]) -> dict[str, Any]:
    data = json.loads(json.dumps(valid))
    for path, how, value in changes:
        try:
            _mutate(data, path, how, value)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier change removed or replaced this path's parent
    return data


def _slower(results: dict[str, dict[str, dict[str, Metric]]]) -> list[CaseResult]:
    """This session, 2x slower than the baseline on every speed metric, memory unchanged."""
    out = []
    for case_key, by_method in results.items():
        mode, _, case = case_key.partition("/")
        for method, metrics in by_method.items():
            now = {}
            for name, m in metrics.items():
                factor = 1.0 if spec(name).kind not in ("throughput", "latency") else (
                    0.5 if m.higher_is_better else 2.0)
                now[name] = replace(m, median=m.median * factor, low=m.median * factor * 0.995,
                                    high=m.median * factor * 1.005)
            out.append(CaseResult("default", mode, case, method, "float16", now))
    return out


def _assert_judges_the_slowdown(baseline: Any) -> None:
    comparison = compare(baseline, _slower(baseline.results), SETTINGS)
    json.dumps(comparison_dict(comparison), allow_nan=False)  # no bare NaN token in comparison.json
    assert comparison.rows
    for row in comparison.rows:
        assert row.verdict != NOT_RUN, row
        if spec(row.metric).kind in ("throughput", "latency"):
            # a 2x slowdown: failed, or held back by noise or by too few sessions of evidence
            assert row.verdict in (REGRESSION, WITHIN_NOISE, UNCONFIRMED), row
            if row.verdict == WITHIN_NOISE:
                assert row.p is not None and row.p > ALPHA, row
        elif spec(row.metric).kind == "info":
            assert row.verdict == INFO


def _one_line(error: Exception) -> None:
    assert str(error) and "\n" not in str(error), repr(error)


def test_the_unmutated_inputs_are_valid_and_judge_the_slowdown() -> None:
    baseline = from_json(json.dumps(_valid_baseline()))
    _assert_judges_the_slowdown(baseline)
    assert not comparison_passes(baseline)


def comparison_passes(baseline: Any) -> bool:
    return compare(baseline, _slower(baseline.results), SETTINGS).exit_ok


@FUZZ
@given(mutations(_valid_baseline()))
def test_a_mutated_baseline_is_refused_in_one_line_or_still_judges(changes: list[tuple]) -> None:
    data = _apply(_valid_baseline(), changes)
    try:
        baseline = from_json(json.dumps(data))
        check_compatible(baseline, gpu=GPU, model_source=MODEL, scenario=SETTINGS.scenario.to_dict())
    except BaselineError as exc:
        _one_line(exc)
        event("refused")
        return
    event("accepted")
    _assert_judges_the_slowdown(baseline)


@FUZZ
@given(mutations(_valid_session()))
@example([(("results", 2, "metrics", "ttft_ms"), "set", None),
          (("results", 2, "metrics", "ttft_ms", "name"), "delete", None)])  # CI run of 4e73565
def test_a_mutated_session_is_refused_in_one_line_or_calibrates_a_baseline_that_judges(
        changes: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        good, bad = folder / "good.json", folder / "bad.json"
        good.write_text(json.dumps(_valid_session(1.02)))
        bad.write_text(json.dumps(_apply(_valid_session(), changes)))
        err, out = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = calibrate.main([str(good), str(bad), "--baseline-dir", str(folder / "b"), "--min-sessions", "1"])
        if code == 4:
            assert err.getvalue().count("\n") == 1 and err.getvalue().startswith("quantbench calibrate: ")
            event("refused")
            return
        assert code == 0, err.getvalue()
        event("accepted")
        written = load_baseline(baseline_path(folder / "b", GPU, MODEL))  # the gate accepts what calibrate wrote
        _assert_judges_the_slowdown(written)


TABLE_KEYS = ["model", "cpu_model", "awq_model", "methods", "device", "scenario", "modes", "time_budget_s",
              "cpu_time_budget_s", "target_rel_ci", "max_rounds", "seed", "batch_sizes", "prefill_lengths",
              "new_tokens", "baseline_dir", "report_dir", "tolerances", "allow_missing_baseline",
              "time_budjet_s", "tolerance"]


@FUZZ
@given(st.dictionaries(st.sampled_from(TABLE_KEYS), st.sampled_from(ODD_VALUES + ["fp16", "cpu", "1, 8"]),
                       max_size=4),
       st.sampled_from([None, -5.0, 0.0, math.nan, 2.5]),
       st.lists(st.sampled_from(["throughput=1.5", "decode_tps=0.2", "nosuch=0.1", "latency=", "memory=0.05"]),
                max_size=2))
def test_a_mutated_table_is_a_usage_error_in_one_line_or_builds(table: dict, budget: Any, tolerance: list) -> None:
    try:
        built = build_settings(table, {"time_budget_s": budget, "tolerance": tolerance or None})
    except SettingsError as exc:
        _one_line(exc)
        event("refused")
        return
    event("accepted")
    assert built.time_budget_s > 0 and math.isfinite(built.time_budget_s)
    assert built.methods and built.modes
    assert all(0 < t < 1 for t in built.tolerances.values())


# Sessions as compare meets them (issue 22): partial (cut off), merged from -n workers with a
# crashed one, stale (measured for another GPU, model or scenario than the baseline), with
# cases lost or a method whose library is gone. Each is judged as the rules say, never passed
# by accident: exit 4 in one line for what cannot be judged, 1 for a lost method, 0 otherwise.


@settings(max_examples=40, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.fixed_dictionaries({
    "kind": st.sampled_from(["clean", "partial", "merged", "merged, a worker crashed", "stale: another GPU",
                             "stale: another model", "stale: another scenario"]),
    "dropped": st.lists(st.sampled_from([0, 1, 2]), unique=True, max_size=3),
    "nf4_gone": st.booleans(),
}))
def test_a_partial_stale_or_merged_session_is_judged_by_the_rules(case: dict) -> None:
    from quantbench.commands import cli

    kind = case["kind"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = baseline_path(folder / "b", GPU, MODEL)
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(_valid_baseline()))
        data = _valid_session()
        if kind == "stale: another GPU":
            data["environment"]["gpu"] = "NVIDIA A100-SXM4-80GB"
        if kind == "stale: another model":
            data["environment"]["model_source"] = "synthetic:qwen2.5-7b-instruct"
        if kind == "stale: another scenario":
            data["scenario"]["new_tokens"] = 32
        data["results"] = [r for i, r in enumerate(data["results"]) if i not in case["dropped"]]
        if kind.startswith("merged"):
            crashed = {"crashed": "node down: Not properly terminated"} if "crashed" in kind else {}
            data["environment"]["workers"] = {"gw0": {"methods": ["fp16"]}, "gw1": {"methods": ["nf4"], **crashed}}
        partial = kind == "partial" or "crashed" in kind  # merge marks a crash partial
        data["partial"] = partial
        if case["nf4_gone"]:
            data["results"] = [r for r in data["results"] if r["method"] != "nf4"]
            data["skipped"] = {"nf4": "nf4: bitsandbytes is not installed"}
        session = folder / "session.json"
        session.write_text(json.dumps(data))
        err, out = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = cli.main(["compare", str(session), "--baseline-dir", str(folder / "b"),
                             "--report-dir", str(folder / "r")])
    if partial or kind.startswith("stale"):
        expected = 4
    elif case["nf4_gone"]:
        expected = 1  # nf4 ran in the baseline and cannot run now
    elif not data["results"]:
        expected = 4  # nothing judged
    else:
        expected = 0
    event(f"{kind}: exit {expected}")
    assert code == expected, (case, err.getvalue(), out.getvalue()[-2000:])
    if code == 4:
        said = err.getvalue() or "\n".join(line for line in out.getvalue().splitlines()
                                            if line.startswith(("quantbench: ", "no baseline for ")))
        assert said.strip() and "\n" not in said.strip(), (err.getvalue(), out.getvalue())


# Issue 44's angles: hostile strings in every report, links at report names, interrupts while
# writing. A string is inert when no Markdown or HTML acts on it; a link at a report's name is
# replaced, its target untouched; an interrupt at any write leaves no report at all.

HOSTILE_PARTS = ["<img src=x onerror=alert(1)>", "</details>", "<script>", "@octocat", "#12", "[a](javascript:x)",
                 "![i](http://e/p.png)", "$x$", "`", "```", "|", "\\", "\n", "\r\n", "\u202e", "\x00", "\x1b[31m",
                 "www.e.com", "https://e.com", "&#64;x", "&lt;", "~~s~~", "**b**", "## h", "> q", "- l"]
HOSTILE = st.lists(st.one_of(st.sampled_from(HOSTILE_PARTS), st.text(max_size=8)), max_size=12).map("".join)
STRINGS = settings(max_examples=200, deadline=None, database=None, derandomize=True)


def _active(text: str, char: str) -> bool:
    """Whether ``char`` stands in ``text`` with an even run of backslashes before it (unescaped)."""
    import re

    return re.search(r"(?<!\\)(?:\\\\)*" + re.escape(char), text) is not None


@STRINGS
@given(HOSTILE)
def test_a_hostile_string_is_one_inert_line_of_markdown(text: str) -> None:
    from quantbench.report.escape import ZWSP, markdown

    line = markdown(text)
    assert "\n" not in line and "\r" not in line and "<" not in line and ">" not in line
    assert not any(_active(line, c) for c in "[]|$`")
    assert all(line[i + 1:i + 2] == ZWSP for i, c in enumerate(line) if c in "@#")


def _tags(markdown_text: str) -> tuple[list[str], list[tuple[str, str | None]], str]:
    """The start tags and attributes of ``markdown_text`` rendered as GitHub would (raw HTML on),
    and its text outside code blocks. A code block's language class is no attribute of concern."""
    import html.parser
    import re

    from markdown_it import MarkdownIt

    found: tuple[list[str], list[tuple[str, str | None]], str] = ([], [], "")

    class Parser(html.parser.HTMLParser):
        def handle_starttag(self, tag: str, attrs: list) -> None:
            found[0].append(tag)
            found[1].extend(a for a in attrs if not (a[0] == "class" and a[1].startswith("language-")))

    page = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown_text)
    Parser().feed(page)
    return found[0], found[1], re.sub(r"(?s)<pre>.*?</pre>", "", page)


@STRINGS
@given(st.lists(HOSTILE, min_size=1, max_size=6))
def test_any_comment_the_head_writes_is_inert_once_guarded(lines: list[str]) -> None:
    from quantbench.report.untrusted import guard

    body = guard("\n".join(lines), limit=2000)
    assert len(body) <= 2000
    tags, attributes, text = _tags(body)
    assert set(tags) <= {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "table", "thead", "tbody",
                         "tr", "th", "td", "details", "summary", "strong", "em", "code", "pre", "sub", "hr",
                         "blockquote", "br", "del", "s"}, tags
    assert not attributes, attributes
    assert "@octocat" not in text and "#12" not in text  # in a code block GitHub links nothing


def _hostile_comparison(name: str) -> tuple[Any, list[CaseResult]]:
    results = [CaseResult("default", "eager" + name, "generate-bs1", "fp16" + name, "float16",
                          {"decode_tps": _metric("decode_tps", 100.0)}, notes=(name,))]
    baseline = baseline_from_results(results, gpu="cpu", model_source="m" + name, scenario={},
                                     environment={}, provenance={"kind": "measured"})
    slower = [replace(results[0], metrics={"decode_tps": _metric("decode_tps", 40.0)})]
    return compare(baseline, slower, SETTINGS), slower


@settings(max_examples=25, deadline=None, database=None, derandomize=True)
@given(HOSTILE)
def test_reports_of_a_hostile_session_are_inert(name: str) -> None:
    from quantbench.report.publish import write_reports

    comparison, results = _hostile_comparison(name)
    with tempfile.TemporaryDirectory() as tmp:
        written = write_reports(Path(tmp), comparison, results, {}, title="quantbench: cpu / m" + name)
        for report in ("summary.md", "comment.md"):
            tags, attributes, _ = _tags(written[report].read_text())
            assert not {"img", "script", "a", "iframe"} & set(tags) and not attributes, (report, tags)
        assert written["comparison.png"].read_bytes().startswith(b"\x89PNG")


@settings(max_examples=16, deadline=None, database=None, derandomize=True)
@given(st.sets(st.sampled_from(["summary.md", "comment.md", "comparison.json", "comparison.png"])))
def test_links_at_any_report_names_are_replaced_never_followed(linked: set[str]) -> None:
    from quantbench.report.publish import write_reports

    comparison, results = _hostile_comparison("")
    with tempfile.TemporaryDirectory() as tmp:
        folder, victims = Path(tmp) / "r", Path(tmp) / "victims"
        folder.mkdir()
        victims.mkdir()
        for name in linked:
            (victims / name).write_text("precious")
            (folder / name).symlink_to(victims / name)
        write_reports(folder, comparison, results, {})
        assert all((victims / name).read_text() == "precious" for name in linked)
        assert not any((folder / name).is_symlink() for name in linked)


def test_an_interrupt_at_any_write_leaves_no_report() -> None:
    from quantbench import exits
    from quantbench.report import publish

    comparison, results = _hostile_comparison("")
    real = publish.replace_bytes
    for cut in range(3):  # comparison.json, summary.md, comment.md (the chart is written before)
        calls: list[Path] = []

        def interrupted(path: Any, data: bytes) -> None:
            calls.append(Path(path))
            if len(calls) > cut:
                raise KeyboardInterrupt  # as SIGTERM becomes one (quantbench.interrupts)
            real(path, data)

        with tempfile.TemporaryDirectory() as tmp:
            publish.replace_bytes = interrupted
            try:
                saved = publish.save_reports(Path(tmp), comparison, results, {})
            finally:
                publish.replace_bytes = real
            assert saved.code == exits.INTERRUPTED, cut
            assert sorted(p.name for p in Path(tmp).iterdir()) == [], cut
