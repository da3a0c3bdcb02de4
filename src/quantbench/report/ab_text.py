"""The same-host A/B's reasons and notes in words (``ab.reasons``).

``report.reasons`` reads these for an A/B's rows and notes, so the terminal, ``summary.md`` and
``comparison.json`` say them alike.
"""

from __future__ import annotations

from quantbench.ab.reasons import (AbNote, AbReason, AutoMaximum, AutoStopped, ExactPairs, HeadLost, NotInEveryRun,
                                   NotInEverySession, PairedJudged, PairedRule, PairRule, RunExited, StillNoisy)
from quantbench.report.detectable import share
from quantbench.results import percent, signed_percent
from quantbench.stats import ALPHA


def paired_text(reason: PairedJudged) -> str:
    """``-20.0% over 3 pairs, 95% CI ..., MDE 13.2%: worse than ±10%, p = 0.011``."""
    several = reason.tests > 1
    what = (f"{signed_percent(reason.change)} over {reason.k} pairs, 95% CI {signed_percent(reason.low)} .. "
            f"{signed_percent(reason.high)}, "
            f"MDE {reason.mde:.1%}" + (f" at 5%/{reason.tests}" if several else ""))
    how = f"p = {reason.p:.2g}" + (f" after Holm over {reason.tests} tests" if several else "")
    tol = f"{reason.tolerance:.0%}"
    return {PairedRule.WORSE: f"{what}: worse than ±{tol}, {how}",
            PairedRule.NOISY_WORSE: f"{what}: worse than ±{tol} but {how} > {ALPHA:g}",
            PairedRule.BETTER: f"{what}: better than ±{tol}, {how}",
            PairedRule.NOISY_BETTER: f"{what}: better than ±{tol} but {how} > {ALPHA:g}",
            PairedRule.WITHIN: f"{what}: within ±{tol}"}[reason.rule]


def pairs_text(reason: ExactPairs) -> str:
    """A counter's verdict pair by pair: ``decode_kernels 1029.34 → 1173.34: worse than ...``."""
    if reason.rule is PairRule.IDENTICAL:
        return f"identical in every pair ({reason.base:.6g})"
    moved, tol = f"{reason.name} {reason.base:.6g} → {reason.head:.6g}", f"{reason.tolerance:.1%}"
    return {PairRule.WORSE: f"{moved}: worse than ±{tol} in every pair",
            PairRule.BETTER: f"{moved}: better than ±{tol} in every pair",
            PairRule.SOME_WORSE: f"{moved}: worse than ±{tol} in {reason.worse} of {reason.pairs} pairs only",
            PairRule.WITHIN: f"{moved}: within ±{tol} in every pair"}[reason.rule]


def ab_reason_text(reason: AbReason) -> str:
    """An A/B row's reason in one line."""
    if isinstance(reason, PairedJudged):
        return paired_text(reason)
    if isinstance(reason, ExactPairs):
        return pairs_text(reason)
    assert isinstance(reason, HeadLost)
    return f"every base run measured it; head run(s) {', '.join(map(str, reason.missing))} did not"


def auto_text(note: AutoStopped | AutoMaximum | StillNoisy) -> str:
    """How ``--pairs auto`` stopped, one line of it."""
    if isinstance(note, AutoStopped) and not note.watched:
        return (f"pairs auto: stopped after {note.pairs} pairs: no timed metric to watch (counters "
                "are judged exactly)")
    if isinstance(note, AutoStopped):
        return (f"pairs auto: stopped after {note.pairs} pairs: every watched metric's interval at "
                f"5%/{note.watched} is within its tolerance ({note.watched} metric(s))")
    if isinstance(note, AutoMaximum):
        return (f"pairs auto: the maximum (--max-pairs {note.maximum}) stopped it; {note.noisy} metric(s) "
                "still wider than their tolerance:")
    return (f"  {note.case_key} {note.method} {note.metric}: CI ±{share(note.halfwidth)} at 5%/{note.tests}, "
            f"MDE {share(note.mde)}, tolerance ±{percent(note.tolerance)}")


def ab_note_text(note: AbNote) -> str:
    """An A/B note in one line."""
    if isinstance(note, NotInEveryRun):
        return f"not judged: {note.case_key} {note.method} is not in every {note.side} run"
    if isinstance(note, NotInEverySession):
        return f"not judged, not in every session: {note.case_key} {note.method}: {', '.join(note.metrics)}"
    if isinstance(note, RunExited):
        return f"{note.side} run {note.run} exited {note.code} (a bench or its quality gate failed): {note.log}"
    return auto_text(note)
