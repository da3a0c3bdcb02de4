"""Bad configuration (issue 15, items 4-6 and the explicit model): every ``[tool.quantbench]`` value
and command-line value is checked once, in ``build_settings``, and a bad one is a one-line
``SettingsError`` (which the plugin turns into pytest's usage error) naming where it came from and
what was expected; unknown keys and tolerance names get a "did you mean"."""

from __future__ import annotations

from typing import Any

import pytest

from quantbench import catalog
from quantbench.config import Settings, SettingsError, build_settings
from quantbench.config.checks import GATED_KINDS

FLAGS = {"methods": "--qb-methods", "time_budget_s": "--qb-time-budget", "tolerance": "--qb-tolerance",
         "model": "--qb-model"}


def _error(table: dict[str, Any], overrides: dict[str, Any]) -> str:
    with pytest.raises(SettingsError) as info:
        build_settings(table, overrides, flags=FLAGS)
    text = str(info.value)
    assert "\n" not in text
    return text


# item 4: an empty method list


@pytest.mark.parametrize("value", ["", ",", " , "])
def test_empty_methods_on_the_command_line(value: str) -> None:
    assert _error({}, {"methods": value}) == (
        "--qb-methods: expected at least one method "
        f"(fp16, bf16, int8, nf4, awq, awq-gemlite, int8vw, int8wo, int4wo, fp8wo, fp8dq), "
        f"got {value!r}")


def test_empty_methods_and_modes_in_the_table() -> None:
    assert _error({"methods": []}, {}).startswith("pyproject.toml [tool.quantbench] methods: expected at least one")
    assert _error({"modes": ""}, {}).startswith("pyproject.toml [tool.quantbench] modes: expected at least one")


KNOWN_METHODS = "fp16, bf16, int8, nf4, awq, awq-gemlite, int8vw, int8wo, int4wo, fp8wo, fp8dq"


def test_an_unknown_method_is_refused_where_it_was_given_naming_the_known_ones() -> None:
    """``checks.names`` receives the known methods and modes and refuses any other name, on the command
    line and in the table, as the other option errors do (one line, where it came from)."""
    assert _error({}, {"methods": "fp16,gptq,exl2"}) == (
        f"--qb-methods: unknown method 'gptq'; known methods: {KNOWN_METHODS}")
    assert _error({"methods": ["fp16", "FP16"]}, {}) == (
        f"pyproject.toml [tool.quantbench] methods: unknown method 'FP16'; known methods: {KNOWN_METHODS}")
    assert _error({}, {"methods": "nf44"}) == (
        f"--qb-methods: unknown method 'nf44' (did you mean 'nf4'?); known methods: {KNOWN_METHODS}")
    assert _error({"modes": "eager, turbo"}, {}) == (
        f"pyproject.toml [tool.quantbench] modes: unknown mode 'turbo'; known modes: {', '.join(catalog.MODES)}")


def test_names_checks_against_the_names_it_is_given() -> None:
    from quantbench.config.checks import names
    from quantbench.validate import Invalid

    check = names("colour", ("red", "green"))
    assert check("option colours", " green, red ,") == ("green", "red")
    with pytest.raises(Invalid) as info:
        check("option colours", ["red", "blue"])
    assert str(info.value) == "option colours: unknown colour 'blue'; known colours: red, green"


# item 5: wrong-typed table values, unknown keys, unknown tolerance names, a negative budget


@pytest.mark.parametrize(("table", "expected"), [
    ({"time_budget_s": "fast"}, "time_budget_s: expected a finite number > 0, got 'fast'"),
    ({"cpu_time_budget_s": "fast"}, "cpu_time_budget_s: expected a finite number > 0, got 'fast'"),
    ({"methods": 5}, "methods: expected a list of names or a comma-separated string, got 5"),
    ({"max_rounds": 2.5}, "max_rounds: expected a whole number >= 1, got 2.5"),
    ({"target_rel_ci": 0}, "target_rel_ci: expected a number in (0, 1), got 0"),
    ({"batch_sizes": [1, "x"]}, "batch_sizes[1]: expected a whole number >= 1, got 'x'"),
    ({"model": ""}, "model: expected a non-empty string, got ''"),
    ({"compare": "yes"}, "compare: expected true or false, got 'yes'"),
    ({"tolerances": 0.1}, "tolerances: expected a table such as {throughput = 0.1}, got 0.1"),
])
def test_wrong_typed_table_value(table: dict, expected: str) -> None:
    assert _error(table, {}) == f"pyproject.toml [tool.quantbench] {expected}"


def test_unknown_table_key_says_did_you_mean() -> None:
    assert _error({"time_budjet_s": 5}, {}) == (
        "pyproject.toml [tool.quantbench]: unknown key 'time_budjet_s' (did you mean 'time_budget_s'?)")


def test_unknown_table_key_without_a_close_match_lists_the_known_ones() -> None:
    text = _error({"zzz": 5}, {})
    assert text.startswith("pyproject.toml [tool.quantbench]: unknown key 'zzz'; known keys: ")
    assert "time_budget_s" in text and "allow_missing_baseline" in text


def test_unknown_cli_tolerance_name_says_did_you_mean() -> None:
    assert _error({}, {"tolerance": ["decode_tsp=0.1"]}) == (
        "--qb-tolerance decode_tsp: unknown metric or kind 'decode_tsp' (did you mean 'decode_tps'?)")


def test_unknown_cli_tolerance_name_without_a_close_match() -> None:
    text = _error({}, {"tolerance": ["nosuchmetric=0.1"]})
    assert text.startswith("--qb-tolerance nosuchmetric: unknown metric or kind 'nosuchmetric'; "
                           "known: throughput, latency, memory, device, count or a metric name (")


def test_unknown_table_tolerance_name() -> None:
    assert _error({"tolerances": {"throughtput": 0.1}}, {}) == (
        "pyproject.toml [tool.quantbench.tolerances] throughtput: unknown metric or kind 'throughtput' "
        "(did you mean 'throughput'?)")


GATED = [k for k in catalog.DEFAULT_TOLERANCE_BY_KIND if k != "quality"]


def test_the_gated_kinds_are_the_catalogs_less_quality() -> None:
    assert GATED_KINDS == ("throughput", "latency", "memory", "device", "count") == tuple(GATED)


@pytest.mark.parametrize("name", [*GATED, "decode_kernel_us", "decode_kernels", "decode_launches",
                                  "decode_py_calls", "prefill_kernel_us", "decode_tps", "peak_gb"])
def test_every_gated_kind_and_metric_takes_a_tolerance(name: str) -> None:
    """The README documents device=, count= and decode_kernel_us=; they used to be refused."""
    s = build_settings({"tolerances": {name: 0.02}}, {"tolerance": [f"{name}=0.07"]}, FLAGS)
    assert s.tolerances == {name: 0.07}
    assert build_settings({"tolerances": {name: 0.02}}, {}).tolerances == {name: 0.02}


def test_a_kind_tolerance_reaches_its_metrics() -> None:
    s = build_settings({}, {"tolerance": ["device=0.01", "count=0.02", "decode_kernels=0.04"]}, FLAGS)
    assert (s.tolerance("decode_kernel_us"), s.tolerance("prefill_kernel_us")) == (0.01, 0.01)
    assert (s.tolerance("decode_launches"), s.tolerance("decode_kernels")) == (0.02, 0.04)


def test_a_quality_metric_takes_no_tolerance() -> None:
    assert _error({}, {"tolerance": ["kl_divergence=0.1"]}) == (
        "--qb-tolerance kl_divergence: kl_divergence is a quality metric, never judged against a tolerance")


def test_tolerance_on_a_metric_that_is_never_gated() -> None:
    assert _error({}, {"tolerance": ["roofline_pct=0.1"]}) == (
        "--qb-tolerance roofline_pct: roofline_pct is an info metric, never judged against a tolerance")


@pytest.mark.parametrize(("value", "shown"), [(-5.0, "-5.0"), (0.0, "0.0"), (float("nan"), "NaN"),
                                              (float("inf"), "Infinity")])
def test_time_budget_must_be_positive_and_finite(value: float, shown: str) -> None:
    assert _error({}, {"time_budget_s": value}) == f"--qb-time-budget: expected a finite number > 0, got {shown}"


# item 6: tolerances are fractions in (0, 1)


@pytest.mark.parametrize(("value", "shown"), [("1.5", "1.5"), ("1", "1.0"), ("0", "0.0"), ("-0.1", "-0.1"),
                                              ("nan", "NaN")])
def test_cli_tolerance_outside_0_1(value: str, shown: str) -> None:
    assert _error({}, {"tolerance": [f"throughput={value}"]}) == (
        f"--qb-tolerance throughput: expected a fraction in (0, 1) such as 0.1, got {shown}")


def test_table_tolerance_outside_0_1() -> None:
    assert _error({"tolerances": {"memory": 1.5}}, {}) == (
        "pyproject.toml [tool.quantbench.tolerances] memory: expected a fraction in (0, 1) such as 0.1, got 1.5")


def test_valid_values_still_build() -> None:
    s = build_settings({"time_budget_s": 5, "methods": "fp16, nf4", "tolerances": {"decode_tps": 0.2}},
                       {"tolerance": ["memory=0.01"], "time_budget_s": 2.5, "allow_missing_baseline": True})
    assert (s.time_budget_s, s.cpu_time_budget_s, s.methods) == (2.5, 2.5, ("fp16", "nf4"))
    assert s.tolerances == {"decode_tps": 0.2, "memory": 0.01}
    assert s.allow_missing_baseline is True
    assert build_settings({}, {}).allow_missing_baseline is False


def test_flags_default_to_the_setting_name() -> None:
    with pytest.raises(SettingsError, match=r"^option time_budget_s: expected a finite number > 0, got -5.0$"):
        build_settings({}, {"time_budget_s": -5.0})


# also: an explicit --model is never replaced by the tiny CPU model


def test_explicit_default_model_is_kept_on_cpu() -> None:
    explicit = build_settings({}, {"model": Settings.model})
    assert explicit.model_for("cpu") == "synthetic:qwen2.5-0.5b-instruct"
    from_table = build_settings({"model": Settings.model}, {})
    assert from_table.model_for("cpu") == "synthetic:qwen2-tiny", "the table's model is the GPU default"
    assert build_settings({}, {}).model_for("cpu") == "synthetic:qwen2-tiny"
    assert build_settings({}, {"model": None}).model_for("cpu") == "synthetic:qwen2-tiny"
