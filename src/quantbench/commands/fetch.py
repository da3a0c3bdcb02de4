"""``python -m quantbench fetch smollm2``: put a small real model into the cache (``sources.fetch``).

Exit statuses as every command's (``exits``): 0 fetched, 4 when the name, the cache folder or the
download is unusable (nothing was judged, so never the regression status 1).
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path
from typing import Sequence

from quantbench import exits
from quantbench.config import default_cache_dir, expand_home, home_problem
from quantbench.files import describe
from quantbench.sources.fetch import KNOWN, FetchError, fetch


def main(argv: Sequence[str] | None = None) -> int:
    """Fetch a model into the cache and print its path; one line and exit 4 on failure (nothing
    was judged, so never the regression status 1)."""
    parser = exits.ArgumentParser(prog="python -m quantbench fetch",
                                  description="Download a small real model into the cache.")
    parser.add_argument("name", choices=sorted(KNOWN))
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="quantbench's cache folder (default ~/.cache/quantbench)")
    args = parser.parse_args(argv)
    cache_dir = expand_home(args.cache_dir) if args.cache_dir else default_cache_dir()
    problem = home_problem(cache_dir, "--cache-dir")
    if problem:
        print(f"quantbench fetch {args.name}: {problem}", file=sys.stderr)
        return exits.USAGE
    try:
        path = fetch(args.name, cache_dir)
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        print(f"quantbench fetch {args.name}: cannot write{where}: {describe(exc)}", file=sys.stderr)
        return exits.USAGE
    except (FetchError, zipfile.BadZipFile) as exc:
        print(f"quantbench fetch {args.name}: {exc}", file=sys.stderr)
        return exits.USAGE
    print(path)
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
