"""How a session's gate ends: what each publishing step wrote, and the one exit status.

Every step that writes a file the user reads (the session record, the exports, the reports)
returns a ``Written`` that says what it wrote and, when it could not write something, the line
saying so and its cause. The gate's ``Outcome`` holds those with pytest's own status and the
verdict, and ``exit_status`` alone turns them into the status the run ends with and its cause:
nothing is read back from the printed lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from quantbench import exits
from quantbench.report.gate_lines import cause_text


@dataclass(frozen=True)
class Written:
    """What one publishing step did: the lines saying what it wrote, and when something was left
    unwritten the line saying so (``unwritten``) and its cause for the closing label (``why``);
    ``interrupted``: Ctrl-C or SIGTERM cut the writing short and none of it is left."""

    lines: tuple[str, ...] = ()
    unwritten: str = ""
    why: str = ""
    interrupted: bool = False

    @classmethod
    def failed(cls, why: str, *, tag: str = "quantbench: ", interrupted: bool = False) -> Written:
        """A step that left something unwritten, said in one line: ``tag`` then ``why``."""
        return cls((), f"{tag}{why}", why, interrupted)

    @property
    def said(self) -> list[str]:
        """Every line of the step: what it wrote, then what it could not."""
        return [*self.lines, *([self.unwritten] if self.unwritten else [])]

    @property
    def code(self) -> int | None:
        """The exit status this step imposes: ``None`` when all was written, 2 interrupted, else 4."""
        if not self.unwritten:
            return None
        return exits.INTERRUPTED if self.interrupted else exits.USAGE


def exit_status(status: int, verdict: Any | None, problems: Sequence[Written] = (),
                unjudged: str = "") -> tuple[int, str]:
    """The exit status a run ends with and its cause, decided here only. Nothing judged
    (``verdict`` ``None``: no bench ran, no worker wrote its record, an interrupt while judging;
    ``unjudged`` says why): pytest's own status, else 4. Judged: pytest's own status when it is not
    0 (a bench that failed or a method that could not load: 1; an interrupt, also one while the
    reports were written: 2), else the verdict's (``judge.gate.Verdict``), else 4 when a step left
    something unwritten (``problems``, the first one's cause)."""
    if verdict is None:
        return status or exits.USAGE, unjudged
    regressed = verdict.code == exits.REGRESSION
    if not status and any(p.interrupted for p in problems):
        status = exits.INTERRUPTED
    if status == exits.INTERRUPTED:
        return status, "interrupted (Ctrl-C or SIGTERM): the session record is partial"
    if status == exits.REGRESSION:
        return status, "a bench failed or a method could not load" + (
            "; and a regression or quality failure" if regressed else "")
    if status:
        return status, f"pytest's own exit status {status}"
    if regressed:
        return verdict.code, "a regression or quality failure"
    if verdict.code:
        return verdict.code, cause_text(verdict) or "nothing judged"
    failed = [p for p in problems if p.unwritten]
    if failed:
        return exits.USAGE, failed[0].why
    return exits.OK, ""


@dataclass(frozen=True)
class Outcome:
    """How the gate ended a session: its terminal block (the closing line last), pytest's own exit
    status, the verdict (``None``: nothing judged, and ``unjudged`` says why) and what publishing
    left unwritten; ``code`` and ``why`` are ``exit_status``'s."""

    lines: list[str]
    status: int = exits.OK
    verdict: Any | None = None
    problems: tuple[Written, ...] = ()
    unjudged: str = ""

    @property
    def code(self) -> int:
        return exit_status(self.status, self.verdict, self.problems, self.unjudged)[0]

    @property
    def why(self) -> str:
        """The exit status's cause in one line (``""`` on a pass)."""
        return exit_status(self.status, self.verdict, self.problems, self.unjudged)[1]
