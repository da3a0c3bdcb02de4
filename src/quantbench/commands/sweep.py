"""``python -m quantbench sweep``: the same benches over several model sizes, then the map.

    python -m quantbench sweep --models synthetic:qwen2.5-0.5b-instruct,synthetic:qwen2.5-7b-instruct
        [--out DIR] -- <pytest benches args>
    python -m quantbench sweep --from S1.json S2.json ... [--out DIR]

``--from`` draws the map from stored sessions (one per size and mode, each holding FP16 for its
ratios, or a size's methods split over several sessions, each with its own FP16), so a map too
long for one GPU session is measured over several and drawn once.

Each model gets one pytest session in its own process, ``PYTHON -m pytest benches <pytest args>
--qb-model <model> --qb-report-dir <out>/<model>``, one after another: each (size, method) loads
once, a model's memory is freed when its process ends, and each session is gated as usual (its
exit status is recorded). A model whose session fails or is cut off does not stop the others.
Then ``sweep_map`` writes ``map.md``, ``map.json`` and ``map.png`` into the out folder.

Exit status: 0 when every session exited 0 and finished its session file; otherwise the worst
(highest) status, a session killed by a signal counting as 128 + the signal and a missing or
partial session file as at least 4; with ``--from``, 4 for a partial session and 1 for one whose
record holds a method that failed (to load, or while measuring). Bad input (no models, an
unknown model, pytest arguments that the sweep sets itself, an out folder that cannot be
written) is one line and exit 4.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Callable, Sequence

from quantbench import exits
from quantbench.catalog import REFERENCE_METHOD
from quantbench.config import differing_fields
from quantbench.commands.child import ChildRun, RunFn, child_env, run_child, run_subprocess
from quantbench.session import Session, SessionError
from quantbench.report.sweep_map import ModelRun, write_map
from quantbench.sources import model_parameters
from quantbench.files import check_writable_dir, describe
from quantbench.sources import SourceError, source_kind

SWEEP_SET = ("--qb-model", "--qb-report-dir")


class SweepError(ValueError):
    """Input the sweep cannot run with; the message is the one-line reason."""


def folder_name(model: str) -> str:
    """A model's report folder name: its spec with anything but letters, digits, ``.``, ``_``
    and ``-`` replaced (``synthetic:qwen2.5-7b-instruct`` -> ``synthetic-qwen2.5-7b-instruct``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-") or "model"


def parse_models(text: str) -> list[str]:
    """The comma-separated model list, each checked as ``resolve_source`` would (without
    building anything); ``SweepError`` on an empty list, a repeat or an unusable model."""
    models = [m.strip() for m in text.split(",") if m.strip()]
    if not models:
        raise SweepError("--models names no model")
    for model in models:
        if models.count(model) > 1:
            raise SweepError(f"model {model!r} is named twice")
        try:
            source_kind(model)
        except SourceError as exc:
            raise SweepError(str(exc)) from None
    if len({folder_name(m) for m in models}) < len(models):
        raise SweepError("two models would share one report folder; name them differently")
    return models


def check_pytest_args(pytest_args: Sequence[str]) -> None:
    """The sweep sets the model and report folder of each session itself."""
    for arg in pytest_args:
        if arg.split("=", 1)[0] in SWEEP_SET:
            raise SweepError(f"{arg.split('=', 1)[0]} is set by the sweep for each model; "
                             "leave it out of the pytest arguments")


def session_command(python: str, model: str, report_dir: Path, pytest_args: Sequence[str]) -> list[str]:
    """The pytest command line of one model's session."""
    return [python, "-m", "pytest", "benches", *pytest_args, "--qb-model", model,
            "--qb-report-dir", str(report_dir)]


def outcome(child: ChildRun) -> tuple[int, str, Session | None]:
    """A finished child's exit status for the sweep, its status line and its session."""
    code = 128 - child.code if child.code < 0 else child.code  # killed by signal N: 128 + N
    if child.session is None:
        return max(code, exits.USAGE), "no session file", None
    if child.partial:
        return max(code, exits.USAGE), "cut off (partial session)", child.session
    return code, "passed" if code == 0 else f"failed (exit {code})", child.session


def run_models(models: Sequence[str], out: Path, pytest_args: Sequence[str], run: RunFn,
               parameters: Callable[[str], int | None], python: str = sys.executable,
               say: Callable[[str], None] = print) -> list[ModelRun]:
    """One session per model, in order; every model runs whatever the earlier ones did."""
    runs = []
    env = child_env()
    for i, model in enumerate(models, 1):
        folder = out / folder_name(model)
        child = run_child(session_command(python, model, folder, pytest_args), folder, Path.cwd(),
                          run, env)
        code, status, session = outcome(child)
        cases = len(session.results) if session else 0
        say(f"quantbench sweep: {model} ({i}/{len(models)}): {status}, {cases} case(s), "
            f"{child.seconds:.1f} s; output: {child.log}")
        runs.append(ModelRun(model, parameters(model), code, status, str(folder), session))
    return runs


def sweep_exit(runs: Sequence[ModelRun]) -> int:
    """0 when every session passed, else the worst exit status."""
    return max((r.exit_code for r in runs), default=exits.OK)


class _Parser(exits.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise SweepError(message)


def _parser() -> exits.ArgumentParser:
    parser = _Parser(prog="python -m quantbench sweep",
                     usage="%(prog)s --models M1,M2,... [--out DIR] -- <pytest args>\n"
                     "       %(prog)s --from SESSION.json ... [--out DIR]",
                     description="One bench session per model size, then the speed-up map.")
    parser.add_argument("--models", default=None, metavar="M1,M2,...",
                        help="model sources, comma-separated (synthetic:<name>, hub id, folder)")
    parser.add_argument("--out", type=Path, default=Path(".quantbench/sweep"),
                        help="where sessions and the map go (default .quantbench/sweep)")
    parser.add_argument("--from", dest="stored", type=Path, nargs="+", default=None,
                        metavar="SESSION.json", help="draw the map from stored sessions (one per "
                        "size and mode, e.g. from several GPU machines) instead of running any")
    return parser


def stored_runs(paths: Sequence[Path], parameters: Callable[[str], int | None]) -> list[ModelRun]:
    """A ``ModelRun`` per stored session, as if the sweep had run it; ``SweepError`` names a
    file that cannot be read or is given twice, and a (model, mode, case, method) two files both
    hold (which of them the map should show is not for the sweep to guess). FP16 may be in
    several: a size split over sessions, each method's ratios to its own session's FP16. Every
    file must have measured one scenario (``config.differing_fields``): a map whose sizes
    decoded different numbers of tokens would compare unlike figures."""
    runs, seen, first = [], {}, None
    resolved = [p.resolve() for p in paths]
    twice = next((p for i, p in enumerate(paths) if resolved[i] in resolved[:i]), None)
    if twice is not None:
        raise SweepError(f"a session file is given twice: {twice}")
    for path in paths:
        try:
            session = Session.read(path)
        except SessionError as exc:
            raise SweepError(str(exc)) from None
        first = first or (path, session.scenario)
        differs = differing_fields(session.scenario, first[1])
        if differs:
            raise SweepError(f"{path} measured another scenario than {first[0]} ({differs[0]}: "
                             f"{session.scenario.get(differs[0])} against {first[1].get(differs[0])})")
        for r in session.results:
            key = (session.model_source, r.mode, r.case, r.method)
            if key in seen and r.method != REFERENCE_METHOD:
                raise SweepError(f"{path} and {seen[key]} both hold {' '.join(key)}")
            seen[key] = path
        runs.append(ModelRun(session.model_source, parameters(session.model_source),
                             *stored_outcome(session, path), str(path.parent), session))
    return runs


def stored_outcome(session: Session, path: Path) -> tuple[int, str]:
    """A stored session's exit status for the sweep and its status line: cut off (4), a method
    that failed to load or while measuring (1, as its pytest session exited), else stored (0)."""
    if session.partial:
        return exits.USAGE, "cut off (partial session)"
    if session.failures:
        return exits.REGRESSION, f"failed ({path}): " + "; ".join(session.failures.values())
    return exits.OK, f"stored ({path})"


def main(argv: Sequence[str] | None = None, run: RunFn = run_subprocess,
         parameters: Callable[[str], int | None] = model_parameters) -> int:
    """The ``sweep`` command; ``run`` starts one session process (tests pass a fake)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    pytest_args = argv[cut + 1:]
    try:
        args = _parser().parse_args(argv[:cut])
        if args.stored is not None and (args.models is not None or pytest_args):
            raise SweepError("--from draws the map from stored sessions: it takes no --models "
                             "and no pytest arguments")
        if args.models is None and args.stored is None:
            raise SweepError("no models: give --models M1,M2,... or --from SESSION.json ... (see --help)")
        models = parse_models(args.models) if args.stored is None else []
        check_pytest_args(pytest_args)
        out = args.out.expanduser().resolve()
        try:
            check_writable_dir(out)
        except OSError as exc:
            raise SweepError(f"cannot write the out folder {out}: {describe(exc)}") from None
        stored = None if args.stored is None else stored_runs(args.stored, parameters)
    except SweepError as exc:
        print(f"quantbench sweep: {exc}", file=sys.stderr)
        return exits.USAGE
    runs = stored if stored is not None else run_models(models, out, pytest_args, run, parameters,
                                                        say=lambda line: print(line, flush=True))
    command = ["python", "-m", "quantbench", "sweep", *argv]
    written, notes = write_map(out, runs, command)
    for note in notes:
        print(note)
    print("map: " + ", ".join(str(p) for p in written))
    code = sweep_exit(runs)
    failed = [f"{r.model}: {r.status}" for r in runs if r.exit_code]
    print("sweep: pass" if code == exits.OK else f"sweep: exit {code}; " + "; ".join(failed))
    return code
