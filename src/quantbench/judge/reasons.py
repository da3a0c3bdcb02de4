"""Why a verdict row has its verdict, and what a comparison notes beside its rows, as data.

The judge decides; ``report.reasons`` says it in words (comparison.json's ``reason`` and
``notes``, the tables, the terminal). Each reason is a kind and the numbers its words need, so
a reader of the data (``judge.inputs`` turning a ``not run`` row into a lost one, the notes
folded by case and method) compares kinds, never sentences. The same-host A/B's rows and notes
carry its own kinds (``ab.reasons``), said in words by ``report.ab_text``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Union

from quantbench.ab.reasons import AbNote, AbReason
from quantbench.judge.evidence import Evidence


class Rule(Enum):
    """Which branch of ``judge.compare.judge_metric`` decided a measured metric."""

    NOT_FINITE = "not finite"
    FAR_WORSE = "far worse"  # a young baseline's wall clock, past the prior factor
    YOUNG_WORSE = "young worse"  # unconfirmed: a young baseline's wall clock past tolerance
    FAR_BETTER = "far better"
    YOUNG_BETTER = "young better"
    NOISY_WORSE = "noisy worse"
    WORSE = "worse"
    NOISY_BETTER = "noisy better"
    BETTER = "better"
    WITHIN = "within"


@dataclass(frozen=True)
class Judged:
    """A measured metric against its tolerance and noise: the rule that decided, both medians,
    the signed change (+ = better), the tolerance, the evidence and how many times worse."""

    rule: Rule
    base: float
    now: float
    change: float
    tolerance: float
    evidence: Evidence = Evidence()
    times: float = 1.0


class Fixed(Enum):
    """A reason that needs no number."""

    INFO_METRIC = "info metric"  # an info metric the baseline holds: shown, never gated
    LOST_METRIC = "lost metric"  # measured in the baseline, not by a case and method that ran
    REFERENCE = "reference"  # the reference method's quality metric
    SYNTHETIC = "synthetic"  # an agreement on random weights: not gated
    NO_THRESHOLD = "no threshold"


class Absence(Enum):
    """Why a metric the baseline holds has no value in this session."""

    SKIPPED = "skipped"
    NOT_MEASURED = "not measured"
    METHOD_ABSENT = "method absent"
    CASE_ABSENT = "case absent"


@dataclass(frozen=True)
class NotRun:
    """A baseline's metric this session has no value for; ``skipped``: the skip's own reason."""

    absence: Absence
    skipped: str = ""


@dataclass(frozen=True)
class LostMethod:
    """A method the baseline holds that this session selected and could not run: its skip
    reason (``skipped``) or its failure, as the session record states it."""

    skipped: str | None = None
    failure: str = ""


@dataclass(frozen=True)
class NotGated:
    """A quality agreement whose threshold is 0: reported, not gated."""

    metric: str


@dataclass(frozen=True)
class QualityVerdict:
    """One method's quality metric against its threshold (``judge.quality``); NaN fails."""

    method: str
    metric: str
    value: float
    threshold: float
    ok: bool


Reason = Union[Judged, Fixed, NotRun, LostMethod, NotGated, QualityVerdict, AbReason]


@dataclass(frozen=True)
class NotRunNote:
    """A case and method the baseline holds that gave no value here, and why."""

    case_key: str
    method: str
    reason: NotRun


@dataclass(frozen=True)
class Unbaselined:
    """A case and method (or some of its gated ``metrics``) the baseline lacks: not compared."""

    case_key: str
    method: str
    metrics: tuple[str, ...] = ()


@dataclass(frozen=True)
class LostMethodNote:
    """A method that ran in the baseline and cannot run now, and why (``LostMethod``)."""

    method: str
    reason: LostMethod


@dataclass(frozen=True)
class LostMetrics:
    """The gated metrics a case and method measured in the baseline and not now."""

    case_key: str
    method: str
    metrics: tuple[str, ...]


Note = Union[NotRunNote, Unbaselined, LostMethodNote, LostMetrics, AbNote]
