"""The `league` command's entry point; also allows `python -m league`."""

from __future__ import annotations

import sys


def run() -> int:
    """Handle stop signals first, then load the CLI (its imports take seconds) and run it."""
    from league.signals import Stopped, exit_code, raise_on_stop

    raise_on_stop()  # a Ctrl-C or SIGTERM while starting up stops as cleanly as later
    try:
        from league.commands.cli import main
    except Stopped as stop:
        print(f"league: stopped by {stop.name}", file=sys.stderr)
        return exit_code(stop.signum)
    return main()


if __name__ == "__main__":
    sys.exit(run())
