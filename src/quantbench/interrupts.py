"""SIGTERM handled as Ctrl-C is: one place for every quantbench entry point.

A CI runner cancelling a job, ``timeout`` and a container stop all send SIGTERM. Python's default
for it ends the process at once (exit 143): no session record marked partial, no gate block, a
report cut wherever the signal fell. Turned into ``KeyboardInterrupt``, it takes the path an
interrupt already takes: pytest ends the session with exit 2 and runs its session end (the record
is written as partial, ``report.publish`` removes a half-written set of reports), and the commands
print one line and exit 2 (``commands.cli``). ``files.terminable`` still cleans up its temporary
file first and then hands the signal on to this handler.
"""

from __future__ import annotations

import signal
import threading
from typing import Any, Callable


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt("SIGTERM")


def sigterm_as_interrupt() -> Callable[[], None]:
    """Make SIGTERM raise ``KeyboardInterrupt`` in the main thread; returns the function that puts
    the previous handler back. Nothing changes outside the main thread or where SIGTERM is
    ignored (a parent that asked for it to be)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)
    if previous == signal.SIG_IGN:
        return lambda: None
    signal.signal(signal.SIGTERM, _interrupt)

    def restore() -> None:
        if signal.getsignal(signal.SIGTERM) is _interrupt:
            signal.signal(signal.SIGTERM, previous)

    return restore
