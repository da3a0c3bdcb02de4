"""The ``[tool.quantbench]`` table and the command-line values, checked before settings are built.

Every key of the table is known (a misspelt one is refused with a "did you mean", where it used to
be ignored), every value has its type and range, and every tolerance names a gated metric or kind
with a fraction in (0, 1): a tolerance of 1.5 would let a 50 % slowdown pass. A table value is
named ``pyproject.toml [tool.quantbench] KEY``, a command-line value by its option (``flags``).
"""

from __future__ import annotations

from typing import Any, Mapping

from quantbench.catalog import GATED_KINDS, LEGACY_MODES as LEGACY_NAMES, SPECS
from quantbench.config.exports import ExportError, parse_export
from quantbench.validate import (
    BOOL,
    NAME,
    NON_NEGATIVE,
    POSITIVE,
    TEXT,
    Check,
    Invalid,
    did_you_mean,
    expected,
    number,
    record,
    unknown,
    whole,
)

TABLE = "pyproject.toml [tool.quantbench]"
TOLERANCES = "pyproject.toml [tool.quantbench.tolerances]"
FRACTION = number("a fraction in (0, 1) such as 0.1", lambda v: 0 < v < 1)


def names(what: str, known: tuple[str, ...]) -> Check:
    """A comma-separated string or a list of strings, holding at least one name, each of ``known``
    (an unknown one is refused naming the known ones)."""
    def check(where: str, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            items = value.split(",")
        elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            items = list(value)
        else:
            raise expected(where, "a list of names or a comma-separated string", value)
        out = tuple(v.strip() for v in items if v.strip())
        if not out:
            raise expected(where, f"at least one {what} ({', '.join(known)})", value)
        for name in out:
            if name in LEGACY_NAMES and LEGACY_NAMES[name] in known:
                raise Invalid(f"{where}: {what} {name!r} is now {LEGACY_NAMES[name]!r} (Hugging Face "
                              "generate, compiled); quantbench's own serving-grade loops are 'graph' "
                              "and 'graph-compiled'", where, what, name)
            if name not in known:
                raise Invalid(f"{where}: unknown {what} {name!r}{did_you_mean(name, known)}; "
                              f"known {what}s: {', '.join(known)}", where, what, name)
        return out
    return check


def sizes(where: str, value: Any) -> tuple[int, ...]:
    """Batch sizes or prompt lengths: ``"1, 8"`` or ``[1, 8]`` (digit strings allowed in lists)."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
        raise expected(where, "a list of whole numbers or a comma-separated string", value)
    out = []
    for i, item in enumerate(value):
        if isinstance(item, str) and item.strip().isdigit():
            item = int(item)
        out.append(whole(1)(f"{where}[{i}]", item))
    return tuple(out)


def switch(where: str, value: Any) -> bool:
    """``on``/``off`` on the command line, ``true``/``false`` in the table."""
    if isinstance(value, bool):
        return value
    if value in ("on", "off"):
        return value == "on"
    raise expected(where, "on or off (true or false in the table)", value)


def exports(where: str, value: Any) -> tuple[tuple[str, Any], ...]:
    """``FORMAT=FILE`` strings (a list, or one string), each a known dashboard format."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
        raise expected(where, "a list of FORMAT=FILE strings", value)
    try:
        return tuple(parse_export(where, item) for item in items)
    except ExportError as exc:
        raise Invalid(str(exc)) from None


def _table(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise expected(where, "a table such as {throughput = 0.1}", value)
    return value


def fields(choices: Mapping[str, tuple[str, ...]]) -> dict[str, Check]:
    """What each ``[tool.quantbench]`` key holds (``choices``: the known methods and modes)."""
    return {
        "model": NAME, "cpu_model": NAME, "awq_model": TEXT, "device": NAME, "scenario": NAME,
        "methods": names("method", choices["methods"]), "modes": names("mode", choices["modes"]),
        "time_budget_s": POSITIVE, "cpu_time_budget_s": POSITIVE,
        "target_rel_ci": number("a number in (0, 1)", lambda v: 0 < v < 1),
        "min_token_agreement": number("a number in [0, 1]", lambda v: 0 <= v <= 1),
        "min_top1_agreement": number("a number in [0, 1]", lambda v: 0 <= v <= 1),
        "max_kl_divergence": NON_NEGATIVE,
        "seed": whole(), "max_rounds": whole(1), "quality_tokens": whole(1),
        "new_tokens": whole(1), "prompt_tokens": whole(1), "prompts": whole(1),
        "batch_sizes": sizes, "prefill_lengths": sizes,
        "cache_dir": NAME, "baseline_dir": NAME, "report_dir": NAME, "tolerances": _table,
        "compare": BOOL, "update_baseline": BOOL, "allow_missing_baseline": BOOL, "steady": switch,
        "all_verdicts": BOOL, "exports": exports, "interleave": BOOL,
    }


def tolerance(where: str, name: str, value: Any) -> float:
    """A fraction in (0, 1) for a gated kind or a metric of one (others are never judged)."""
    if name in SPECS and SPECS[name].kind not in GATED_KINDS:
        kind = SPECS[name].kind
        raise Invalid(f"{where}: {name} is {'an' if kind[0] in 'aeiou' else 'a'} {kind} metric, "
                      "never judged against a tolerance")
    if name not in SPECS and name not in GATED_KINDS:
        gated = [n for n, s in SPECS.items() if s.kind in GATED_KINDS]
        raise unknown(where, "metric or kind", name, [*GATED_KINDS, *gated],
                      f"known: {', '.join(GATED_KINDS)} or a metric name ({', '.join(gated)})")
    return float(FRACTION(where, value))


def check_settings(table: Mapping[str, Any], overrides: Mapping[str, Any], cli_tolerances: Mapping[str, Any],
                   *, flags: Mapping[str, str], choices: Mapping[str, tuple[str, ...]]
                   ) -> tuple[dict[str, Any], dict[str, float]]:
    """The table's values with the command line's over them (``None``: not given), each checked,
    and the tolerances (the table's, then the command line's ``--qb-tolerance`` over them)."""
    known = fields(choices)
    merged = record(TABLE, dict(table), known, sep=" ", what="a table")
    for key, value in overrides.items():
        if value is not None and key != "tolerance":
            merged[key] = known[key](flags.get(key, f"option {key}"), value) if key in known else value
    tolerances = {name: tolerance(f"{TOLERANCES} {name}", name, value)
                  for name, value in merged.get("tolerances", {}).items()}
    option = flags.get("tolerance", "option tolerance")
    tolerances.update({name: tolerance(f"{option} {name}", name, value) for name, value in cli_tolerances.items()})
    return merged, tolerances
