"""Connect four's held-out strength panel: opponents no shipped config trains with.

Scores a snapshot (a run's final one by default) against each member of the panel
(sampled actions, `--opening` random moves first, seats alternating; Wilson 95%
intervals) and rates it on the panel's ladder: random pinned at 0 and every member
fixed at its stored rating, the snapshot's rating the maximum-likelihood one given its
results (Bradley-Terry on the Elo scale, draws half a win), with a 95% interval from the
Fisher information. The members' ratings come from a round robin of the panel and the
random bot, played once (`--rate-panel`) and stored with the benchmark
(bench/results/panel_ratings.json), so that runs compare.

    python bench/panel.py --rate-panel [--games 40]     # once: the panel's ratings
    python bench/panel.py --run RUNS/connect_four [--players latest 40 80]
    python bench/panel.py --train [--seed 0] [--set key=value ...]   # the default run first
        [--out bench/results/panel_X.json]

A config that trains against a panel member (`league.bots`) is judged on the others.
Run it alone on the machine: `--train` is a wall-clock run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The rating arithmetic is the team panel's too (bench/team_panel.py): one copy, in
# matchmaking/ratings.py.
from matchmaking.ratings import fixed_panel_rating  # noqa: E402

GAME = "connect_four_v3"
PANEL = ("scripted", "tactical", "mcts:25", "mcts:50", "mcts:100", "mcts:400")
"""The held-out opponents: the game's two scripted bots and search at four depths (mcts:50
is the default run's target)."""
ANCHOR = "random"
"""Rated 0: the ladder's fixed point, as on every leaderboard of the project."""
RATINGS_FILE = ROOT / "bench" / "results" / "panel_ratings.json"


def panel_for(bots: Mapping[str, float] | Sequence[str]) -> tuple[str, ...]:
    """The panel members a config is judged on: those it never trains against."""
    return tuple(m for m in PANEL if m not in set(bots))


def round_robin_ratings(results: Sequence[tuple[str, str, float]]) -> dict[str, float]:
    """The panel's own ratings from a round robin (random pinned at 0), by the project's
    Bradley-Terry fit (one virtual draw each keeps a player who never lost finite)."""
    from matchmaking.ratings import bradley_terry

    return bradley_terry(results, anchor=ANCHOR)


def _play(a: str, b: str, *, run: str | None, games: int, opening: int, workers: int) -> Any:
    """A's MatchStats against B (sampled actions, seeded)."""
    from league.api import evaluate

    return evaluate(
        a,
        b,
        run=run,
        game=None if run else GAME,
        games=games,
        random_opening=opening,
        seed=1,
        workers=workers,
    )


def rate_panel(games: int, opening: int, workers: int) -> dict[str, Any]:
    """Play the round robin of the panel and random; return and store their ratings."""
    players = (ANCHOR, *PANEL)
    results: list[tuple[str, str, float]] = []
    pairs = {}
    for i, a in enumerate(players):
        for b in players[i + 1 :]:
            t = time.monotonic()
            stats = _play(a, b, run=None, games=games, opening=opening, workers=workers)
            results += [(a, b, 1.0)] * stats.wins + [(a, b, 0.5)] * stats.draws
            results += [(a, b, 0.0)] * stats.losses
            pairs[f"{a} vs {b}"] = {"score": stats.score, "games": stats.games}
            print(f"{a} vs {b}: {stats.score:.3f} ({time.monotonic() - t:.0f} s)", flush=True)
    out = {
        "machine": _bench("machine")(),
        "games_per_pair": games,
        "opening": opening,
        "ratings": round_robin_ratings(results),
        "pairs": pairs,
    }
    RATINGS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RATINGS_FILE.write_text(json.dumps(out, indent=2))
    return out


def score_on_panel(
    run: str,
    player: str,
    ratings: Mapping[str, float],
    *,
    members: Sequence[str],
    games: int,
    search_games: int,
    opening: int,
    workers: int,
) -> dict[str, Any]:
    """A snapshot's score against each member (with its interval) and its panel rating
    (`search_games` games against each `mcts:N`, `games` against the others)."""
    scores, results = {}, {}
    for member in members:
        n = search_games if member.startswith("mcts:") else games
        stats = _play(player, member, run=run, games=n, opening=opening, workers=workers)
        scores[member] = {
            "score": stats.score,
            "score_95ci": list(stats.interval),
            "games": stats.games,
        }
        results[member] = (stats.score, stats.games)
    return {"player": player, "scores": scores, **fixed_panel_rating(results, ratings)}


def _train(overrides: list[str], seed: int) -> tuple[str, dict[str, Any]]:
    """Run the default connect-four run (as `league train` does); return its directory."""
    from league.api import train

    runs = Path(tempfile.mkdtemp(prefix="panel_"))
    summary = train(None, overrides=[*overrides, f"seed={seed}"], runs_dir=runs)
    return summary["run_dir"], summary


def _bench(name: str):
    """A function of bench/throughput.py (imported late: it imports Ray's side of the
    project, which the panel's scoring does not need)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import throughput

    return getattr(throughput, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate-panel", action="store_true", help="play the panel's round robin")
    parser.add_argument("--run", help="a connect-four run directory")
    parser.add_argument("--train", action="store_true", help="train the default run first")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed (--train)")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--players", nargs="+", default=["latest"])
    parser.add_argument(
        "--games", type=int, default=200, help="games per bot (round robin: per pair)"
    )
    parser.add_argument("--search-games", type=int, default=60, help="games per mcts:N member")
    parser.add_argument("--opening", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.rate_panel:
        out = rate_panel(args.games, args.opening, args.workers)
        print(json.dumps(out["ratings"], indent=2))
        return
    if not RATINGS_FILE.exists():
        raise SystemExit(f"{RATINGS_FILE} is missing: run `python bench/panel.py --rate-panel`")
    ratings = json.loads(RATINGS_FILE.read_text())["ratings"]
    summary = None
    if args.train:
        with _bench("calibrated")() as speeds:
            t = time.monotonic()
            run, summary = _train(args.overrides, args.seed)
        summary = {k: summary[k] for k in ("iterations", "env_steps", "seconds", "precision")}
        summary["wall_seconds"] = round(time.monotonic() - t, 1)
        summary["calibration"] = speeds
    elif args.run:
        run = args.run
    else:
        raise SystemExit("say which run: --run RUN_DIR, or --train")
    from league.store import load_run_config

    members = panel_for(load_run_config(Path(run)).league.bots)
    rows = []
    for player in args.players:
        row = score_on_panel(
            run,
            player,
            ratings,
            members=members,
            games=args.games,
            search_games=args.search_games,
            opening=args.opening,
            workers=args.workers,
        )
        rows.append(row)
        line = ", ".join(f"{m} {s['score']:.3f}" for m, s in row["scores"].items())
        low, high = row["rating_95ci"]
        print(f"{player}: rating {row['rating']:.0f} ({low:.0f} to {high:.0f}); {line}", flush=True)
    out = {
        "machine": _bench("machine")(),
        "run": str(run),
        "seed": args.seed,
        "overrides": args.overrides,
        "train": summary,
        "panel": list(members),
        "panel_ratings": ratings,
        "games": args.games,
        "search_games": args.search_games,
        "opening": args.opening,
        "players": rows,
    }
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
