"""What every learner (PPO, TRPO, ACER) shares: its interface, its settings base, devices.

A learner owns a policy network and improves it from `Batch`es. The training loop
owns the schedules: before each update it hands the learner that iteration's
discount, learning rate and entropy weight as one `StepParams` value, so a learner
keeps no schedule of its own. `state_dict()` holds everything needed to continue
exactly: weights, optimizer state, replay buffers and the learner's own counters.
A learner whose played policy is not the one it trains (R-NaD's averaged network) adds
`serving_policy()`; `serving_policy(learner)` is what snapshots take.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import torch
from pydantic import BaseModel, ConfigDict

from agents.batch import Batch
from agents.policy import ActorCritic


class Settings(BaseModel):
    """Base of each algorithm's strict settings block (`learner.ppo`, `learner.trpo`, ...).

    Unknown keys are refused and values are checked when the config is loaded.
    `lr` and `ent_coef` are the algorithm's defaults for the trainer's schedules
    (`learner.lr`, `learner.ent_coef`), not settings of the block.
    """

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)

    default_lr: ClassVar[float] = 2.5e-4
    default_ent_coef: ClassVar[float] = 0.0


@dataclass(frozen=True)
class StepParams:
    """The values the training loop's schedules give one update."""

    gamma: float
    """Discount factor."""
    lr: float
    """Step size of the learner's optimizer."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus (a learner without one ignores it)."""


class Learner(Protocol):
    """Improve a policy from batches of experience."""

    policy: ActorCritic

    def update(self, batch: Batch, params: StepParams) -> dict[str, float]:
        """Learn from one batch; return namespaced metrics (`losses/...`)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Return the learner's full state (tensors, numbers, lists, dicts)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state returned by `state_dict`."""
        ...


def serving_policy(learner: Learner) -> ActorCritic:
    """The network that plays outside training (snapshots, scoring): a learner's
    `serving_policy()` where it has one (R-NaD: its averaged network), else the network it
    trains, which is also what the rollout workers act with."""
    serving = getattr(learner, "serving_policy", None)
    return learner.policy if serving is None else serving()


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group's learning rate."""
    for group in optimizer.param_groups:
        group["lr"] = lr


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
