"""matplotlib for every chart quantbench draws: the Agg backend, and PNG files written whole.

matplotlib is the ``report`` extra, imported only here and only when a chart is drawn. A chart is
rendered into memory and then written with ``files.replace_bytes`` (a temporary file renamed over
the name): a link at the chart's name is replaced, never followed (``history --out`` wrote
through a link to ``index.html`` and to a chart), and an interrupted or failed write leaves the
old file or none, never half a PNG. Text on a chart goes through ``report.escape.chart_text``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from quantbench.files import replace_bytes


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend; ``ImportError`` without the report extra."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, path: Path, dpi: float) -> bytes:
    """Render ``fig`` as PNG, close it, and write it to ``path`` atomically; returns the bytes."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi)
    finally:
        pyplot().close(fig)
    data = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_bytes(path, data)
    return data
