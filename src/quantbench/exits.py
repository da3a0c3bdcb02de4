"""The exit statuses of every quantbench command, in one place, matching pytest's own.

====  ==============  =====================================================================
code  name            meaning
====  ==============  =====================================================================
0     ``OK``          pass
1     ``REGRESSION``  a regression or a quality failure (a lost method or case among them)
2     ``INTERRUPTED`` pytest's own: Ctrl-C or SIGTERM cut the session short
4     ``USAGE``       bad options, arguments or settings, or unusable input: a corrupt,
                      partial or foreign session or baseline, nothing judged, an unwritable
                      report folder, a missing baseline unless allowed
====  ==============  =====================================================================

4 is pytest's ``ExitCode.USAGE_ERROR``, so ``pytest benches`` and ``python -m quantbench
compare | calibrate | ab | sweep | fetch`` agree: argparse's own exit 2 for a bad argument is
turned into 4 by ``ArgumentParser`` below, so 2 only ever means "interrupted".
"""

from __future__ import annotations

import argparse
from typing import NoReturn

OK = 0
REGRESSION = 1
INTERRUPTED = 2
USAGE = 4


class ArgumentParser(argparse.ArgumentParser):
    """argparse with quantbench's usage status: a bad argument is one line on stderr and exit 4
    (``--help`` still exits 0)."""

    def error(self, message: str) -> NoReturn:
        name = self.prog.removeprefix("python -m ")
        self.exit(USAGE, f"{name}: {message} (see --help)\n")


def one_line(exc: BaseException, limit: int | None = None) -> str:
    """An exception as the one-line reason a command gives: its type, then its message's first
    line (cut at ``limit``)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:limit]}" if text else type(exc).__name__
