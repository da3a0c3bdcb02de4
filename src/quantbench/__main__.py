"""``python -m quantbench``: see ``quantbench.commands.cli``."""

import sys

from quantbench.commands.cli import main

sys.exit(main())
