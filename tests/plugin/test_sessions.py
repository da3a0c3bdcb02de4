"""Whole ``pytest benches`` sessions on the CPU: model lifecycle, skips and load failures, the AWQ
cache, and the baseline gate end to end (update, compare, unusable baselines, refused updates).

Every test runs real sessions in a subprocess on the tiny synthetic Qwen2 model and reads what a
session leaves behind: its exit status, its terminal output, ``<report-dir>/session.json``, a
JUnit XML file for per-test outcomes and the baseline folder. One model cache is shared by the
module, so the synthetic checkpoint is built once.

Sessions run torch single-threaded (``OMP_NUM_THREADS=1``): on a small shared CPU, two processes
each spinning two OpenMP threads slow each other down by an order of magnitude, which would make
the speed verdicts below measure the neighbours instead of the code. Fault injection (a package
that will not import, a load that runs out of memory) comes from ``tests/plugins``.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from quantbench.store.baseline import load_baseline
from quantbench.catalog import spec
from session_runs import FEW, LOOSE, SLOWDOWN, Session, baseline_file, gate_reason, run_session

pytestmark = pytest.mark.session

# fixtures


@pytest.fixture(scope="module")
def two_methods(cache_dir: Path, work: Path) -> Session:
    """fp16 and nf4, two benches each."""
    session = run_session(cache_dir, work, "--qb-methods", "fp16,nf4", *FEW)
    assert session.code == 0, session.explain()
    return session


@pytest.fixture(scope="module")
def stored_baseline(cache_dir: Path, work: Path) -> bytes:
    """The bytes of a CPU baseline written by ``--qb-update-baseline`` (fp16, two cases)."""
    folder = work / "update-baselines"
    session = run_session(cache_dir, work, "--qb-methods", "fp16", *FEW,
                          "--qb-update-baseline", baseline_dir=folder)
    assert session.code == 0, session.explain()
    gpu = session.data["environment"]["gpu"]
    assert gpu == "cpu"
    path = baseline_file(folder, gpu)
    assert path.is_file(), f"expected {path}; {session.explain()}"
    assert str(path) in session.output and session.lines_with("baseline written")
    assert path.relative_to(folder).as_posix() == "cpu/synthetic-qwen2-tiny.json"
    stored = load_baseline(path)
    assert set(stored.results) == {"eager/prefill-128", "eager/generate-bs1"}
    assert {m for by in stored.results.values() for m in by} == {"fp16"}
    return path.read_bytes()


def _install(baseline_dir: Path, data: bytes) -> Path:
    path = baseline_file(baseline_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` but the lock files an update leaves beside a baseline."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix != ".lock"}


# 1-2: the model lifecycle


def test_one_load_per_method_and_at_most_one_model_resident(two_methods: Session) -> None:
    data = two_methods.data
    per_method: dict[str, int] = {}
    for result in data["results"]:
        per_method[result["method"]] = per_method.get(result["method"], 0) + 1
    assert per_method == {"fp16": 2, "nf4": 2}, "each method should run two benches"
    assert data["loads"] == {"fp16": 1, "nf4": 1}
    assert data["failures"] == {} and data["skipped"] == {}

    events = [tuple(e) for e in data["load_events"]]
    assert events == [("load", "fp16"), ("unload", "fp16"), ("load", "nf4"), ("unload", "nf4")]
    resident: str | None = None
    for kind, method in events:  # the general rule, whatever the order
        if kind == "load":
            assert resident is None, f"{method} loaded while {resident} was resident: {events}"
            resident = method
        else:
            assert resident == method, f"released {method} while {resident} was resident: {events}"
            resident = None
    assert resident is None, "the last model must be released at the end of the session"


def test_results_are_grouped_by_method(two_methods: Session) -> None:
    data = two_methods.data
    order = [r["method"] for r in data["results"]]
    assert order == ["fp16", "fp16", "nf4", "nf4"], order
    groups = [m for m, _ in itertools.groupby(order)]
    assert len(groups) == len(set(groups)), f"a method's results are split: {order}"
    loaded = [m for kind, m in data["load_events"] if kind == "load"]
    assert groups == loaded, "results follow the order in which models were loaded"
    # Every method runs prefill and generation between its own load and release.
    assert [(r["method"], r["case"]) for r in data["results"]] == [
        ("fp16", "prefill-128"), ("fp16", "generate-bs1"),
        ("nf4", "prefill-128"), ("nf4", "generate-bs1"),
    ]


# 3-4: a method that cannot run, and one that fails to load


def test_missing_bitsandbytes_skips_only_its_methods(cache_dir: Path, work: Path) -> None:
    session = run_session(cache_dir, work, "--qb-methods", "fp16,int8,nf4", *FEW,
                          "--qbt-hide-package", "bitsandbytes")
    assert session.code == 0, session.explain()
    data = session.data
    assert set(data["skipped"]) == {"int8", "nf4"}
    for method, reason in data["skipped"].items():
        assert "bitsandbytes" in reason and "not installed" in reason, reason
        assert reason.startswith(method), reason
    assert data["loads"] == {"fp16": 1}
    assert data["failures"] == {}
    assert {r["method"] for r in data["results"]} == {"fp16"}
    assert len(data["results"]) == 2

    outcomes = session.outcomes()
    assert len(outcomes) == 6, outcomes
    for name, (status, message) in outcomes.items():
        if "[fp16-" in name:
            assert status == "passed", (name, message)
        else:
            assert status == "skipped", (name, status, message)
            assert "bitsandbytes is not installed" in message, (name, message)
    assert session.lines_with("skipped int8: int8: bitsandbytes is not installed")


def test_load_failure_errors_its_method_and_others_still_run(cache_dir: Path, work: Path) -> None:
    session = run_session(cache_dir, work, "--qb-methods", "fp16,nf4", *FEW, "--qbt-fail-load", "nf4")
    assert session.code == 1, session.explain()
    data = session.data
    assert list(data["failures"]) == ["nf4"]
    reason = data["failures"]["nf4"]
    assert "out of memory" in reason and "nf4" in reason, reason
    assert "\n" not in reason
    assert data["loads"] == {"fp16": 1}, "a failed load is not a load"
    assert [tuple(e) for e in data["load_events"]] == [("load", "fp16"), ("unload", "fp16")]
    assert [r["method"] for r in data["results"]] == ["fp16", "fp16"]
    assert data["skipped"] == {}

    outcomes = session.outcomes()
    assert {n: s for n, (s, _) in outcomes.items()} == {
        "test_prefill[fp16-len128]": "passed",
        "test_generate[fp16-bs1-eager]": "passed",
        "test_prefill[nf4-len128]": "error",
        "test_generate[nf4-bs1-eager]": "error",
    }
    for name, (status, message) in outcomes.items():
        if status == "error":
            assert "out of memory while loading nf4" in message, (name, message)
    assert session.lines_with("nf4 failed to load: out of memory")



def test_a_bench_that_fails_while_measuring_is_in_the_record(cache_dir: Path, work: Path) -> None:
    """A stored record must not read as a clean session without the method (on an H200 every
    compiled fp8dq case failed and ``sweep --from`` said pass)."""
    session = run_session(cache_dir, work, "--qb-methods", "fp16,nf4", *FEW, "--qbt-fail-case", "nf4-bs1")
    assert session.code == 1, session.explain()
    why = ("nf4 failed in test_generate[nf4-bs1-eager]: RuntimeError: Attempted to unset UNKNOWN_MODE, "
           "but there wasn't one active")
    assert session.data["failures"] == {"nf4": why}
    assert {n: s for n, (s, _) in session.outcomes().items()} == {
        "test_prefill[fp16-len128]": "passed", "test_generate[fp16-bs1-eager]": "passed",
        "test_prefill[nf4-len128]": "passed", "test_generate[nf4-bs1-eager]": "failure"}
    assert session.lines_with(why)

# 5: AWQ quantizes once per cache


def test_awq_quantization_is_cached_and_reused(cache_dir: Path, work: Path) -> None:
    first = run_session(cache_dir, work, "--qb-methods", "awq", "-k", "len128")
    assert first.code == 0, first.explain()
    second = run_session(cache_dir, work, "--qb-methods", "awq", "-k", "len128")
    assert second.code == 0, second.explain()

    def awq_notes(session: Session) -> list[str]:
        results = session.data["results"]
        assert [(r["method"], r["case"]) for r in results] == [("awq", "prefill-128")], results
        return [n for n in results[0]["notes"] if n.startswith("AWQ:") and "KV cache" not in n]

    (quantized,) = awq_notes(first)
    (reused,) = awq_notes(second)
    assert "quantized" in quantized and "reused" not in quantized, quantized
    assert "reused" in reused, reused
    folder = quantized.rsplit(" at ", 1)[1]
    assert reused.endswith(folder), (quantized, reused)
    assert Path(folder).is_relative_to(cache_dir / "awq")
    prepare = [s.data["time"]["per_method"]["awq"]["prepare"] for s in (first, second)]
    assert prepare[1] < prepare[0], f"reusing the cache should be quicker than quantizing: {prepare}"


# 6-8: the baseline gate


def test_gate_catches_a_slowdown_and_passes_a_clean_rerun(
        cache_dir: Path, work: Path, tmp_path: Path) -> None:
    # A baseline of its own, taken just before the compares (closest to their CPU conditions).
    folder = tmp_path / "baselines"
    update = run_session(cache_dir, work, "--qb-methods", "fp16", *FEW,
                         "--qb-update-baseline", baseline_dir=folder)
    assert update.code == 0, update.explain()
    path = baseline_file(folder)
    assert update.lines_with(f"baseline written: {path}"), update.explain()
    stored = path.read_bytes()

    def compare(*extra: str) -> Session:
        return run_session(cache_dir, work, "--qb-methods", "fp16", *FEW, "--benchmark-compare",
                           *LOOSE, *extra, baseline_dir=folder)

    clean = compare()
    if clean.code != 0 and clean.lines_with("gate: FAIL"):
        clean = compare()  # one retry: a neighbour on a shared CPU can slow one whole session
    assert clean.code == 0, clean.explain()
    assert clean.lines_with("gate: pass"), clean.explain()
    assert clean.lines_with("compared with") and clean.lines_with(str(path))  # a long path: own line

    slow = compare("-p", "quantbench.testing.slowdown", "--qb-slowdown", SLOWDOWN)
    assert slow.code == 1, slow.explain()
    (verdict,) = slow.lines_with("gate: FAIL")
    assert verdict.startswith("gate: FAIL: fp16 ("), verdict  # short: the method, the counts
    report = json.loads((slow.report_dir / "comparison.json").read_text())["comparison"]
    named = [(r["case_key"], r["method"], r["metric"]) for r in report["rows"]
             if r["verdict"] == "regression"]
    assert named, verdict
    kinds = {spec(metric).kind for _, _, metric in named}
    # The slowdown's own forward hooks are Python calls: the host work counter sees them too.
    assert kinds <= {"throughput", "latency", "count"}, named
    assert {"throughput", "latency"} <= kinds, named
    assert {m for _, _, m in named if spec(m).kind == "count"} <= {"decode_py_calls"}, named
    metrics = {metric for _, _, metric in named}
    # Which figures cross the line depends on how busy the CPU was when the baseline was taken
    # (TTFT, a few wide-interval rounds, is often "within noise"); that some throughput and some
    # latency figure does, and no memory figure ever, does not.
    assert not any(spec(m).kind == "memory" or m.endswith("_gb") for m in metrics), named
    assert {method for _, method, _ in named} == {"fp16"}
    # One line per failing case, its figure before → after and what moved: host work or the clock.
    moved = slow.lines_with("FAIL eager/")
    assert sorted(line.split(" ")[1] for line in moved) == sorted({c for c, _, _ in named}), moved
    assert all(" → " in line and (" — host work: " in line or " wall clock" in line)
               for line in moved), moved

    memory_rows = [r for r in report["rows"] if spec(r["metric"]).kind == "memory"]
    assert memory_rows and all(r["verdict"] == "pass" for r in memory_rows), memory_rows
    assert path.read_bytes() == stored, "a compare must never write the baseline"
    assert _tree(folder) == {path.relative_to(folder).as_posix(): stored}


def _corrupt_json(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _edit(change):
    def apply(data: bytes) -> bytes:
        parsed = json.loads(data)
        change(parsed)
        return (json.dumps(parsed, indent=2, sort_keys=True) + "\n").encode()
    return apply


BAD_BASELINES = {
    "corrupt-json": (_corrupt_json, "invalid JSON"),
    "wrong-schema": (_edit(lambda d: d.update(schema="quantbench.judge.baseline/999")),
                     "schema 'quantbench.judge.baseline/999' is not supported"),
    "other-gpu": (_edit(lambda d: d.update(gpu="NVIDIA H100 80GB HBM3")),
                  "baseline is for NVIDIA H100 80GB HBM3, this GPU is cpu"),
    "scenario-mismatch": (_edit(lambda d: d["scenario"].update(new_tokens=32)),
                          "new_tokens: baseline 32, run 64"),
}


@pytest.mark.parametrize("kind", list(BAD_BASELINES))
def test_unusable_baseline_exits_4_and_is_left_untouched(
        kind: str, cache_dir: Path, work: Path, stored_baseline: bytes, tmp_path: Path) -> None:
    corrupt, expected = BAD_BASELINES[kind]
    folder = tmp_path / "baselines"
    bad = corrupt(stored_baseline)
    assert bad != stored_baseline
    path = _install(folder, bad)
    before = _tree(folder)

    session = run_session(cache_dir, work, "--qb-methods", "fp16", "-k", "len128",
                          "--benchmark-compare", baseline_dir=folder)
    assert session.code == 4, session.explain()
    reason = gate_reason(session)
    assert expected in reason, reason
    # refused at the session's start, before any model loads (issue 44, item 12): pytest.exit's line
    assert "quantbench: baseline unusable:" in reason and "nothing was run" in reason, reason
    if kind in ("corrupt-json", "wrong-schema"):
        assert str(path) in reason, "a file that cannot be read is named"
    assert not session.lines_with("gate: ")
    assert _tree(folder) == before, "the stored baseline must be left byte-for-byte unchanged"
    assert not (session.report_dir / "session.json").exists(), "no bench ran"


def test_missing_baseline_is_exit_4_and_says_how_to_create_one(
        cache_dir: Path, work: Path, tmp_path: Path) -> None:
    folder = tmp_path / "baselines"
    session = run_session(cache_dir, work, "--qb-methods", "fp16", "-k", "len128",
                          "--benchmark-compare", baseline_dir=folder)
    assert session.code == 4, session.explain()  # a pass only with --qb-allow-missing-baseline
    (line,) = session.lines_with("no baseline for cpu")
    assert str(baseline_file(folder)) in line
    assert "pytest benches --qb-update-baseline" in line
    assert not folder.exists() or _tree(folder) == {}, "a compare never creates a baseline"


def test_update_is_refused_when_the_session_failed(
        cache_dir: Path, work: Path, stored_baseline: bytes, tmp_path: Path) -> None:
    folder = tmp_path / "baselines"
    path = _install(folder, stored_baseline)
    before = _tree(folder)
    session = run_session(cache_dir, work, "--qb-methods", "fp16,nf4", "-k", "len128",
                          "--qbt-fail-load", "nf4", "--qb-update-baseline",
                          baseline_dir=folder)
    assert session.code == 1, session.explain()
    (line,) = session.lines_with("baseline not updated")
    assert "the session failed (exit 1)" in line and str(path) in line, line
    assert not session.lines_with("baseline written")
    assert _tree(folder) == before, "a refused update leaves the folder byte-for-byte unchanged"
    assert not (path.parent / "history").exists()


def test_second_update_keeps_the_previous_baseline_in_history(
        cache_dir: Path, work: Path, stored_baseline: bytes, tmp_path: Path) -> None:
    folder = tmp_path / "baselines"
    path = _install(folder, stored_baseline)
    session = run_session(cache_dir, work, "--qb-methods", "fp16", *FEW,
                          "--qb-update-baseline", baseline_dir=folder)
    assert session.code == 0, session.explain()
    kept = sorted((path.parent / "history").glob(f"{path.stem}.*.json"))
    assert len(kept) == 1, kept
    assert kept[0].read_bytes() == stored_baseline, "history holds the previous file verbatim"
    assert path.read_bytes() != stored_baseline
    (line,) = session.lines_with("previous baseline kept as")
    assert str(kept[0]) in line
    new = load_baseline(path)  # the new file is a valid baseline of this session
    assert set(new.results) == {"eager/prefill-128", "eager/generate-bs1"}
    assert new.provenance["kind"] == "measured"
    leftovers = [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == [], "no temporary files are left beside the baseline"


# the time budget a session really uses


def test_time_budget_option_bounds_measuring_on_cpu(cache_dir: Path, work: Path) -> None:
    # Sampling never converges here, so it stops on the time budget or on the round cap
    # (generation: 20 rounds, Scenario.prompts) whichever comes first. A round of the tiny
    # model's generation takes tens of ms: 0.3 s of budget ends it after a few rounds, the 3 s
    # CPU default only at the cap.
    session = run_session(cache_dir, work, "--qb-methods", "fp16", "-k", "bs1",
                          "--qb-time-budget", "0.3", "--qbt-never-converge")
    assert session.code == 0, session.explain()
    data = session.data
    (result,) = data["results"]
    rounds = result["metrics"]["decode_tps"]["n"]
    measured = data["time"]["per_method"]["fp16"]["measure"]
    assert data["scenario"]["prompts"] == 20
    assert result["metrics"]["decode_tps"]["stop"] == "budget", (
        f"stopped by {result['metrics']['decode_tps']['stop']} after {rounds} rounds "
        f"and {measured:.2f} s of measuring with --time-budget 0.3")
    assert rounds < 20 and measured < 1.0, (rounds, measured)


def test_a_killed_session_keeps_every_case_it_finished(cache_dir: Path, work: Path) -> None:
    """A session killed mid-run (no pytest teardown at all) leaves a session file, marked
    partial, with the cases that finished before the kill; a finished session is not partial."""
    killed = run_session(cache_dir, work, "--qb-methods", "fp16,bf16", "-k", "bs1",
                         "--qbt-die-at", "bf16-bs1")
    assert killed.code == 9, killed.output[-3000:]
    data = killed.data
    assert data["partial"] is True
    assert [(r["method"], r["case"]) for r in data["results"]] == [("fp16", "generate-bs1")]
    assert data["results"][0]["metrics"]["e2e_tps"]["n"] >= 1
    assert data["environment"]["device"] == "cpu"

    whole = run_session(cache_dir, work, "--qb-methods", "fp16", "-k", "bs1")
    assert whole.code == 0, whole.output[-3000:]
    assert whole.data["partial"] is False


def test_an_interrupted_session_is_marked_partial(cache_dir: Path, work: Path) -> None:
    """SIGINT (a CI step's ``timeout -s INT``, Ctrl-C) lets pytest reach its session end, but
    the cases after the interrupt never ran: the session file still says partial (two cut-off
    H100 sessions on 2026-11-25 were written as finished)."""
    cut = run_session(cache_dir, work, "--qb-methods", "fp16,bf16", "-k", "bs1",
                      "--qbt-interrupt-at", "bf16-bs1")
    assert cut.code == 2, cut.output[-3000:]  # pytest's ExitCode.INTERRUPTED
    assert cut.data["partial"] is True
    assert [(r["method"], r["case"]) for r in cut.data["results"]] == [("fp16", "generate-bs1")]
