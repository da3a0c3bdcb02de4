"""Settings: pyproject defaults, CLI overrides over them, validation, tolerances, model choice."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from quantbench.catalog import DEFAULT_METHODS, DEFAULT_TOLERANCE_BY_KIND, METHOD_NAMES
from quantbench.config.settings import (
    SCENARIOS,
    Scenario,
    Settings,
    SettingsError,
    build_settings,
    parse_tolerances,
    read_pyproject,
)

REPO = Path(__file__).resolve().parents[2]

MODES_TEXT = "eager, generate-compiled, graph, graph-compiled"


def _write_pyproject(root: Path, text: str) -> Path:
    (root / "pyproject.toml").write_text(text)
    return root


def test_defaults_without_any_configuration() -> None:
    s = build_settings({}, {})
    assert s == Settings()
    assert s.model == "synthetic:qwen2.5-0.5b-instruct"
    assert s.cpu_model == "synthetic:qwen2-tiny"
    assert s.awq_model is None
    assert s.methods == DEFAULT_METHODS == ("fp16", "bf16", "int8", "nf4", "awq")
    assert METHOD_NAMES == (*DEFAULT_METHODS, "awq-gemlite", "int8vw", "int8wo", "int4wo", "fp8wo", "fp8dq")  # opt-in
    assert s.device == "auto"
    assert s.scenario is SCENARIOS["default"]
    assert s.modes == ("eager",)
    assert (s.time_budget_s, s.cpu_time_budget_s, s.target_rel_ci, s.max_rounds) == (1.0, 3.0, 0.02, 200)
    assert s.steady is True and s.scenario.min_rounds == 1
    assert s.seed == 0
    assert s.baseline_dir == Path("baselines") and s.report_dir == Path(".quantbench")
    assert s.tolerances == {}
    assert s.compare is False and s.update_baseline is False


def test_none_overrides_mean_not_given() -> None:
    overrides = {k: None for k in ("methods", "model", "awq_model", "device", "scenario", "modes",
                                   "time_budget_s", "tolerance", "update_baseline", "cache_dir",
                                   "report_dir", "baseline_dir", "compare")}
    assert build_settings({}, overrides) == Settings()


def test_default_scenario_shape() -> None:
    sc = SCENARIOS["default"]
    assert (sc.prompt_tokens, sc.new_tokens, sc.batch_sizes, sc.prefill_lengths) == (64, 64, (1, 8), (128, 1024))
    assert (sc.prompts, sc.min_rounds, sc.warmup, sc.adaptive, sc.greedy) == (20, 1, 1, True, True)
    t4 = SCENARIOS["t4-study"]
    assert (t4.batch_sizes, t4.prefill_lengths, t4.prompts, t4.min_rounds, t4.adaptive) == ((1,), (), 20, 20, False)
    assert t4.new_tokens == 128


def test_the_projects_own_pyproject() -> None:
    table = read_pyproject(REPO)
    s = build_settings(table, {})
    assert s.model == "synthetic:qwen2.5-0.5b-instruct"
    assert s.methods == DEFAULT_METHODS
    assert s.time_budget_s == 1.0 and s.cpu_time_budget_s == 3.0
    assert s.tolerances == {}  # the defaults by kind live once, in quantbench.catalog
    assert (s.tolerance("decode_tps"), s.tolerance("ttft_ms"), s.tolerance("peak_gb")) == (0.10, 0.10, 0.05)


def test_read_pyproject_without_file_or_table(tmp_path: Path) -> None:
    assert read_pyproject(tmp_path) == {}
    _write_pyproject(tmp_path, "[project]\nname = 'x'\n")
    assert read_pyproject(tmp_path) == {}


def test_pyproject_table_overrides_defaults(tmp_path: Path) -> None:
    _write_pyproject(tmp_path, """
[tool.quantbench]
model = "Qwen/Qwen2.5-0.5B-Instruct"
awq_model = "Qwen/Qwen2.5-0.5B-Instruct-AWQ"
methods = ["fp16", "nf4"]
device = "cpu"
scenario = "t4-study"
modes = "eager, generate-compiled"
time_budget_s = 12
cpu_time_budget_s = 1.5
target_rel_ci = 0.05
max_rounds = 50
seed = 7
new_tokens = 64
batch_sizes = "1, 4"
baseline_dir = "refs"
report_dir = "out"
cache_dir = "~/qbcache"

[tool.quantbench.tolerances]
decode_tps = 0.2
memory = 0.01
""")
    s = build_settings(read_pyproject(tmp_path), {})
    assert s.model == "Qwen/Qwen2.5-0.5B-Instruct"
    assert s.awq_model == "Qwen/Qwen2.5-0.5B-Instruct-AWQ"
    assert s.methods == ("fp16", "nf4")
    assert s.device == "cpu"
    assert s.modes == ("eager", "generate-compiled")
    assert s.time_budget_s == 12.0 and isinstance(s.time_budget_s, float)
    assert s.cpu_time_budget_s == 1.5
    assert s.target_rel_ci == 0.05
    assert s.max_rounds == 50 and s.seed == 7
    assert s.scenario == dataclasses.replace(SCENARIOS["t4-study"], new_tokens=64, batch_sizes=(1, 4))
    assert s.scenario.name == "t4-study" and s.scenario.adaptive is False
    assert s.baseline_dir == Path("refs") and s.report_dir == Path("out")
    assert s.cache_dir == Path("~/qbcache").expanduser()
    assert s.tolerances == {"decode_tps": 0.2, "memory": 0.01}


def test_cli_overrides_win_over_the_table() -> None:
    table = {"model": "a/b", "methods": ["fp16", "bf16"], "device": "cpu", "time_budget_s": 5,
             "scenario": "t4-study", "report_dir": "x", "tolerances": {"decode_tps": 0.2, "memory": 0.01}}
    overrides = {"model": "c/d", "methods": "int8,awq", "device": "cuda", "time_budget_s": 2.5,
                 "scenario": "default", "report_dir": "y", "tolerance": ["decode_tps=0.3", "latency=0.15"],
                 "update_baseline": True, "compare": True, "awq_model": None}
    s = build_settings(table, overrides)
    assert s.model == "c/d"
    assert s.methods == ("int8", "awq")
    assert s.device == "cuda"
    assert s.time_budget_s == 2.5
    assert s.scenario is SCENARIOS["default"]
    assert s.report_dir == Path("y")
    assert s.tolerances == {"decode_tps": 0.3, "memory": 0.01, "latency": 0.15}
    assert s.update_baseline is True and s.compare is True


def test_scenario_lists_from_strings_and_lists() -> None:
    s = build_settings({"batch_sizes": [2, "16"], "prefill_lengths": "256,"}, {})
    assert s.scenario.batch_sizes == (2, 16)
    assert s.scenario.prefill_lengths == (256,)
    assert s.scenario.name == "default"
    assert SCENARIOS["default"].batch_sizes == (1, 8)  # the registry is untouched


def test_unknown_method() -> None:
    with pytest.raises(SettingsError) as exc:
        build_settings({}, {"methods": "fp16,gptq,exl2"})
    assert str(exc.value) == ("option methods: unknown method 'gptq'; known methods: fp16, bf16, int8, nf4, "
                              "awq, awq-gemlite, int8vw, int8wo, int4wo, fp8wo, fp8dq")


def test_unknown_method_in_the_table() -> None:
    with pytest.raises(SettingsError, match=r"^pyproject.toml \[tool.quantbench\] methods: unknown method 'FP16'"):
        build_settings({"methods": ["FP16"]}, {})


def test_unknown_scenario() -> None:
    with pytest.raises(SettingsError) as exc:
        build_settings({}, {"scenario": "a100-study"})
    assert str(exc.value) == "unknown scenario 'a100-study'; known scenarios: default, decode-128, t4-study"


def test_unknown_mode() -> None:
    with pytest.raises(SettingsError) as exc:
        build_settings({}, {"modes": "eager,turbo"})
    assert str(exc.value) == f"option modes: unknown mode 'turbo'; known modes: {MODES_TEXT}"


def test_the_old_name_of_generate_compiled_says_its_new_one() -> None:
    """``compiled`` named Hugging Face generate's compiled path until the serving-grade loops
    came; the name now says which loop, and the old one says so in one line."""
    with pytest.raises(SettingsError) as exc:
        build_settings({}, {"modes": "eager,compiled"})
    assert str(exc.value) == ("option modes: mode 'compiled' is now 'generate-compiled' (Hugging "
                              "Face generate, compiled); quantbench's own serving-grade loops are "
                              "'graph' and 'graph-compiled'")


def test_unknown_device() -> None:
    with pytest.raises(SettingsError) as exc:
        build_settings({}, {"device": "mps"})
    assert str(exc.value) == "unknown device 'mps'; use auto, cpu or cuda"


@pytest.mark.parametrize("item", ["decode_tps", "decode_tps=", "decode_tps=ten", "=x"])
def test_malformed_cli_tolerance(item: str) -> None:
    with pytest.raises(SettingsError) as exc:
        build_settings({}, {"tolerance": [item]})
    assert str(exc.value) == f"tolerance {item!r} is not METRIC=FRACTION"


@pytest.mark.parametrize("value", ["-0.1", "10", "25", "nan"])
def test_out_of_range_cli_tolerance(value: str) -> None:
    with pytest.raises(SettingsError, match=r"^option tolerance decode_tps: expected a fraction in \(0, 1\) "
                                            r"such as 0.1, got "):
        build_settings({}, {"tolerance": [f"decode_tps={value}"]})


def test_out_of_range_table_tolerance() -> None:
    with pytest.raises(SettingsError) as exc:
        build_settings({"tolerances": {"memory": 50}}, {})
    assert str(exc.value) == ("pyproject.toml [tool.quantbench.tolerances] memory: expected a fraction in (0, 1) "
                              "such as 0.1, got 50")


def test_non_numeric_table_tolerance_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="memory"):
        build_settings({"tolerances": {"memory": "five percent"}}, {})


def test_parse_tolerances() -> None:
    assert parse_tolerances(["decode_tps=0.15", " memory = 0.05 "]) == {"decode_tps": 0.15, "memory": 0.05}
    assert parse_tolerances([]) == {}


def test_settings_are_frozen() -> None:
    s = build_settings({}, {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.model = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.scenario.new_tokens = 1  # type: ignore[misc]


def test_tolerance_per_metric_over_per_kind_over_defaults() -> None:
    s = Settings(tolerances={"decode_tps": 0.15, "throughput": 0.2, "memory": 0.01})
    assert s.tolerance("decode_tps") == 0.15  # per metric
    assert s.tolerance("e2e_tps") == 0.2  # per kind (throughput)
    assert s.tolerance("prefill_tps") == 0.2
    assert s.tolerance("weights_gb") == 0.01  # per kind (memory)
    assert s.tolerance("ttft_ms") == DEFAULT_TOLERANCE_BY_KIND["latency"] == 0.10  # default by kind
    assert s.tolerance("token_agreement") == 0.0  # quality: any change
    assert s.tolerance("roofline_pct") == 0.10  # info metrics fall back to 10 %
    assert s.tolerance("not_a_metric") == 0.10


def test_tolerance_defaults_by_kind() -> None:
    s = Settings()
    assert s.tolerance("decode_tps") == 0.10
    assert s.tolerance("token_p99_ms") == 0.10
    assert s.tolerance("peak_gb") == 0.05
    assert s.tolerance("kl_divergence") == 0.0


def test_per_metric_zero_tolerance_is_kept() -> None:
    s = Settings(tolerances={"decode_tps": 0.0, "throughput": 0.3})
    assert s.tolerance("decode_tps") == 0.0


def test_model_for_cpu_picks_the_tiny_model_only_for_the_default_model() -> None:
    s = Settings()
    assert s.model_for("cpu") == "synthetic:qwen2-tiny"
    assert s.model_for("cuda") == "synthetic:qwen2.5-0.5b-instruct"
    custom = build_settings({}, {"model": "Qwen/Qwen2.5-0.5B-Instruct"})
    assert custom.model_for("cpu") == "Qwen/Qwen2.5-0.5B-Instruct"
    assert custom.model_for("cuda") == "Qwen/Qwen2.5-0.5B-Instruct"
    other_tiny = build_settings({"cpu_model": "synthetic:other"}, {})
    assert other_tiny.model_for("cpu") == "synthetic:other"


def test_budget_for_device() -> None:
    s = Settings(time_budget_s=9.0, cpu_time_budget_s=2.0)
    assert s.budget_for("cuda") == 9.0
    assert s.budget_for("cpu") == 2.0


def test_scenario_dict_forms() -> None:
    sc = Scenario("x", prompt_tokens=32, new_tokens=16, batch_sizes=(1, 2), prefill_lengths=(64,))
    assert sc.comparable_fields() == {"prompt_tokens": 32, "new_tokens": 16, "batch_sizes": [1, 2],
                                      "prefill_lengths": [64], "greedy": True}
    assert sc.to_dict() == {"name": "x", "prompt_tokens": 32, "new_tokens": 16, "batch_sizes": [1, 2],
                            "prefill_lengths": [64], "greedy": True, "prompts": 20, "min_rounds": 1,
                            "warmup": 1, "adaptive": True}
