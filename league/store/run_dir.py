"""A run directory: its saved config, its checkpoint, its registry and its logs.

```
runs/<name>/config.yaml              the run's config, every field (written once)
runs/<name>/checkpoint.safetensors   the full training state (atomic; see checkpoint.py)
runs/<name>/league.db                the registry: snapshots and matches (registry.py)
runs/<name>/weights/<sha256>.safetensors
runs/<name>/tb/                      TensorBoard event files
runs/<name>/train.lock               held by the one trainer of the run (its PID inside)
runs/<name>/league.log               warnings and full tracebacks of the run's errors
```

A run whose directory cannot be written (a read-only mount, no write permission) can
still be read: the reading commands open its registry read-only.
"""

from __future__ import annotations

import errno
import fcntl
import getpass
import json
import logging
import os
import socket
import sys
from pathlib import Path

from league.config import Config, dump_config, load_config
from league.store.checkpoint import CheckpointError, load_checkpoint
from league.store.registry import DB_NAME, WEIGHTS_DIR, Registry, RegistryError

CONFIG_FILE = "config.yaml"
CHECKPOINT_FILE = "checkpoint.safetensors"
TENSORBOARD_DIR = "tb"
LOCK_FILE = "train.lock"
LOG_FILE = "league.log"
ORIGIN_FILE = "origin.json"
"""Who created the run and on which machine (`league.run.check_trusted` reads it)."""
EXPLOIT_DIR = "best_responses"
"""The checkpoints of unfinished best responses (`league exploit --resume`)."""

WRITTEN = (
    DB_NAME,
    f"{DB_NAME}-wal",
    f"{DB_NAME}-shm",
    WEIGHTS_DIR,
    TENSORBOARD_DIR,
    LOG_FILE,
    EXPLOIT_DIR,
)
"""What a run's writers change in its directory (beside the directory itself, where
the checkpoint, the lock and SQLite's -wal and -shm files are made)."""


class RunError(RuntimeError):
    """A run directory cannot be created or resumed."""


class RunExistsError(RunError):
    """A new run was asked for where a run already is; the message says how to resume it
    (`resume`) or start another (`name`), in the caller's words (the CLI's by default)."""

    def __init__(self, run_dir: Path, *, resume: str = "", name: str = "--name") -> None:
        super().__init__(
            f"{run_dir} already holds a run; resume it with {resume or f'--resume {run_dir}'} "
            f"or pick another {name}"
        )
        self.run_dir = run_dir


def read_only_path(run_dir: Path) -> Path | None:
    """The first path of the run that this process may not write (the run directory or
    something its writers change), or None where a writer can work."""
    run_dir = Path(run_dir)
    for path in (run_dir, *(run_dir / name for name in WRITTEN)):
        if path.exists() and not os.access(path, os.W_OK):
            return path
    return None


def refuse_read_only(run_dir: Path, why: str) -> None:
    """Raise a RunError naming the path if the run cannot be written; `why`: what the
    command would write, e.g. "training writes its checkpoint, snapshots and logs there"."""
    path = read_only_path(run_dir)
    if path is not None:
        raise RunError(f"{path} is read-only: {why}")


class RunLock:
    """A run's one-writer lock: an exclusive `flock` on `train.lock`, held while the
    process lives. The OS releases it when the process dies (even by SIGKILL), so a
    lock is never stale; readers (`eval`, `table`, `tournament`) never take it."""

    def __init__(self, run_dir: Path) -> None:
        why = f"training writes its checkpoint, snapshots and logs in {run_dir}"
        refuse_read_only(run_dir, why)
        path = Path(run_dir) / LOCK_FILE
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            if err.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
            raise RunError(f"{path} is read-only ({err.strerror}): {why}") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(self._fd, 32).decode(errors="replace").strip() or "another process"
            os.close(self._fd)
            raise RunError(
                f"{run_dir} is being trained by process {holder} (it holds {path}); "
                "a run has one trainer: wait for it to end or stop it"
            ) from None
        try:
            os.ftruncate(self._fd, 0)
            os.write(self._fd, f"{os.getpid()}\n".encode())
        except OSError as err:  # a full disk
            self.release()
            raise OSError(err.errno, err.strerror, str(path)) from None

    def release(self) -> None:
        """Let another trainer take the run."""
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = -1


def new_run(config: Config, runs_dir: Path) -> Path:
    """Create runs/<name> and save the config there; refuse to overwrite a run."""
    run_dir = Path(runs_dir) / str(config.name)
    if (run_dir / CONFIG_FILE).exists():
        raise RunExistsError(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG_FILE).write_text(dump_config(config))
    (run_dir / ORIGIN_FILE).write_text(json.dumps(origin()) + "\n")
    return run_dir


def origin() -> dict[str, str]:
    """This process's user and machine, as a run records its creator (`origin.json`)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        user = str(os.getuid())
    return {"user": user, "host": socket.gethostname()}


def load_run_config(run_dir: Path, overrides: list[str] | None = None) -> Config:
    """Read a run directory's saved config (with optional overrides)."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise RunError(f"{run_dir} is not a run directory ({CONFIG_FILE} is missing)")
    return load_config(path, overrides)


class RunLog(logging.FileHandler):
    """`league.log`: a file handler that a failed write (a full disk) leaves silent,
    where logging's own handler would print a traceback of its own in the terminal."""

    def handleError(self, record: logging.LogRecord) -> None:
        """Drop the record if the file could not be written (the run's failure is
        reported once, by the command); report any other error as logging does."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handleError(record)


def stopped_writing(err: OSError, run_dir: Path) -> RunError:
    """The one-line error of a run that stopped because a write failed (a full disk):
    the file it could not write, why, and what the run kept. The traceback goes to
    `league.log` (where there is room)."""
    logging.getLogger("league.tracebacks").error("%s", err, exc_info=err)
    where = f"{err.filename}: " if err.filename else ""
    return RunError(f"{where}{err.strerror or err}; {kept(run_dir)}")


def kept(run_dir: Path) -> str:
    """What a stopped run holds, checked (its checkpoint loads, its registry passes its
    integrity check), and how to continue it."""
    run_dir = Path(run_dir)
    held, lost, iteration = [], [], None
    if (run_dir / CHECKPOINT_FILE).exists():
        try:
            iteration = load_checkpoint(run_dir / CHECKPOINT_FILE)["counters"]["iteration"]
            held.append(f"the checkpoint of iteration {iteration}")
        except CheckpointError as err:
            lost.append(str(err))
    else:
        lost.append("no checkpoint yet")
    try:
        with Registry(run_dir, read_only=True) as registry:
            count, intact = len(registry.snapshots()), registry.integrity_ok()
        if intact:
            held.append(f"the registry's {count} snapshot{'s' * (count != 1)}")
        else:
            lost.append(f"{registry.db_path} fails its integrity check")
    except RegistryError as err:
        lost.append(str(err))
    text = f"kept intact: {' and '.join(held)}" if held else "nothing kept"
    if lost:
        text += f" ({'; '.join(lost)})"
    how = "continues from there" if iteration is not None else "starts it from iteration 0"
    return f"{text}; league train --resume {run_dir} {how}"
