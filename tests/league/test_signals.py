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
