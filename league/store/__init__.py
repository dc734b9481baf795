"""What a run keeps on disk: the registry (SQLite), checkpoints, the run directory."""

from __future__ import annotations

from league.store.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from league.store.registry import SNAPSHOT_KINDS, Registry, RegistryError
from league.store.run_dir import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    EXPLOIT_DIR,
    LOCK_FILE,
    LOG_FILE,
    TENSORBOARD_DIR,
    RunError,
    RunLock,
    RunLog,
    kept,
    load_run_config,
    new_run,
    read_only_path,
    refuse_read_only,
    stopped_writing,
)

__all__ = [
    "CHECKPOINT_FILE",
    "CONFIG_FILE",
    "EXPLOIT_DIR",
    "LOCK_FILE",
    "LOG_FILE",
    "SNAPSHOT_KINDS",
    "TENSORBOARD_DIR",
    "CheckpointError",
    "Registry",
    "RegistryError",
    "RunError",
    "RunLock",
    "RunLog",
    "kept",
    "load_checkpoint",
    "load_run_config",
    "new_run",
    "read_only_path",
    "refuse_read_only",
    "save_checkpoint",
    "stopped_writing",
]
