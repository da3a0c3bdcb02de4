"""What the gate found around a comparison, as data: which baseline judged, why none did, and
what an update of the baseline did or why it refused.

``judge.gate`` and ``judge.inputs`` decide these; ``report.gate_lines`` says them (the gate's
block at the end of a session and of ``python -m quantbench compare``, the refusal before a
session starts). Each carries the exit status it imposes and the values its words name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from quantbench.judge.host_note import HostDifference
from quantbench.store.baseline import BaselineError


class Problem(Enum):
    """Why no baseline judged this session."""

    MISSING = "missing"  # no baseline file for this GPU and model yet
    DIR_IS_FILE = "dir is a file"  # a part of the baseline folder is a file
    UNREADABLE = "unreadable"  # the file cannot be read (an OS error)
    UNUSABLE = "unusable"  # corrupt, another schema, GPU, model or scenario
    NOTHING_MEASURED = "nothing measured"  # the baseline holds these cases, none of its gated metrics ran
    NONE_HELD = "none held"  # the baseline holds none of this session's cases


@dataclass(frozen=True)
class Unjudged:
    """Why no baseline judged this session and the exit status that imposes (0: allowed).
    ``path``: the baseline file, or the folder part that is a file; ``detail``: the OS error's or
    ``BaselineError``'s own line; ``scenario``: a ``--qb-scenario`` an unusable baseline
    matches; ``ran``: this session's (case key, method) pairs."""

    problem: Problem
    code: int
    path: Path | None = None
    gpu: str = ""
    source: str = ""
    detail: str = ""
    scenario: str | None = None
    ran: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Compared:
    """The baseline that judged: its file, kind and date, and how this host differs from its."""

    path: Path
    kind: str
    date: str
    host: HostDifference | None = None


class Refused(Enum):
    """Why ``--qb-update-baseline`` left the stored file as it was."""

    SESSION_FAILED = "session failed"  # pytest's own status was not 0 (``Refusal.number``)
    NO_RESULTS = "no results"
    GATE_FAILED = "gate failed"  # ``Refusal.number`` rows regressed or failed quality
    GATE_UNUSABLE = "gate unusable"  # the comparison could not judge (exit ``Refusal.number``)
    UNREADABLE = "unreadable"  # the stored file is not a baseline
    INCOMPATIBLE = "incompatible"  # the stored file is another GPU's, model's or scenario's
    INVALID = "invalid"  # the new baseline was refused (``BaselineError``)
    CANNOT_WRITE = "cannot write"
    CANNOT_READ = "cannot read"


@dataclass(frozen=True)
class Refusal:
    """An update refused: why, the stored file, the error's own line, and the count it names."""

    kind: Refused
    path: Path
    detail: str = ""
    number: int = 0


class Untakeable(BaselineError):
    """The stored file an update would add to cannot take this session (``refusal`` says why)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.kind.value)
        self.refusal = refusal


@dataclass(frozen=True)
class Update:
    """What an update of this GPU's baseline did: its exit status, why it refused (``None``:
    written), the window's sessions after it, the session count of an old file that kept no
    window (a window starts afresh), and where the previous file was kept."""

    path: Path
    code: int
    refusal: Refusal | None = None
    sessions: int = 0
    restarted: int | None = None
    kept: Path | None = None
