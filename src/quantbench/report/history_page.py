"""The history page: one HTML file that works offline, with a PNG beside it per chart.

Every chart is embedded as a base64 PNG (no script, no CDN, nothing fetched), so the page can be
mailed, uploaded as a CI artifact or opened from disk. The page opens with the findings (steps
beyond tolerance and drifts, the drifts for the worse first), then per GPU and model: the samples
in time order with the versions that changed, each chart, and under it a folded table with every
series' figures (reference, latest point, change points, the fitted change and the drift call).
"""

from __future__ import annotations

import base64
import datetime as _dt
import re
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from quantbench.files import replace_bytes
from quantbench.results import signed_percent
from quantbench.store.baseline import gpu_slug, model_slug
from quantbench.report.escape import html_text
from quantbench.report.history_chart import draw, figures
from quantbench.history.series import Group
from quantbench.report.trend_lines import changed, step_text, when

if TYPE_CHECKING:
    from quantbench.history.trend import Line

STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1500px;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:12px;margin:.4em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}
th{background:#f2f2f2}img{max-width:100%;border:1px solid #eee}code{background:#f4f4f4;padding:0 3px}
.worse{color:#b00020;font-weight:600}.better{color:#1f5fa8}details{margin:.3em 0 1.2em}h3{margin-bottom:.2em}"""


_e = html_text  # every string from a session or baseline: escaped, attributes included


def _pct(x: float | None) -> str:
    return "-" if x is None else signed_percent(x)


def _num(x: float) -> str:
    return f"{x:.4g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _findings(lines: Sequence[Line]) -> str:
    rows = []
    for line in lines:
        for cp in line.trend.change_points:
            if line.tolerance is not None and abs(cp.step) > line.tolerance:
                cls = "worse" if cp.step < 0 else "better"
                rows.append((1 if cls == "worse" else 2, [f'<span class="{cls}">step</span>', _e(line.group.gpu), _e(line.name),
                                 _e(step_text(line, cp.before, cp.after)), _e(f"at {when(line, line.points[cp.index][0])}"),
                                 f"±{line.tolerance * 100:.2g}%"]))
        if line.trend.drift:
            cls = line.trend.drift
            rows.append((0 if cls == "worse" else 3, [
                f'<span class="{cls}">drift ({cls})</span>', _e(line.group.gpu), _e(line.name),
                _e(step_text(line, *line.trend.fit)) if line.trend.fit else _pct(line.trend.window_change),
                _e(f"over {line.trend.points} sessions"),
                f"±{(line.tolerance or 0) * 100:.2g}%"]))
    if not rows:
        return "<p>No step beyond its tolerance and no drift.</p>"
    rows.sort(key=lambda r: r[0])
    return _table(["finding", "GPU", "series", "change", "where", "tolerance"], [r for _, r in rows])


def _samples(group: Group) -> str:
    rows = []
    for i, sample in enumerate(group.samples):
        moved = changed(group.samples[i - 1].versions, sample.versions) if i else []
        rows.append([str(i + 1), _e(sample.date), _e(sample.kind), _e(sample.commit or "-"),
                     f"<code>{_e(sample.source)}</code>", _e(", ".join(moved) or "")])
    table = _table(["#", "date", "kind", "commit", "source", "versions changed"], rows)
    return f"<details><summary>{len(rows)} samples in time order</summary>{table}</details>"


def _series_rows(lines: Sequence[Line]) -> str:
    rows = []
    for line in sorted(lines, key=lambda l: (l.metric, l.method)):
        latest = line.points[-1][1]
        steps = "; ".join(f"{step_text(line, cp.before, cp.after)} at {when(line, line.points[cp.index][0])}"
                          for cp in line.trend.change_points)
        window = "-" if line.trend.window_change is None else (
            f"{_pct(line.trend.window_change)} [{_pct(line.trend.window_low)}, "
            f"{_pct(line.trend.window_high)}]")
        base = "-" if line.baseline is None else (
            f"{_num(line.baseline.median)} [{_num(line.baseline.low)}, {_num(line.baseline.high)}]")
        drift = f'<span class="{line.trend.drift}">{line.trend.drift}</span>' if line.trend.drift else ""
        tol = "-" if line.tolerance is None else f"±{line.tolerance * 100:.2g}%"
        rows.append([_e(line.method), _e(line.metric), _e(latest.unit), base,
                     f"{_num(latest.median)} [{_num(latest.low)}, {_num(latest.high)}]",
                     str(len(line.points)), tol, _e(steps), window, drift])
    header = ["method", "metric", "unit", "baseline [95 %]", "latest [95 %]", "points",
              "tolerance", "change points", "fitted change over window [95 %]", "drift"]
    return f"<details><summary>figures</summary>{_table(header, rows)}</details>"


def _group_section(out: Path, group: Group, lines: Sequence[Line]) -> tuple[str, list[Path]]:
    stem = f"{gpu_slug(group.gpu)}-{model_slug(group.model_source)}"
    parts = [f"<h2>{_e(group.title)}</h2>"]
    if group.baseline is not None:
        prov = group.baseline.provenance
        parts.append(f"<p>Baseline <code>{_e(group.baseline_path)}</code> ({_e(prov.get('kind', '?'))}"
                     f"{', from ' + _e(prov['sessions']) + ' sessions' if prov.get('sessions') else ''}),"
                     f" {len(group.versions)} version(s) kept. Band: its median ± tolerance.</p>")
    else:
        parts.append("<p>No baseline: each series is shown against its own median, with no band.</p>")
    parts.append(_samples(group))
    written = []
    for case_key, panel, chart_lines in figures(lines):
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{stem}-{case_key}-{panel}")[:150] + ".png"
        png = out / name
        data = base64.b64encode(draw(png, group, case_key, panel, chart_lines)).decode("ascii")
        written.append(png)
        parts += [f'<h3 id="{_e(png.stem)}">{_e(case_key)} · {_e(panel)}</h3>',
                  f'<img alt="{_e(group.title)} {_e(case_key)} {_e(panel)}" '
                  f'src="data:image/png;base64,{data}">', _series_rows(chart_lines)]
    return "\n".join(parts), written


def write_page(out: Path, groups: Sequence[Group], judged: Mapping[int, Sequence[Line]],
               notes: Sequence[str], command: str) -> list[Path]:
    """Write ``out/index.html`` and the charts, each atomically (a link at a name is replaced,
    never followed); returns the page's path, then the charts'."""
    out.mkdir(parents=True, exist_ok=True)
    every = [line for group in groups for line in judged[id(group)]]
    made = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>quantbench history</title>"
             f"<style>{STYLE}</style></head><body><h1>quantbench: performance over time</h1>",
             f"<p>Made {_e(made)}. Each point is one session (its "
             "median and 95 % interval), divided by the current baseline's median; the grey band is "
             "the baseline's tolerance. Device time and counters, wall clock and memory are separate "
             "panels. Change points: ruptures PELT (l1 cost); drift: a Theil-Sen line whose change "
             "over the window is beyond tolerance while no single step is (docs/history.md).</p>",
             f"<details><summary>command</summary><code>{_e(command)}</code></details>",
             "<h2>Findings</h2>", _findings(every)]
    written: list[Path] = []
    for group in groups:
        section, charts = _group_section(out, group, judged[id(group)])
        parts.append(section)
        written += charts
    if notes:
        parts += ["<h2>Left out</h2><ul>"] + [f"<li>{_e(n)}</li>" for n in notes] + ["</ul>"]
    parts.append("</body></html>")
    page = out / "index.html"
    replace_bytes(page, ("\n".join(parts) + "\n").encode("utf-8"))
    return [page, *written]
