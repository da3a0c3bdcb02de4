"""Re-judge stored H100 session files against the committed H100 baseline, offline.

    python docs/results/h100-2026-11-24/rejudge.py docs/results/h100-2026-11-24/g2-session.json ...

Uses the same ``quantbench.compare`` and settings (pyproject tolerances) as
``pytest benches --benchmark-compare``; only the measuring already happened, on the GPU.
"""

import json
from dataclasses import replace
import sys
from pathlib import Path

from quantbench.baseline import load_baseline
from quantbench.compare import compare
from quantbench.reports import comparison_table
from quantbench.results import CaseResult
from quantbench.settings import build_settings, read_pyproject

BASELINE = "baselines/nvidia-h100-80gb-hbm3/synthetic-qwen2.5-0.5b-instruct.json"

baseline = load_baseline(BASELINE)
settings = build_settings(read_pyproject(Path(".")), {})
for name in sys.argv[1:]:
    data = json.loads(Path(name).read_text())
    results = [CaseResult.from_dict(r) for r in data["results"]]
    comparison = compare(baseline, results, settings, skipped=data.get("skipped", {}))
    verdict = "pass" if comparison.exit_ok else f"FAIL ({len(comparison.regressions)} regressions)"
    print(f"## {Path(name).name} vs {BASELINE}: {verdict}\n")
    print("```")
    print(comparison_table(replace(comparison, rows=tuple(comparison.ran))))
    print("```\n")
