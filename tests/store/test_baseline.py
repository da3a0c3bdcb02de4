"""Baseline files: slugs, round trip, validation errors, atomic update with history, the T4 file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from quantbench.store import baseline as bl
from quantbench.store.baseline import (
    SCHEMA,
    Baseline,
    BaselineError,
    baseline_from_results,
    baseline_path,
    from_json,
    gpu_slug,
    load_baseline,
    model_slug,
    to_json,
    write_baseline,
)
from quantbench.results import CaseResult, Metric
from quantbench.config import SCENARIOS

REPO = Path(__file__).resolve().parents[2]
T4_FILE = REPO / "baselines" / "nvidia-tesla-t4" / "qwen2.5-0.5b-instruct.json"


def _results() -> list[CaseResult]:
    tps = Metric("decode_tps", "tok/s", 100.0, 98.0, 102.0, 30, True, 0.02, "converged")
    weights = Metric.exact("weights_gb", "GB", 0.998, higher_is_better=False)
    return [
        CaseResult("default", "eager", "generate-bs1", "fp16", "float16",
                   {"decode_tps": tps, "weights_gb": weights}),
        CaseResult("default", "eager", "prefill-128", "fp16", "float16", {"weights_gb": weights}),
    ]


def _baseline(value: float = 100.0) -> Baseline:
    results = _results()
    tps = Metric("decode_tps", "tok/s", value, value - 2, value + 2, 30, True, 0.02, "converged")
    results[0] = CaseResult("default", "eager", "generate-bs1", "fp16", "float16",
                            {**results[0].metrics, "decode_tps": tps})
    return baseline_from_results(
        results, gpu="NVIDIA H100 80GB HBM3", model_source="synthetic:qwen2.5-0.5b-instruct",
        scenario=SCENARIOS["default"].to_dict(), environment={"torch": "2.13.0"},
        provenance={"kind": "measured", "command": "pytest benches"},
    )


@pytest.mark.parametrize(("name", "slug"), [
    ("NVIDIA H100 80GB HBM3", "nvidia-h100-80gb-hbm3"),
    ("Tesla T4", "nvidia-tesla-t4"),
    ("NVIDIA Tesla T4", "nvidia-tesla-t4"),
    ("NVIDIA A100-SXM4-40GB", "nvidia-a100-sxm4-40gb"),
    ("cpu", "cpu"),
])
def test_gpu_slug(name: str, slug: str) -> None:
    assert gpu_slug(name) == slug


@pytest.mark.parametrize(("source", "slug"), [
    ("synthetic:qwen2.5-0.5b-instruct", "synthetic-qwen2.5-0.5b-instruct"),
    ("Qwen/Qwen2.5-0.5B-Instruct", "qwen2.5-0.5b-instruct"),
    ("/models/Qwen2.5-0.5B-Instruct/", "qwen2.5-0.5b-instruct"),
    ("./ckpt/My Model", "my-model"),
])
def test_model_slug(source: str, slug: str) -> None:
    assert model_slug(source) == slug


def test_baseline_path(tmp_path: Path) -> None:
    path = baseline_path(tmp_path, "Tesla T4", "Qwen/Qwen2.5-0.5B-Instruct")
    assert path == tmp_path / "nvidia-tesla-t4" / "qwen2.5-0.5b-instruct.json"


def test_from_results_groups_by_case_and_method() -> None:
    b = _baseline()
    assert set(b.results) == {"eager/generate-bs1", "eager/prefill-128"}
    assert set(b.results["eager/generate-bs1"]["fp16"]) == {"decode_tps", "weights_gb"}
    assert b.schema == SCHEMA
    assert [(c, m, x.name) for c, m, x in b.entries()] == [
        ("eager/generate-bs1", "fp16", "decode_tps"),
        ("eager/generate-bs1", "fp16", "weights_gb"),
        ("eager/prefill-128", "fp16", "weights_gb"),
    ]


def test_json_round_trip_is_exact() -> None:
    b = _baseline()
    text = to_json(b)
    assert from_json(text) == b
    assert to_json(from_json(text)) == text
    assert text.startswith("{\n  ")


def test_write_then_load(tmp_path: Path) -> None:
    path = tmp_path / "gpu" / "model.json"
    assert write_baseline(path, _baseline()) is None
    assert load_baseline(path) == _baseline()
    assert not (tmp_path / "gpu" / "history").exists()


def _assert_error(path: Path, match: str) -> None:
    before = path.read_bytes() if path.exists() else None
    with pytest.raises(BaselineError, match=match) as info:
        load_baseline(path)
    assert "\n" not in str(info.value)
    after = path.read_bytes() if path.exists() else None
    assert after == before


def test_missing_file(tmp_path: Path) -> None:
    _assert_error(tmp_path / "nope.json", "no baseline at")
    assert not (tmp_path / "nope.json").exists()


def test_corrupt_json(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text('{"schema": "quantbench.judge.baseline/1", ')
    _assert_error(path, "invalid JSON")


def test_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text("[1, 2]")
    _assert_error(path, "not a JSON object")


@pytest.mark.parametrize(("schema", "match"), [
    ("quantbench.judge.baseline/2", "schema 'quantbench.judge.baseline/2' is not supported"),
    (None, "missing key 'schema'"),
])
def test_wrong_or_missing_schema(tmp_path: Path, schema: str | None, match: str) -> None:
    data = json.loads(to_json(_baseline()))
    if schema is None:
        del data["schema"]
    else:
        data["schema"] = schema
    path = tmp_path / "b.json"
    path.write_text(json.dumps(data))
    _assert_error(path, match)


@pytest.mark.parametrize("key", ["gpu", "model_source", "scenario", "provenance", "results"])
def test_missing_required_key(tmp_path: Path, key: str) -> None:
    data = json.loads(to_json(_baseline()))
    del data[key]
    path = tmp_path / "b.json"
    path.write_text(json.dumps(data))
    _assert_error(path, f"missing key '{key}'")


def test_missing_metric_field(tmp_path: Path) -> None:
    data = json.loads(to_json(_baseline()))
    del data["results"]["eager/generate-bs1"]["fp16"]["decode_tps"]["median"]
    path = tmp_path / "b.json"
    path.write_text(json.dumps(data))
    _assert_error(path, r"results\.eager/generate-bs1\.fp16\.decode_tps: missing key 'median'")


def test_bad_provenance_kind(tmp_path: Path) -> None:
    data = json.loads(to_json(_baseline()))
    data["provenance"]["kind"] = "guessed"
    path = tmp_path / "b.json"
    path.write_text(json.dumps(data))
    _assert_error(path, "provenance kind 'guessed'")


def test_update_keeps_previous_version_in_history(tmp_path: Path) -> None:
    path = tmp_path / "nvidia-h100" / "m.json"
    write_baseline(path, _baseline(100.0))
    old = path.read_bytes()
    history = write_baseline(path, _baseline(120.0))
    assert history is not None
    assert history.parent == path.parent / "history"
    assert history.name.startswith("m.") and history.name.endswith("Z.json")
    assert history.read_bytes() == old
    assert load_baseline(path) == _baseline(120.0)
    assert load_baseline(history) == _baseline(100.0)
    assert sorted(p.name for p in path.parent.iterdir() if p.suffix != ".lock") == ["history", "m.json"]


def test_updates_in_the_same_second_keep_every_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bl, "_utc_stamp", lambda: "20250101T000000Z")
    path = tmp_path / "m.json"
    versions = [_baseline(v) for v in (100.0, 110.0, 120.0)]
    for b in versions:
        write_baseline(path, b)
    kept = sorted((tmp_path / "history").iterdir())
    assert [p.name for p in kept] == ["m.20250101T000000Z.json", "m.20250101T000000Z_0001.json"]
    assert {load_baseline(p).results["eager/generate-bs1"]["fp16"]["decode_tps"].median
            for p in kept} == {100.0, 110.0}


def test_identical_write_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    write_baseline(path, _baseline())
    assert write_baseline(path, _baseline()) is None
    assert not (tmp_path / "history").exists()


def _files(folder: Path) -> list[str]:
    """Every file but the lock files (``files.locked``), which stay beside what they guard."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.suffix != ".lock")


def test_failed_replace_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.json"
    write_baseline(path, _baseline(100.0))
    old = path.read_bytes()

    def boom(src: object, dst: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk gone"):
        write_baseline(path, _baseline(120.0))
    assert path.read_bytes() == old
    assert _files(tmp_path) == ["m.json"]


def test_failed_serialisation_leaves_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.json"
    write_baseline(path, _baseline(100.0))
    old = path.read_bytes()

    def boom(*args: object, **kwargs: object) -> str:
        raise ValueError("cannot serialise")

    monkeypatch.setattr(bl.json, "dumps", boom)
    with pytest.raises(ValueError, match="cannot serialise"):
        write_baseline(path, _baseline(120.0))
    assert path.read_bytes() == old
    assert _files(tmp_path) == ["m.json"]


def test_failed_fsync_mid_write_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.json"
    write_baseline(path, _baseline(100.0))
    old = path.read_bytes()

    def boom(fd: int) -> None:
        raise OSError("fsync failed")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="fsync failed"):
        write_baseline(path, _baseline(120.0))
    assert path.read_bytes() == old
    assert _files(tmp_path) == ["m.json"]


def test_t4_file_holds_exactly_the_published_numbers() -> None:
    b = load_baseline(T4_FILE)
    assert T4_FILE == baseline_path(REPO / "baselines", b.gpu, b.model_source)
    assert b.gpu == "Tesla T4"
    assert b.model_source == "Qwen/Qwen2.5-0.5B-Instruct"
    assert b.provenance["kind"] == "published"
    assert "published T4 study" in b.provenance["source"]
    assert "dohu012/llm-quantization-benchmark" in b.provenance["source"]
    assert b.scenario == {"name": "t4-study", "new_tokens": 128, "prompts": 20, "warmup": 1,
                          "greedy": True, "batch_sizes": [1], "prefill_lengths": []}
    assert b.environment == {"gpu": "Tesla T4", "gpu_memory": "15 GB", "platform": "Google Colab",
                             "python": "3.12", "cuda": "12.2"}
    assert list(b.results) == ["eager/generate-bs1"]
    case = b.results["eager/generate-bs1"]
    assert set(case) == {"fp16", "int8", "awq"}
    published = {"fp16": (24.4, 0.998), "int8": (6.3, 0.642), "awq": (17.1, 0.468)}
    for method, (tps, gb) in published.items():
        assert set(case[method]) == {"e2e_tps", "weights_gb"}
        e2e, weights = case[method]["e2e_tps"], case[method]["weights_gb"]
        assert (e2e.median, e2e.unit, e2e.higher_is_better) == (tps, "tok/s", True)
        assert (weights.median, weights.unit, weights.higher_is_better) == (gb, "GB", False)
        assert weights.low == weights.high == gb and weights.n == 1
        assert e2e.stop == weights.stop == "published"
        assert e2e.approximate == (method == "int8")
        assert not weights.approximate
    assert (case["int8"]["e2e_tps"].low, case["int8"]["e2e_tps"].high) == (6.25, 6.35)
    assert case["fp16"]["e2e_tps"].low == case["fp16"]["e2e_tps"].high == 24.4


def test_t4_file_is_canonical_json() -> None:
    text = T4_FILE.read_text()
    assert to_json(from_json(text)) == text
