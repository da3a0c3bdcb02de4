"""The dashboard export formats a setting or an option may name, and ``FORMAT=FILE`` parsed.

Here, below the reports that write them (``report.exports``), so that checking the settings
needs no report: the ``exports`` setting is refused at start-up with the same one line.
"""

from __future__ import annotations

from pathlib import Path

GAB = "github-action-benchmark"
BENCHER = "bencher"
FORMATS = (GAB, BENCHER)


class ExportError(ValueError):
    """An export that cannot be written as asked; the message is the one-line reason."""


def parse_export(where: str, item: str) -> tuple[str, Path]:
    """``FORMAT=FILE`` -> ``(format, path)``."""
    fmt, sep, path = str(item).partition("=")
    if not sep or not path.strip():
        raise ExportError(f"{where}: expected FORMAT=FILE with FORMAT one of {', '.join(FORMATS)}, "
                          f"got {item!r}")
    if fmt.strip() not in FORMATS:
        raise ExportError(f"{where}: unknown export format {fmt.strip()!r}; known: {', '.join(FORMATS)}")
    return fmt.strip(), Path(path.strip()).expanduser()
