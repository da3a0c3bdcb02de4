"""CI proves what a newcomer gets: ``.ci/run`` runs the README's command block verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _readme_block() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```\n(pip install .*?)```", text, flags=re.S)
    assert block, "README has no command block starting with pip install"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_ci_runs_the_readme_commands_verbatim_and_nothing_else_that_installs() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    commands = [line for line in ci if line.strip() and not line.startswith("#")]
    readme = _readme_block()
    assert [line.split()[0] for line in readme] == ["pip", "pip", "pytest", "pytest"]
    start = commands.index(readme[0])
    assert commands[start:] == readme  # the README's lines, in order, to the end of the script
    setup = commands[:start]
    assert setup == ["set -euo pipefail", 'cd "$(dirname "$0")/.."', "python3 -m venv .venv",
                     ". .venv/bin/activate"]  # a fresh venv around them, nothing installed


def test_the_readmes_options_table_names_every_option_and_key() -> None:
    """The README's options table is the newcomer's reference: every ``--qb-*`` option and every
    ``[tool.quantbench]`` key the code accepts has a row there."""
    from quantbench.plugin.options import OPTIONS
    from quantbench.config.checks import fields

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("## Options"):text.index("## Model sources")]
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    cells = " ".join(rows)
    assert [o.flag for o in OPTIONS if f"`{o.flag}" not in cells] == []
    keys = fields({"methods": (), "modes": ()})
    assert [k for k in keys if f"`{k}`" not in cells] == []
