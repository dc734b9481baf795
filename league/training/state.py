"""What a run carries from one iteration to the next, and how it is saved and restored."""

from __future__ import annotations

import dataclasses
import logging
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from league.config import ConfigError, LeagueConfig
from matchmaking import NashSampler, OpponentSampler, PFSPSampler, SnapshotPool

logger = logging.getLogger(__name__)

SAMPLER_SETTINGS = {
    "p_latest": "league.p_latest",
    "quality_lr": "league.quality_lr",
    "method": "league.history",
    "weighting": "league.pfsp_weighting",
    "max_pool": "league.max_pool",
}
"""A sampler state's settings -> the config keys that set them."""


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

    def load_state(self, state: dict[str, Any]) -> None:
        """Take the values saved by `to_state`, in place (the loop and the league's
        learners share these counters)."""
        for name, value in dataclasses.asdict(Counters.from_state(state)).items():
            setattr(self, name, value)


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


def restore_sampler(sampler: SnapshotPool, saved: dict[str, Any], *, source: str) -> None:
    """Load a checkpoint's sampler state into `sampler`, built from the (resumed) config,
    keeping the config's settings: `league train --resume RUN --set league.p_latest=0.5`
    samples the latest policy half the time from then on. A change the saved pool cannot
    follow (another kind of history sampler, a `max_pool` below the pool's size) is
    refused with a `ConfigError` naming the setting; `source` names the run."""
    fresh = sampler.state_dict()
    if _sampler(fresh) != _sampler(saved):
        raise ConfigError(
            f"{source}: league.history cannot change from {_history(saved)} to "
            f"{_history(fresh)} when a run resumes (the pool keeps {_history(saved)}'s "
            "records); start a new run"
        )
    merged = dict(saved)
    for key, path in SAMPLER_SETTINGS.items():
        new, old = fresh.get(key), saved.get(key)
        if new == old:
            continue
        if key == "max_pool" and new is not None and len(saved["pool"]) > new:
            raise ConfigError(
                f"{source}: {path} {new} is below the {len(saved['pool'])} snapshots the "
                f"{sampler.role} pool holds; resume with {len(saved['pool'])} or more"
            )
        merged.pop(key, None)
        if new is not None:
            merged[key] = new
        logger.warning("resumed with %s %s (the run had %s)", path, new, old)
    if "payoff" in fresh and fresh["payoff"]["decay"] != saved["payoff"]["decay"]:
        merged["payoff"] = {**saved["payoff"], "decay": fresh["payoff"]["decay"]}
        logger.warning(
            "resumed with league.payoff_decay %s (the run had %s)",
            fresh["payoff"]["decay"],
            saved["payoff"]["decay"],
        )
    sampler.load_state_dict(merged)


def _sampler(state: dict[str, Any]) -> str:
    """The class of sampler a state belongs to (its saved fields tell)."""
    return "pfsp" if "weighting" in state else "opponent" if "method" in state else "nash"


def _history(state: dict[str, Any]) -> str:
    """A sampler state's `league.history` value."""
    return state.get("method") or ("pfsp" if "weighting" in state else "nash")


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
