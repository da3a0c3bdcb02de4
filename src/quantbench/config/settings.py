"""One frozen settings object, built once from ``[tool.quantbench]`` and the command line.

Configuration flows one way: pyproject defaults, then CLI options over them, then this object is
handed to the code. Nothing downstream reads options or files on its own.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from quantbench.catalog import DEFAULT_METHODS, DEFAULT_TOLERANCE_BY_KIND, METHOD_NAMES, MODES, spec
from quantbench.validate import Invalid
from quantbench.config.checks import check_settings


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message is the one-line reason."""


@dataclass(frozen=True)
class Scenario:
    """What is measured: the fields a baseline must match to be comparable."""

    name: str
    prompt_tokens: int = 64
    # 64 new tokens a round (``decode-128`` was the default before): most of a default gate
    # session's time scales with this figure (first-shape warm-ups, where cuDNN builds one
    # attention plan per KV length, and INT8's timed rounds), and the verdict must come within a
    # CI job's patience (docs/gating.md). ``decode-128`` keeps the older figure.
    new_tokens: int = 64
    batch_sizes: tuple[int, ...] = (1, 8)
    prefill_lengths: tuple[int, ...] = (128, 1024)
    prompts: int = 20
    # One timed round is enough where the time budget ends it: wall-clock figures are judged
    # against the spread between sessions, which one session's rounds cannot show (issue 19).
    min_rounds: int = 1
    warmup: int = 1
    adaptive: bool = True
    greedy: bool = True

    def comparable_fields(self) -> dict[str, Any]:
        """The fields that must agree between a run and its baseline."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "new_tokens": self.new_tokens,
            "batch_sizes": list(self.batch_sizes),
            "prefill_lengths": list(self.prefill_lengths),
            "greedy": self.greedy,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            **self.comparable_fields(),
            "prompts": self.prompts,
            "min_rounds": self.min_rounds,
            "warmup": self.warmup,
            "adaptive": self.adaptive,
        }


SCENARIOS: dict[str, Scenario] = {
    "default": Scenario("default"),
    # quantbench's earlier default: baselines and size maps made with it are judged and
    # extended with ``--qb-scenario decode-128``.
    "decode-128": Scenario("decode-128", new_tokens=128),
    # The published T4 study: 20 prompts x 128 new tokens, greedy, 1 warm-up, whole-generate timing.
    "t4-study": Scenario(
        "t4-study", new_tokens=128, batch_sizes=(1,), prefill_lengths=(), prompts=20,
        min_rounds=20, adaptive=False,
    ),
}



SCENARIO_FIELDS = tuple(Scenario("fields").comparable_fields())


def listed(value: Any) -> Any:
    """A scenario value as stored: tuples and lists alike as a list."""
    return list(value) if isinstance(value, (tuple, list)) else value


def differing_fields(a: Mapping[str, Any], b: Mapping[str, Any], *,
                     only_shared: bool = False) -> list[str]:
    """The comparable fields (``SCENARIO_FIELDS``, in order) on which two stored scenarios
    differ; a field one of them lacks differs, unless ``only_shared`` (a published baseline
    may state only some)."""
    return [k for k in SCENARIO_FIELDS if (not only_shared or (k in a and k in b))
            and listed(a.get(k)) != listed(b.get(k))]


def session_difference(session: Any, first: Any) -> tuple[str, Any, Any] | None:
    """What makes ``session`` incomparable with ``first`` (two session records): ``("gpu" |
    "model_source", its value, first's)``, else ``("scenario", the differing fields, None)``, or
    ``None`` when they measured the same GPU, model and scenario."""
    for what in ("gpu", "model_source"):
        if getattr(session, what) != getattr(first, what):
            return what, getattr(session, what), getattr(first, what)
    differs = differing_fields(session.scenario, first.scenario)
    return ("scenario", differs, None) if differs else None


def scenario_matching(stored: Mapping[str, Any]) -> str | None:
    """The first named scenario whose comparable fields agree with ``stored`` (a baseline's or
    session's scenario; fields it lacks are not compared), so a refusal can name the option.
    The scenario of ``stored``'s own name is tried first."""
    own = stored.get("name")
    for name, scenario in sorted(SCENARIOS.items(), key=lambda item: item[0] != own):
        if not differing_fields(stored, scenario.comparable_fields(), only_shared=True):
            return name
    return None


DEFAULT_CACHE_DIR = Path("~") / ".cache" / "quantbench"


def expand_home(path: Path | str) -> Path:
    """``path`` with ``~`` expanded (``HOME``, else the password database); left as it is where
    no home folder can be found (a container without ``HOME`` or a passwd entry), so importing
    and configuring never fail there: only using such a path does (``home_problem``)."""
    return Path(os.path.expanduser(str(path)))


def default_cache_dir() -> Path:
    """``~/.cache/quantbench``, expanded at use (never at import)."""
    return expand_home(DEFAULT_CACHE_DIR)


def home_problem(path: Path, option: str) -> str | None:
    """Why ``path`` cannot be used because its ``~`` could not be expanded (``None`` if it can)."""
    if not str(path).startswith("~"):
        return None
    return (f"the cache folder {path} needs a home folder and this process has none (HOME is "
            f"unset and the user has no passwd entry): pass {option} or set HOME")


@dataclass(frozen=True)
class Settings:
    """Everything a quantbench session needs to know, decided before the first model loads."""

    model: str = "synthetic:qwen2.5-0.5b-instruct"
    cpu_model: str = "synthetic:qwen2-tiny"
    awq_model: str | None = None
    methods: tuple[str, ...] = DEFAULT_METHODS
    device: str = "auto"
    scenario: Scenario = SCENARIOS["default"]
    modes: tuple[str, ...] = ("eager",)
    time_budget_s: float = 1.0
    cpu_time_budget_s: float = 3.0
    target_rel_ci: float = 0.02
    max_rounds: int = 200
    seed: int = 0
    cache_dir: Path = field(default_factory=default_cache_dir)
    baseline_dir: Path = Path("baselines")
    report_dir: Path = Path(".quantbench")
    tolerances: Mapping[str, float] = field(default_factory=dict)
    exports: tuple[tuple[str, Path], ...] = ()  # (format, file): report.exports
    compare: bool = False
    update_baseline: bool = False
    allow_missing_baseline: bool = False  # under --benchmark-compare, no baseline yet is a pass
    all_verdicts: bool = False  # the terminal shows every verdict row, not only the failing ones
    explicit_model: bool = False  # --model was given: never replaced by the CPU model
    min_token_agreement: float = 0.0  # free-running greedy agreement: reported, 0 = not gated
    min_top1_agreement: float = 0.6  # teacher-forced top-1 agreement (run.quality)
    max_kl_divergence: float = 0.5
    quality_tokens: int = 32
    steady: bool = True  # pinned CPUs, no GC in timed rounds, CPU spun up (run.steady)
    # Generate cases also measure every method in interleaved rounds with FP16 (run.interleave),
    # each method's ratio to FP16 then carrying its own paired interval.
    interleave: bool = False

    def tolerance(self, metric: str) -> float:
        """The allowed relative change of a metric: per-metric setting, else by its kind."""
        if metric in self.tolerances:
            return self.tolerances[metric]
        kind = spec(metric).kind
        return self.tolerances.get(kind, DEFAULT_TOLERANCE_BY_KIND.get(kind, 0.10))

    def model_for(self, device: str) -> str:
        """The model source a session on ``device`` uses: the tiny one on a CPU, unless a model was
        given on the command line or the table names another than the default."""
        default = self.model == Settings.model and not self.explicit_model
        return self.cpu_model if device == "cpu" and default else self.model

    def budget_for(self, device: str) -> float:
        return self.cpu_time_budget_s if device == "cpu" else self.time_budget_s


def read_pyproject(root: Path) -> dict[str, Any]:
    """The ``[tool.quantbench]`` table of ``root/pyproject.toml`` (empty when there is none)."""
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    with path.open("rb") as fh:
        return tomllib.load(fh).get("tool", {}).get("quantbench", {})


def _split(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    return tuple(v.strip() for v in value if v.strip())


def parse_tolerances(items: list[str] | tuple[str, ...]) -> dict[str, float]:
    """Parse ``metric=fraction`` pairs (``decode_tps=0.15`` or ``memory=0.05``)."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise SettingsError(f"tolerance {item!r} is not METRIC=FRACTION") from None
    return out


def build_settings(table: Mapping[str, Any], overrides: Mapping[str, Any],
                   flags: Mapping[str, str] | None = None) -> Settings:
    """Merge pyproject values with CLI overrides (``None`` means "not given") into Settings, every
    value checked first (``quantbench.config.checks``); ``flags`` names each override's option
    in the error."""
    cli_tolerances = parse_tolerances(overrides.get("tolerance") or ())
    try:
        merged, tolerances = check_settings(table, overrides, cli_tolerances, flags=flags or {},
                                            choices={"methods": METHOD_NAMES, "modes": MODES})
    except Invalid as exc:
        raise SettingsError(str(exc)) from None
    base = Settings()
    kwargs: dict[str, Any] = {}
    for key in ("model", "cpu_model", "awq_model", "device"):
        if key in merged:
            kwargs[key] = str(merged[key]) if merged[key] != "" else None
    for key in ("methods", "modes"):  # checked against METHOD_NAMES and MODES (``checks.names``)
        if key in merged:
            kwargs[key] = merged[key]
    if kwargs.get("device", base.device) not in ("auto", "cpu", "cuda"):
        raise SettingsError(f"unknown device {kwargs['device']!r}; use auto, cpu or cuda")
    scenario_name = merged.get("scenario", base.scenario.name)
    if scenario_name not in SCENARIOS:
        raise SettingsError(
            f"unknown scenario {scenario_name!r}; known scenarios: {', '.join(SCENARIOS)}"
        )
    scenario = SCENARIOS[scenario_name]
    scenario_overrides = {
        k: merged[k] for k in ("new_tokens", "prompt_tokens", "prompts") if k in merged
    }
    for k in ("batch_sizes", "prefill_lengths"):
        if k in merged:
            value = merged[k]
            items = _split(value) if isinstance(value, str) else value
            scenario_overrides[k] = tuple(int(v) for v in items)
    kwargs["scenario"] = replace(scenario, **scenario_overrides) if scenario_overrides else scenario
    for key in ("time_budget_s", "cpu_time_budget_s", "target_rel_ci", "max_kl_divergence",
                "min_token_agreement", "min_top1_agreement"):
        if key in merged:
            kwargs[key] = float(merged[key])
    for key in ("seed", "max_rounds", "quality_tokens"):
        if key in merged:
            kwargs[key] = int(merged[key])
    for key in ("cache_dir", "baseline_dir", "report_dir"):
        if key in merged:
            kwargs[key] = expand_home(merged[key])
    kwargs["tolerances"] = tolerances
    if "exports" in merged:
        kwargs["exports"] = merged["exports"]
    if overrides.get("time_budget_s") is not None:  # --time-budget: the budget on any device
        kwargs["cpu_time_budget_s"] = float(overrides["time_budget_s"])
    kwargs["compare"] = bool(merged.get("compare", False))
    kwargs["update_baseline"] = bool(merged.get("update_baseline", False))
    kwargs["allow_missing_baseline"] = bool(merged.get("allow_missing_baseline", False))
    kwargs["steady"] = bool(merged.get("steady", True))
    kwargs["all_verdicts"] = bool(merged.get("all_verdicts", False))
    kwargs["interleave"] = bool(merged.get("interleave", False))
    kwargs["explicit_model"] = overrides.get("model") is not None
    return replace(base, **kwargs)
