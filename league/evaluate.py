"""Evaluate matchups, run tournaments and rate the league (`league eval|tournament|table`)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from envs import GameInfo, GameSpec, ShapingParams
from league.config import Config, parse_config
from league.games import resolve_game
from league.players import LATEST, RANDOM, SCRIPTED, PolicyFactory, is_bot_file, policy_key
from league.registry import Registry
from league.rollout import Episode, VersusMatchmaker, match_row
from league.runner import SerialRunner
from matchmaking.ratings import bradley_terry, payoff_matrix, rating_intervals, wilson_interval

RATING_ANCHOR = RANDOM
"""The random bot is pinned at rating 0 so numbers compare across runs."""


class EvalError(ValueError):
    """A matchup cannot be played as asked (unknown player, no run, wrong game)."""


@dataclass(frozen=True)
class MatchStats:
    """Results of player A against player B, from A's side."""

    games: int
    wins: int
    draws: int
    losses: int
    mean_length: float
    distinct_games: int = 0

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
        """Count A's results (A sits on each episode's focal team)."""
        results = [e.result[e.focal] for e in episodes]
        return MatchStats(
            games=len(results),
            wins=sum(r == 1.0 for r in results),
            draws=sum(0.0 < r < 1.0 for r in results),
            losses=sum(r == 0.0 for r in results),
            mean_length=float(np.mean([e.length for e in episodes])) if episodes else 0.0,
            distinct_games=len({e.signature for e in episodes}),
        )

    def to_json(self) -> dict[str, Any]:
        """Return the figures as a JSON-able dict."""
        low, high = self.interval
        return {
            "games": self.games,
            "wins": self.wins,
            "draws": self.draws,
            "losses": self.losses,
            "score": self.score,
            "score_95ci": [low, high],
            "mean_length": self.mean_length,
            "distinct_games": self.distinct_games,
        }


@dataclass
class Arena:
    """A game, its networks' factory, and the snapshots of an optional run."""

    spec: GameSpec
    info: GameInfo
    factory: PolicyFactory
    registry: Registry | None = None
    weights: dict[str, Mapping[str, torch.Tensor]] = field(default_factory=dict)

    @staticmethod
    def open(run: str | Path | None, game: str | None) -> Arena:
        """Open a run directory (its game and snapshots) or just a built-in game."""
        if run is not None:
            from league.train import load_run_config

            run_dir = Path(run)
            config = load_run_config(run_dir)
            if game is not None and game != config.game.name:
                raise EvalError(f"--game {game} differs from run {run_dir}'s {config.game.name}")
            registry = Registry(run_dir)
        elif game is not None:
            config = parse_config({"game": {"name": game}}, source="--game")
            registry = None
        else:
            raise EvalError("say which game to play: --run RUN_DIR or --game GAME")
        spec = resolve_game(config, source="--game" if run is None else str(run))
        info = spec.info()
        return Arena(spec, info, _factory(config, info), registry)

    def resolve(self, name: str) -> str:
        """Turn a player name (snapshot id, latest, random, scripted, file.py:fn) into a key."""
        if name in (RANDOM, SCRIPTED):
            if name == SCRIPTED and self.spec.bot is None:
                raise EvalError(f"game {self.spec.name!r} has no scripted bot")
            return name
        if is_bot_file(name):
            path = name.rpartition(":")[0]
            if not Path(path).is_file():
                raise EvalError(f"bot file {path} does not exist")
            return name
        if self.registry is None:
            raise EvalError(f"player {name!r} is a snapshot: say which run with --run RUN_DIR")
        if name == LATEST:
            row = self.registry.latest_snapshot()
            if row is None:
                raise EvalError(f"run {self.registry.run_dir} has no snapshot yet")
        else:
            try:
                row = self.registry.snapshot(int(name))
            except (ValueError, KeyError):
                raise EvalError(
                    f"unknown player {name!r}: use a snapshot id of the run, latest, random, "
                    "scripted or path/to/bot.py:function"
                ) from None
        key = policy_key(row["role"], row["id"])
        if key not in self.weights:
            self.weights[key] = self.registry.load_snapshot(row["id"])
        return key

    def play(
        self,
        a: str,
        b: str,
        *,
        games: int,
        greedy: bool = False,
        random_opening: int = 0,
        seed: int = 0,
        workers: int = 0,
        envs: int = 16,
        record: bool = True,
    ) -> MatchStats:
        """Play `games` games of A against B, seats alternating; record them as eval matches."""
        if games < 1:
            raise EvalError(f"--games must be at least 1, not {games}")
        try:
            matchmaker = VersusMatchmaker(self.info, a, b)
        except ValueError as err:
            raise EvalError(str(err)) from None
        runner = self._runner(workers=workers, envs=min(envs, games), greedy=greedy)
        try:
            runner.add_snapshots({k: w for k, w in self.weights.items() if k in (a, b)})
            result = runner.run(
                matchmaker,
                shaping=ShapingParams(),
                seed=seed,
                episodes=games,
                random_opening=random_opening,
            )
        finally:
            runner.close()
        episodes = sorted(result.episodes, key=lambda e: e.id)[:games]
        if record and self.registry is not None:
            self.registry.add_matches([match_row(e, 0) for e in episodes])
        return MatchStats.from_episodes(episodes)

    def _runner(self, *, workers: int, envs: int, greedy: bool):
        if workers == 0:
            return SerialRunner(
                self.spec, self.info, envs=envs, factory=self.factory, greedy=greedy
            )
        from league.ray_runner import RayRunner, start_ray

        start_ray()
        return RayRunner(
            self.spec, self.info, workers=workers, envs=envs, factory=self.factory, greedy=greedy
        )

    def close(self) -> None:
        """Close the run's registry."""
        if self.registry is not None:
            self.registry.close()


def _factory(config: Config, info: GameInfo) -> PolicyFactory:
    return PolicyFactory.from_config(info, config.model)


def leaderboard_ratings(registry: Registry) -> dict[str, float]:
    """Fit ratings (no intervals) to the registry's eval matches; random bot = 0."""
    results = results_from_matches(registry.matches("eval"))
    if not results:
        return {}
    players = {p for a, b, _ in results for p in (a, b)}
    return bradley_terry(results, anchor=RATING_ANCHOR if RATING_ANCHOR in players else None)


def results_from_matches(matches: list[dict]) -> list[tuple[str, str, float]]:
    """Turn stored two-team eval matches into (a, b, score_a) results."""
    out = []
    for m in matches:
        sides, result = m["sides"], m["result"]
        if len(sides) != 2 or not result:
            continue
        (ta, a), (_, b) = sorted(sides.items())
        # `role@latest` is a moving target (training-time checks): not a rated player.
        if a != b and not (a.endswith("@" + LATEST) or b.endswith("@" + LATEST)):
            out.append((a, b, float(result[ta])))
    return out


@dataclass
class Leaderboard:
    """Ratings with 95% intervals, games played, and snapshot env steps."""

    rows: list[dict[str, Any]]
    players: list[str]
    payoff: np.ndarray

    def to_json(self) -> dict[str, Any]:
        """Return the leaderboard and payoff matrix as JSON-able data."""
        return {
            "anchor": RATING_ANCHOR,
            "leaderboard": self.rows,
            "players": self.players,
            "payoff": [[None if math.isnan(x) else x for x in row] for row in self.payoff],
        }


def leaderboard(registry: Registry, *, samples: int = 200) -> Leaderboard:
    """Fit ratings to every eval match in the registry (random bot anchored at 0)."""
    results = results_from_matches(registry.matches("eval"))
    if not results:
        raise EvalError(f"run {registry.run_dir} has no evaluation matches yet")
    players = sorted({p for a, b, _ in results for p in (a, b)})
    anchor = RATING_ANCHOR if RATING_ANCHOR in players else None
    ratings = bradley_terry(results, anchor=anchor)
    intervals = rating_intervals(results, anchor=anchor, samples=samples)
    steps = {}
    for snap in registry.snapshots():
        steps[policy_key(snap["role"], snap["id"])] = snap["env_steps"]
    games = {p: sum(p in (a, b) for a, b, _ in results) for p in players}
    rows = sorted(
        (
            {
                "player": p,
                "rating": ratings[p],
                "rating_95ci": list(intervals[p]),
                "games": games[p],
                "env_steps": steps.get(p),
            }
            for p in players
        ),
        key=lambda r: -r["rating"],
    )
    order = [r["player"] for r in rows]
    return Leaderboard(rows, order, payoff_matrix(results, order))


def tournament(
    arena: Arena,
    *,
    top: int,
    games: int,
    seed: int = 0,
    workers: int = 0,
) -> Leaderboard:
    """Round-robin the `top` most recent snapshots and the bots, least-played pairs first."""
    assert arena.registry is not None
    snaps = arena.registry.snapshots()[-top:] if top > 0 else []
    players = [arena.resolve(str(s["id"])) for s in snaps] + [RANDOM]
    if arena.spec.bot is not None:
        players.append(SCRIPTED)
    pairs = schedule_pairs(
        players,
        results_from_matches(arena.registry.matches("eval")),
        can_meet=lambda a, b: _can_meet(arena.info, a, b),
    )
    for i, (a, b) in enumerate(pairs):
        arena.play(a, b, games=games, seed=seed + i, workers=workers)
    return leaderboard(arena.registry)


def schedule_pairs(
    players: list[str],
    results: list[tuple[str, str, float]],
    *,
    can_meet: Callable[[str, str], bool] = lambda a, b: True,
) -> list[tuple[str, str]]:
    """Return every pair of players that can meet, the least-played pairs first."""
    played: dict[frozenset[str], int] = {}
    for a, b, _ in results:
        played[frozenset((a, b))] = played.get(frozenset((a, b)), 0) + 1
    pairs = [(a, b) for a, b in itertools.combinations(players, 2) if can_meet(a, b)]
    return sorted(pairs, key=lambda p: played.get(frozenset(p), 0))


def _can_meet(info: GameInfo, a: str, b: str) -> bool:
    try:
        VersusMatchmaker(info, a, b)
    except ValueError:
        return False
    return True


def plot_leaderboard(board: Leaderboard, out_dir: Path) -> list[Path]:
    """Write the payoff heat map and rating-vs-env-steps plots as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    n = len(board.players)
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * n, 1.0 + 0.6 * n))
    im = ax.imshow(board.payoff, vmin=0, vmax=1, cmap="RdYlGn")
    ax.set_xticks(range(n), board.players, rotation=60, ha="right")
    ax.set_yticks(range(n), board.players)
    for i, j in itertools.product(range(n), range(n)):
        if not math.isnan(board.payoff[i, j]):
            ax.text(j, i, f"{board.payoff[i, j]:.2f}", ha="center", va="center", fontsize=7)
    ax.set_title("score of row vs column")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    payoff_png = out_dir / "payoff.png"
    fig.savefig(payoff_png, dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    snaps = [r for r in board.rows if r["env_steps"] is not None]
    snaps.sort(key=lambda r: r["env_steps"])
    if snaps:
        x = [r["env_steps"] for r in snaps]
        y = [r["rating"] for r in snaps]
        lo = [r["rating"] - r["rating_95ci"][0] for r in snaps]
        hi = [r["rating_95ci"][1] - r["rating"] for r in snaps]
        ax.errorbar(x, y, yerr=[lo, hi], marker="o", capsize=3, label="snapshots")
    styles = itertools.cycle([":", "--", "-."])
    for r in board.rows:
        if r["env_steps"] is None:
            ax.axhline(
                r["rating"], linestyle=next(styles), linewidth=1, color="grey", label=r["player"]
            )
    ax.legend(fontsize=8)
    ax.set_xlabel("env steps")
    ax.set_ylabel(f"rating (Elo scale, {RATING_ANCHOR} = 0)")
    ax.set_title("rating vs training")
    fig.tight_layout()
    rating_png = out_dir / "rating.png"
    fig.savefig(rating_png, dpi=100)
    plt.close(fig)
    return [payoff_png, rating_png]
