"""A run directory: its saved config, its checkpoint, its registry and its logs.

```
runs/<name>/config.yaml              the run's config, every field (written once)
runs/<name>/checkpoint.safetensors   the full training state (atomic; see checkpoint.py)
runs/<name>/league.db                the registry: snapshots and matches (registry.py)
runs/<name>/weights/<sha256>.safetensors
runs/<name>/tb/                      TensorBoard event files
```
"""

from __future__ import annotations

from pathlib import Path

import yaml

from league.config import Config, apply_overrides, dump_config, parse_config

CONFIG_FILE = "config.yaml"
CHECKPOINT_FILE = "checkpoint.safetensors"
TENSORBOARD_DIR = "tb"


class RunError(RuntimeError):
    """A run directory cannot be created or resumed."""


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
    raw = yaml.safe_load(path.read_text())
    raw = apply_overrides(raw, list(overrides or []), source=str(path))
    return parse_config(raw, source=str(path))
