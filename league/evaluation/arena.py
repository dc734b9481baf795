"""Play any two players against each other and count the results (`league eval`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from envs import GameError, GameInfo, GameSpec
from envs.mcts import check_search_fits
from league.rollout import Episode, PolicyFactory, RolloutRequest, Runner, make_runner
from league.rollout.players import DEFAULT_BOT_TIMEOUT, is_bot_file
from league.run import Run, Weights
from league.store import Registry, refuse_read_only
from matchmaking import (
    LATEST,
    MAIN,
    RANDOM,
    SCRIPTED,
    PlayerId,
    VersusMatchmaker,
    mcts_simulations,
)
from matchmaking.ratings import mean_interval, wilson_interval

# `latest` on the command line: a run's newest main-agent snapshot (an exploiter's or a
# best response's is never latest; a run with no main snapshot falls back to its newest).


def versus_games(
    runner: Runner,
    info: GameInfo,
    a: PlayerId | None,
    b: PlayerId,
    *,
    games: int,
    seed: int,
    random_opening: int = 0,
) -> list[Episode]:
    """The one place that plays evaluation games: `games` games of A (None: each role's
    latest policy) against B, seats alternating, on `runner` (whose players hold both);
    return them in the order they started (Ray workers may finish a few more: those are
    left out)."""
    request = RolloutRequest(
        VersusMatchmaker(info, a, b), seed=seed, episodes=games, random_opening=random_opening
    )
    return sorted(runner.run(request).episodes, key=lambda e: e.id)[:games]


class EvalError(ValueError):
    """A matchup cannot be played as asked (unknown player, no run, wrong game)."""


@dataclass(frozen=True)
class MatchStats:
    """Results of player A against player B, from A's side; in a game of one team (no
    opponent: B never sits) A's returns alone."""

    games: int
    wins: int
    draws: int
    losses: int
    mean_length: float
    distinct_games: int = 0
    mean_return: float = 0.0
    """A's team's summed env reward per game."""
    return_95ci: tuple[float, float] | None = None
    """95% Student-t interval of the mean return (None under two games)."""
    one_team: bool = False
    """The game has one team: no wins, draws or losses, only returns."""

    @property
    def score(self) -> float:
        """Return wins plus half the draws, per game."""
        return (self.wins + 0.5 * self.draws) / self.games if self.games else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        """Return the 95% Wilson interval of the score."""
        return wilson_interval(self.wins + 0.5 * self.draws, self.games)

    @staticmethod
    def from_episodes(episodes: list[Episode]) -> MatchStats:
        """Count A's results (A sits on each episode's focal team; an episode of a game of
        one team has no result, only A's return)."""
        one_team = any(len(e.players) == 1 for e in episodes)
        results = [] if one_team else [e.result[e.focal] for e in episodes]
        returns = [e.returns[e.focal] for e in episodes]
        return MatchStats(
            games=len(episodes),
            wins=sum(r == 1.0 for r in results),
            draws=sum(0.0 < r < 1.0 for r in results),
            losses=sum(r == 0.0 for r in results),
            mean_length=float(np.mean([e.length for e in episodes])) if episodes else 0.0,
            distinct_games=len({e.signature for e in episodes}),
            mean_return=float(np.mean(returns)) if episodes else 0.0,
            return_95ci=mean_interval(returns),
            one_team=one_team,
        )

    def to_json(self) -> dict[str, Any]:
        """Return the figures as a JSON-able dict (a game of one team: no score)."""
        out: dict[str, Any] = {"games": self.games}
        if not self.one_team:
            low, high = self.interval
            out |= {
                "wins": self.wins,
                "draws": self.draws,
                "losses": self.losses,
                "score": self.score,
                "score_95ci": [low, high],
            }
        return out | {
            "mean_length": self.mean_length,
            "distinct_games": self.distinct_games,
            "mean_return": self.mean_return,
            "return_95ci": None if self.return_95ci is None else list(self.return_95ci),
        }

    def return_line(self, player: PlayerId | str) -> str:
        """The player's mean return in words, with its interval."""
        ci = self.return_95ci
        within = "" if ci is None else f" (95% CI {ci[0]:.4g} to {ci[1]:.4g})"
        return (
            f"{player}: mean return {self.mean_return:.4g}{within} in {self.games} games, "
            f"mean length {self.mean_length:.1f}"
        )


@dataclass
class Arena:
    """Any two players of a run (or of a bare game) at one table: its runners are kept."""

    run: Run
    address: str | None = None
    """The Ray cluster that games played with workers join (None: an embedded one)."""
    bot_timeout: float | None = DEFAULT_BOT_TIMEOUT
    """Seconds a user's bot file may take per move (`--bot-timeout`); past it `BotError`."""
    _runners: dict[tuple[int | None, int, bool], Runner] = field(default_factory=dict, repr=False)
    """The runners built so far, by (workers, env copies, greedy)."""

    @staticmethod
    def open(
        run: str | Path | Run | None,
        game: str | None,
        *,
        read_only: bool | None = False,
        address: str | None = None,
        bot_timeout: float | None = DEFAULT_BOT_TIMEOUT,
    ) -> Arena:
        """Open a run directory (its game and snapshots) or just a built-in game.

        `read_only`: False for a command that stores its results in the run (a run that
        cannot be written is refused, with the path); True for one that only reads (its
        registry is opened read-only, so a read-only run works); None for one whose
        records are a by-product (`eval`, `play`): it writes where it may, else reads.
        """
        if isinstance(run, Run):
            opened = run
        elif run is not None:
            run_dir = Path(run)
            if read_only is False:
                refuse_read_only(run_dir, "this command stores its results in the run")
            opened = Run.open(run_dir, read_only=True if read_only else None)
        elif game is not None:
            opened = Run.of_game(game)
        else:
            raise EvalError("say which game to play: --run RUN_DIR or --game GAME")
        if run is not None and game is not None and game != opened.config.game.name:
            opened.close()
            raise EvalError(f"--game {game} differs from run {run}'s {opened.config.game.name}")
        return Arena(opened, address, bot_timeout)

    @property
    def spec(self) -> GameSpec:
        """The game."""
        return self.run.spec

    @property
    def info(self) -> GameInfo:
        """What the game's agents, teams and spaces are."""
        return self.run.info

    @property
    def factory(self) -> PolicyFactory:
        """The run's networks."""
        return self.run.factory

    @property
    def registry(self) -> Registry | None:
        """The run's registry (None: a bare game)."""
        return self.run.registry

    @property
    def weights(self) -> dict[PlayerId, Weights]:
        """The frozen players resolved so far, and their weights."""
        return self.run.frozen

    def resolve(self, name: str) -> PlayerId:
        """Turn a player name (snapshot id, latest, random, scripted or another of the
        game's bots, mcts:N, file.py:fn) into a player; `latest` is the newest snapshot of
        a main agent."""
        if name == RANDOM or name in self.spec.named_bots():
            return PlayerId.of_bot(name)
        if name == SCRIPTED:
            raise EvalError(f"game {self.spec.name!r} has no scripted bot")
        try:
            simulations = mcts_simulations(name)
        except ValueError as err:
            raise EvalError(str(err)) from None
        if simulations is not None:
            self._check_searchable()
            return PlayerId.of_bot(name)
        if is_bot_file(name):
            path = name.rpartition(":")[0]
            if not Path(path).is_file():
                raise EvalError(f"bot file {path} does not exist")
            return PlayerId.of_bot(name)
        unknown = EvalError(
            f"unknown player {name!r}: use a snapshot id of the run, latest (its newest main "
            f"snapshot), random, {self._bot_names()}mcts:N or path/to/bot.py:function"
        )
        if name != LATEST and not name.isdigit():
            raise unknown
        if self.registry is None:
            raise EvalError(f"player {name!r} is a snapshot: say which run with --run RUN_DIR")
        if name == LATEST:
            row = self._latest_snapshot()
        else:
            try:
                row = self.registry.snapshot(int(name))
            except KeyError:
                raise unknown from None
        player = PlayerId.of_snapshot(row["role"], row["id"])
        self.run.weights(player)
        return player

    def _bot_names(self) -> str:
        """The game's own bots, listed for an error message."""
        return "".join(f"{name}, " for name in self.spec.named_bots())

    def _latest_snapshot(self) -> dict[str, Any]:
        """Return the newest snapshot of a main agent: what the run is training, not an
        exploiter of it.  Only a run without one (e.g. best responses only) falls back to
        its newest snapshot of any kind."""
        assert self.registry is not None
        row = self.registry.latest_snapshot(kind=MAIN) or self.registry.latest_snapshot()
        if row is None:
            raise EvalError(f"run {self.registry.run_dir} has no snapshot yet")
        return row

    def _check_searchable(self) -> None:
        """Refuse `mcts:N` for a game it cannot search (simultaneous, not copyable)."""
        try:
            check_search_fits(self.spec, self.info)
        except GameError as err:
            raise EvalError(str(err)) from None

    def play(self, a: PlayerId, b: PlayerId, **options: Any) -> MatchStats:
        """Play games of A against B, seats alternating, and record them as eval matches
        (`episodes`' options: `games`, `greedy`, `random_opening`, `seed`, `workers`,
        `envs`, `record`); A's `MatchStats`."""
        return MatchStats.from_episodes(self.episodes(a, b, **options))

    def episodes(
        self,
        a: PlayerId,
        b: PlayerId,
        *,
        games: int,
        greedy: bool = False,
        random_opening: int = 0,
        seed: int = 0,
        workers: int | None = 0,
        envs: int = 16,
        record: bool = True,
    ) -> list[Episode]:
        """Play `games` games of A against B, seats alternating; record them as eval
        matches (`record`, where the run can be written); return the episodes, for
        figures beyond the score (returns, each agent's last info)."""
        if games < 1:
            raise EvalError(f"--games must be at least 1, not {games}")
        try:
            VersusMatchmaker(self.info, a, b)  # a matchup the game can play?
        except ValueError as err:
            raise EvalError(str(err)) from None
        key = (workers, min(envs, games), greedy)
        runner = self.runner(*key)
        runner.add_snapshots({p: w for p, w in self.weights.items() if p in (a, b)})
        try:
            episodes = versus_games(
                runner, self.info, a, b, games=games, seed=seed, random_opening=random_opening
            )
        except BaseException:  # its games stopped mid-episode: the next call builds anew
            self._runners.pop(key).close()
            raise
        if record and self.registry is not None and self.records:
            self.registry.add_matches([e.match_row(0) for e in episodes])
        return episodes

    @property
    def one_team(self) -> bool:
        """Whether the game has a single (cooperative) team: players are measured by their
        return, each playing the game alone, not against each other."""
        return len(self.info.teams) == 1

    @property
    def records(self) -> bool:
        """Whether games played here are stored: a run is open, and not read-only."""
        return self.registry is not None and not self.registry.read_only

    def runner(self, workers: int | None, envs: int, greedy: bool) -> Runner:
        """The runner for games of these settings: built on first use and kept, so a
        tournament's pairs (and a best response's scorings) share one (its Ray workers
        are spawned once); every call is seeded, so a kept runner plays as a new one."""
        key = (workers, envs, greedy)
        if key not in self._runners:
            self._runners[key] = make_runner(
                self.spec,
                self.info,
                self.factory,
                workers=workers,
                envs=envs,
                greedy=greedy,
                address=self.address,
                bot_timeout=self.bot_timeout,
            )
        return self._runners[key]

    def close(self) -> None:
        """Close the runners and the run's registry."""
        while self._runners:
            self._runners.popitem()[1].close()
        self.run.close()
