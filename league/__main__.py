"""Allow `python -m league`."""

from __future__ import annotations

import sys

from league.commands.cli import main

sys.exit(main())
