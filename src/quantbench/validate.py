"""Declared schemas for what quantbench reads, each checked once where it comes in.

A baseline (``baseline.from_dict``), a session file (``commands.calibrate.read_session``) and the
``[tool.quantbench]`` table with the command line (``settings.build_settings``) are checked here
before anything uses them. A schema is a mapping of field name to a check; a check takes the
field's label and value and returns the value, or raises ``Invalid`` naming the field, what was
expected and what was found, in one line. The boundary turns that into its own error:
``BaselineError`` (the gate's and calibrate's exit 4) or ``SettingsError`` (pytest's usage error).

The rules beyond types: numbers are finite; a metric's name, unit and direction are the catalog's
(``catalog.SPECS``); throughput and latency medians are positive, other medians (but quality)
are not negative; ``low <= median <= high``; unknown keys and names are refused with a "did you mean".
A library (pydantic, jsonschema) would still need the catalog-driven and cross-field rules written
around it, so this is one small module instead.
"""

from __future__ import annotations

import difflib
import json
import math
from typing import Any, Callable, Iterable, Mapping

from quantbench.catalog import SPECS, current_mode
from quantbench.results import CaseResult, Metric

Check = Callable[[str, Any], Any]
STOPS = ("converged", "budget", "max_rounds", "fixed", "exact", "published", "sessions")
_ABSENT: Any = object()


class Invalid(ValueError):
    """A value that does not fit its schema; the message is the one-line reason. ``where``,
    ``what`` and ``got`` keep its parts when it says what was expected."""

    def __init__(self, message: str, where: str | None = None, what: str | None = None,
                 got: Any = _ABSENT) -> None:
        super().__init__(message)
        self.where, self.what, self.got = where, what, got


def show(value: Any) -> str:
    """A value as the user wrote it: JSON/TOML spelling for null, booleans and infinities."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    text = repr(value) if isinstance(value, (str, int, float)) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def expected(where: str, what: str, got: Any = _ABSENT) -> Invalid:
    """``<where>: expected <what>, got <value>``."""
    text = f"{where}: expected {what}" if where else f"expected {what}"
    return Invalid(text if got is _ABSENT else f"{text}, got {show(got)}", where, what, got)


def did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown(where: str, what: str, name: str, known: Iterable[str], otherwise: str | None = None) -> Invalid:
    """An unknown key or name, with the closest known one, else ``otherwise`` (default: all known)."""
    known = list(known)
    hint = did_you_mean(name, known) or f"; {otherwise or f'known {what}s: ' + ', '.join(known)}"
    return Invalid(f"{where + ': ' if where else ''}unknown {what} {name!r}{hint}")


def number(what: str, ok: Callable[[float], bool] = lambda v: True) -> Check:
    """A finite int or float (not a boolean) for which ``ok`` holds."""
    def check(where: str, value: Any) -> Any:
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or not ok(value)):
            raise expected(where, what, value)
        return value
    return check


def whole(minimum: int | None = None) -> Check:
    """An int (not a boolean), at least ``minimum``."""
    def check(where: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
            raise expected(where, "a whole number" + ("" if minimum is None else f" >= {minimum}"), value)
        return value
    return check


def kind(python: type, what: str) -> Check:
    """An instance of ``python`` (``str`` or ``bool``)."""
    def check(where: str, value: Any) -> Any:
        if not isinstance(value, python):
            raise expected(where, what, value)
        return value
    return check


def nullable(check: Check) -> Check:
    """``check``, or ``None``."""
    def nullable_check(where: str, value: Any) -> Any:
        if value is None:
            return None
        try:
            return check(where, value)
        except Invalid as exc:
            if exc.where != where or exc.what is None:  # a field inside the value, not the value
                raise
            raise expected(where, f"{exc.what} or null", exc.got) from None
    return nullable_check


def choice(what: str, options: Iterable[str]) -> Check:
    """One of ``options``, with a "did you mean"."""
    options = tuple(options)

    def check(where: str, value: Any) -> str:
        if not isinstance(value, str):
            raise expected(where, f"a {what} ({', '.join(options)})", value)
        if value not in options:
            raise unknown(where, what, value, options)
        return value
    return check


def same(value: Any, what: str) -> Check:
    """Exactly ``value`` (a fact the catalog fixes, such as a metric's unit)."""
    def check(where: str, got: Any) -> Any:
        if got != value or type(got) is not type(value):
            raise expected(where, what, got)
        return got
    return check


def listing(item: Check) -> Check:
    """A list, each item passing ``item``."""
    def check(where: str, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise expected(where, "a list", value)
        return [item(f"{where}[{i}]", v) for i, v in enumerate(value)]
    return check


def nonblank(where: str, value: Any) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise expected(where, "a non-empty string", value)
    return value


FINITE = number("a finite number")
POSITIVE = number("a finite number > 0", lambda v: v > 0)
NON_NEGATIVE = number("a finite number >= 0", lambda v: v >= 0)
TEXT = kind(str, "a string")
BOOL = kind(bool, "true or false")
NAME = nonblank


def record(where: str, data: Any, fields: Mapping[str, Check], *, required: Iterable[str] = (),
           extra: bool = False, sep: str = ".", what: str = "an object") -> dict[str, Any]:
    """Check an object against ``fields``: unknown keys refused (unless ``extra``), ``required``
    keys present, each known key's check passed. Returns the checked values of the keys present
    (and the unchecked extra ones)."""
    if not isinstance(data, dict):
        raise expected(where, what, data)
    label = (lambda key: f"{where}{sep}{key}") if where else (lambda key: str(key))
    if not extra:
        for key in data:
            if key not in fields:
                raise unknown(where, "key", str(key), fields)
    for key in required:
        if key not in data:
            raise Invalid(f"{where + ': ' if where else ''}missing key {key!r}")
    return {k: fields[k](label(k), v) if k in fields else v for k, v in data.items()}


def nonempty(where: str, data: Any, what: str) -> dict[str, Any]:
    """An object holding at least one ``what``."""
    if not isinstance(data, dict):
        raise expected(where, "an object", data)
    if not data:
        raise expected(where, f"at least one {what}", data)
    return data


# metrics


_METRIC_REQUIRED = ("unit", "median", "low", "high", "n", "higher_is_better")


def metric(where: str, name: str, data: Any) -> Metric:
    """A stored metric: a catalogued name with the catalog's unit and direction, finite numbers,
    a median that is positive for throughput and latency and not negative for memory and info, and
    ``low <= median <= high`` (a bound may be negative: calibrate's prediction interval from two
    sessions can reach below zero)."""
    if name not in SPECS:
        raise unknown(where, "metric", name, SPECS, "see quantbench.catalog for the known metrics")
    spec = SPECS[name]
    bound = {"throughput": POSITIVE, "latency": POSITIVE, "quality": FINITE}.get(spec.kind, NON_NEGATIVE)
    direction = "higher" if spec.higher_is_better else "lower"
    fields = {
        "name": same(name, f"{name!r} (the key it is stored under)"),
        "unit": same(spec.unit, f"{spec.unit!r} ({name}'s unit)"),
        "median": bound, "low": FINITE, "high": FINITE, "n": whole(1),
        "higher_is_better": same(spec.higher_is_better, f"{show(spec.higher_is_better)} "
                                                        f"({name}: {direction} is better)"),
        "cv": nullable(NON_NEGATIVE), "stop": choice("stop reason", STOPS), "approximate": BOOL,
    }
    values = record(where, data, fields, required=_METRIC_REQUIRED)
    median = values["median"]
    if values["low"] > median:
        raise expected(f"{where}.low", f"at most the median ({show(median)})", values["low"])
    if values["high"] < median:
        raise expected(f"{where}.high", f"at least the median ({show(median)})", values["high"])
    return Metric.from_dict({**values, "name": name})


def metrics(where: str, data: Any) -> dict[str, Metric]:
    """An object of metric name -> stored metric."""
    if not isinstance(data, dict):
        raise expected(where, "an object", data)
    return {name: metric(f"{where}.{name}", name, m) for name, m in data.items()}


# scenarios, baselines and sessions


SCENARIO = {
    "name": NAME, "prompt_tokens": whole(1), "new_tokens": whole(1), "batch_sizes": listing(whole(1)),
    "prefill_lengths": listing(whole(1)), "greedy": BOOL, "prompts": whole(1), "min_rounds": whole(1),
    "warmup": whole(0), "adaptive": BOOL,
}
ENVIRONMENT = {"launch_overhead_us": nullable(POSITIVE), "gpu": NAME, "model_source": NAME}


def scenario(where: str, data: Any) -> dict[str, Any]:
    """``Scenario.to_dict()``, or the part of it a published baseline states."""
    return record(where, data, SCENARIO)


def window_entry(where: str, data: Any) -> dict[str, Any]:
    """One session of a baseline's window: ``results`` maps case -> method -> metric -> median,
    every name catalogued and every median a finite number."""
    values = record(where, data, {"date": TEXT, "commit": nullable(TEXT),
                                  "environment": lambda w, v: record(w, v, {}, extra=True),
                                  "results": lambda w, v: record(w, v, {}, extra=True)},
                    required=("results",))
    for case_key, by_method in values["results"].items():
        for method, medians in record(f"{where}.results.{case_key}", by_method, {}, extra=True).items():
            here = f"{where}.results.{case_key}.{method}"
            for name, median in record(here, medians, {}, extra=True).items():
                if name not in SPECS:
                    raise unknown(here, "metric", name, SPECS)
                FINITE(f"{here}.{name}", median)
    return values


def baseline(data: Any, *, schemas: tuple[str, ...], provenance_kinds: tuple[str, ...]) -> dict[str, Any]:
    """A parsed baseline file's fields, checked; ``results`` as ``case -> method -> name -> Metric``."""
    if not isinstance(data, dict):
        raise Invalid("not a JSON object")
    if "schema" not in data:
        raise Invalid(f"missing key 'schema' (expected {schemas[-1]!r})")
    if data["schema"] not in schemas:
        raise Invalid(f"schema {show(data['schema'])} is not supported (expected {schemas[-1]!r})")
    fields = {"schema": TEXT, "gpu": NAME, "model_source": NAME, "scenario": scenario,
              "environment": nullable(lambda w, v: record(w, v, ENVIRONMENT, extra=True)),
              "provenance": lambda w, v: record(w, v, {"kind": choice("provenance kind", provenance_kinds)},
                                                required=("kind",), extra=True),
              "results": lambda w, v: nonempty(w, v, "case"), "sessions": listing(window_entry)}
    values = record("", data, fields, required=[k for k in fields if k not in ("environment", "sessions")])
    results: dict[str, dict[str, dict[str, Metric]]] = {}
    for case_key, by_method in values["results"].items():
        for method, stored in nonempty(f"results.{case_key}", by_method, "method").items():
            where = f"results.{case_key}.{method}"
            results.setdefault(case_key, {})[method] = metrics(where, nonempty(where, stored, "metric"))
    return {**values, "results": results, "environment": values.get("environment") or {}}


CASE_RESULT = {"scenario": NAME, "mode": NAME, "case": NAME, "method": NAME, "dtype": TEXT,
               "notes": listing(TEXT)}


def case_result(where: str, data: Any) -> CaseResult:
    """``CaseResult.to_dict()`` read back."""
    values = record(where, data, {**CASE_RESULT, "metrics": metrics}, extra=True,
                    required=("scenario", "mode", "case", "method", "metrics"))
    return CaseResult(values["scenario"], current_mode(values["mode"]), values["case"], values["method"],
                      values.get("dtype", ""), values["metrics"], tuple(values.get("notes", ())))


def session(data: Any) -> dict[str, Any]:
    """A parsed ``session.json``: the environment names the GPU and model, every case result and
    metric is valid; keys quantbench does not read are kept as they are."""
    fields = {"environment": lambda w, v: record(w, v, ENVIRONMENT, required=("gpu", "model_source"),
                                                 extra=True),
              "results": listing(case_result), "scenario": scenario, "partial": BOOL}
    return record("", data, fields, required=("environment", "results"), extra=True)
