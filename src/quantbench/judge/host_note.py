"""Whether the host, not the software, may explain a verdict: launch overhead against the
baseline's (probed by ``run.host_probe``)."""

from __future__ import annotations

HOST_DIFFERENCE = 0.25


def host_note(baseline_us: float | None, session_us: float | None,
              threshold: float = HOST_DIFFERENCE) -> str | None:
    """A line for the gate when this host's launch overhead differs from the baseline's by more
    than ``threshold``: eager batch-1 decode is bound by it, so a regression (or improvement)
    in the eager rows may be the machine rather than the software. ``None`` when either side
    was not probed or they are close: a machine with a slow launch path runs eager FP16 well
    below the others whatever the software."""
    if not baseline_us or not session_us:
        return None
    change = session_us / baseline_us - 1.0
    if abs(change) <= threshold:
        return None
    slower = "slower" if change > 0 else "faster"
    # within 120 columns (the note is a line of the terminal's verdict)
    return (f"host: {session_us:.1f} us per kernel launch vs {baseline_us:.1f} us in the baseline "
            f"({change * 100:+.0f} %), {slower}: eager batch-1 verdicts may be the machine's")
