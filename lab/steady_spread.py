"""Does ``--qb-steady on`` narrow the spread of eager decode between processes? (issue 19, item 3)

Reads session records of one case and method, made alternately with ``--qb-steady on`` and
``off`` on one lease (``gpu-session.sh`` step ``steadyab``), and prints per side the decode
speeds, their median and spread (SD of log), then Levene's test of the spreads and Welch's t-test
of the log medians (scipy).

    python lab/steady_spread.py --on R/st*on/session.json --off R/st*off/session.json \
        [--case generate-bs1] [--method fp16] [--metric decode_tps]
"""

from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path

from quantbench.session import Session, SessionError


def figure(path: Path, case: str, method: str, metric: str) -> float:
    """The median of ``metric`` in ``path``'s eager ``case`` row for ``method``."""
    try:
        session = Session.read(path)
    except SessionError as exc:
        raise SystemExit(str(exc)) from None
    for row in session.results:
        if (row.mode, row.case, row.method) == ("eager", case, method) and metric in row.metrics:
            return row.metrics[metric].median
    raise SystemExit(f"{path}: no eager {case} {method} row with {metric}")


def spread(logs: list[float]) -> float:
    """The sample SD of the logs: a relative spread (0.10 ≈ 10 %)."""
    return statistics.stdev(logs)


def compare(log_on: list[float], log_off: list[float]) -> dict[str, float]:
    """Levene's test (median-centred) of the log spreads and Welch's t-test of the logs."""
    from scipy import stats

    return {"levene_p": float(stats.levene(log_on, log_off).pvalue),
            "welch_p": float(stats.ttest_ind(log_on, log_off, equal_var=False).pvalue)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--on", nargs="+", type=Path, required=True)
    parser.add_argument("--off", nargs="+", type=Path, required=True)
    parser.add_argument("--case", default="generate-bs1")
    parser.add_argument("--method", default="fp16")
    parser.add_argument("--metric", default="decode_tps")
    args = parser.parse_args()
    if len(args.on) < 2 or len(args.off) < 2:
        raise SystemExit("need at least two sessions a side to estimate a spread")
    sides = {name: [figure(p, args.case, args.method, args.metric) for p in paths]
             for name, paths in (("on", args.on), ("off", args.off))}
    print(f"| --qb-steady | processes | {args.metric} | median | spread (SD of log) |")
    print("|---|---|---|---|---|")
    logs = {name: [math.log(v) for v in values] for name, values in sides.items()}
    for name, values in sides.items():
        print(f"| {name} | {len(values)} | {', '.join(f'{v:.1f}' for v in values)} | "
              f"{statistics.median(values):.1f} | {spread(logs[name]):.3f} |")
    result = compare(logs["on"], logs["off"])
    print(f"Levene p = {result['levene_p']:.2f}; Welch p (log medians) = {result['welch_p']:.2f}")


if __name__ == "__main__":
    main()
