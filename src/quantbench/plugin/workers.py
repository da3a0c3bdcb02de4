"""``pytest benches -n N`` (pytest-xdist): one GPU and one share of the methods per worker,
one merged session and one gate at the end.

* **GPUs** (``plugin.gpus``). The controller (the process without ``workerinput``) lists the
  visible GPUs (``CUDA_VISIBLE_DEVICES``, else torch's count) and refuses, with one line, more
  workers than GPUs: two workers on one GPU would measure each other. ``pytest_configure_node``
  hands each worker one GPU through ``workerinput``; the worker sets ``CUDA_VISIBLE_DEVICES`` to
  it in its ``pytest_configure``, before anything initialises CUDA, so its ``cuda:0`` is its own
  GPU. A replacement for a crashed worker takes the GPU its predecessor gave back. With no GPU and
  ``--qb-device auto`` the workers run on the CPU. ``-n auto`` starts one worker per GPU.
* **Methods.** ``plugin.scheduling.MethodScheduling`` keeps every case of a method on one worker
  and splits the methods by their expected seconds (read before any worker starts).
* **The quality reference.** A worker whose share lacks the reference method captures the
  reference itself before its first model loads: it loads the reference method, captures its
  outputs on the quality prompts (the same seeded weights and prompts the reference's own worker
  uses) and frees it. Nothing waits on another process, so a slow, failed or crashed worker can
  never hold up another's quality verdicts: the price is one extra reference load per worker.
* **Records.** Each worker checkpoints ``<report_dir>/workers/<run>/<id>.json``; the controller
  merges them (``quantbench.merge``) into ``session.json`` and gates once. ``<run>`` is the
  controller's own folder, locked while it lives (two sessions sharing a report folder never
  read each other's workers; the next controller removes dead ones'). A worker that cannot
  write its record tells the controller (``workeroutput``), which exits 4 instead of judging.
* **Refused** (exit 4, one line): ``--dist each`` (every worker would run every case at once)
  and, on a host without a GPU, ``-n`` unless ``--qb-device cpu`` says so.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from quantbench import compat
from quantbench.catalog import REFERENCE_METHOD
from quantbench.config import Settings
from quantbench.files import abandoned, check_writable_dir, describe
from quantbench.plugin.gpus import GpuPool, cuda_count, gpu_problem, visible_gpus
from quantbench.plugin.keys import SETTINGS
from quantbench.session import Session, SessionError
from quantbench.merge import merge_worker_sessions
from quantbench.plugin.scheduling import MethodScheduling, method_costs

WORKER_DIR = "workers"
GPU_KEY = "quantbench_cuda_device"  # workerinput key: the worker's GPU, or None
RUN_KEY = "quantbench_run"  # workerinput key: the controller's folder under WORKER_DIR
OUTPUT_KEY = "quantbench"  # workeroutput key: {"unwritten": line or None, "cases": n}
LOCK = ".lock"


POOL = pytest.StashKey[GpuPool]()
CRASHES = pytest.StashKey[dict]()
STARTED = pytest.StashKey[float]()
RUN = pytest.StashKey[tuple]()  # (run folder, its held lock file)
REPORTS = pytest.StashKey[dict]()  # worker id -> its workeroutput
COSTS = pytest.StashKey[dict]()  # method -> expected seconds, read before any worker starts


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    """The xdist controller: it runs no case, it merges and gates."""
    return not is_worker(config) and config.getoption("dist", default="no") not in ("no", None)


def dist_problem(dist: str, device: str, gpus: list[str], workers: int) -> str | None:
    """Why this ``-n`` session is refused before it starts (``None`` when it is not)."""
    if dist == "each":
        return ("quantbench: --dist each runs every case on every worker at once, so they measure "
                "each other and the baseline keeps one of them; drop --dist (quantbench gives each "
                "worker its own methods)")
    if device == "auto" and not gpus:
        return (f"quantbench: -n {workers} on a host without a GPU: the workers would share the CPU "
                "and slow each other down; pass --qb-device cpu to run them anyway")
    return None


def start_run_folder(report_dir: Path) -> tuple[Path, Any]:
    """This controller's folder for its workers' records, locked while it lives, after removing
    the folders of controllers that are gone (and an older version's flat files)."""
    import fcntl

    root = report_dir / WORKER_DIR
    root.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():
        if old.is_dir() and abandoned(old, LOCK):
            shutil.rmtree(old, ignore_errors=True)
        elif old.is_file() and old.suffix == ".json":
            old.unlink(missing_ok=True)
    folder = root / f"{os.getpid()}-{secrets.token_hex(3)}"
    folder.mkdir()
    handle = open(folder / LOCK, "w")
    fcntl.flock(handle, fcntl.LOCK_EX)
    check_writable_dir(folder)
    return folder, handle


def configure_controller(config: pytest.Config, settings: Settings) -> None:
    """Check the options and GPUs, start the pool and this run's folder for worker records."""
    if not is_controller(config):
        return
    try:
        compat.check_xdist()  # the scheduler and these hooks lean on xdist's node internals
    except compat.UnsupportedVersion as exc:
        raise pytest.UsageError(f"quantbench: {exc}") from None
    workers = len(config.getoption("tx", default=None) or [])
    gpus = [] if settings.device == "cpu" else visible_gpus(os.environ, cuda_count)
    problem = (dist_problem(config.getoption("dist"), settings.device, gpus, workers)
               or gpu_problem(settings.device, gpus, workers))
    if problem:
        raise pytest.UsageError(problem)
    try:
        run = start_run_folder(settings.report_dir)
    except OSError as exc:
        raise pytest.UsageError(f"quantbench: cannot write worker records to "
                                f"{settings.report_dir / WORKER_DIR}: {describe(exc)}") from None
    config.stash[RUN] = run
    config.add_cleanup(run[1].close)
    config.stash[COSTS] = method_costs(settings.methods, settings.report_dir / "session.json")
    config.stash[POOL] = GpuPool(gpus)
    config.stash[CRASHES] = {}
    config.stash[REPORTS] = {}
    config.stash[STARTED] = time.perf_counter()


def configure_worker(config: pytest.Config) -> None:
    """Point this worker at its own GPU before CUDA is initialised."""
    gpu = getattr(config, "workerinput", {}).get(GPU_KEY)
    if gpu is None:
        return
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        raise pytest.UsageError("quantbench: CUDA was initialised before the worker could pick "
                                "its GPU; a conftest or plugin touches CUDA at import")
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu


def session_file(config: pytest.Config, settings: Settings) -> Path:
    """Where this process checkpoints its session record."""
    if is_worker(config):
        run = config.workerinput.get(RUN_KEY) or "run"
        return settings.report_dir / WORKER_DIR / run / f"{config.workerinput['workerid']}.json"
    return settings.report_dir / "session.json"


def tell_controller(config: pytest.Config, unwritten: str | None, cases: int) -> None:
    """On a worker, hand the controller whether its record could be written."""
    output = getattr(config, "workeroutput", None)
    if output is not None:
        output[OUTPUT_KEY] = {"unwritten": unwritten, "cases": cases}


def unwritten_records(config: pytest.Config) -> list[str]:
    """The controller's lines for workers that could not write their records (full disk)."""
    return [f"worker {wid}: {out['unwritten']}" for wid, out in sorted(config.stash[REPORTS].items())
            if out.get("unwritten")]


@contextmanager
def cache_lock(config: pytest.Config, cache_dir: Path) -> Iterator[None]:
    """On a worker, hold the model cache while the session's model is built or found, so two
    workers never build the same synthetic checkpoint into one folder at once."""
    if not is_worker(config):
        yield
        return
    import fcntl

    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / ".quantbench-workers.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def before_load(config: pytest.Config, runner: Any, method: str) -> None:
    """On a worker, capture the quality reference before the first other method loads (see
    the module's docstring); a reference that cannot load leaves quality skipped, as without
    workers."""
    if is_worker(config) and method != REFERENCE_METHOD:
        runner.capture_reference_alone()


def merged_session(config: pytest.Config, settings: Settings) -> Session | None:
    """The controller's session: every worker file merged (``None`` when none ran a case)."""
    pool = config.stash[POOL]
    info: dict[str, dict[str, Any]] = {w: {"cuda_device": g} for w, g in pool.assigned.items()}
    for worker, error in config.stash[CRASHES].items():
        info.setdefault(worker, {})["crashed"] = error
    parts: dict[str, Session] = {}
    for path in sorted(config.stash[RUN][0].glob("*.json")):
        try:
            parts[path.stem] = Session.read(path)
        except SessionError as exc:
            info.setdefault(path.stem, {})["crashed"] = str(exc)
    return merge_worker_sessions(parts, info, time.perf_counter() - config.stash[STARTED])


# xdist's hooks (optional: quantbench runs without xdist installed)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto``: one worker per visible GPU (xdist's CPU count on a host without one)."""
    if config.getoption("qb_device", default=None) == "cpu":
        return None
    return len(visible_gpus(os.environ, cuda_count)) or None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Keep each method's cases on one worker, in place of xdist's default ``load``; another
    ``--dist`` mode is xdist's own (methods may then split over workers)."""
    if config.getoption("dist") != "load":
        return None

    methods = config.stash[SETTINGS].methods
    return MethodScheduling(compat.xdist_worker_count(config), methods, log,
                            config.stash.get(COSTS, None), REFERENCE_METHOD)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    pool = node.config.stash.get(POOL, None)
    node.workerinput[GPU_KEY] = pool.take(compat.worker_id(node)) if pool is not None else None
    run = node.config.stash.get(RUN, None)
    node.workerinput[RUN_KEY] = run[0].name if run is not None else None


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object | None) -> None:
    """Free the worker's GPU for a replacement; remember a crash for the merged record."""
    config = node.config
    if POOL in config.stash:
        config.stash[POOL].give_back(compat.worker_id(node))
    if error is not None and CRASHES in config.stash:
        config.stash[CRASHES][compat.worker_id(node)] = (str(error).strip().splitlines() or ["crashed"])[0]
    output = (getattr(node, "workeroutput", None) or {}).get(OUTPUT_KEY)
    if output is not None and REPORTS in config.stash:
        config.stash[REPORTS][compat.worker_id(node)] = output
