"""Judge lease E's two A/B runs again from their own session files with the code of this commit.

The runs on the H200 stored every pair's session; the judging then took each one-round wall-clock
metric for an exact reading (a zero-width interval) and judged it pair by pair, so
``--pairs auto`` watched nothing. ``judge.paired.is_exact`` was mended after the run; this script
applies the mended judge to the stored sessions (nothing is measured again):

    PYTHONPATH=src python docs/results/h200-2026-12-02b/rejudge_ab.py
"""

from __future__ import annotations

from pathlib import Path

from quantbench.config import Settings
from quantbench.judge.paired import paired_comparison
from quantbench.judge.power import power
from quantbench.report.power import auto_notes, power_table
from quantbench.report.publish import comparison_table
from quantbench.session import Session

HERE = Path(__file__).resolve().parent / "leaseE"

for name, what in (("abI", "identical sides"), ("abS", "head with -p quantbench.testing.slowdown --qb-slowdown 0.25")):
    sides = {side: [Session.read(HERE / name / f"{side}-{i}-session.json").results for i in (1, 2, 3)]
             for side in ("base", "head")}
    settings = Settings()
    comparison = paired_comparison(sides["base"], sides["head"], settings.tolerance, label="same-host (3 base runs)")
    powers = power(sides["base"], sides["head"], settings.tolerance)
    print(f"== {name}: {what}, 3 pairs")
    print(comparison_table(comparison, show_all=True))
    print(power_table(powers))
    print("\n".join(auto_notes(powers, 3, 3)))
    failing = [r for r in comparison.rows if r.verdict == "regression"]
    print(f"verdict: {'FAIL' if failing else 'pass'} ({len(failing)} regression(s))\n")
