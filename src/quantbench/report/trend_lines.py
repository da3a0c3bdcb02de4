"""History in words: a step or a drift as the gate's lines read it (``14.8 → 28.7 ms, 1.94×
worse``), when a sample ran, which versions changed between samples, and the terminal's
findings. The series and their trends are ``history``'s; this module only writes them out."""

from __future__ import annotations

from typing import Mapping, Sequence

from quantbench.catalog import spec
from quantbench.history.trend import Line
from quantbench.report.what_moved import change_text, value_text


def step_text(line: Line, before: float, after: float) -> str:
    """Two values relative to the line's reference in raw direction, as the gate's lines read:
    ``14.8 → 28.7 ms, 1.94× worse``."""
    first = line.points[0][1]
    kind = spec(line.metric).kind
    b, a = before * line.reference, after * line.reference
    return (f"{value_text(b, kind)} → {value_text(a, kind)} {first.unit}".rstrip()
            + f", {change_text(b, a, first.higher_is_better)}")


def when(line: Line, index: int) -> str:
    """The date and commit of sample ``index`` of the line's group, short: ``11-25 13:52 521ffd3``."""
    sample = line.group.samples[index]
    return f"{sample.date[5:16].replace('T', ' ')} {sample.commit or ''}".strip()


def changed(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """``torch 2.10.0→2.11.0`` for each version that differs (one side unknown: not shown)."""
    return [f"{k} {before[k]}→{after[k]}" for k in sorted(after)
            if k in before and before[k] != after[k]]


def findings(lines: Sequence[Line]) -> tuple[list[str], list[str]]:
    """Terminal lines: change points beyond tolerance, then drifts (those for the worse last)."""
    steps, drifts = [], []
    for line in lines:
        tol = f"±{line.tolerance * 100:.2g}%" if line.tolerance is not None else "ungated"
        for cp in line.trend.change_points:
            if line.tolerance is not None and abs(cp.step) > line.tolerance:
                index = line.points[cp.index][0]
                steps.append(f"step: {line.group.gpu}: {line.name} {step_text(line, cp.before, cp.after)} at "
                             f"{when(line, index)} (tolerance {tol})")
        if line.trend.drift and line.trend.fit:
            drifts.append(f"drift ({line.trend.drift}): {line.group.gpu}: {line.name} "
                          f"{step_text(line, *line.trend.fit)} over {line.trend.points} sessions "
                          f"(tolerance {tol}), no single step beyond it")
    drifts.sort(key=lambda text: text.startswith("drift (worse)"))
    return steps, drifts
