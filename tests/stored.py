"""Stored sessions and baselines for in-process tests of the gate, ``compare``, ``calibrate`` and
``ab``: a case's results, a calibrated baseline written where the gate looks, a session file, and
``compare`` run on them. The model is the tiny CPU one; the GPU slug is ``cpu``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from quantbench.commands import cli
from quantbench.config import build_settings
from quantbench.results import CaseResult, Metric
from quantbench.session import Session
from quantbench.store.baseline import baseline_from_results, baseline_path, to_json

GPU = "cpu"
MODEL = "synthetic:qwen2-tiny"


def metric(name: str, value: float, *, hib: bool = True, unit: str = "tok/s") -> Metric:
    """A converged metric with a ±1 % interval over nine samples."""
    return Metric(name, unit, value, value * 0.99, value * 1.01, 9, hib, 0.01, "converged")


def case(method: str, tps: float = 100.0, case: str = "generate-bs1", **extra: Metric) -> CaseResult:
    """One eager case of the default scenario: decode and end-to-end tok/s, weights."""
    metrics = {"decode_tps": metric("decode_tps", tps), "e2e_tps": metric("e2e_tps", tps * 0.9),
               "weights_gb": Metric.exact("weights_gb", "GB", 0.5, higher_is_better=False), **extra}
    return CaseResult("default", "eager", case, method, "float32", metrics)


def settings(tmp_path: Path, **overrides: Any) -> Any:
    """Settings with the baseline and report folders under ``tmp_path``."""
    return build_settings({}, {"baseline_dir": str(tmp_path / "b"), "report_dir": str(tmp_path / "r"),
                               **overrides})


def store(tmp_path: Path, results: list[CaseResult], model: str = MODEL, edit: Any = None) -> Path:
    """A calibrated baseline of ``results`` where the gate looks; ``edit`` may change its JSON."""
    s = settings(tmp_path)
    data = json.loads(to_json(baseline_from_results(
        results, gpu=GPU, model_source=model, scenario=s.scenario.to_dict(),
        environment={}, provenance={"kind": "measured", "sessions": 5})))  # calibrated
    if edit is not None:
        edit(data)
    path = baseline_path(s.baseline_dir, GPU, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def session(tmp_path: Path, results: list[CaseResult], model: str = MODEL, **fields: Any) -> Session:
    """A whole (not partial) session record of ``results``."""
    return Session({"gpu": GPU, "model_source": model}, settings(tmp_path).scenario.to_dict(),
                   results, partial=False, **fields)


def saved(tmp_path: Path, results: list[CaseResult], **fields: Any) -> Path:
    """``session`` written to ``tmp_path/s/session.json``."""
    path = tmp_path / "s" / "session.json"
    session(tmp_path, results, **fields).write(path)
    return path


def compare(tmp_path: Path, session_file: Path, *extra: str) -> int:
    """``python -m quantbench compare`` on a session file against ``tmp_path``'s baselines."""
    return cli.main(["compare", str(session_file), "--baseline-dir", str(tmp_path / "b"),
                     "--report-dir", str(tmp_path / "reports"), *extra])
