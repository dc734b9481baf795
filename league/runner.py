"""Run rollouts in this process (`--workers 0`): the plain path the Ray runner wraps."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

import numpy as np
import torch

from envs import GameEnv, GameInfo, GameSpec, ShapingParams
from league.players import PlayerPool, PolicyFactory
from league.rollout import Matchup, RolloutResult, rollout


class SerialRunner:
    """Hold env copies and players in this process and run `rollout()` on them."""

    restarts = 0
    """Worker restarts so far (always 0 here: there are no workers)."""

    def __init__(
        self,
        spec: GameSpec,
        info: GameInfo,
        *,
        envs: int,
        factory: PolicyFactory,
        greedy: bool = False,
    ) -> None:
        self.info = info
        self.envs = [GameEnv(spec, info) for _ in range(envs)]
        self._rng = np.random.default_rng(0)
        self.pool = PlayerPool(factory, info=info, rng=self._rng, bot=spec.bot, greedy=greedy)

    def set_latest(self, weights: Mapping[str, Mapping[str, torch.Tensor]], version: int) -> None:
        """Load the learners' current weights, role by role."""
        for role, state in weights.items():
            self.pool.set_latest(role, state, version)

    def add_snapshots(self, snapshots: Mapping[str, Mapping[str, torch.Tensor]]) -> None:
        """Make snapshot weights available, keyed by player key."""
        for key, state in snapshots.items():
            self.pool.add_snapshot(key, state)

    def keep_snapshots(self, keys: Collection[str]) -> None:
        """Drop every snapshot not in `keys` (the opponent pools evicted it)."""
        self.pool.set_snapshots({k: w for k, w in self.pool.weights.items() if k in keys})

    def run(
        self,
        matchmaker: Callable[[int, np.random.Generator], Matchup],
        *,
        shaping: ShapingParams,
        seed: int,
        min_steps: int = 0,
        episodes: int = 0,
        first_episode: int = 0,
        episode_stride: int = 1,
        random_opening: int = 0,
    ) -> RolloutResult:
        """Play episodes until both targets are met (seeded: envs and action sampling)."""
        self._rng.bit_generator.state = np.random.default_rng(seed).bit_generator.state
        torch.manual_seed(seed)
        return rollout(
            self.envs,
            self.pool,
            matchmaker,
            shaping=shaping,
            rng=self._rng,
            min_steps=min_steps,
            episodes=episodes,
            first_episode=first_episode,
            episode_stride=episode_stride,
            random_opening=random_opening,
        )

    def close(self) -> None:
        """Close the env copies."""
        for env in self.envs:
            env.close()
