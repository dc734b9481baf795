"""The learners a config may choose (`learner.algo`) and the one place that builds them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from agents.acer import ACER, ACERSettings
from agents.learner import Learner, Settings
from agents.policy import ActorCritic
from agents.ppo import PPO, PPOSettings
from agents.rnad import RNaD, RNaDSettings
from agents.trpo import TRPO, TRPOSettings
from envs import Spaces


@dataclass(frozen=True)
class Algorithm:
    """How to build one learner, and what it needs from the network and the game."""

    learner: type
    """Class called as `learner(policy, settings, device=..., seed=...)`."""
    settings: type[Settings]
    """Its strict settings block (`learner.<algo>` in the config)."""
    q_head: bool = False
    """The network carries a Q head (every copy of it, so workers load its weights)."""
    discrete_only: bool = False
    """Only a Discrete action space (with or without a mask) can be learned."""
    recurrent: bool = True
    """It trains recurrent policies (sequences with their stored states)."""

    def refusal(self, spaces: Spaces) -> str | None:
        """Why this learner cannot learn a team with these spaces (None: it can)."""
        if self.discrete_only and not spaces.discrete:
            kind = f"MultiDiscrete{list(spaces.nvec)}" if spaces.multi else "Box"
            return f"it needs a Discrete action space, not {kind}{spaces.action_shape or ''}"
        return None


ALGORITHMS: dict[str, Algorithm] = {
    "ppo": Algorithm(PPO, PPOSettings),
    "trpo": Algorithm(TRPO, TRPOSettings),
    "acer": Algorithm(ACER, ACERSettings, q_head=True, discrete_only=True, recurrent=False),
    "rnad": Algorithm(RNaD, RNaDSettings, discrete_only=True, recurrent=False),
}
"""`learner.algo` name -> how to build it."""


def make_learner(
    algo: str,
    policy: ActorCritic,
    settings: Settings | Mapping[str, Any] | None = None,
    *,
    device: torch.device,
    seed: int = 0,
) -> Learner:
    """Build the learner `algo` for `policy` with its settings (defaults when None)."""
    if algo not in ALGORITHMS:
        raise ValueError(f"unknown learner.algo {algo!r} (known: {', '.join(ALGORITHMS)})")
    spec = ALGORITHMS[algo]
    if settings is None or isinstance(settings, Mapping):
        settings = spec.settings(**dict(settings or {}))
    return spec.learner(policy, settings, device=device, seed=seed)
