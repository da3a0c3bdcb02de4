"""Unusable inputs end in one line and exit 4, never a traceback (issue 44, item 11): a ``gguf:``
file that is text or a crafted header, and ``pytest benches tests``, which failed to collect
because both folders had a ``test_quality.py`` (the tests' one is now ``test_quality_metrics.py``).
Odd method and model names are no longer unusable: every report draws them as text
(``test_hostile_strings``)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from quantbench.sources import SourceError, resolve_source
from session_runs import run_session

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("gguf")


def crafted_header(path: Path) -> Path:
    """GGUF magic and version 3, then a tensor count and a metadata count no file could hold."""
    path.write_bytes(b"GGUF" + struct.pack("<I", 3) + struct.pack("<QQ", 2**62, 2**62) + b"\0" * 64)
    return path


@pytest.mark.parametrize("kind", ["text", "header"])
def test_an_unreadable_gguf_file_is_one_source_error_line(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "model.gguf"
    if kind == "text":
        path.write_text("this is not a model\n" * 10)
    else:
        crafted_header(path)
    with pytest.raises(SourceError) as exc:
        resolve_source(f"gguf:{path}", tmp_path / "cache")
    message = str(exc.value)
    assert message.startswith(f"gguf:{path} is not a usable GGUF file: ") and "\n" not in message
    assert not list((tmp_path / "cache").glob("gguf/dense/*")), "no half-built folder is left"


@pytest.mark.session
def test_a_session_on_an_unreadable_gguf_file_is_exit_4(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_text("not a model")
    session = run_session(tmp_path / "cache", tmp_path / "work", "--qb-methods", "fp16", "-k", "len128",
                          "--qb-model", f"gguf:{path}")
    assert session.code == 4, session.explain()
    (line,) = session.lines_with("is not a usable GGUF file")
    assert "quantbench: " in line and "nothing was run" in line
    assert "Traceback" not in session.output


@pytest.mark.session
def test_benches_and_tests_collect_together() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "benches", "tests", "--co", "-q",
                           "-p", "no:cacheprovider"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "import file mismatch" not in proc.stdout + proc.stderr
    assert not {p.name for p in (ROOT / "benches").glob("test_*.py")} & {
        p.name for p in (ROOT / "tests").glob("test_*.py")}
