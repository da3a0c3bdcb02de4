"""A comment written by code that is not trusted, made safe to post: the A/B's ``comment.md``.

In a pull request's A/B the head's own code runs the benches and writes ``comment.md``
(``.github/workflows/gpu-ab.yml``), so the job that posts it treats every byte as hostile. It runs
this module from the base branch's checkout, with nothing but the standard library::

    python -m quantbench.report.untrusted comment.md body.md

What passes through: text, tables, lists, headings, emphasis, code blocks and the ``<details>``
folds the digest writes, each fold closed. What does not: any other HTML (escaped), links and
images (their brackets escaped), math, live @-mentions, #-references and autolinks (a zero-width
space after ``@``, ``#`` and ``://``), invisible and control characters, an unclosed code block
swallowing the rest. The body is cut to ``MAX_CHARS`` (under GitHub's 65,536-character limit on a
comment), saying so, and opens with one line saying who wrote it.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from quantbench import exits
from quantbench.files import replace_bytes
from quantbench.report.escape import unlinked, visible

MAX_CHARS = 60_000
NOTE = ("<sub>Written by this pull request's own code (its `quantbench ab`), posted escaped and "
        "cut to fit by the base branch's gpu-ab comment job; the run's artifact holds the whole "
        "A/B.</sub>")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")
_FOLD = re.compile(r"<details><summary>(.*)</summary>")
_ENTITY = re.compile(r"&(?!(?:lt|gt|amp|quot|#39);)")
# A character that Markdown acts on unless an odd run of backslashes escapes it.
_ACTIVE = re.compile(r"(?<!\\)((?:\\\\)*)([\[\]<>$])")
_CODES = {"[": "&#91;", "]": "&#93;", "<": "&lt;", ">": "&gt;", "$": "&#36;"}


def inline(line: str) -> str:
    """One line outside a code block with only its Markdown left active: every HTML tag, link,
    image, math span, mention, reference and autolink made text."""
    line = _ENTITY.sub("&amp;", visible(line))
    return unlinked(_ACTIVE.sub(lambda m: m.group(1) + _CODES[m.group(2)], line))


@dataclass
class _State:
    """What is open after a line: a code block's fence, and how many folds."""

    fence: str | None = None
    folds: int = 0

    def closing(self) -> list[str]:
        return ([self.fence] if self.fence else []) + ["</details>"] * self.folds


def _safe_lines(text: str) -> list[tuple[str, _State]]:
    """Each line made safe, with what is open after it."""
    out: list[tuple[str, _State]] = []
    state = _State()
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = visible(raw)
        fence = _FENCE.fullmatch(line)
        fold = _FOLD.fullmatch(line)
        if state.fence is not None:
            if fence and fence.group(1).startswith(state.fence) and not fence.group(2).strip():
                state = replace(state, fence=None)
        elif fence:
            line = fence.group(1) + re.sub(r"[^A-Za-z0-9_+-]", "", fence.group(2))
            state = replace(state, fence=fence.group(1))
        elif line == "</details>" and state.folds:
            state = replace(state, folds=state.folds - 1)
        elif fold:
            line = f"<details><summary>{inline(fold.group(1))}</summary>"
            state = replace(state, folds=state.folds + 1)
        else:
            line = inline(line)
        out.append((line, state))
    return out


def guard(text: str, limit: int = MAX_CHARS) -> str:
    """``text`` (untrusted Markdown) safe to post as one comment of at most ``limit`` characters:
    ``NOTE`` first, every code block and fold it opens closed, cut at a line saying so."""
    lines = _safe_lines(text)
    kept: list[str] = [NOTE, ""]
    state = _State()
    budget = limit - 200 - len(NOTE)  # room for the closing lines and the cut note
    for i, (line, after) in enumerate(lines):
        if len(line) + 1 > budget:
            note = f"_{len(lines) - i} more line(s) cut to fit a comment: see the run's artifact_"
            return "\n".join([*kept, *state.closing(), "", note])
        kept.append(line)
        budget -= len(line) + 1
        state = after
    return "\n".join([*kept, *state.closing()])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m quantbench.report.untrusted IN OUT``: write ``guard(IN)`` to ``OUT``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m quantbench.report.untrusted IN OUT", file=sys.stderr)
        return exits.USAGE
    try:
        text = Path(args[0]).read_text(encoding="utf-8", errors="replace")
        replace_bytes(args[1], guard(text).encode("utf-8"))
    except OSError as exc:
        print(f"quantbench.report.untrusted: {exc}", file=sys.stderr)
        return exits.USAGE
    return exits.OK


if __name__ == "__main__":
    raise SystemExit(main())
