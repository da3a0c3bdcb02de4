"""``python -m quantbench``: see ``quantbench.cli``."""

import sys

from quantbench.cli import main

sys.exit(main())
