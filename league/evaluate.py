"""Play a fixed matchup for N games and score it (no learning)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from envs import GameInfo, GameSpec, ShapingParams
from league.players import LATEST, PolicyFactory
from league.rollout import Episode, VersusMatchmaker
from league.runner import SerialRunner


@dataclass(frozen=True)
class MatchStats:
    """Results of player A against player B, from A's side."""

    games: int
    wins: int
    draws: int
    losses: int
    mean_length: float

    @property
    def score(self) -> float:
        """Return wins plus half the draws, per game."""
        return (self.wins + 0.5 * self.draws) / self.games

    @staticmethod
    def from_episodes(episodes: list[Episode]) -> MatchStats:
        """Count A's results (A sits on each episode's focal team)."""
        results = [e.result[e.focal] for e in episodes]
        return MatchStats(
            games=len(results),
            wins=sum(r == 1.0 for r in results),
            draws=sum(0.0 < r < 1.0 for r in results),
            losses=sum(r == 0.0 for r in results),
            mean_length=float(np.mean([e.length for e in episodes])),
        )


def play_versus_random(
    spec: GameSpec,
    info: GameInfo,
    factory: PolicyFactory,
    weights: Mapping[str, Mapping[str, torch.Tensor]],
    *,
    games: int,
    seed: int = 0,
    envs: int = 32,
) -> MatchStats:
    """Play the given role weights against the uniformly random bot, seats alternating."""
    runner = SerialRunner(spec, info, envs=min(envs, games), factory=factory)
    try:
        runner.set_latest(weights, version=0)
        result = runner.run(
            VersusMatchmaker(info, LATEST, "random"),
            shaping=ShapingParams(),
            seed=seed,
            episodes=games,
        )
    finally:
        runner.close()
    # Every started episode is finished; keep exactly `games` of them.
    return MatchStats.from_episodes(sorted(result.episodes, key=lambda e: e.id)[:games])
