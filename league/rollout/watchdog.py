"""A time limit on the user's code: a rollout, or the start-up play that infers teams."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any


class Overrun(BaseException):
    """Raised by `watchdog` when its time is up: a BaseException, so that no `except
    Exception` in a game (or in League's own fault handling) swallows it. Runners turn it
    into a `RolloutTimeout` naming the env copy and its episode's seed."""


@contextlib.contextmanager
def watchdog(seconds: float | None, what: str = "train.rollout_timeout") -> Iterator[None]:
    """Raise `Overrun` in this thread once `seconds` have passed (None: never).

    A SIGALRM timer: its handler raises between two bytecodes of whatever runs, a hung
    `step()` in pure Python or a `time.sleep` included (a C call that never returns to
    Python is beyond it). Only the main thread receives signals: elsewhere it is a no-op.
    Inside another watchdog (a bot's move inside a rollout) the shorter limit rings, and
    the enclosing one goes on afterwards with the time it had left.
    """
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return
    outer = signal.getitimer(signal.ITIMER_REAL)[0]  # an enclosing watchdog's time left
    if outer and outer <= seconds:
        yield  # the enclosing one rings first
        return

    def ring(signum: int, frame: Any) -> None:
        raise Overrun(f"ran past {what} ({seconds:g} s)")

    start = time.monotonic()
    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:  # the enclosing watchdog goes on with the time it had left
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - start), 1e-3))
