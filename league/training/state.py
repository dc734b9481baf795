"""What a run carries from one iteration to the next, and how it is saved and restored."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from league.config import LeagueConfig
from matchmaking import NashSampler, OpponentSampler, PFSPSampler, SnapshotPool


@dataclass
class Counters:
    """Progress that a resumed run continues exactly (saved and restored as one value)."""

    iteration: int = 0
    env_steps: int = 0
    agent_steps: int = 0
    episodes: int = 0
    seconds: float = 0.0
    last_snapshot: dict[str, int] = field(default_factory=dict)
    """League agent (its learner key: the role for a main agent) -> its newest snapshot."""
    env_errors: int = 0
    worker_restarts: int = 0
    stale_fragments: int = 0
    """Fragments dropped unlearned for being older than `train.max_staleness`."""
    abandoned_episodes: int = 0
    """Episodes under way dropped because an opponent left the pool."""

    def to_state(self) -> dict[str, Any]:
        """Return the counters as plain data."""
        return dataclasses.asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Counters:
        """Rebuild counters saved by `to_state`."""
        return cls(**state)


def make_sampler(lg: LeagueConfig, role: str) -> SnapshotPool:
    """Build a role's opponent sampler from the `league` config section."""
    if lg.history == "pfsp":
        return PFSPSampler(
            role=role,
            p_latest=lg.p_latest,
            weighting=lg.pfsp_weighting,
            decay=lg.payoff_decay,
            max_pool=lg.max_pool,
        )
    if lg.history == "nash":
        return NashSampler(role=role, p_latest=lg.p_latest, max_pool=lg.max_pool)
    return OpponentSampler(
        role=role,
        p_latest=lg.p_latest,
        method=lg.history,
        quality_lr=lg.quality_lr,
        max_pool=lg.max_pool,
    )


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """Capture every random number generator the driver draws from."""
    return {
        "numpy": rng.bit_generator.state,
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
    }


def set_rng_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    """Restore what `rng_state` captured."""
    rng.bit_generator.state = state["numpy"]
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])


def cpu_weights(policy: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Return a detached CPU copy of a network's weights."""
    return {k: v.detach().to("cpu", copy=True) for k, v in policy.state_dict().items()}
