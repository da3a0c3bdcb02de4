"""Run one child ``pytest benches`` session and read back what it left: the loop the commands
that drive several sessions share (``ab``'s alternating pairs, ``sweep``'s model sizes).

Each child writes to a folder of its own (its ``session.json`` removed first, so a stale file
is never read as this run's), with its output in ``pytest.log``; the session file it leaves is
read with the session record's own checks, and a partial one is said to be so: the caller decides
what an unusable run means for it.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

from quantbench.session import Session, SessionError

# Child runs must not append their own reports to the CI job page: the command writes one summary.
CHILD_ENV_DROP = ("GITHUB_STEP_SUMMARY",)

# (argv, working directory, environment, log file) -> exit status
RunFn = Callable[[Sequence[str], Path, Mapping[str, str], Path], int]


def child_env() -> dict[str, str]:
    """This process's environment without the variables a child run must not see."""
    return {k: v for k, v in os.environ.items() if k not in CHILD_ENV_DROP}


def run_subprocess(argv: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path) -> int:
    """Run ``argv`` in ``cwd`` with its output in ``log``; 127 when it cannot start."""
    with log.open("w", encoding="utf-8") as fh:
        try:
            return subprocess.run(list(argv), cwd=cwd, env=dict(env), stdout=fh,
                                  stderr=subprocess.STDOUT, check=False).returncode
        except OSError as exc:
            fh.write(f"cannot start {argv[0]}: {exc}\n")
            return 127


@dataclass(frozen=True)
class ChildRun:
    """One child session: its exit status, the session it left (``None`` with ``problem`` when
    none could be read), whether it was cut off, its log and how long it took."""

    code: int
    session: Session | None
    problem: str | None
    log: Path
    seconds: float

    @property
    def partial(self) -> bool:
        return self.session is not None and self.session.partial


def run_child(argv: Sequence[str], folder: Path, cwd: Path, run: RunFn,
              env: Mapping[str, str]) -> ChildRun:
    """Run ``argv`` (which writes its session to ``folder``) and read back its session."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "session.json").unlink(missing_ok=True)
    log = folder / "pytest.log"
    started = time.monotonic()
    code = run(argv, cwd, env, log)
    seconds = time.monotonic() - started
    try:
        return ChildRun(code, Session.read(folder / "session.json"), None, log, seconds)
    except SessionError as exc:
        return ChildRun(code, None, str(exc), log, seconds)
