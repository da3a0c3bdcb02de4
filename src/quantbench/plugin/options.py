"""Every command-line option quantbench adds, each once, all with the ``--qb-`` prefix.

An option given on the command line overrides the ``[tool.quantbench]`` key of the same
``dest``; ``None`` means "not given". pytest-benchmark's own ``--benchmark-compare`` switches the
gate on, as the design asks. The defaults shown in ``--help`` are ``Settings``' own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from quantbench.catalog import METHOD_NAMES, MODES
from quantbench.config import SCENARIOS, Settings


@dataclass(frozen=True)
class Option:
    flag: str
    dest: str  # the [tool.quantbench] key it overrides
    help: str
    kwargs: tuple[tuple[str, Any], ...] = ()


def _default(dest: str) -> str:
    if dest == "batch_sizes":  # a scenario field
        return ",".join(map(str, Settings().scenario.batch_sizes))
    value = getattr(Settings(), dest)
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if dest == "scenario":
        return value.name

    if isinstance(value, bool) and dest == "steady":
        return "on" if value else "off"
    return str(value)


OPTIONS = (
    Option("--qb-methods", "methods", f"comma-separated methods to run, of {','.join(METHOD_NAMES)}"),
    Option("--qb-model", "model", "model source: synthetic:<name>, hub id, local folder or "
           "gguf:<file> (on a CPU box the default becomes cpu_model)"),
    Option("--qb-awq-model", "awq_model", "pre-quantized AWQ checkpoint (hub id or folder) "
           "instead of quantizing the model"),
    Option("--qb-device", "device", "auto, cuda or cpu"),
    Option("--qb-scenario", "scenario", f"what is measured: {', '.join(SCENARIOS)}"),
    Option("--qb-modes", "modes", f"comma-separated modes, of {','.join(MODES)}"),
    Option("--qb-batch-sizes", "batch_sizes", "comma-separated batch sizes of the generate cases, "
           "e.g. 1,4,16,64 (a scenario field: a baseline made with others is refused)"),
    Option("--qb-time-budget", "time_budget_s", "seconds of measuring per bench case on any "
           "device (overrides time_budget_s and cpu_time_budget_s)", (("type", float),)),
    Option("--qb-tolerance", "tolerance", "allowed relative change before a regression, per "
           "metric or kind, e.g. decode_tps=0.15 (repeatable)",
           (("action", "append"), ("metavar", "METRIC=FRACTION"))),
    Option("--qb-update-baseline", "update_baseline", "write this run as the baseline of this "
           "GPU and model", (("action", "store_true"),)),
    Option("--qb-cache-dir", "cache_dir", "where synthetic checkpoints and AWQ quantizations "
           "are cached"),
    Option("--qb-report-dir", "report_dir", "where session.json and the reports are written"),
    Option("--qb-baseline-dir", "baseline_dir", "where baselines live (<dir>/<gpu>/<model>.json)"),
    Option("--qb-export", "exports", "also write the session for a dashboard: "
           "github-action-benchmark=FILE or bencher=FILE (repeatable)",
           (("action", "append"), ("metavar", "FORMAT=FILE"))),
    Option("--qb-allow-missing-baseline", "allow_missing_baseline", "under --benchmark-compare, "
           "pass when this GPU and model have no baseline yet (else exit 4)",
           (("action", "store_true"),)),
    Option("--qb-steady", "steady", "on: pinned CPUs, no garbage collection in timed rounds, "
           "CPU spun up first; off: none of them", (("choices", ("on", "off")),)),
    Option("--qb-all-verdicts", "all_verdicts", "show every verdict row in the terminal, not "
           "only the failing ones", (("action", "store_true"),)),
    Option("--qb-interleave", "interleave", "also measure eager generate cases in interleaved rounds "
           "of every method that fits in memory beside fp16: each ratio to FP16 with its paired "
           "interval", (("action", "store_true"),)),
)
FLAGS = {o.dest: o.flag for o in OPTIONS}  # so a bad value's message names the option


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("quantbench", "quantbench: LLM inference under quantization")
    for option in OPTIONS:
        kwargs = dict(option.kwargs)
        default = "" if option.dest in ("tolerance", "exports") else f" (default: {_default(option.dest)})"
        group.addoption(option.flag, dest=f"qb_{option.dest}", default=None,
                        help=option.help + default, **kwargs)


def overrides(config: pytest.Config) -> dict[str, Any]:
    """The options given on the command line, by ``[tool.quantbench]`` key (``None``: not given)."""
    out = {o.dest: config.getoption(f"qb_{o.dest}", default=None) for o in OPTIONS}
    compare = config.getoption("benchmark_compare", default=[])
    out["compare"] = True if compare not in ([], None) else None
    return out
