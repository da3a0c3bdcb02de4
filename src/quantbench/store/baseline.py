"""Stored baselines: one JSON file per GPU and model source, ``<dir>/<gpu-slug>/<model-slug>.json``.

A baseline is the reference a later run is judged against, so it is written with care: under a
lock that serialises concurrent updates, the new file is written beside the old one, flushed to
disk and renamed over it in one step (a crash leaves either the old file or the new one, never
half of each), and the previous version is kept under ``<dir>/<gpu-slug>/history/`` first, so an
update never loses data (``quantbench.files``). Loading checks the file against its declared
schema (``quantbench.validate``) and fails with a one-line ``BaselineError``, because a baseline
that is silently misread would make every verdict after it wrong.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from quantbench import files, validate
from quantbench.catalog import current_case_key
from quantbench.store.window import Entry
from quantbench.results import CaseResult, Metric

SCHEMA = "quantbench.baseline/2"
# /1 files (no window of sessions) are still read; their ``provenance.sessions`` counts the
# sessions ``calibrate`` merged, whose spread their intervals already hold.
SCHEMAS = ("quantbench.baseline/1", SCHEMA)
PROVENANCE_KINDS = ("measured", "published")
_VENDORS = ("nvidia", "amd", "intel")

BaselineTable = dict[str, dict[str, dict[str, Metric]]]


class BaselineError(ValueError):
    """A baseline that cannot be used here; the message is the one-line reason."""


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.strip().lower()).strip("-.")


def gpu_slug(name: str) -> str:
    """File-system name of a device: ``NVIDIA H100 80GB HBM3`` -> ``nvidia-h100-80gb-hbm3``.

    CUDA names some cards without the vendor (``Tesla T4``); the prefix is added so one card has
    one folder whichever way it was named. ``cpu`` stays ``cpu``.
    """
    slug = _slugify(name)
    if slug == "cpu" or slug.startswith(_VENDORS):
        return slug
    return f"nvidia-{slug}"


def model_slug(source: str) -> str:
    """File name of a model source: ``synthetic:x`` -> ``synthetic-x``, a hub id or a local folder
    -> its last path part, lowercased (so a hub model and its local download share a baseline)."""
    if source.startswith("synthetic:"):
        return _slugify(source.replace(":", "-", 1))
    name = Path(source.rstrip("/\\")).name or source
    return _slugify(name)


def baseline_path(baseline_dir: Path | str, gpu_name: str, model_source: str) -> Path:
    """Where the baseline of this GPU and model source lives."""
    return Path(baseline_dir) / gpu_slug(gpu_name) / f"{model_slug(model_source)}.json"


@dataclass(frozen=True)
class Baseline:
    """A stored reference run.

    ``scenario`` is ``Scenario.to_dict()`` of the run (a published baseline may hold only the
    fields its source states); ``environment`` is free-form (device, driver, library versions,
    date, commit); ``provenance`` says where the numbers come from: ``kind`` (``measured`` or
    ``published``), ``command`` or ``source``, and a ``note``. ``results`` maps
    ``case_key -> method -> metric name -> Metric``; ``sessions`` is the window of sessions the
    figures were merged from, oldest first (``store.window``; empty in /1 files).
    """

    gpu: str
    model_source: str
    scenario: dict[str, Any]
    results: BaselineTable
    environment: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    schema: str = SCHEMA
    sessions: tuple[Entry, ...] = ()

    @property
    def session_count(self) -> int:
        """How many sessions the figures come from: the window's length, else (a /1 file) what
        ``calibrate`` recorded, else 1 (one session, or a published single run)."""
        if self.sessions:
            return len(self.sessions)
        count = self.provenance.get("sessions")
        return count if isinstance(count, int) and count > 0 else 1

    def entries(self) -> Iterator[tuple[str, str, Metric]]:
        """Every ``(case_key, method, metric)`` held, in a stable order."""
        for case_key in sorted(self.results):
            for method in sorted(self.results[case_key]):
                for name in sorted(self.results[case_key][method]):
                    yield case_key, method, self.results[case_key][method][name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "gpu": self.gpu,
            "model_source": self.model_source,
            "scenario": self.scenario,
            "environment": self.environment,
            "provenance": self.provenance,
            "results": {
                case: {m: {k: v.to_dict() for k, v in metrics.items()} for m, metrics in by.items()}
                for case, by in self.results.items()
            },
            **({"sessions": [e.to_dict() for e in self.sessions]} if self.sessions else {}),
        }


def baseline_from_results(
    results: list[CaseResult],
    *,
    gpu: str,
    model_source: str,
    scenario: dict[str, Any],
    environment: dict[str, Any],
    provenance: dict[str, Any],
    sessions: tuple[Entry, ...] = (),
) -> Baseline:
    """A baseline holding every metric of every case result (of a session, or merged)."""
    table: BaselineTable = {}
    for result in results:
        table.setdefault(result.case_key, {})[result.method] = dict(result.metrics)
    return Baseline(gpu, model_source, dict(scenario), table, dict(environment), dict(provenance),
                    sessions=tuple(sessions))


def to_json(baseline: Baseline) -> str:
    """Human-readable JSON (indent 2, sorted keys, trailing newline) so diffs review well."""
    return json.dumps(baseline.to_dict(), indent=2, sort_keys=True) + "\n"


def from_dict(data: Any) -> Baseline:
    """Validate (``quantbench.validate.baseline``: types, finite numbers, catalogued metrics,
    ordered bounds) and build a baseline from its parsed JSON."""
    try:
        v = validate.baseline(data, schemas=SCHEMAS, provenance_kinds=PROVENANCE_KINDS)
    except validate.Invalid as exc:
        raise BaselineError(str(exc)) from None
    return Baseline(gpu=v["gpu"], model_source=v["model_source"], scenario=dict(v["scenario"]),
                    results={current_case_key(k): r for k, r in v["results"].items()}, environment=dict(v["environment"]),
                    provenance=dict(v["provenance"]), schema=v["schema"],
                    sessions=tuple(Entry.from_dict(e) for e in v.get("sessions", ())))


def from_json(text: str) -> Baseline:
    """Parse and validate a baseline's JSON text."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(f"invalid JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:  # e.g. 100k "["
        raise BaselineError("invalid JSON: nested too deeply") from None
    return from_dict(data)


def load_baseline(path: Path | str) -> Baseline:
    """Read a baseline file; every problem is a one-line ``BaselineError`` naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(f"no baseline at {path}") from None
    except OSError as exc:
        raise BaselineError(f"cannot read {path}: {files.describe(exc)}") from None
    except UnicodeDecodeError:
        raise BaselineError(f"cannot read {path}: not UTF-8 text") from None
    try:
        return from_json(text)
    except BaselineError as exc:
        raise BaselineError(f"baseline {path}: {exc}") from None


def _utc_stamp() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _history_path(path: Path) -> Path:
    """A free name under ``history/``: ``<stem>.<stamp>.json``, then ``<stem>.<stamp>_0001.json``
    and so on within one second, so that names sort in the order they were written."""
    folder = path.parent / "history"
    stamp = _utc_stamp()
    candidate = folder / f"{path.stem}.{stamp}.json"
    count = 1
    while candidate.exists():
        candidate = folder / f"{path.stem}.{stamp}_{count:04d}.json"
        count += 1
    return candidate


def _keep(path: Path, keep: Path, old: bytes) -> None:
    """Keep the stored file as ``keep``: a hard link (atomic, nothing half-written to leave
    behind), or a copy where the file system has no links."""
    keep.parent.mkdir(exist_ok=True)
    try:
        os.link(path, keep)
    except OSError:
        files.replace_bytes(keep, old)
    files.sync_dir(keep.parent)


def write_baseline(path: Path | str, baseline: Baseline | Callable[[bytes | None], Baseline],
                   guard: Callable[[bytes | None], None] | None = None) -> Path | None:
    """Write ``baseline`` to ``path`` atomically; return where the previous version was kept.

    Everything happens under the path's lock (``files.locked``), so concurrent updates are
    serialised and each one's read-modify-write sees the last one's file: temporary files of a
    killed writer are removed, the stored file is read, ``guard(old_bytes)`` may refuse the update
    by raising, the stored file is kept as ``history/<stem>.<UTC timestamp>.json`` and the new text
    replaces it (``files.replace_bytes``: temporary file, fsync, rename, umask honoured). If
    anything fails, or SIGTERM arrives, the old file is untouched and the temporary file and the
    unused history copy are removed. Writing content identical to the stored file changes nothing
    and returns ``None``. ``baseline`` may be a function of the stored bytes (``None``: no file),
    so an update that adds to the stored file reads it under the same lock.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with files.locked(path), files.terminable():
        files.remove_strays(path)
        old = path.read_bytes() if path.exists() else None
        if guard is not None:
            guard(old)
        new = to_json(baseline(old) if callable(baseline) else baseline).encode("utf-8")
        if old == new:
            return None
        history = _history_path(path) if old is not None else None
        try:
            if history is not None:
                _keep(path, history, old)
            files.replace_bytes(path, new)
        except BaseException:
            if history is not None:
                history.unlink(missing_ok=True)
            raise
    return history
