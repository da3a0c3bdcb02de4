"""Why a same-host A/B row has its verdict, and what the A/B notes beside its rows, as data.

``ab.paired`` and ``ab.detectable`` decide; ``report.ab_text`` says it in words (the terminal,
``summary.md``, ``comparison.json``), as ``judge.reasons`` and ``report.reasons`` do for the
session gate. Each reason is a kind and the numbers its words need.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Union


class PairedRule(Enum):
    """Which branch of ``ab.paired.judge_paired`` decided a timed metric."""

    WORSE = "worse"  # worse than the tolerance and significant: a regression
    NOISY_WORSE = "noisy worse"
    BETTER = "better"
    NOISY_BETTER = "noisy better"
    WITHIN = "within"


@dataclass(frozen=True)
class PairedJudged:
    """A timed metric's paired test over ``k`` pairs: the change (+ = better), its 95 % interval,
    its smallest detectable change at the family's level, the p-value (after Holm over ``tests``
    paired tests when there are several) and the tolerance it was held to."""

    rule: PairedRule
    change: float
    k: int
    low: float
    high: float
    mde: float
    tests: int
    p: float
    tolerance: float


class PairRule(Enum):
    """Which branch of ``ab.paired.judge_per_pair`` decided a counter."""

    IDENTICAL = "identical"
    WORSE = "worse"  # worse than the tolerance in every pair
    BETTER = "better"
    SOME_WORSE = "some worse"  # worse in some pairs only
    WITHIN = "within"


@dataclass(frozen=True)
class ExactPairs:
    """A counter judged pair by pair: each side's median, the tolerance, and in how many of the
    ``pairs`` pairs it was worse."""

    rule: PairRule
    name: str
    base: float
    head: float
    tolerance: float
    worse: int = 0
    pairs: int = 0


@dataclass(frozen=True)
class HeadLost:
    """A case or metric every base run measured and the head runs ``missing`` (1-based) did not."""

    missing: tuple[int, ...]


AbReason = Union[PairedJudged, ExactPairs, HeadLost]


@dataclass(frozen=True)
class NotInEveryRun:
    """A case and method missing from some runs of one ``side`` (``base`` or ``head``): not judged."""

    case_key: str
    method: str
    side: str


@dataclass(frozen=True)
class NotInEverySession:
    """The gated metrics of a case and method that only some sessions measured: not judged."""

    case_key: str
    method: str
    metrics: tuple[str, ...]


@dataclass(frozen=True)
class RunExited:
    """A finished run of ``side`` that exited ``code`` (1: a bench or its own quality gate
    failed): still judged; ``log`` holds its output."""

    side: str
    run: int
    code: int
    log: Path


@dataclass(frozen=True)
class AutoStopped:
    """``--pairs auto`` stopped after ``pairs`` pairs with every one of its ``watched`` metrics
    precise enough (none watched: only counters, judged exactly)."""

    pairs: int
    watched: int


@dataclass(frozen=True)
class AutoMaximum:
    """``--pairs auto`` reached ``--max-pairs`` with ``noisy`` metrics still wider than their
    tolerance (each a ``StillNoisy`` note after this one)."""

    maximum: int
    noisy: int


@dataclass(frozen=True)
class StillNoisy:
    """A watched metric still wider than its tolerance when ``--pairs auto`` stopped: its
    interval's half-width and smallest detectable change (relative) at 5 % / ``tests``."""

    case_key: str
    method: str
    metric: str
    halfwidth: float
    tests: int
    mde: float
    tolerance: float


AbNote = Union[NotInEveryRun, NotInEverySession, RunExited, AutoStopped, AutoMaximum, StillNoisy]
