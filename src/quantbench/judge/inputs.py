"""What the baseline gate checks around a comparison, so that an empty one is never a pass.

Under ``--benchmark-compare`` a job that compared nothing must not go green: a baseline folder
that is a file or cannot be entered is one line and exit 4; a baseline file that does not exist
keeps the first-run message (how to make one) and is exit 4 too, unless the user said that no
baseline yet is fine (``--qb-allow-missing-baseline`` or ``allow_missing_baseline = true``), and
so is a comparison in which no metric was judged (the baseline holds none of this session's
cases). A baseline that exists but cannot be used is ``load_baseline``'s ``BaselineError``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from quantbench.judge.compare import INFO, NOT_RUN, Comparison
from quantbench.files import describe
from quantbench.results import CaseResult

EXIT_OK = 0
EXIT_BAD_BASELINE = 4
_ALLOW = ("create one with `pytest benches --qb-update-baseline`, or pass "
          "--qb-allow-missing-baseline if no baseline yet is fine")


def locate(path: Path, *, gpu: str, source: str, allow_missing: bool) -> tuple[list[str], int] | None:
    """``None`` when ``path`` is there to be loaded; else the gate's lines and exit status."""
    try:
        os.stat(path)
        return None
    except FileNotFoundError:
        missing = f"no baseline for {gpu} / {source} at {path}: nothing compared"
        if allow_missing:
            return [f"{missing} (allowed: allow_missing_baseline)"], EXIT_OK
        return [f"{missing}; {_ALLOW}"], EXIT_BAD_BASELINE
    except NotADirectoryError:
        part = next((p for p in reversed(path.parents) if p.is_file()), path.parent)
        return [f"quantbench: baseline dir {part} is a file, not a folder: nothing compared"], EXIT_BAD_BASELINE
    except OSError as exc:
        return [f"quantbench: baseline unusable: cannot read {path}: {describe(exc)}"], EXIT_BAD_BASELINE


def nothing_judged(comparison: Comparison, results: Sequence[CaseResult],
                   allow_missing: bool) -> tuple[list[str], int] | None:
    """``None`` when at least one metric was judged; else the gate's line and exit status."""
    if any(row.verdict not in (NOT_RUN, INFO) for row in comparison.rows):
        return None
    ran = sorted({f"{r.case_key} {r.method}" for r in results})
    held = {(row.case_key, row.method) for row in comparison.rows}
    if any((r.case_key, r.method) in held for r in results):
        text = f"nothing compared: no gated metric of the baseline was measured in this session ({', '.join(ran)})"
    else:
        text = (f"nothing compared: the baseline holds none of this session's {len(ran)} case result(s)"
                + (f" ({', '.join(ran)})" if ran else ""))
    if allow_missing:
        return [text], EXIT_OK
    return [f"quantbench: {text}"], EXIT_BAD_BASELINE
