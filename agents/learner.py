"""The interface every learner (PPO, TRPO, ACER) implements."""

from __future__ import annotations

from typing import Any, Protocol

import torch

from agents.batch import Batch
from agents.policy import ActorCritic


class Learner(Protocol):
    """Improve a policy from batches of experience.

    `gamma` and `ent_coef` are set by the training loop before each update (they
    follow the discount and entropy-bonus schedules; a learner without an entropy
    bonus may ignore it), and so is the step size through `set_lr` (the
    learning-rate schedule). `state_dict()` holds everything needed to continue
    exactly: weights, optimizer state and the learner's own counters.
    """

    policy: ActorCritic
    gamma: float
    ent_coef: float

    def set_lr(self, lr: float) -> None:
        """Set the learning rate for the next updates."""
        ...

    def update(self, batch: Batch) -> dict[str, float]:
        """Learn from one batch; return namespaced metrics (`losses/...`)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Return the learner's full state."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state returned by `state_dict`."""
        ...


def resolve_device(name: str) -> torch.device:
    """Map `auto|cpu|cuda` to a device: auto picks CUDA when present."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no CUDA device")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {name!r}")
    return torch.device(name)


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """Map `auto|float32|bfloat16` to the learner torso's dtype on `device`.

    auto picks bfloat16 only where the hardware runs it natively (measured on a
    2-core AMX CPU: a connect-four PPO gradient step 1.2x faster at 256 rows, 1.6x at
    512, `bench/learner_step.py`); emulated bfloat16 would be slower than float32.
    """
    if name == "float32":
        return torch.float32
    if name == "bfloat16":
        return torch.bfloat16
    if name != "auto":
        raise ValueError(f"precision must be auto, float32 or bfloat16, not {name!r}")
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # torch >= 2.3
    native = any(getattr(torch.cpu, check, lambda: False)() for check in checks)
    return torch.bfloat16 if native else torch.float32
