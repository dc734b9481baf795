"""The team games' held-out panel: scripted teams that no shipped config trains with.

Battle (battle_v4): a snapshot plays each scripted team (`hold`, `rush`, `focus`, and
`random`), seats alternating, so half its games as red and half as blue. Per member:
the score (wins plus half the draws) with its Wilson 95% interval, the same as red and
as blue, the kill ratio (enemies killed per agent lost, over all games) and the agents
alive at the end on each side. The panel rating is connect four's arithmetic
(`matchmaking.ratings.fixed_panel_rating`, shared with bench/panel.py): random pinned at
0, every member fixed at its rating from a round robin of the scripted teams played once
(`--rate-panel`, stored in bench/results/team_panel_ratings.json), the snapshot's rating
the maximum-likelihood one given its results, with a 95% interval.

Simple tag (simple_tag_v3): the League predators against the scripted prey and the
League prey against the scripted predators (the game's `scripted` bot plays either
side), scored in touches per episode (a predator touching the prey in a step is one
touch; Student-t 95% intervals), beside the scripted predators against the scripted prey.

    python bench/team_panel.py --rate-panel [--games 100]
    python bench/team_panel.py --run RUNS/battle [--players latest 40] [--games 100]
    python bench/team_panel.py --run RUNS/simple_tag [--players latest]

`--players latest` is the newest main snapshot (in simple tag: of each role).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from envs.battle import alive_by_team  # noqa: E402
from matchmaking.ratings import (  # noqa: E402
    bradley_terry,
    fixed_panel_rating,
    mean_interval,
    wilson_interval,
)

BATTLE = "battle_v4"
TAG = "simple_tag_v3"
ANCHOR = "random"
"""Rated 0, as on every leaderboard of the project."""
PANELS: dict[str, tuple[str, ...]] = {
    BATTLE: ("random", "hold", "rush", "focus"),
    TAG: ("scripted",),
}
"""The scripted teams each team game is judged against."""
RATINGS_FILE = ROOT / "bench" / "results" / "team_panel_ratings.json"
TOUCH_REWARD = 10.0
"""What simple tag pays each predator for every predator-prey contact in a step (MPE)."""


class PanelError(ValueError):
    """The team panel cannot judge this (a game it has no scripted teams for)."""


def panel_members(game: str) -> tuple[str, ...]:
    """The scripted teams that judge `game`; a game without any is one clear error."""
    if game not in PANELS:
        raise PanelError(
            f"the team panel has no scripted teams for game {game!r} (it judges "
            f"{', '.join(sorted(PANELS))}; connect four has bench/panel.py)"
        )
    return PANELS[game]


def battle_scores(episodes: Sequence[Any], teams: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """Player A's figures over its games (A on each episode's focal team): its score
    overall and per colour with Wilson 95% intervals, the kill ratio (enemies killed per
    agent lost; an agent only dies to the enemy), and the agents alive at the end."""
    if not episodes:
        raise PanelError("no games to score")
    names = list(teams)
    size = {t: len(m) for t, m in teams.items()}
    per_side: dict[str, list[float]] = {t: [] for t in names}
    kills = losses = 0
    mine, theirs = [], []
    for e in episodes:
        alive = alive_by_team(e.infos, names)
        other = next(t for t in names if t != e.focal)
        per_side[e.focal].append(e.result[e.focal])
        kills += size[other] - alive[other]
        losses += size[e.focal] - alive[e.focal]
        mine.append(alive[e.focal])
        theirs.append(alive[other])
    results = [r for rs in per_side.values() for r in rs]

    def score(rs: list[float]) -> dict[str, Any]:
        low, high = wilson_interval(sum(rs), len(rs)) if rs else (math.nan, math.nan)
        return {"score": sum(rs) / len(rs) if rs else math.nan, "score_95ci": [low, high]}

    return {
        "games": len(results),
        **score(results),
        "wins": sum(r == 1.0 for r in results),
        "draws": sum(0.0 < r < 1.0 for r in results),
        "losses": sum(r == 0.0 for r in results),
        "as": {t: {"games": len(rs), **score(rs)} for t, rs in per_side.items()},
        "kills": kills,
        "deaths": losses,
        "kill_ratio": kills / losses if losses else math.inf,
        "alive_end": sum(mine) / len(mine),
        "enemy_alive_end": sum(theirs) / len(theirs),
    }


def touches(episode: Any, adversaries: int) -> float:
    """Predator-prey contacts in a simple tag episode, from the predators' env reward
    (each predator is paid `TOUCH_REWARD` for every contact of any predator)."""
    return episode.returns["adversary"] / (TOUCH_REWARD * adversaries)


def touch_scores(episodes: Sequence[Any], adversaries: int) -> dict[str, Any]:
    """Touches per episode: the mean, its Student-t 95% interval and the games."""
    values = [touches(e, adversaries) for e in episodes]
    return {
        "touches": sum(values) / len(values),
        "touches_95ci": list(mean_interval(values) or (math.nan, math.nan)),
        "games": len(values),
    }


def open_arena(run: str | Path | None, game: str | None = None) -> Any:
    """The run's arena (read only: scoring never writes the run), or a bare game's."""
    from league.evaluation import Arena

    arena = Arena.open(run, game, read_only=True if run is not None else False)
    panel_members(arena.spec.name)
    return arena


def score_battle(
    arena: Any,
    player: str,
    ratings: Mapping[str, float],
    *,
    games: int,
    workers: int = 0,
    seed: int = 1,
) -> dict[str, Any]:
    """A battle snapshot's figures against each panel member and its panel rating."""
    me = arena.resolve(player)
    scores, results = {}, {}
    for member in panel_members(BATTLE):
        episodes = arena.episodes(
            me, arena.resolve(member), games=games, seed=seed, workers=workers, record=False
        )
        scores[member] = battle_scores(episodes, arena.info.teams)
        results[member] = (scores[member]["score"], scores[member]["games"])
    return {"player": str(me), "scores": scores, **fixed_panel_rating(results, ratings)}


def score_tag(
    arena: Any, players: Sequence[str], *, games: int, workers: int = 0, seed: int = 1
) -> dict[str, Any]:
    """Simple tag: each League role against the scripted other side, and the scripted
    predators against the scripted prey, in touches per episode."""
    adversaries = len(arena.info.teams["adversary"])
    bot = arena.resolve("scripted")

    def play(a: Any) -> dict[str, Any]:
        episodes = arena.episodes(a, bot, games=games, seed=seed, workers=workers, record=False)
        return touch_scores(episodes, adversaries)

    out: dict[str, Any] = {"reference": {"player": "scripted", **play(bot)}}
    for name in players:
        for who in _tag_players(arena, name):
            role = "predators" if who.role == "adversary" else "prey"
            out[f"league_{role}"] = {"player": str(who), **play(who)}
    ref = out["reference"]["touches"]
    for key in ("league_predators", "league_prey"):
        if key in out and ref > 0:
            out[key]["against_reference"] = out[key]["touches"] / ref
    return out


def _tag_players(arena: Any, name: str) -> list[Any]:
    """`latest`: the newest main snapshot of each role; else the one snapshot named."""
    from matchmaking import PlayerId

    if name != "latest":
        return [arena.resolve(name)]
    found = []
    for role in sorted(set(arena.info.roles.values())):
        row = arena.registry.latest_snapshot(role, kind="main")
        if row is None:
            raise PanelError(f"run {arena.registry.run_dir} has no snapshot of role {role!r}")
        player = PlayerId.of_snapshot(role, row["id"])
        arena.weights.setdefault(player, arena.registry.load_snapshot(row["id"]))
        found.append(player)
    return found


def rate_panel(games: int, workers: int = 0) -> dict[str, Any]:
    """Play the battle panel's round robin (random included); store and return the
    members' ratings (random = 0)."""
    arena = open_arena(None, BATTLE)
    members = panel_members(BATTLE)
    results: list[tuple[str, str, float]] = []
    pairs = {}
    try:
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                episodes = arena.episodes(
                    arena.resolve(a), arena.resolve(b), games=games, seed=1, workers=workers
                )
                results += [(a, b, e.result[e.focal]) for e in episodes]
                pairs[f"{a} vs {b}"] = battle_scores(episodes, arena.info.teams)
                print(f"{a} vs {b}: {pairs[f'{a} vs {b}']['score']:.3f}", flush=True)
    finally:
        arena.close()
    out = {
        "game": BATTLE,
        "kwargs": dict(arena.spec.kwargs),
        "games_per_pair": games,
        "ratings": bradley_terry(results, anchor=ANCHOR),
        "pairs": pairs,
    }
    RATINGS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RATINGS_FILE.write_text(json.dumps(out, indent=2))
    return out


def load_ratings() -> dict[str, float]:
    """The battle panel's stored ratings (`--rate-panel` writes them)."""
    if not RATINGS_FILE.exists():
        raise SystemExit(
            f"{RATINGS_FILE} is missing: run `python bench/team_panel.py --rate-panel`"
        )
    return json.loads(RATINGS_FILE.read_text())["ratings"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate-panel", action="store_true", help="battle's round robin")
    parser.add_argument("--run", help="a battle or simple tag run directory")
    parser.add_argument("--players", nargs="+", default=["latest"])
    parser.add_argument("--games", type=int, default=100, help="games per panel member")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.rate_panel:
        print(json.dumps(rate_panel(args.games, args.workers)["ratings"], indent=2))
        return
    if not args.run:
        raise SystemExit("say which run: --run RUN_DIR (or --rate-panel)")
    try:
        arena = open_arena(args.run)
    except PanelError as err:
        raise SystemExit(f"team_panel: {err}") from None
    try:
        if arena.spec.name == TAG:
            rows = [score_tag(arena, args.players, games=args.games, workers=args.workers)]
            print(json.dumps(rows[0], indent=2))
        else:
            ratings = load_ratings()
            rows = []
            for player in args.players:
                row = score_battle(arena, player, ratings, games=args.games, workers=args.workers)
                rows.append(row)
                line = ", ".join(
                    f"{m} {s['score']:.2f} (red {s['as']['red']['score']:.2f}, blue "
                    f"{s['as']['blue']['score']:.2f}, kills/death {s['kill_ratio']:.1f})"
                    for m, s in row["scores"].items()
                )
                low, high = row["rating_95ci"]
                print(f"{row['player']}: rating {row['rating']:.0f} ({low:.0f} to {high:.0f}); "
                      f"{line}", flush=True)  # fmt: skip
    finally:
        arena.close()
    if args.out:
        out = {"run": str(args.run), "game": arena.spec.name, "games": args.games, "rows": rows}
        Path(args.out).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
