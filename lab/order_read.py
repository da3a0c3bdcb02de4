"""One line per method of each session folder given: what ``orderab`` (lab/gpu-session.sh) asks.

    python lab/order_read.py R/owhole-compiled R/oprofile-compiled ...

Columns: decode tok/s; kernel, host (wall minus kernels), host waiting in synchronising calls and
host busy (profiled), all µs a token; kernels and Python calls a token; the session's notes from
the test plugins. A figure a session did not measure reads "-".
"""

from __future__ import annotations

import sys
from pathlib import Path

from quantbench.session import Session, SessionError

FIGURES = ("decode_tps", "decode_kernel_us", "decode_host_us", "decode_sync_wait_us",
           "decode_host_busy_us", "decode_kernels", "decode_py_calls")


def lines(folder: Path) -> list[str]:
    try:
        session = Session.read(folder / "session.json")
    except SessionError as exc:
        raise SystemExit(str(exc)) from None
    out = []
    for row in session.results:
        cells = [f"{row.metrics[f].median:,.1f}" if f in row.metrics else "-" for f in FIGURES]
        notes = [n for n in row.notes if "quantbench.testing" in n]
        out.append("  ".join([folder.name, row.method, *cells, *notes]))
    return out


if __name__ == "__main__":
    print("  ".join(["session", "method", *FIGURES]))
    for arg in sys.argv[1:]:
        print("\n".join(lines(Path(arg))))
