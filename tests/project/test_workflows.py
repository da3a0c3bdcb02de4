"""The workflows keep pull-request code away from the trusted gate (issue 44, item 1;
docs/security.md): the A/B on pull requests runs on runners of its own with a read-only token, no
persisted credentials and its own HOME and cache; the gate's cache is checked against pins kept
where pull requests cannot write; no ``${{ }}`` expression is spliced into a shell line; the
comment is posted by a job that runs the base branch's escaping, not the pull request's code.
``actionlint`` itself runs where it is installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
AB = "gpu-ab.yml"
GATE = "gpu-regression.yml"


def workflow(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def steps(job: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from job.get("steps", [])


def labels(job: dict[str, Any]) -> set[str]:
    runs_on = job["runs-on"]
    return {runs_on} if isinstance(runs_on, str) else set(runs_on)


@pytest.mark.parametrize("name", sorted(p.name for p in WORKFLOWS.glob("*.yml")))
def test_no_expression_is_spliced_into_a_shell_line(name: str) -> None:
    for job_name, job in workflow(name)["jobs"].items():
        for step in steps(job):
            assert "${{" not in step.get("run", ""), (name, job_name, step.get("name"))


def test_the_ab_runs_with_a_read_only_token_and_no_persisted_credentials() -> None:
    data = workflow(AB)
    assert data["permissions"] == {"contents": "read"}
    job = data["jobs"]["gpu-ab"]
    assert job["permissions"] == {"contents": "read"}
    checkouts = [s for s in steps(job) if s.get("uses", "").startswith("actions/checkout@")]
    assert checkouts and all(s["with"]["persist-credentials"] is False for s in checkouts)
    assert "secrets." not in (WORKFLOWS / AB).read_text().split("\n  comment:")[0]


def test_pull_request_code_never_shares_a_runner_with_the_gate() -> None:
    ab, gate = workflow(AB)["jobs"]["gpu-ab"], workflow(GATE)["jobs"]["measure"]
    assert "pr-ab" in labels(ab) and "gate" not in labels(ab)
    assert "gate" in labels(gate) and "pr-ab" not in labels(gate)
    config = yaml.safe_load((ROOT / ".github" / "actionlint.yaml").read_text())
    assert {"gate", "pr-ab"} <= set(config["self-hosted-runner"]["labels"])


def test_the_ab_has_a_home_and_a_model_cache_of_its_own() -> None:
    job = workflow(AB)["jobs"]["gpu-ab"]
    text = "\n".join(s.get("run", "") for s in steps(job))
    assert 'echo "HOME=$RUNNER_TEMP/home"' in text and "XDG_CACHE_HOME=$RUNNER_TEMP" in text
    assert "HF_HOME=$RUNNER_TEMP" in text and "QB_CACHE_DIR=$RUNNER_TEMP" in text
    assert '--qb-cache-dir "$QB_CACHE_DIR"' in text
    last = list(steps(job))[-1]
    assert last.get("if") == "always()" and 'rm -rf "${RUNNER_TEMP:?}/home"' in last["run"]


def test_the_comment_is_escaped_by_the_base_branchs_code_on_a_hosted_runner() -> None:
    job = workflow(AB)["jobs"]["comment"]
    assert job["runs-on"] == "ubuntu-latest" and job["permissions"] == {"pull-requests": "write"}
    (checkout,) = [s for s in steps(job) if s.get("uses", "").startswith("actions/checkout@")]
    assert checkout["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    assert checkout["with"]["persist-credentials"] is False
    (post,) = [s for s in steps(job) if "run" in s]
    assert "PYTHONPATH=trusted/src python3 -m quantbench.report.untrusted" in post["run"]
    assert "pip install" not in post["run"]
    posted = [line for line in post["run"].splitlines() if "gh pr comment" in line]
    assert posted and all('--body-file "$RUNNER_TEMP/body.md"' in line for line in posted)


def test_the_gates_cache_is_checked_against_pins_a_pull_request_cannot_write() -> None:
    data = workflow(GATE)
    assert data["on"] == {"push": {"branches": ["main"]}, "workflow_dispatch": None}
    job = data["jobs"]["measure"]
    uses = [s.get("uses", "") for s in steps(job)]
    assert "actions/cache/restore@v4" in uses and "actions/cache/save@v4" in uses
    bench = next(s for s in steps(job) if s.get("name", "").startswith("Benchmark"))
    assert bench["env"]["QUANTBENCH_CACHE_PINS"].endswith("/.quantbench-pins/pins.json")
    assert all(s["with"]["persist-credentials"] is False for jobs in data["jobs"].values()
               for s in steps(jobs) if s.get("uses", "").startswith("actions/checkout@"))


def test_security_model_is_documented() -> None:
    text = (ROOT / "docs" / "security.md").read_text()
    for words in ("What a pull request can influence", "What it cannot influence", "runner group",
                  "QUANTBENCH_CACHE_PINS", "quantbench.report.untrusted"):
        assert words in text


@pytest.mark.skipif(shutil.which("actionlint") is None, reason="actionlint is not installed")
@pytest.mark.session
def test_actionlint_passes() -> None:
    proc = subprocess.run(["actionlint", *map(str, sorted(WORKFLOWS.glob("*.yml")))], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
