"""The evidence folders follow docs/results/README.md: each has a README with its provenance, and
those from the policy's date on keep logs compressed and no file over 512 KiB, so a clone stays
mostly code."""

from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"
POLICY_FROM = "2026-12-08"  # folders of this date and later are held to the size rules
MAX_BYTES = 512 * 1024
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")


def _folders() -> list[Path]:
    return sorted(p for p in RESULTS.iterdir() if p.is_dir())


def _under_policy(folder: Path) -> bool:
    found = _DATE.search(folder.name)
    return bool(found) and found.group(1) >= POLICY_FROM


def test_every_results_folder_says_where_its_figures_come_from() -> None:
    grandfathered = {"cpu-2026-11-24", "cpu-2026-11-25"}  # CPU session files only, cited by findings
    missing = [p.name for p in _folders() if not (p / "README.md").is_file() and p.name not in grandfathered]
    assert missing == []


def test_newer_results_folders_keep_logs_compressed_and_files_small() -> None:
    newer = [p for p in _folders() if _under_policy(p)]
    assert newer, "the policy's own first folder (cpu-2026-12-08) is missing"
    offending = [str(f.relative_to(RESULTS)) for folder in newer for f in folder.rglob("*")
                 if f.is_file() and (f.suffix == ".log" or f.stat().st_size > MAX_BYTES)]
    assert offending == []


def test_the_date_rule_reads_folder_names() -> None:
    assert _under_policy(Path("h100-2026-12-08b")) and _under_policy(Path("cpu-2027-01-02"))
    assert not _under_policy(Path("h200-2026-12-04g")) and not _under_policy(Path("notes"))
