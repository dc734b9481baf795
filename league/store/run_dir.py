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
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from league.config import Config, dump_config, load_config

CONFIG_FILE = "config.yaml"
CHECKPOINT_FILE = "checkpoint.safetensors"
TENSORBOARD_DIR = "tb"
LOCK_FILE = "train.lock"
LOG_FILE = "league.log"


class RunError(RuntimeError):
    """A run directory cannot be created or resumed."""


class RunLock:
    """A run's one-writer lock: an exclusive `flock` on `train.lock`, held while the
    process lives. The OS releases it when the process dies (even by SIGKILL), so a
    lock is never stale; readers (`eval`, `table`, `tournament`) never take it."""

    def __init__(self, run_dir: Path) -> None:
        path = Path(run_dir) / LOCK_FILE
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(self._fd, 32).decode(errors="replace").strip() or "another process"
            os.close(self._fd)
            raise RunError(
                f"{run_dir} is being trained by process {holder} (it holds {path}); "
                "a run has one trainer: wait for it to end or stop it"
            ) from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        """Let another trainer take the run."""
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = -1


def new_run(config: Config, runs_dir: Path) -> Path:
    """Create runs/<name> and save the config there; refuse to overwrite a run."""
    run_dir = Path(runs_dir) / str(config.name)
    if (run_dir / CONFIG_FILE).exists():
        raise RunError(
            f"{run_dir} already holds a run; resume it with --resume {run_dir} "
            "or pick another --name"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG_FILE).write_text(dump_config(config))
    return run_dir


def load_run_config(run_dir: Path, overrides: list[str] | None = None) -> Config:
    """Read a run directory's saved config (with optional overrides)."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise RunError(f"{run_dir} is not a run directory ({CONFIG_FILE} is missing)")
    return load_config(path, overrides)
