"""Whether the host, not the software, may explain a verdict: launch overhead against the
baseline's (probed by ``run.host_probe``). ``report.gate_lines`` says it in a line."""

from __future__ import annotations

from dataclasses import dataclass

from quantbench.catalog import HOST_DIFFERENCE


@dataclass(frozen=True)
class HostDifference:
    """This host's launch overhead against the baseline's, and the relative change."""

    baseline_us: float
    session_us: float
    change: float


def host_difference(baseline_us: float | None, session_us: float | None,
                    threshold: float = HOST_DIFFERENCE) -> HostDifference | None:
    """How this host's launch overhead differs from the baseline's, when by more than
    ``threshold``: eager batch-1 decode is bound by it, so a regression (or improvement) in the
    eager rows may be the machine rather than the software. ``None`` when either side was not
    probed or they are close: a machine with a slow launch path runs eager FP16 well below the
    others whatever the software."""
    if not baseline_us or not session_us:
        return None
    change = session_us / baseline_us - 1.0
    if abs(change) <= threshold:
        return None
    return HostDifference(baseline_us, session_us, change)
