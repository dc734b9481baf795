"""How a command stops: a Stopped that Python swallowed is raised again."""

from __future__ import annotations

import os
import signal

import pytest

from league import signals


@pytest.fixture
def stop_handlers():
    saved = {s: signal.getsignal(s) for s in signals.STOP_SIGNALS}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)
    signals._raised.clear()


def test_a_stop_lost_in_a_callback_is_raised_again_by_the_next_wait(stop_handlers):
    signals.raise_on_stop()
    signals.raise_lost_stop()  # nothing asked yet: nothing raised
    try:  # a SIGTERM landing in a callback whose exceptions Python only prints
        os.kill(os.getpid(), signal.SIGTERM)
    except signals.Stopped:
        pass
    with pytest.raises(signals.Stopped) as stopped:
        signals.abandon_if_stopped()  # what an evaluation's waits and game loop call
    assert stopped.value.signum == signal.SIGTERM
    with signals.deferred_stop():  # a training loop's own flag decides there
        signals.raise_lost_stop()


def test_ray_cannot_replace_the_stop_handlers_while_it_starts():
    # Ray's own SIGTERM handler would turn a SIGTERM during its start-up into a
    # SystemExit that a fork hook may swallow without a trace: it is never installed.
    import signal as sig

    from league.signals import keep_handlers, raise_on_stop

    real = sig.signal
    before = {s: sig.getsignal(s) for s in (sig.SIGTERM, sig.SIGINT, sig.SIGUSR1)}
    try:
        raise_on_stop()
        ours = sig.getsignal(sig.SIGTERM)

        def rays(signum, frame):  # pragma: no cover - never called
            raise SystemExit(signum)

        with keep_handlers():
            assert sig.signal(sig.SIGTERM, rays) is ours
            assert sig.getsignal(sig.SIGTERM) is ours
            sig.signal(sig.SIGUSR1, rays)  # other signals are Ray's to set
            assert sig.getsignal(sig.SIGUSR1) is rays
        assert sig.getsignal(sig.SIGTERM) is ours
        assert sig.signal is real  # and Ray's later calls reach the real one
    finally:
        for s, handler in before.items():
            sig.signal(s, handler)
