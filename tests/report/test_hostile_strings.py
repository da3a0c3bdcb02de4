"""A hostile session's strings render inert (issue 44, items 2 and 11): method names, case keys,
notes, exception text, GPU names and model sources carrying HTML, fold breaks, line breaks,
mentions, links, math and bidirectional overrides reach ``comment.md``, ``summary.md``, the chart
and the history page as text. The Markdown is rendered by markdown-it (CommonMark with raw HTML
on, as GitHub allows it) and checked element by element; the HTML is loaded in headless Chromium
where it is installed (``apt-get install chromium``), and no script or handler may run."""

from __future__ import annotations

import html.parser
import shutil
import subprocess
from pathlib import Path

import pytest

from quantbench.commands import cli
from quantbench.report import digest as digest_module
from quantbench.report.untrusted import guard
from quantbench.results import CaseResult, Metric
from quantbench.session import Session
from stored import store as _store

PWNED = "document.title='pwned'"
HOSTILE = {
    "img": f'<img src=x onerror="{PWNED}">',
    "fold": f"</details><script>{PWNED}</script>",
    "mention": "@octocat #1 https://evil.example www.evil.example",
    "link": "[click](javascript:alert(1)) ![px](https://evil.example/p.png)",
    "math": r"$\undefinedcommand{x}$",
    "lines": "a\n## ✅ pass: no regressions\n| forged | row |",
    "fence": "```\n</details>",
    "bidi": "\u202egnp.exe",
}
METHOD = "fp16" + HOSTILE["img"] + HOSTILE["math"]
MODE = "eager" + HOSTILE["fold"]
GPU = "cpu"  # the baseline's path is built from it; the hostile GPU name is a note's
SOURCE = "synthetic:qwen2-tiny"
ALLOWED_TAGS = {"h2", "h3", "p", "ul", "li", "table", "thead", "tbody", "tr", "th", "td", "details",
                "summary", "strong", "em", "code", "pre", "sub", "hr"}


def tps(value: float) -> Metric:
    return Metric("decode_tps", "tok/s", value, value * 0.99, value * 1.01, 9, True,
                  0.01, "converged")


def hostile_case(value: float) -> CaseResult:
    return CaseResult("default", MODE, "generate-bs1" + HOSTILE["lines"], METHOD, "float32",
                      {"decode_tps": tps(value)}, notes=tuple(HOSTILE.values()))


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``compare`` of a hostile session (2x slower) against a hostile baseline: a failing row,
    every note, the fold."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    _store(tmp_path, [hostile_case(100.0)])
    session = tmp_path / "s" / "session.json"
    Session({"gpu": GPU, "model_source": SOURCE, "host_cpu": HOSTILE["fold"]}, {}, [hostile_case(50.0)],
            partial=False, failures={"bf16": "bf16 failed: " + "".join(HOSTILE.values())},
            skipped={"nf4": HOSTILE["mention"]}).write(session)
    assert cli.main(["compare", str(session), "--baseline-dir", str(tmp_path / "b"),
                     "--report-dir", str(tmp_path / "r")]) == 1
    return tmp_path / "r"


class Elements(html.parser.HTMLParser):
    """Every start tag and attribute of a rendered page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)  # a code block's own language class is the one attribute allowed
        self.attributes += [a for a in attrs if a != ("class", "language-text")]


def rendered(markdown: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)


def assert_inert(markdown: str) -> None:
    page = rendered(markdown)
    elements = Elements()
    elements.feed(page)
    assert set(elements.tags) <= ALLOWED_TAGS, set(elements.tags) - ALLOWED_TAGS
    assert not elements.attributes, elements.attributes  # no href, src, onerror, style
    assert elements.tags.count("details") == markdown.count("\n<details><summary>")  # its own folds alone
    assert "@octocat" not in markdown and "#1" not in markdown and "https://evil" not in markdown
    assert "\u202e" not in markdown
    assert "\n## ✅ pass" not in markdown and "\n| forged" not in markdown  # no line of its own


def test_comment_and_summary_render_a_hostile_session_as_text(reports: Path) -> None:
    comment = (reports / "comment.md").read_text()
    summary = (reports / "summary.md").read_text()
    assert_inert(comment)
    assert_inert(summary)
    assert "❌ **1 failing**" in comment and "❌ **FAIL: 1 failing row(s)**" in summary


def test_the_posting_step_makes_any_comment_inert(reports: Path) -> None:
    raw = "\n".join(HOSTILE.values()) + "\n<details><summary>x</summary>\n" + "```\n"
    for text in ((reports / "comment.md").read_text(), raw):
        body = guard(text)
        page = rendered(body)
        elements = Elements()
        elements.feed(page)
        assert set(elements.tags) <= ALLOWED_TAGS, set(elements.tags) - ALLOWED_TAGS
        assert not elements.attributes, elements.attributes
        assert elements.tags.count("details") == page.count("</details>")  # every fold closed


def test_a_huge_title_still_fits_a_comment(tmp_path: Path) -> None:
    text = digest_module.digest(None, "quantbench: cpu / " + "m" * 70_000)
    assert len(text) < digest_module.MAX_CHARS < 65_536
    assert len(guard("x" * 100 + "\n" + "y" * 70_000 + "\n" + "|a|\n" * 30_000)) <= 60_000


@pytest.mark.session
def test_the_chart_draws_a_hostile_session(reports: Path) -> None:
    png = reports / "comparison.png"
    assert png.read_bytes().startswith(b"\x89PNG")  # mathtext crashed on $...$ names before


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def browser_dom(page: Path, profile: Path) -> str:
    """The page's DOM after it loaded and ran whatever it could, from headless Chromium."""
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_rendered_reports_are_inert_in_a_browser(reports: Path, tmp_path: Path) -> None:
    for name in ("comment.md", "summary.md"):
        page = tmp_path / f"{name}.html"
        page.write_text(f"<!doctype html><title>safe</title>{rendered((reports / name).read_text())}")
        dom = browser_dom(page, tmp_path / f"profile-{name}")
        assert "<title>safe</title>" in dom  # no handler ran: it would have set the title
        elements = Elements()
        elements.feed(dom)
        assert not {"img", "script", "a", "iframe"} & set(elements.tags), elements.tags
        assert not [a for a in elements.attributes if a[0].startswith("on")]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_the_history_page_is_inert_in_a_browser(tmp_path: Path) -> None:
    pytest.importorskip("ruptures")
    from quantbench.commands.history import main

    sessions = []
    for i in range(4):
        env = {"gpu": GPU, "model_source": SOURCE, "date": f"2026-12-0{i + 1}T00:00:00+00:00",
               "commit": HOSTILE["img"], "versions": {"torch": HOSTILE["fold"]}}
        path = tmp_path / f"s{i}.json"
        Session(env, {}, [hostile_case(100.0 + i)], partial=False).write(path)
        sessions.append(str(path))
    (tmp_path / "no-baselines").mkdir()
    assert main([*sessions, "--baseline-dir", str(tmp_path / "no-baselines"), "--out", str(tmp_path / "h")]) == 0
    dom = browser_dom(tmp_path / "h" / "index.html", tmp_path / "profile")
    assert "<title>quantbench history</title>" in dom  # no handler ran: it would have set the title
    elements = Elements()
    elements.feed(dom)
    assert "script" not in elements.tags and "a" not in elements.tags
    assert not [a for a in elements.attributes if a[0].startswith("on")]
    assert elements.tags.count("img") == len(list((tmp_path / "h").glob("*.png")))  # the charts alone
