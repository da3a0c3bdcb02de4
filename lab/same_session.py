"""Do two report folders of the same CPU session, one per build, hold the same cases, metric
names and verdict rows? (A structural change should change none of them.)

usage: python lab/same_session.py BEFORE_REPORT_DIR AFTER_REPORT_DIR
Reads each folder's session.json and comparison.json; prints what differs and exits 1 if anything
does, else one line and 0. Values are not compared: two processes measure different numbers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def shape(folder: Path) -> dict[str, list]:
    """The session's cases with their metric names, and the verdict rows without their values."""
    session = json.loads((folder / "session.json").read_text())
    rows = json.loads((folder / "comparison.json").read_text())["comparison"]["rows"]
    return {"cases": sorted([r["mode"], r["case"], r["method"], sorted(r["metrics"])] for r in session["results"]),
            "rows": sorted([r["case_key"], r["method"], r["metric"], r["unit"], r["verdict"]] for r in rows),
            "record keys": sorted(session)}


def main(before: str, after: str) -> int:
    a, b = shape(Path(before)), shape(Path(after))
    differ = [key for key in a if a[key] != b[key]]
    for key in differ:
        print(f"{key} differ: only before {[x for x in a[key] if x not in b[key]]}, "
              f"only after {[x for x in b[key] if x not in a[key]]}")
    if not differ:
        print(f"same: {len(a['cases'])} cases, {sum(len(c[3]) for c in a['cases'])} metrics, "
              f"{len(a['rows'])} verdict rows")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
