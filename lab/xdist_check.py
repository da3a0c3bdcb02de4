"""Does ``pytest benches -n N`` give the one-GPU session's verdicts in less time? (issue 23)

Reads two report folders of the same code on one host, each holding the ``session.json`` and
``comparison.json`` of a ``--benchmark-compare`` run against the same baseline: ``--one`` made
without ``-n``, ``--many`` with ``-n N``. Prints the session wall times and their ratio, whether
both ran the same cases, every gated row whose verdict differs, and the device rows (kernel time
and counters) whose figures differ between the two by more than their tolerance. A verdict
that differs only between passing ones (``pass`` and a wall-only ``unconfirmed``, which never
fails) is listed but agrees on the gate. Exit 0 when the cases and every row's gate outcome agree,
the device rows hold and the wall ratio is at most ``--max-ratio``; else 1.

    python lab/xdist_check.py --one R/n0 --many R/n2 [--max-ratio 0.6]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from quantbench.catalog import gated, spec
from quantbench.judge.compare import FAILING
from quantbench.session import Session, SessionError

DEVICE_KINDS = ("device", "count")


def load(folder: Path) -> tuple[Session, list[dict[str, Any]]]:
    """The folder's session and its comparison rows; one line and exit 2 when either is unusable."""
    try:
        session = Session.read(folder / "session.json")
        rows = json.loads((folder / "comparison.json").read_text())["comparison"]["rows"]
    except (SessionError, OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"xdist_check: {folder}: {exc}") from None
    return session, rows


def wall(session: Session) -> float:
    """The session's wall clock: ``elapsed_s`` for a merged ``-n`` session (its ``wall_s`` sums
    the workers), else ``wall_s``."""
    return float(session.time.get("elapsed_s") or session.time["wall_s"])


def check(one: Path, many: Path, max_ratio: float) -> tuple[list[str], bool]:
    """The report's lines and whether every condition holds."""
    (s1, rows1), (sn, rowsn) = load(one), load(many)
    ratio = wall(sn) / wall(s1)
    lines = [f"session wall: one GPU {wall(s1):.1f} s, -n {len(sn.environment.get('workers') or {})}"
             f" {wall(sn):.1f} s, ratio {ratio:.2f} (at most {max_ratio})"]
    cases1 = {(r.mode, r.case, r.method) for r in s1.results}
    casesn = {(r.mode, r.case, r.method) for r in sn.results}
    lines.append(f"cases: {len(cases1)} and {len(casesn)}"
                 + ("" if cases1 == casesn else
                    f"; only one GPU: {sorted(cases1 - casesn)}; only -n: {sorted(casesn - cases1)}"))
    by_key = {(r["case_key"], r["method"], r["metric"]): r for r in rowsn}
    differ, moved, compared, outcomes = [], [], 0, 0
    for row in rows1:
        key = (row["case_key"], row["method"], row["metric"])
        other = by_key.get(key)
        if other is None or not gated(row["metric"]):
            continue
        compared += 1
        if row["verdict"] != other["verdict"]:
            gate = (row["verdict"] in FAILING) != (other["verdict"] in FAILING)
            outcomes += gate
            differ.append(f"  {' '.join(key)}: {row['verdict']} with one GPU, {other['verdict']} with -n"
                          + (" (gate outcome differs)" if gate else ""))
        tolerance = row.get("tolerance")
        a, b = (row.get("current") or {}).get("median"), (other.get("current") or {}).get("median")
        if spec(row["metric"]).kind in DEVICE_KINDS and tolerance and a and b:
            change = b / a - 1
            if abs(change) > tolerance:
                moved.append(f"  {' '.join(key)}: {a:,.4g} → {b:,.4g} ({change:+.1%}, tolerance "
                             f"{tolerance:.1%})")
    lines.append(f"gated rows in both: {compared}; verdicts that differ: {len(differ)}, of which "
                 f"gate outcomes (fails or not): {outcomes}")
    lines += differ
    lines.append(f"device rows past their tolerance between the two: {len(moved)}")
    lines += moved
    ok = ratio <= max_ratio and cases1 == casesn and not outcomes and not moved and compared > 0
    lines.append("xdist_check: " + ("pass" if ok else "FAIL"))
    return lines, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", type=Path, required=True, help="report folder of the run without -n")
    parser.add_argument("--many", type=Path, required=True, help="report folder of the -n N run")
    parser.add_argument("--max-ratio", type=float, default=0.6, help="largest wall ratio that passes")
    args = parser.parse_args(argv)
    lines, ok = check(args.one, args.many, args.max_ratio)
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
