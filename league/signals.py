"""How League's commands stop: Ctrl-C (SIGINT) and SIGTERM alike.

`timeout`, `docker stop`, Kubernetes and batch schedulers stop a job with SIGTERM, a
person with Ctrl-C; both mean "stop now, keep what you have". Two ways to honour it:

- `raise_on_stop()` (the CLI installs it first thing): the signal raises `Stopped`, which
  `main` turns into one line and the exit code of that signal (130, 143). For commands
  whose work in flight is worth nothing once interrupted (an evaluation, a tournament).
- `deferred_stop()` (a training loop): the first signal only sets a flag the loop reads
  between iterations, so it can finish cleanly and write its checkpoint; a second one
  raises `Stopped` at once. Code that waits on others inside such a loop (the Ray
  runner) calls `abandon_if_stopped()`, so that a first stop still ends a wait that
  never would (a lost node) within seconds.

Ray installs its own SIGTERM handlers when it starts (a native one dumps a stack and
aborts): `start_ray` keeps League's (`keep_handlers`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_code(signum: int) -> int:
    """The shell's code for a process stopped by `signum`: 128 + its number."""
    return 128 + int(signum)


class Stopped(KeyboardInterrupt):
    """A stop signal arrived; `signum` says which."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)

    @property
    def name(self) -> str:
        """The signal's name: SIGINT or SIGTERM."""
        return signal.Signals(self.signum).name


def stop_behind(err: BaseException) -> Stopped | None:
    """The `Stopped` that caused `err`, if any (a C extension interrupted while it loads
    turns it into `ImportError: initialization failed`)."""
    seen: set[int] = set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, Stopped):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


_raised: list[int] = []
"""The signals `raise_on_stop`'s handler raised `Stopped` for. Raised there, the
exception can be lost: a signal that lands in a callback whose exceptions Python only
prints ("Exception ignored in ...", e.g. logging's at-fork hook while Ray spawns its
processes) leaves the program running. `abandon_if_stopped` raises it again."""


def _raise(signum: int, frame: Any) -> None:
    _raised.append(signum)
    raise Stopped(signum)


def raise_on_stop() -> None:
    """Make SIGINT and SIGTERM raise `Stopped` (main thread only; elsewhere a no-op)."""
    if _in_main_thread():
        _raised.clear()
        for signum in STOP_SIGNALS:
            signal.signal(signum, _raise)


class StopFlag:
    """What `deferred_stop` hands its loop: `signum` is None until a stop is asked."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.since: float | None = None
        """When the stop was asked (`time.monotonic()`)."""

    def __bool__(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        """The signal that asked to stop (empty if none)."""
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def __call__(self, signum: int, frame: Any) -> None:
        if self.signum is not None:
            raise Stopped(signum)
        self.signum, self.since = signum, time.monotonic()


class Abandoned(Exception):
    """Work under way was given up because a stop was asked and it did not finish within
    `STOP_GRACE_S` (a rollout on a lost node); none of it was used."""

    def __init__(self, flag: StopFlag) -> None:
        super().__init__(f"{flag.name}: the rollout under way did not finish; it is dropped")
        self.signum = flag.signum


STOP_GRACE_S = 3.0
"""After a deferred stop, how long work under way may take before it is abandoned."""

_active: list[StopFlag] = []
"""The flags of the `deferred_stop` blocks the process is in (innermost last)."""


def abandon_if_stopped() -> None:
    """Raise `Abandoned` if a deferred stop was asked over `STOP_GRACE_S` ago: for code
    that waits on others (Ray workers), so that a stop is honoured within seconds even
    when what it waits for never comes; and `Stopped` for a stop whose exception was
    lost (`raise_lost_stop`)."""
    raise_lost_stop()
    if _active and _active[-1].since is not None:
        if time.monotonic() - _active[-1].since > STOP_GRACE_S:
            raise Abandoned(_active[-1])


def raise_lost_stop() -> None:
    """Raise `Stopped` again for a stop whose first one was lost (see `_raised`): for
    loops that run long outside a `deferred_stop` block (an evaluation's games)."""
    if _raised and not _active:
        raise Stopped(_raised[-1])


@contextlib.contextmanager
def deferred_stop() -> Iterator[StopFlag]:
    """Within: the first SIGINT or SIGTERM sets the flag, a second raises `Stopped`.

    The handlers in place before are restored on exit. Outside the main thread no
    handler can be installed, and the flag never rises.
    """
    flag = StopFlag()
    if not _in_main_thread():
        yield flag
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    for signum in STOP_SIGNALS:
        signal.signal(signum, flag)
    _active.append(flag)
    try:
        yield flag
    finally:
        _active.remove(flag)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def keep_handlers() -> Iterator[None]:
    """Around Ray's start-up: keep League's handling of SIGINT and SIGTERM.

    `ray.init` sets a Python SIGTERM handler that calls `sys.exit(15)`, and its core
    worker a native one that dumps a stack and aborts (turned off here through
    `RAY_DISABLE_FAILURE_SIGNAL_HANDLER`). Within, Ray cannot replace League's handlers
    for SIGINT and SIGTERM; afterwards the handlers in place before are restored.
    """
    os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
    if not _in_main_thread():
        yield
        return
    previous: dict[int, Callable[..., Any] | int | None] = {
        signum: signal.getsignal(signum) for signum in STOP_SIGNALS
    }
    real_signal = signal.signal

    def ours_stay(signum: int, handler: Any) -> Any:
        # Ray's SIGTERM handler (`sys.exit(15)`) is never installed: a SIGTERM during
        # its start-up that landed in it inside a callback whose exceptions Python only
        # prints (logging's at-fork hook) was lost without a trace (CI: an evaluation
        # ran on for 180 s). League's handler records it (`_raised`) wherever it lands.
        if signum in STOP_SIGNALS:
            return signal.getsignal(signum)
        return real_signal(signum, handler)

    signal.signal = ours_stay
    try:
        yield
    finally:
        signal.signal = real_signal
        for signum, handler in previous.items():
            if handler is not None:
                signal.signal(signum, handler)
