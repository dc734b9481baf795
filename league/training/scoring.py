"""What a run learns about each snapshot as it freezes: its exact exploitability (in a
game with a game tree) and, for a `history: nash` pool, its payoffs against the pool."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from league.evaluation.exact import EXPLOITABILITY, ExactGame
from league.rollout import Episode
from league.store import Registry
from matchmaking import NashSampler, PlayerId

Versus = Callable[[PlayerId, PlayerId, int], list[Episode]]
"""Play `games` evaluation games of one player against another; return the episodes."""


class SnapshotScorer:
    """Score new snapshots: exact exploitability (stored in the registry as the score
    `exploitability`, logged as `league/exploitability` against env steps) and the
    results a Nash pool needs (exact payoffs, else `nash_games` games per pair, which
    are stored as eval matches)."""

    def __init__(
        self,
        exact: ExactGame | None,
        registry: Registry,
        *,
        versus: Versus,
        nash_games: int,
        log: Callable[[str, float, int], None],
    ) -> None:
        self.exact, self.registry = exact, registry
        self.versus, self.nash_games, self.log = versus, nash_games, log
        self._tables: dict[int, np.ndarray] = {}

    def table(self, sid: int) -> np.ndarray:
        """A snapshot's action table (cached; read from the registry when not at hand)."""
        assert self.exact is not None
        if sid not in self._tables:
            self._tables[sid] = self.exact.table_of(self.registry.load_snapshot(sid))
        return self._tables[sid]

    def score(self, sid: int, policy: Any, *, tag: str, env_steps: int) -> None:
        """Store and log a new snapshot's exact exploitability (played by `policy`)."""
        if self.exact is None:
            return
        self._tables[sid] = self.exact.table(policy)
        value = self.exact.exploitability(self._tables[sid])
        self.registry.set_score(sid, EXPLOITABILITY, value)
        self.log(tag, value, env_steps)

    def fill(self, sampler: NashSampler, sid: int, *, iteration: int) -> None:
        """Give a Nash pool the new snapshot's results against every pool member it has
        not met: exact expected payoffs, or evaluation games."""
        missing = sampler.pairs_missing(sid)
        if not missing:
            return
        if self.exact is not None:
            row = self.exact.payoffs([self.table(sid)], [self.table(o) for o in missing])[0]
            for other, value in zip(missing, row, strict=True):
                sampler.set_pair(sid, other, float(value))
            return
        new = PlayerId.of_snapshot(sampler.role, sid)
        rows = []
        for other in missing:
            episodes = self.versus(new, PlayerId.of_snapshot(sampler.role, other), self.nash_games)
            scores = [_score_of(e, new) for e in episodes if e.result]
            if scores:
                sampler.record_pair(sid, other, float(np.mean(scores)) - 0.5, games=len(scores))
            rows += [e.match_row(iteration) for e in episodes]
        self.registry.add_matches(rows)

    def forget(self, keep: set[int]) -> None:
        """Drop the cached tables of snapshots no pool holds any longer."""
        for sid in set(self._tables) - keep:
            del self._tables[sid]


def _score_of(episode: Episode, player: PlayerId) -> float:
    """The score (1 win, 0.5 draw, 0 loss) of `player`'s team in a finished episode."""
    (team,) = [t for t, p in episode.players.items() if p == player]
    return float(episode.result[team])
