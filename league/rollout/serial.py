"""Run rollouts in this process (`--workers 0`): the plain path the Ray runner wraps."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
import torch

from envs import GameEnv, GameInfo, GameSpec
from league.rollout.loop import Games, RolloutRequest, RolloutResult, RolloutTimeout, rollout
from league.rollout.players import DEFAULT_BOT_TIMEOUT, PlayerPool, PolicyFactory
from league.rollout.watchdog import Overrun, watchdog
from matchmaking import PlayerId

Weights = Mapping[str, torch.Tensor]
"""A network's state dict."""


class SerialRunner:
    """Hold env copies and players in this process and run `rollout()` on them.

    Two sets of `envs` copies, each built on first use: the learning games, whose
    episodes go on from one learning rollout to the next, and the evaluation games.
    """

    restarts = 0
    """Worker restarts so far (always 0 here: there are no workers)."""
    lost = 0
    """Workers given up (always 0 here)."""
    workers: Mapping[int, Any] = MappingProxyType({})
    """No rollout workers: the games run in this process."""

    def __init__(
        self,
        spec: GameSpec,
        info: GameInfo,
        *,
        envs: int,
        factory: PolicyFactory,
        greedy: bool = False,
        rollout_timeout: float | None = None,
        nan_rewards: str = "stop",
        bot_timeout: float | None = DEFAULT_BOT_TIMEOUT,
    ) -> None:
        self.spec, self.info, self.n_envs = spec, info, envs
        self.rollout_timeout, self.nan_rewards = rollout_timeout, nan_rewards
        """Seconds a rollout may take (None: no limit), and what a NaN reward does."""
        self._games: dict[bool, Games] = {}
        """Learning? -> its games."""
        self._rng = np.random.default_rng(0)
        self.pool = PlayerPool(
            factory,
            info=info,
            rng=self._rng,
            bots=spec.named_bots(),
            greedy=greedy,
            bot_timeout=bot_timeout,
        )

    def set_latest(self, weights: Mapping[str, Weights], version: int) -> None:
        """Load the learners' current weights (by learner key: `role` or `role/agent`)."""
        for learner, state in weights.items():
            self.pool.set_latest(learner, state, version)

    def add_snapshots(self, snapshots: Mapping[PlayerId, Weights]) -> None:
        """Make snapshot weights available to the players."""
        self.pool.set_snapshots({**self.pool.weights, **snapshots})

    def keep_snapshots(self, players: Collection[PlayerId]) -> None:
        """Drop every snapshot not in `players` (the opponent pools evicted it)."""
        self.pool.set_snapshots({p: w for p, w in self.pool.weights.items() if p in players})

    def run(self, request: RolloutRequest) -> RolloutResult:
        """Play what `request` asks (seeded: envs and action sampling), within this
        runner's `rollout_timeout`."""
        request = dataclasses.replace(
            request, timeout=self.rollout_timeout, nan_rewards=self.nan_rewards
        )
        self._rng.bit_generator.state = np.random.default_rng(request.seed).bit_generator.state
        torch.manual_seed(request.seed)
        if request.fresh:
            self.drop_episodes()
        games = self.games(learning=request.learning)
        try:
            with watchdog(request.timeout):
                return rollout(games, self.pool, request, self._rng)
        except (Overrun, RolloutTimeout) as late:
            # The env copies may be stuck mid-step: the next rollout builds new ones.
            self._games.pop(request.learning, games).close()
            if isinstance(late, RolloutTimeout):
                raise
            raise RolloutTimeout(f"game {self.info.name!r}: the rollout {late}") from None

    def games(self, *, learning: bool) -> Games:
        """The learning or the evaluation games (built on first use)."""
        if learning not in self._games:
            self._games[learning] = Games(
                [GameEnv(self.spec, self.info) for _ in range(self.n_envs)]
            )
        return self._games[learning]

    def drop_episodes(self) -> None:
        """Forget the learning episodes under way: the next learning rollout starts fresh
        ones, as a resumed run does."""
        if True in self._games:
            self._games[True].drop_episodes()

    def close(self) -> None:
        """Close the env copies."""
        for games in self._games.values():
            games.close()
