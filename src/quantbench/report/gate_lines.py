"""The gate's findings in words (``judge.findings``): which baseline judged and how this host
differs from its, why none judged, the one-line outcome, why the run ends as it does, and what
an update of the baseline did or why it refused.

These are the lines of the gate's block at the end of a session and of ``python -m quantbench
compare``, and the one line a refused session stops with before any model loads.
"""

from __future__ import annotations

from typing import Any, Union

from quantbench import exits
from quantbench.judge.compare import FAIL, REGRESSION, UNCONFIRMED, Comparison
from quantbench.judge.evidence import MIN_WALL_SESSIONS
from quantbench.judge.findings import Compared, Problem, Refusal, Refused, Unjudged, Update
from quantbench.judge.host_note import HostDifference
from quantbench.results import WIDTH

ALLOW = ("create one with `pytest benches --qb-update-baseline`, or pass "
         "--qb-allow-missing-baseline (compare: --allow-missing-baseline) if no baseline yet is fine")
NOT_ASKED = "--benchmark-compare was not given: quality thresholds only"
NO_BASELINE_YET = "nothing compared: this GPU and model have no baseline yet"
TAG = "quantbench: "
# An update refused for what the stored or new baseline is: a problem, marked with ``TAG``.
TAGGED = (Refused.UNREADABLE, Refused.INCOMPATIBLE, Refused.INVALID)


def unjudged_why(found: Unjudged) -> str:
    """Why no baseline judged this session, in one line."""
    if found.problem is Problem.MISSING:
        missing = f"no baseline for {found.gpu} / {found.source} at {found.path}: nothing compared"
        if found.code == exits.OK:
            return f"{missing} (allowed: allow_missing_baseline)"
        return f"{missing}; {ALLOW}"
    if found.problem is Problem.DIR_IS_FILE:
        return f"baseline dir {found.path} is a file, not a folder: nothing compared"
    if found.problem is Problem.UNREADABLE:
        return f"baseline unusable: cannot read {found.path}: {found.detail}"
    if found.problem is Problem.UNUSABLE:
        hint = "" if found.scenario is None else f" (it matches --qb-scenario {found.scenario})"
        return f"baseline unusable: {found.detail}{hint}"
    ran = sorted({f"{case_key} {method}" for case_key, method in found.ran})
    if found.problem is Problem.NOTHING_MEASURED:
        return ("nothing compared: no gated metric of the baseline was measured in this session "
                f"({', '.join(ran)})")
    return (f"nothing compared: the baseline holds none of this session's {len(ran)} case result(s)"
            + (f" ({', '.join(ran)})" if ran else ""))


def unjudged_lines(found: Unjudged) -> list[str]:
    """The gate's line for ``found``, marked ``quantbench:`` when it is a problem, not news (a
    missing baseline says how to make one, unmarked)."""
    why = unjudged_why(found)
    return [why if found.problem is Problem.MISSING or found.code == exits.OK else TAG + why]


def host_line(host: HostDifference) -> str:
    """This host's launch overhead against the baseline's, within 120 columns."""
    slower = "slower" if host.change > 0 else "faster"
    return (f"host: {host.session_us:.1f} us per kernel launch vs {host.baseline_us:.1f} us in the "
            f"baseline ({host.change * 100:+.0f} %), {slower}: eager batch-1 verdicts may be the machine's")


def compared_lines(compared: Compared) -> list[str]:
    """Which baseline judged (a long path on a line of its own), then the host's line."""
    lines = [f"compared with {compared.path} ({compared.kind}, {compared.date})"]
    if len(lines[0]) > WIDTH:
        lines = [f"compared with the {compared.kind} baseline ({compared.date}):", f"  {compared.path}"]
    return lines + ([host_line(compared.host)] if compared.host else [])


def context_lines(verdict: Any) -> list[str]:
    """The gate's context above its table (``judge.gate.Verdict``): the baseline, the host, why
    nothing was compared."""
    return ((compared_lines(verdict.compared) if verdict.compared else [])
            + (unjudged_lines(verdict.unjudged) if verdict.unjudged else []))


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def outcome_line(verdicts: Comparison) -> str:
    """The gate's last line, short: FAIL with the methods that failed and how many rows, or pass;
    both count what is worth a look (improvements, unconfirmed wall-clock moves)."""
    rows = verdicts.rows
    n_unconfirmed = sum(r.verdict == UNCONFIRMED for r in rows)
    n_improved = len(verdicts.improvements)
    extra = [f"{n_unconfirmed} unconfirmed, not failing"] if n_unconfirmed else []
    extra += [f"{_count(n_improved, 'improvement')} beyond tolerance"] if n_improved else []
    if verdicts.exit_ok:
        return "gate: pass" + (f" ({'; '.join(extra)})" if extra else "")
    methods = ", ".join(dict.fromkeys(r.method for r in verdicts.regressions))
    counts = [_count(sum(r.verdict == REGRESSION for r in rows), "regression"),
              _count(sum(r.verdict == FAIL for r in rows), "quality failure")]
    counts = [c for c in counts if not c.startswith("0 ")]
    return f"gate: FAIL: {methods} ({'; '.join([', '.join(counts), *extra])})"


def verdict_outcome(verdict: Any) -> str:
    """The verdict's one-line outcome; ``""`` when no row was judged."""
    return outcome_line(verdict.comparison) if verdict.comparison is not None else ""


def not_compared_text(verdict: Any) -> str:
    """Why no baseline judged anything (``""`` when one did)."""
    if not verdict.compare_asked:
        return NOT_ASKED
    return unjudged_why(verdict.unjudged) if verdict.unjudged else ""


def cause_text(verdict: Any) -> str:
    """Why the verdict's exit status is not 0 or 1, in one line (``""`` otherwise): a refused
    update, or why no baseline could judge (a missing one said short: the line above has it)."""
    update = verdict.update
    if update is not None and update.code != exits.OK and update.refusal is not None:
        return refusal_line(update.refusal)
    found = verdict.unjudged
    if found is None or found.code == exits.OK:
        return ""
    return NO_BASELINE_YET if found.problem is Problem.MISSING else unjudged_why(found)


def refusal_line(refusal: Refusal) -> str:
    """Why an update left the stored baseline as it was, in one line."""
    path, detail, number = refusal.path, refusal.detail, refusal.number
    unchanged = {
        Refused.SESSION_FAILED: f"the session failed (exit {number})",
        Refused.NO_RESULTS: "no results in this session",
        Refused.GATE_FAILED: f"the session failed the gate ({number} regression(s) or quality failure(s))",
        Refused.GATE_UNUSABLE: f"the comparison with the stored baseline was unusable (exit {number})",
    }
    if refusal.kind in unchanged:
        return f"baseline not updated: {unchanged[refusal.kind]}; {path} is unchanged"
    return "baseline not updated: " + {
        Refused.UNREADABLE: f"{path} is unreadable ({detail}): move it away to start afresh",
        Refused.INCOMPATIBLE: (f"{path} cannot take this session: {detail}; move it away to start "
                               "afresh, or make one with python -m quantbench calibrate"),
        Refused.INVALID: detail,
        Refused.CANNOT_WRITE: f"cannot write {path}: {detail}",
        Refused.CANNOT_READ: f"cannot read {path}: {detail}",
    }[refusal.kind]


def update_lines(update: Update | None) -> list[str]:
    """What an update of the baseline did: the file written, its window, where the previous
    file went; or why it was refused, in one line."""
    if update is None:
        return []
    if update.refusal is not None:
        return [(TAG if update.refusal.kind in TAGGED else "") + refusal_line(update.refusal)]
    lines = [f"baseline written: {update.path}"]
    if update.restarted is not None:
        lines.append(f"{update.path} kept no window of sessions (schema /1, {update.restarted} "
                     "session(s)): a window starts with this one")
    lines.append(f"baseline window: {update.sessions} session(s)"
                 + ("" if update.sessions >= MIN_WALL_SESSIONS else
                    f"; wall-clock rows gate from {MIN_WALL_SESSIONS}"))
    lines.append(f"previous baseline kept as {update.kept}" if update.kept
                 else "no previous baseline (or identical)")
    return lines


def refusal_text(refused: Union[Unjudged, Refusal]) -> str:
    """Why a session must not start (``judge.gate.refusal``), in one line."""
    return unjudged_why(refused) if isinstance(refused, Unjudged) else refusal_line(refused)
