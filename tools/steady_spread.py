"""Does ``--qb-steady on`` narrow the spread of eager decode between processes? (issue 19, item 3)

Reads session records of one case and method, made alternately with ``--qb-steady on`` and
``off`` on one lease (``gpu-session.sh`` step ``steadyab``), and prints per side the decode
speeds, their median and spread (SD of log), then Levene's test of the spreads and Welch's t-test
of the log medians (scipy).

    python tools/steady_spread.py --on R/st*on/session.json --off R/st*off/session.json \
        [--case generate-bs1] [--method fp16] [--metric decode_tps]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path


def figure(path: Path, case: str, method: str, metric: str) -> float:
    """The median of ``metric`` in ``path``'s eager ``case`` row for ``method``."""
    record = json.loads(path.read_text(encoding="utf-8"))
    for row in record["results"]:
        if (row["mode"], row["case"], row["method"]) == ("eager", case, method) and metric in row["metrics"]:
            return float(row["metrics"][metric]["median"])
    raise SystemExit(f"{path}: no eager {case} {method} row with {metric}")


def spread(values: list[float]) -> tuple[float, float]:
    """Median and the sample SD of the logs (a relative spread, 0.10 ≈ 10 %)."""
    logs = [math.log(v) for v in values]
    return statistics.median(values), statistics.stdev(logs)


def compare(on: list[float], off: list[float]) -> dict[str, float]:
    """Levene's test (median-centred) of the log spreads and Welch's t-test of the logs."""
    from scipy import stats

    log_on, log_off = [math.log(v) for v in on], [math.log(v) for v in off]
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
    for name, values in sides.items():
        median, sd = spread(values)
        print(f"| {name} | {len(values)} | {', '.join(f'{v:.1f}' for v in values)} | {median:.1f} | {sd:.3f} |")
    result = compare(sides["on"], sides["off"])
    print(f"Levene p = {result['levene_p']:.2f}; Welch p (log medians) = {result['welch_p']:.2f}")


if __name__ == "__main__":
    main()
