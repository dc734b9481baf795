"""Allow `python -m league`."""

from __future__ import annotations

import sys

from league.cli import main

sys.exit(main())
