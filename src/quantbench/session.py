"""The session record: every case a session measured, with the environment it ran in.

One record flows one way: the runners' results are added to it, it is written to
``session.json`` after every case (marked partial until the session ends, so a session cut off
by a CI time limit keeps what it finished), and everything that judges or reports reads it back,
from memory or from the file alike: the end-of-session gate, ``python -m quantbench compare``
and ``python -m quantbench calibrate``.

Schema ``quantbench.session/1``. Files written before the schema was versioned (no ``schema``
key, same fields) are read as that version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from quantbench.files import replace_bytes, describe
from quantbench.results import CaseResult
from quantbench import validate

SCHEMA = "quantbench.session/1"
REQUIRED_ENVIRONMENT = ("gpu", "model_source")


class SessionError(ValueError):
    """A session file that cannot be used; the message is the one-line reason."""


class Failures(Mapping[str, str]):
    """Why each method of one running session failed, one line per method, kept in one place:
    the model pool reports a load failure (``load_failed``: that method is never loaded again),
    the plugin the first bench of a method that failed while measuring (``bench_failed``). Read as
    the record's ``failures`` (method -> line): bench failures first, a load failure kept over a
    bench's of the same method."""

    def __init__(self) -> None:
        self._benches: dict[str, str] = {}
        self._loads: dict[str, str] = {}

    def load_failed(self, method: str, line: str) -> None:
        self._loads[method] = line

    def bench_failed(self, method: str, line: str) -> None:
        self._benches.setdefault(method, line)

    def load_failure(self, method: str) -> str | None:
        """The line saying why ``method`` failed to load (``None``: it did not)."""
        return self._loads.get(method)

    def _lines(self) -> dict[str, str]:
        return {**self._benches, **self._loads}

    def __getitem__(self, method: str) -> str:
        return self._lines()[method]

    def __iter__(self) -> Iterator[str]:
        return iter(self._lines())

    def __len__(self) -> int:
        return len(self._lines())


@dataclass
class Session:
    """What one ``pytest benches`` run measured.

    ``environment`` holds the machine and library versions, ``gpu`` and ``model_source`` among
    them; ``scenario`` is ``Scenario.to_dict()``; ``skipped`` maps a method to the reason it did
    not run, ``failures`` to the line saying why it failed to load or which of its benches
    failed while measuring; ``time`` is ``run.timeline.time_breakdown``'s figures.
    """

    environment: dict[str, Any]
    scenario: dict[str, Any]
    results: list[CaseResult] = field(default_factory=list)
    partial: bool = True
    skipped: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    loads: dict[str, int] = field(default_factory=dict)
    load_events: list[Any] = field(default_factory=list)
    time: dict[str, Any] = field(default_factory=dict)
    schema: str = SCHEMA

    @property
    def gpu(self) -> str:
        return str(self.environment["gpu"])

    @property
    def model_source(self) -> str:
        return str(self.environment["model_source"])

    @property
    def synthetic(self) -> bool:
        """Whether the weights were seeded random ones (their greedy tokens mean nothing)."""
        return self.model_source.startswith("synthetic:")

    def to_dict(self) -> dict[str, Any]:
        return {"schema": self.schema, "environment": self.environment,
                "results": [r.to_dict() for r in self.results], "partial": self.partial,
                "scenario": self.scenario, "loads": self.loads, "load_events": self.load_events,
                "skipped": self.skipped, "failures": self.failures, "time": self.time}

    @classmethod
    def from_dict(cls, data: Any) -> Session:
        """Parse a session's dict form; every problem is a one-line ``SessionError``."""
        if not isinstance(data, dict):
            raise SessionError(f"expected a JSON object, got {type(data).__name__}")
        schema = data.get("schema", SCHEMA)
        if schema != SCHEMA:
            raise SessionError(f"schema {schema!r} is not supported (expected {SCHEMA!r})")
        try:
            env = data["environment"]
            missing = [k for k in REQUIRED_ENVIRONMENT if k not in env]
            if missing:
                raise SessionError(f"environment lacks {missing[0]!r}")
            return cls(environment=dict(env), scenario=dict(data.get("scenario") or {}),
                       results=[r if isinstance(r, CaseResult) else CaseResult.from_dict(r)
                                for r in data["results"]],
                       partial=bool(data.get("partial", False)),
                       skipped=dict(data.get("skipped") or {}),
                       failures=dict(data.get("failures") or {}),
                       loads=dict(data.get("loads") or {}),
                       load_events=list(data.get("load_events") or []),
                       time=dict(data.get("time") or {}))
        except SessionError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SessionError(f"{type(exc).__name__}: {exc}") from None

    @classmethod
    def read(cls, path: Path | str) -> Session:
        """Read ``session.json``; every problem is a one-line ``SessionError`` naming the file."""
        path = Path(path)

        try:
            data = validate.session(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise SessionError(f"no session file at {path}") from None
        except json.JSONDecodeError as exc:
            raise SessionError(f"session file {path} is unusable: invalid JSON: {exc.msg} at "
                               f"line {exc.lineno}") from None
        except RecursionError:  # e.g. 100k "[": json and the checks recurse
            raise SessionError(f"session file {path} is unusable: invalid JSON: nested too "
                               "deeply") from None
        except (OSError, UnicodeDecodeError, validate.Invalid) as exc:
            reason = describe(exc) if isinstance(exc, OSError) else str(exc)
            raise SessionError(f"session file {path} is unusable: {reason}") from None
        try:
            return cls.from_dict(data)
        except SessionError as exc:
            raise SessionError(f"session file {path} is unusable: {exc}") from None

    def write(self, path: Path | str) -> None:
        """Write atomically: a reader sees the previous file or this one, never half of one."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_bytes(path, json.dumps(self.to_dict(), indent=2, default=str).encode("utf-8"))
