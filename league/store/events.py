"""A run's TensorBoard writer (`runs/<name>/tb/`), failing the way the rest of a run does.

torch's `SummaryWriter` hands its events to tensorboard's `EventFileWriter`, which
writes them on a thread of its own (`_AsyncWriterThread`). When a write fails there (a
full disk), the thread keeps the exception, which the next `add_*` or `flush` in the
caller raises again, and then dies with it, so Python's `threading.excepthook` prints a
traceback of tensorboard's code in the terminal as well; the exception the caller gets,
an `OSError` from inside a buffered file write, names no file. `EventWriter` is a
`SummaryWriter` that keeps the thread's traceback out of the terminal (the same
exception still reaches the caller, which reports it) and raises every failure as an
`OSError` that names the event file.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

from tensorboard.summary.writer.event_file_writer import _AsyncWriterThread
from torch.utils.tensorboard import SummaryWriter

__all__ = ["EventWriter"]

logger = logging.getLogger(__name__)

_hook_lock = threading.Lock()
_previous_hook: Any = None


def _writer_thread_hook(args: threading.ExceptHookArgs) -> None:
    """Leave out the tracebacks of tensorboard's writer threads: their exception is
    raised again by the writer's next call, where it is handled; pass on all others."""
    if isinstance(args.thread, _AsyncWriterThread) and isinstance(args.exc_value, Exception):
        logger.debug("TensorBoard's writer thread stopped: %r", args.exc_value)
        return
    _previous_hook(args)


def _install_hook() -> None:
    """Put `_writer_thread_hook` in front of the process's thread exception hook, once."""
    global _previous_hook
    with _hook_lock:
        if threading.excepthook is not _writer_thread_hook:
            _previous_hook = threading.excepthook
            threading.excepthook = _writer_thread_hook


class _NamedErrors:
    """An `EventFileWriter` whose failures are OSErrors naming its event file."""

    def __init__(self, writer: Any, owner: EventWriter) -> None:
        self._writer, self._owner = writer, owner
        self.path = str(getattr(writer, "_file_name", writer.get_logdir()))

    def add_event(self, event: Any) -> None:
        with self._owner.naming(self.path):
            self._writer.add_event(event)

    def flush(self) -> None:
        with self._owner.naming(self.path):
            self._writer.flush()

    def close(self) -> None:
        with self._owner.naming(self.path):
            self._writer.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer, name)


class EventWriter(SummaryWriter):
    """torch's `SummaryWriter` for a run: every failure to write its events is raised as
    an `OSError` naming the event file, and the writer thread prints no traceback.

    After a failure the writer stays failed (each later call raises again), and its
    `close()` releases the file without raising a second time.
    """

    def __init__(self, log_dir: str, **kwargs: Any) -> None:
        _install_hook()
        self.failure: OSError | None = None
        super().__init__(log_dir, **kwargs)

    @contextlib.contextmanager
    def naming(self, path: str) -> Iterator[None]:
        """Raise an `OSError` of the block as one that names `path` (unless it names a
        file already), and remember the first."""
        try:
            yield
        except OSError as err:
            named = err if err.filename else OSError(err.errno, err.strerror or str(err), path)
            self.failure = self.failure or named
            if named is err:
                raise
            raise named from err

    def _get_file_writer(self) -> Any:
        with self.naming(str(self.log_dir)):  # a new event file is written at once
            file_writer = super()._get_file_writer()
        if not isinstance(file_writer.event_writer, _NamedErrors):
            file_writer.event_writer = _NamedErrors(file_writer.event_writer, self)
        return file_writer

    def close(self) -> None:
        """Flush and close the event file; after a failure already raised, quietly."""
        if self.failure is None:
            super().close()
            return
        try:
            super().close()
        except OSError as err:
            logger.debug("closing the TensorBoard writer after %s: %s", self.failure, err)
        self.file_writer = self.all_writers = None
