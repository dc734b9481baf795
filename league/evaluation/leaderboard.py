"""Rate the league from its stored matches, run tournaments, plot (`league tournament|table`)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from envs import GameInfo
from league.evaluation.arena import LATEST, Arena, EvalError
from league.store import SNAPSHOT_KINDS, Registry
from matchmaking import (
    BEST_RESPONSE,
    HUMAN,
    MAIN,
    RANDOM,
    SCRIPTED,
    PlayerId,
    VersusMatchmaker,
    nash_averaging,
)
from matchmaking.ratings import bradley_terry, payoff_matrix, rating_intervals

EXPLOITABILITY = "exploitability"
"""A snapshot's registry score of its exact exploitability (games with a game tree)."""
RATING_ANCHOR = RANDOM
"""The random bot is pinned at rating 0 so numbers compare across runs."""
BOT = "bot"
"""A leaderboard row's kind for any bot (random, scripted, mcts:N, a user's function)."""


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
        if a != b and not (PlayerId.parse(a).is_latest or PlayerId.parse(b).is_latest):
            out.append((a, b, float(result[ta])))
    return out


@dataclass
class Leaderboard:
    """Ratings with 95% intervals, games played, and snapshot env steps."""

    rows: list[dict[str, Any]]
    players: list[str]
    payoff: np.ndarray
    game: str = ""
    """The game's name (set by `league.api.tournament`)."""
    plots: list[str] = field(default_factory=list)
    """The PNG files drawn of it (`league.api.tournament(plots=True)`)."""
    clip: str | None = None
    """The clip attached to TensorBoard (`league.api.tournament(video=True)`)."""

    def to_json(self) -> dict[str, Any]:
        """Return the leaderboard and payoff matrix as JSON-able data."""
        return {
            "anchor": RATING_ANCHOR,
            "leaderboard": self.rows,
            "players": self.players,
            "payoff": [[None if math.isnan(x) else x for x in row] for row in self.payoff],
        }


def leaderboard(
    registry: Registry,
    *,
    samples: int = 200,
    show: list[PlayerId] | None = None,
    every_snapshot: bool = False,
) -> Leaderboard:
    """Fit ratings to every eval match in the registry (random bot anchored at 0).

    The table is sorted by rating; the payoff matrix lists snapshots by iteration, then
    the bots. With `show`, only those players are listed (all matches still rate them).
    With `every_snapshot`, every snapshot of the run is listed: those without rated
    games after the rated players, unrated (`rating` None), newest first.
    """
    results = results_from_matches(registry.matches("eval"))
    if every_snapshot and not results and registry.snapshots():
        if any(len(m["sides"]) == 1 for m in registry.matches()):
            results = []  # a game of one team: refused below, as without the flag
        else:
            return Leaderboard(_unrated(registry, set()), [], np.zeros((0, 0)))
    if not results and any(len(m["sides"]) == 1 for m in registry.matches()):
        raise EvalError(
            f"run {registry.run_dir} plays a game of one team (cooperative): there are no wins "
            f"to rate; `league tournament --run {registry.run_dir}` ranks its snapshots by "
            "mean return"
        )
    if not results:
        raise EvalError(f"run {registry.run_dir} has no evaluation matches yet")
    players = sorted({p for a, b, _ in results for p in (a, b)})
    anchor = RATING_ANCHOR if RATING_ANCHOR in players else None
    ratings = bradley_terry(results, anchor=anchor)
    intervals = rating_intervals(results, anchor=anchor, samples=samples)
    snaps = {str(PlayerId.of_snapshot(s["role"], s["id"])): s for s in registry.snapshots()}
    steps = {p: snap["env_steps"] for p, snap in snaps.items()}
    games = {p: sum(p in (a, b) for a, b, _ in results) for p in players}
    if show is not None:
        players = [p for p in players if p in {str(s) for s in show}]
    rows = sorted(
        (
            {
                "player": p,
                "rating": ratings[p],
                "rating_95ci": list(intervals[p]),
                "games": games[p],
                "env_steps": steps.get(p),
                **_lineage(p, snaps.get(p)),
            }
            for p in players
        ),
        key=lambda r: -r["rating"],
    )
    # Snapshot ids grow with the iteration; bots after them.
    order = sorted(
        players, key=lambda p: (steps.get(p) is None, PlayerId.parse(p).snapshot or 0, p)
    )
    payoff = payoff_matrix(results, order)
    _add_nash(rows, order, payoff)
    if every_snapshot:
        rows += _unrated(registry, {r["player"] for r in rows})
    _add_snapshot_facts(rows, registry)
    return Leaderboard(rows, order, payoff)


def _add_snapshot_facts(rows: list[dict[str, Any]], registry: Registry) -> None:
    """Give each row its snapshot's exact exploitability (None: not scored, or a bot) and
    whether its weights file is lost (quarantined on resume)."""
    exploitability, missing = registry.scores(EXPLOITABILITY), set(registry.missing())
    for row in rows:
        sid = PlayerId.parse(row["player"]).snapshot
        row[EXPLOITABILITY] = exploitability.get(sid) if sid is not None else None
        row["missing"] = sid in missing


def _unrated(registry: Registry, listed: set[str]) -> list[dict[str, Any]]:
    """Rows for the run's snapshots not in `listed` (no rated game yet), newest first."""
    rows = []
    for snap in reversed(registry.snapshots()):
        player = str(PlayerId.of_snapshot(snap["role"], snap["id"]))
        if player in listed:
            continue
        rows.append(
            {
                "player": player,
                "rating": None,
                "rating_95ci": None,
                "games": 0,
                "env_steps": snap["env_steps"],
                **_lineage(player, snap),
                "nash": None,
                "vs_nash": None,
            }
        )
    return rows


def _add_nash(rows: list[dict[str, Any]], order: list[str], payoff: np.ndarray) -> None:
    """Give each row its weight in the Nash equilibrium of the players' payoff matrix
    (unplayed pairs even) and its score against that mixture (Nash averaging: Balduzzi et
    al. 2018): unlike a rating, neither is fooled by a non-transitive population."""
    weights, vs_nash = nash_averaging(np.nan_to_num(payoff, nan=0.5), centre=0.5)
    at = {p: i for i, p in enumerate(order)}
    for row in rows:
        i = at[row["player"]]
        row["nash"], row["vs_nash"] = float(weights[i]), float(vs_nash[i])


def _lineage(player: str, snap: dict[str, Any] | None) -> dict[str, Any]:
    """Return a row's `kind` (the snapshot's, else `bot`, `human` or `latest`), `agent`
    and `parent` (the snapshot's agent key and parent id, else None)."""
    if snap is not None:
        return {"kind": snap["kind"], "agent": snap["agent"], "parent": snap["parent"]}
    parsed = PlayerId.parse(player)
    if parsed.is_latest:
        kind = LATEST
    elif parsed.is_bot:
        kind = HUMAN if parsed.bot == HUMAN else BOT
    else:
        kind = None  # a snapshot the registry no longer holds (rolled back)
    return {"kind": kind, "agent": None, "parent": None}


def tournament(
    arena: Arena,
    *,
    top: int,
    games: int,
    seed: int = 0,
    workers: int | None = 0,
    bots: tuple[str, ...] = (),
) -> Leaderboard:
    """Round-robin the `top` most recent snapshots of the league's agents (best responses
    left out) and the bots, least-played pairs first.

    The bots are random (the rating anchor, 0), the game's scripted bot if it has one,
    and `bots` (e.g. `mcts:50`, `mcts:400`): a fixed ladder that compares across runs.
    """
    assert arena.registry is not None
    if arena.one_team:
        raise EvalError(
            f"game {arena.spec.name!r} has one team: no one to play against; rank its "
            "players by mean return (return_ranking)"
        )
    players = _tournament_players(arena, top, bots)
    pairs = schedule_pairs(
        players,
        results_from_matches(arena.registry.matches("eval")),
        can_meet=lambda a, b: _can_meet(arena.info, a, b),
    )
    for i, (a, b) in enumerate(pairs):
        arena.play(a, b, games=games, seed=seed + i, workers=workers)
    return leaderboard(arena.registry, show=players)


def _tournament_players(arena: Arena, top: int, bots: tuple[str, ...]) -> list[PlayerId]:
    """The `top` most recent snapshots of the league's agents, random, the game's scripted
    bot if it has one, and `bots`."""
    assert arena.registry is not None
    # League members only: a best response (`league exploit`) is a probe, not a player.
    members = [s for s in arena.registry.snapshots() if s["kind"] != BEST_RESPONSE]
    snaps = members[-top:] if top > 0 else []
    players = [arena.resolve(str(s["id"])) for s in snaps] + [PlayerId.of_bot(RANDOM)]
    if arena.spec.bot is not None:
        players.append(PlayerId.of_bot(SCRIPTED))
    return players + [p for p in map(arena.resolve, bots) if p not in players]


@dataclass
class ReturnBoard:
    """A game of one team (cooperative): its players ranked by their mean return, each
    playing the game alone; rows carry the 95% interval of the mean."""

    rows: list[dict[str, Any]]
    game: str = ""
    """The game's name (set by `league.api.tournament`)."""
    plots: list[str] = field(default_factory=list)
    """The PNG files drawn of it (`league.api.tournament(plots=True)`)."""
    clip: str | None = None
    """The clip attached to TensorBoard (`league.api.tournament(video=True)`)."""

    def to_json(self) -> dict[str, Any]:
        """Return the ranking as JSON-able data."""
        return {
            "mode": "cooperative",
            "leaderboard": self.rows,
            "players": [row["player"] for row in self.rows],
        }


def return_ranking(
    arena: Arena,
    *,
    top: int,
    games: int,
    seed: int = 0,
    workers: int | None = 0,
    bots: tuple[str, ...] = (),
) -> ReturnBoard:
    """The tournament of a game of one team: the players `tournament` would take each play
    `games` games alone (the same env seeds for each) and are ranked by mean return."""
    assert arena.registry is not None
    snaps = {str(PlayerId.of_snapshot(s["role"], s["id"])): s for s in arena.registry.snapshots()}
    rows = []
    for player in _tournament_players(arena, top, bots):
        stats = arena.play(player, player, games=games, seed=seed, workers=workers)
        snap = snaps.get(str(player))
        rows.append(
            {
                "player": str(player),
                "mean_return": stats.mean_return,
                "return_95ci": None if stats.return_95ci is None else list(stats.return_95ci),
                "games": stats.games,
                "mean_length": stats.mean_length,
                "env_steps": None if snap is None else snap["env_steps"],
                **_lineage(str(player), snap),
            }
        )
    return ReturnBoard(sorted(rows, key=lambda r: -r["mean_return"]))


def plot_returns(board: ReturnBoard, out_dir: Path) -> list[Path]:
    """Write the mean return of each snapshot against its env steps (the bots as lines)
    as a PNG file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    _plot_by_kind(ax, board.rows, "mean_return", "return_95ci")
    ax.set_ylabel("mean return per game (95% CI)")
    ax.set_title("return vs training")
    fig.tight_layout()
    path = out_dir / "return.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [path]


def schedule_pairs(
    players: list[PlayerId],
    results: list[tuple[str, str, float]],
    *,
    can_meet: Callable[[PlayerId, PlayerId], bool] = lambda a, b: True,
) -> list[tuple[PlayerId, PlayerId]]:
    """Return every pair of players that can meet, the least-played pairs first."""
    played: dict[frozenset[str], int] = {}
    for a, b, _ in results:
        played[frozenset((a, b))] = played.get(frozenset((a, b)), 0) + 1
    pairs = [(a, b) for a, b in itertools.combinations(players, 2) if can_meet(a, b)]
    return sorted(pairs, key=lambda p: played.get(frozenset(map(str, p)), 0))


def _can_meet(info: GameInfo, a: PlayerId, b: PlayerId) -> bool:
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
    fig.colorbar(im, ax=ax, label="score of row vs column (win 1, draw 0.5)")
    fig.tight_layout()
    payoff_png = out_dir / "payoff.png"
    fig.savefig(payoff_png, dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    _plot_by_kind(ax, board.rows, "rating", "rating_95ci")
    ax.set_ylabel(f"rating (Elo scale, {RATING_ANCHOR} = 0)")
    ax.set_title("rating vs training")
    fig.tight_layout()
    rating_png = out_dir / "rating.png"
    fig.savefig(rating_png, dpi=100)
    plt.close(fig)
    return [payoff_png, rating_png]


def _plot_by_kind(ax: Any, rows: list[dict[str, Any]], value: str, interval: str) -> None:
    """Plot each snapshot's `value` (with its `interval`, where it has one) against its
    env steps, one series per kind, and each bot's as a horizontal line; add the legend
    and the x label."""
    snaps = sorted((r for r in rows if r["env_steps"] is not None), key=lambda r: r["env_steps"])
    for kind, marker in zip(SNAPSHOT_KINDS, "osD^", strict=True):
        # One series per kind: the main agents' line is the run's progress; exploiters
        # and best responses sit beside it, not on it.
        of_kind = [r for r in snaps if r["kind"] == kind]
        if not of_kind:
            continue
        y = [r[value] for r in of_kind]
        ci = [r[interval] or (v, v) for v, r in zip(y, of_kind, strict=True)]
        ax.errorbar(
            [r["env_steps"] for r in of_kind],
            y,
            yerr=[
                [v - lo for v, (lo, _) in zip(y, ci, strict=True)],
                [hi - v for v, (_, hi) in zip(y, ci, strict=True)],
            ],
            marker=marker,
            capsize=3,
            linestyle="-" if kind == MAIN else "none",
            label=kind,
        )
    styles = itertools.cycle([":", "--", "-."])
    for r in rows:
        if r["env_steps"] is None:
            ax.axhline(
                r[value], linestyle=next(styles), linewidth=1, color="grey", label=r["player"]
            )
    ax.legend(fontsize=8)
    ax.set_xlabel("env steps")
