"""What an A/B's runs must be to be judged, and what fails it besides its rows (``commands.ab``).

* Refused before any run (exit 4): ``--qb-update-baseline`` for the runs (in the pytest
  arguments, ``--base-args``/``--head-args``, ``PYTEST_ADDOPTS`` or a side's
  ``[tool.quantbench] update_baseline``): every base and head run would write the baseline, and
  the A/B said "pass" over it.
* Unusable (exit 4): runs of another GPU, model or scenario than base run 1's; nothing judged.
* Failed beyond the rows: every head run exited 1 (a bench or its own quality gate failed in
  each, so a bench only head has that crashes every time passed as "nothing failing"): exit 1;
  and when every base run did too, the A/B cannot tell head from base: exit 4.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from quantbench import exits
from quantbench.ab.reasons import AbNote
from quantbench.config import read_pyproject, session_difference
from quantbench.judge.compare import Comparison
from quantbench.session import Session
from quantbench.report.reasons import note_text

UPDATE = "--qb-update-baseline"


class AbError(RuntimeError):
    """The A/B cannot be judged; the message is the one-line reason."""


@dataclass(frozen=True)
class Runs:
    """The finished sessions of each side, pair by pair, notes on the runs, and each side's exit
    statuses in run order."""

    base: list[Session]
    head: list[Session]
    notes: list[AbNote]
    codes: Mapping[str, Sequence[int]] = field(default_factory=dict)


def baseline_writes(args: Sequence[str], addopts: str, dirs: Sequence[Path]) -> str | None:
    """Why the runs would write a baseline (``None`` when none would): ``--qb-update-baseline``
    among ``args`` or in ``addopts`` (``PYTEST_ADDOPTS``), or ``update_baseline`` set in the
    ``[tool.quantbench]`` of a side's working directory."""
    try:
        extra = shlex.split(addopts)
    except ValueError:
        extra = addopts.split()
    where = ("the pytest arguments" if UPDATE in args else
             "PYTEST_ADDOPTS" if UPDATE in extra else
             next((f"{d / 'pyproject.toml'} (update_baseline)" for d in dirs if _updates(d)), None))
    if where is None:
        return None
    return (f"{UPDATE} in {where} would make every base and head run write the baseline; an A/B "
            f"judges head against base and writes none (update it with pytest benches {UPDATE})")


def _updates(folder: Path) -> bool:
    """Whether ``folder``'s ``[tool.quantbench]`` sets ``update_baseline`` (an unreadable file is
    its run's own usage error)."""
    try:
        return read_pyproject(folder).get("update_baseline") is True
    except (OSError, ValueError):
        return False


def check_comparable(runs: Runs) -> None:
    """Every session must have measured the same GPU, model and scenario."""
    first = runs.base[0]
    for label, sessions in (("base", runs.base), ("head", runs.head)):
        for i, session in enumerate(sessions, 1):
            found = session_difference(session, first)
            if found and found[0] == "scenario":
                raise AbError(f"{label} run {i}'s scenario differs from base run 1's in {found[1][0]}")
            if found:
                raise AbError(f"{label} run {i} measured {found[0]} {found[1]!r}, base run 1 {found[2]!r}")


def run_failures(runs: Runs, out: Path) -> tuple[list[str], int]:
    """The lines that fail the A/B outside its rows, and the status they give: every head run
    exited 1 (exit 1; exit 4 when every base run did too). ``([], 0)`` otherwise."""
    head, base = list(runs.codes.get("head", ())), list(runs.codes.get("base", ()))
    if not head or any(code != 1 for code in head):
        return [], exits.OK
    first = runs.head[0]
    reason = next(iter(first.failures.values()), "a bench or its quality gate failed")
    log = out / "head-1" / "pytest.log"
    if base and all(code == 1 for code in base):
        return [f"every base and head run exited 1, so the A/B cannot tell head from base on what "
                f"failed: head run 1: {reason} ({log})"], exits.USAGE
    return [f"every head run exited 1: head run 1: {reason} ({log})"], exits.REGRESSION


def nothing_judged(runs: Runs, comparison: Comparison) -> str:
    """Why an A/B with no verdict row judged nothing: the case counts and the first skip."""
    counts = [len(s.results) for s in (*runs.base, *runs.head)]
    skipped = {m: why for s in (*runs.base, *runs.head) for m, why in s.skipped.items()}
    why = f"; skipped: {next(iter(skipped.values()))}" if skipped else ""
    notes = f"; {note_text(comparison.notes[0])}" if comparison.notes else ""
    return (f"nothing judged: no gated metric was measured in every run (cases per run: "
            f"{', '.join(map(str, counts))}){why}{notes}")
