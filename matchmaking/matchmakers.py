"""Who plays whom in each episode: pure decisions from the samplers and a seeded RNG.

A matchmaker is called once per episode with the episode's index and the rollout's
RNG and returns a `Matchup`: the player on every team, the teams whose experience
is learned from, the focal team whose result the bookkeeping is about, and the
random opening. The rollout loop plays what it is given and never decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from envs import GameInfo
from matchmaking.identity import PlayerId
from matchmaking.sampler import SnapshotPool


@dataclass(frozen=True)
class Matchup:
    """Who plays which team in one episode, and whose experience is learned from."""

    players: dict[str, PlayerId]
    """Team -> the player on it."""
    learn: frozenset[str]
    """Teams whose steps are training data (those played by a latest policy)."""
    focal: str
    """The team whose result the matchmaking bookkeeping is about."""
    opening: int = 0
    """Env steps at the start in which `opening_teams` move at random (never learned from)."""
    opening_teams: frozenset[str] | None = None
    """Teams whose opening moves are random (None: every team)."""

    def opponents(self) -> dict[str, PlayerId]:
        """Team -> player, for every team but the focal one."""
        return {t: p for t, p in self.players.items() if t != self.focal}


class Matchmaker(Protocol):
    """Decide one episode's matchup from its index and the rollout's RNG."""

    def __call__(self, episode: int, rng: np.random.Generator) -> Matchup: ...


@dataclass
class SelfPlayMatchmaker:
    """Seat the latest policy on a rotating focal team and draw every other team's opponent.

    The focal team rotates every episode, so sides are swapped and no seat bias
    is learned. Every other team draws from its role's sampler (latest with
    `p_latest`, else a snapshot). Teams played by a latest version are all learned
    from. With `random_opening` K, each episode opens with k uniformly random env
    steps, k drawn from 0..K, so that self-play keeps meeting varied positions: every
    team moves at random in them (`opening_side` "all"), or only the teams facing the
    focal team, which plays and learns throughout ("opponents"). `bots` gives built-in
    bots a share of the history draws (their games teach the focal team only).
    """

    info: GameInfo
    samplers: Mapping[str, SnapshotPool]
    """Role -> the sampler of its opponents."""
    random_opening: int = 0
    bots: dict[str, float] = field(default_factory=dict)
    """Bot name -> share of the history draws that the bot plays instead of the snapshot."""
    opening_side: str = "all"
    """`all`: every team moves at random in the opening; `opponents`: all but the focal."""

    def __call__(self, episode: int, rng: np.random.Generator) -> Matchup:
        teams = list(self.info.teams)
        roles = self.info.roles
        focal = teams[episode % len(teams)]
        players = {}
        for team in teams:
            role = roles[team]
            player = PlayerId.latest(role) if team == focal else self.samplers[role].sample(rng)
            if player.is_snapshot:
                bot = self._bot(rng)
                player = PlayerId.of_bot(bot) if bot else player
            players[team] = player
        learn = frozenset(t for t, p in players.items() if p.is_latest)
        opening = int(rng.integers(self.random_opening + 1)) if self.random_opening else 0
        side = None if self.opening_side == "all" else frozenset(teams) - {focal}
        return Matchup(players, learn, focal, opening, side)

    def _bot(self, rng: np.random.Generator) -> str | None:
        """The bot that takes this history draw, if any."""
        if not self.bots:
            return None
        u = rng.random()
        for bot, share in self.bots.items():
            if u < share:
                return bot
            u -= share
        return None


@dataclass
class VersusMatchmaker:
    """Seat `player` on a rotating focal team and `opponent` everywhere else.

    A policy only sits on teams of its role; bots sit anywhere. `player` None
    seats each team's own latest policy (evaluating every role's learner at once).
    Nothing is learned from, unless `learn` (a best response training against a
    frozen opponent): then the focal team's steps are.
    """

    info: GameInfo
    player: PlayerId | None
    opponent: PlayerId
    learn: bool = False

    def __post_init__(self) -> None:
        self._seats = [t for t in self.info.teams if self._fits(self.player, t)]
        if not self._seats:
            raise ValueError(f"player {self.player} fits no team of {self.info.name!r}")
        for focal in self._seats:
            for team in self.info.teams:
                if team != focal and not self._fits(self.opponent, team):
                    raise ValueError(
                        f"{self.opponent} cannot play team {team!r} of {self.info.name!r} "
                        f"(that team plays role {self.info.roles[team]!r})"
                    )

    def _fits(self, player: PlayerId | None, team: str) -> bool:
        return player is None or player.is_bot or player.role == self.info.roles[team]

    def __call__(self, episode: int, rng: np.random.Generator) -> Matchup:
        focal = self._seats[episode % len(self._seats)]
        me = self.player or PlayerId.latest(self.info.roles[focal])
        players = {t: me if t == focal else self.opponent for t in self.info.teams}
        return Matchup(players, frozenset({focal} if self.learn else ()), focal)


def record_outcome(
    samplers: Mapping[str, SnapshotPool], opponents: Mapping[str, PlayerId], score: float
) -> None:
    """Tell each opponent's sampler how the focal team scored against it.

    Every team that a snapshot played is booked with its own role's sampler, so in
    a game of three or more teams each drawn snapshot gets the result.
    """
    for player in opponents.values():
        if player.is_snapshot:
            samplers[player.role].update(player, score)
