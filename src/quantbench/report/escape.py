"""Escaping, one helper per output medium: Markdown (``summary.md``, ``comment.md``, ``map.md``),
HTML (the history page) and matplotlib text (every chart).

Every string that comes from a session or a baseline (method names, case keys, metric names and
units, notes, exception text, GPU names, model sources, commits) is data, never markup: a session
file is anyone's to write, and in a pull request's A/B the head's own code writes it. Each helper
makes such a string inert in its medium and keeps it on one line:

* ``markdown``: no HTML (``<img onerror=…>``, ``</details>`` closing a fold early), no link or image,
  no table cell break, no math, no code span, no live @-mention, #-reference or autolink, no line
  break that would start a block of its own; ``markdown_block`` puts text in a fenced block that
  nothing inside it can close.
* ``html_text``: ``html.escape``, quotes included (the text may sit in an attribute).
* ``chart_text``: matplotlib's mathtext never parses it (``$`` escaped: an odd name between two
  dollars crashed the chart), and a long string is cut so that it cannot size a figure past what
  matplotlib can draw.

All three drop the characters that are never text: C0 and C1 controls and the bidirectional
overrides that make a line read in another order than it is stored.
"""

from __future__ import annotations

import html
import re

# C0 and C1 controls but tab and line breaks (handled apart), and the bidirectional embeddings,
# overrides and isolates ("Trojan Source").
_INVISIBLE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069]")
_BREAKS = re.compile("[\t\n\x0b\x0c\r\x85\u2028\u2029]+")
_MD_SPECIAL = re.compile(r"([\\`*\[\]|~$])")
ZWSP = "\u200b"  # after "@", "#" and "://": text still reads the same, GitHub links nothing
_LINKISH = re.compile(r"([@#]|://|(?i:\bwww)(?=\.))")


def visible(text: str) -> str:
    """``text`` without the characters that are never text (controls, bidirectional overrides);
    tabs and line breaks are kept."""
    return _INVISIBLE.sub("", text)


def unlinked(text: str) -> str:
    """``text`` with a zero-width space after every ``@``, ``#``, ``://`` and ``www``, so GitHub
    makes no mention, issue reference or autolink of it; it reads the same."""
    return _LINKISH.sub(lambda m: m.group(1) + ZWSP, text)


def plain(text: object, limit: int | None = None) -> str:
    """``text`` as one line of plain text: invisible characters dropped, every line break and
    tab a space, cut to ``limit`` characters (ending in ``…``) when given."""
    line = _BREAKS.sub(" ", visible(str(text)))
    if limit is not None and len(line) > limit:
        line = line[: max(limit - 1, 0)] + "…"
    return line


def markdown(text: object, limit: int | None = None) -> str:
    """``text`` as inert inline Markdown (GitHub's flavour): one line, rendered as written."""
    line = html.escape(plain(text, limit), quote=False)
    return unlinked(_MD_SPECIAL.sub(r"\\\1", line))


def markdown_block(text: str, info: str = "text") -> str:
    """``text`` as a fenced code block whose fence is longer than any run of backticks inside it,
    so no line of it can close the block (its lines are shown as they are, HTML and all)."""
    body = visible(text).replace("\r\n", "\n").replace("\r", "\n")
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{body}\n{fence}"


def html_text(text: object) -> str:
    """``text`` escaped for HTML, in an element or a quoted attribute alike."""
    return html.escape(visible(str(text)), quote=True)


CHART_LIMIT = 120  # characters of one string on a chart


def chart_text(text: object, limit: int = CHART_LIMIT) -> str:
    """``text`` for matplotlib: each of its lines cut to ``limit`` characters and every ``$``
    escaped, so mathtext never parses it (it shows as written)."""
    lines = [plain(part, limit) for part in str(text).split("\n")]
    return "\n".join(lines).replace("$", r"\$")
