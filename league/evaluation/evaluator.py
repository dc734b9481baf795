"""A training run's evaluation games, on its own runner (`league eval`, `league
tournament` and a best response's scoring play theirs through `Arena`; both play them
with `versus_games`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from envs import GameInfo
from league.evaluation.arena import versus_games
from league.evaluation.leaderboard import leaderboard_ratings
from league.rollout import Episode, Runner
from league.store import Registry
from matchmaking import RANDOM, SCRIPTED, PlayerId


class Evaluator:
    """A training run's evaluation games, on its runner: the latest policies against the
    random bot, and each new snapshot against the bots and its predecessor (its
    rating). Every game is stored in the registry as an eval match."""

    def __init__(
        self,
        runner: Runner,
        info: GameInfo,
        registry: Registry,
        rng: np.random.Generator,
        *,
        scripted: bool,
        metric: Callable[[str, str], str],
    ) -> None:
        self.runner, self.info, self.registry, self.rng = runner, info, registry, rng
        self.bots = [RANDOM] + ([SCRIPTED] if scripted else [])
        self.metric = metric
        """A metric's name for an agent (its namespace when there are several)."""

    def versus(self, player: PlayerId | None, opponent: PlayerId, games: int) -> list[Episode]:
        """Play `games` games of `player` (None: each latest) against `opponent`."""
        seed = int(self.rng.integers(2**31))
        return versus_games(self.runner, self.info, player, opponent, games=games, seed=seed)

    def vs_random(self, episodes: int, iteration: int) -> dict[str, float]:
        """Play each team's latest policy against the random bot, seats alternating."""
        if len(self.info.teams) < 2:
            return {}
        played = self.versus(None, PlayerId.of_bot(RANDOM), episodes)
        self.registry.add_matches([e.match_row(iteration) for e in played])
        return {
            "league/win_rate_vs_random": float(np.mean([e.result[e.focal] == 1.0 for e in played])),
            "league/score_vs_random": float(np.mean([e.result[e.focal] for e in played])),
        }

    def rate(
        self, added: dict[str, int], previous: dict[str, int], *, games: int, iteration: int
    ) -> dict[str, float]:
        """Play new snapshots (role -> id) against the bots and their predecessors
        (`previous`); return their ratings."""
        if len(self.info.teams) < 2:
            return {}
        rows = []
        for role, sid in added.items():
            opponents = [PlayerId.of_bot(b) for b in self.bots]
            if role in previous and self.info.symmetric:
                opponents.append(PlayerId.of_snapshot(role, previous[role]))
            for opponent in opponents:
                played = self.versus(PlayerId.of_snapshot(role, sid), opponent, games)
                rows += [e.match_row(iteration) for e in played]
        self.registry.add_matches(rows)
        ratings = leaderboard_ratings(self.registry)
        return {
            self.metric("league/rating", role): ratings.get(
                str(PlayerId.of_snapshot(role, sid)), float("nan")
            )
            for role, sid in added.items()
        }
