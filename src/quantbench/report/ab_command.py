"""The same-host A/B that would confirm a wall-clock move: its command line, for the words of an
``unconfirmed`` row (``report.reasons``) and the hint under the verdicts (``report.what_moved``).
It names the methods, modes and cases that moved, so the A/B runs those and nothing else."""

from __future__ import annotations


def ab_command(case_key: str, method: str) -> str:
    """The same-host A/B that would confirm a wall-clock move of one case and method."""
    return ab_command_for([(case_key, method)])


def ab_command_for(cases: list[tuple[str, str]]) -> str:
    """One same-host A/B over several (case key, method) pairs: their methods, modes and cases."""
    methods = ",".join(sorted({m for _, m in cases}))
    modes = ",".join(sorted({k.partition("/")[0] for k, _ in cases}))
    selects = []
    for key, _ in cases:
        kind, _, size = key.partition("/")[2].partition("-")
        select = f"generate and {size}" if kind == "generate" else f"{kind} and len{size}"
        if select not in selects:
            selects.append(select)
    where = selects[0] if len(selects) == 1 else " or ".join(f"({s})" for s in selects)
    return (f"python -m quantbench ab --base OLD/bin/python --head NEW/bin/python -- "
            f"--qb-methods {methods} --qb-modes {modes} -k '{where}'")
