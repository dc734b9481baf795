"""Does a league with exploiters make a stronger, less exploitable agent than self-play?

Trains two connect-four runs for the same wall-clock budget, one after the other: the
shipped config (self-play: its latest self half the time, else its history, in which
the scripted and random bots take most draws) and the same config with one main
exploiter and one league exploiter (`league.agents`). Then, sampled
actions, `--opening` random moves before each game, seats alternating:

- each run's final main agent against the random and the scripted bot (`--games`);
- the two head to head (`--games`);
- a ladder: both agents, random (pinned at 0), scripted and `mcts:N` for each `--mcts`,
  a round robin of `--ladder-games` per pair, Bradley-Terry ratings (Elo scale) with
  bootstrap intervals (`--ladder-games 0`: none);
- a best response (`league exploit`) trained for `--exploit-iterations` iterations
  against each final agent, and its score against that agent (`--games`;
  `--exploit-iterations 0`: none).

    python bench/league_vs_selfplay.py [--minutes 30] [--games 200] [--ladder-games 40]
        [--mcts 25 100] [--exploit-iterations 60] [--runs-dir DIR] [--reuse]
        [--out bench/results/league_vs_selfplay.json] [--set key.path=value ...]
        [--league-set key.path=value ...]

`--set` changes the config of both runs: `--set 'league.bots={}'` makes the baseline
self-play only (no scripted bot in its history) and the league its exploiters alone.

Run it alone on the machine: the budget is wall-clock time.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

from throughput import calibrated, machine  # bench/ is on sys.path when this script runs

from league.config import load_config
from league.evaluation import Arena
from league.store import Registry, new_run
from league.training import Trainer
from league.training.exploit import exploit
from matchmaking import PlayerId, bradley_terry, rating_intervals

ROOT = Path(__file__).resolve().parents[1]
LEAGUE = [
    "league.agents.main_exploiters=1",
    "league.agents.league_exploiters=1",
    # Exploiters learn about a sixth of the steps: freeze at least every 200k of theirs.
    "league.agents.freeze.max_steps=200000",
]


def train(name: str, overrides: list[str], minutes: float, runs_dir: Path, reuse: bool) -> dict:
    """Train one run for `minutes` (or reuse a finished one); return its summary."""
    run_dir = runs_dir / name
    if reuse and (run_dir / "checkpoint.safetensors").exists():
        return {"run_dir": str(run_dir), "reused": True}
    config = load_config(
        ROOT / "configs" / "connect_four.yaml",
        [*overrides, "train.iterations=1000000", f"train.max_minutes={minutes}"],
    ).model_copy(update={"name": name})
    trainer = Trainer(config, new_run(config, runs_dir))
    with calibrated() as speeds:
        try:
            summary = trainer.train()
        finally:
            trainer.close()
    return {
        **{k: summary[k] for k in ("run_dir", "iterations", "env_steps", "seconds", "agents")},
        "calibration": speeds,
    }


def final_main(run_dir: Path) -> tuple[int, dict]:
    """The id and weights of a run's newest main-agent snapshot."""
    with Registry(run_dir) as reg:
        row = reg.latest_snapshot(kind="main")
        assert row is not None, run_dir
        return row["id"], reg.load_snapshot(row["id"])


def per_game(a: str, b: str, stats) -> list[tuple[str, str, float]]:
    """One (a, b, score of a) triple per game, for the ratings."""
    return [(a, b, 1.0)] * stats.wins + [(a, b, 0.5)] * stats.draws + [(a, b, 0.0)] * stats.losses


def ladder(arena: Arena, agents: dict[str, PlayerId], args, kw: dict) -> list[dict]:
    """A round robin of both agents, the bots and `mcts:N`; ratings with random at 0."""
    players = [*agents.values(), *map(arena.resolve, ["random", "scripted"])]
    players += [arena.resolve(f"mcts:{n}") for n in args.mcts]
    results: list[tuple[str, str, float]] = []
    for i, (a, b) in enumerate(itertools.combinations(players, 2)):
        t = time.monotonic()
        stats = arena.play(a, b, **{**kw, "games": args.ladder_games, "seed": 100 + i})
        results += per_game(str(a), str(b), stats)
        print(f"ladder {a} vs {b}: {stats.score:.3f} ({time.monotonic() - t:.0f} s)", flush=True)
    ratings = bradley_terry(results, anchor="random")
    intervals = rating_intervals(results, anchor="random")
    names = {str(p): n for n, p in agents.items()}
    return sorted(
        (
            {"player": names.get(p, p), "rating": r, "rating_95ci": list(intervals[p])}
            for p, r in ratings.items()
        ),
        key=lambda row: -row["rating"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--games", type=int, default=200)
    parser.add_argument("--ladder-games", type=int, default=40)
    parser.add_argument("--mcts", type=int, nargs="*", default=[25, 100])
    parser.add_argument("--exploit-iterations", type=int, default=60)
    parser.add_argument("--opening", type=int, default=2)
    parser.add_argument("--runs-dir", default=None, help="keep the runs here (default: a temp dir)")
    parser.add_argument("--reuse", action="store_true", help="reuse finished runs in --runs-dir")
    parser.add_argument(
        "--out", default=str(ROOT / "bench" / "results" / "league_vs_selfplay.json")
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        help="a config override for both runs, e.g. 'league.bots={}' (repeatable)",
    )
    parser.add_argument(
        "--league-set",
        action="append",
        default=[],
        help="another config override for the league run only, e.g. "
        "league.agents.restart_from=main (repeatable)",
    )
    args = parser.parse_args()
    runs = {"selfplay": args.set, "league": [*args.set, *LEAGUE, *args.league_set]}
    runs_dir = Path(args.runs_dir or tempfile.mkdtemp(prefix="league_vs_selfplay_"))
    runs_dir.mkdir(parents=True, exist_ok=True)
    out: dict = {
        "machine": machine(),
        "args": vars(args),
        "runs": {},
    }
    for name, overrides in runs.items():
        t = time.monotonic()
        out["runs"][name] = train(name, overrides, args.minutes, runs_dir, args.reuse)
        print(f"{name}: trained in {time.monotonic() - t:.0f} s", flush=True)

    arena = Arena.open(runs_dir / "selfplay", None)
    agents = {}
    for name in runs:
        sid, weights = final_main(runs_dir / name)
        player = PlayerId.of_snapshot("main", sid + (100_000 if name == "league" else 0))
        arena.weights[player] = weights
        agents[name] = player
        out["runs"][name]["final_snapshot"] = sid
    kw = {"games": args.games, "seed": 1, "random_opening": args.opening, "record": False}
    for name, me in agents.items():
        for bot in ("random", "scripted"):
            stats = arena.play(me, arena.resolve(bot), **kw)
            out["runs"][name][f"vs_{bot}"] = stats.to_json()
            print(f"{name} vs {bot}: {stats.score:.3f}", flush=True)
    h2h = arena.play(agents["league"], agents["selfplay"], **kw)
    out["head_to_head"] = h2h.to_json()
    print(f"league vs selfplay: {h2h.score:.3f} {h2h.interval}", flush=True)

    if args.ladder_games:
        out["ladder"] = ladder(arena, agents, args, kw)
    arena.close()

    for name in runs if args.exploit_iterations else ():
        t = time.monotonic()
        br = exploit(
            runs_dir / name,
            str(out["runs"][name]["final_snapshot"]),
            iterations=args.exploit_iterations,
            games=args.games,
            random_opening=args.opening,
        )
        out["runs"][name]["best_response"] = {
            k: br[k] for k in ("score", "score_95ci", "env_steps", "seconds", "curve")
        }
        print(f"best response to {name}: {br['score']:.3f} ({time.monotonic() - t:.0f} s)")
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(json.dumps({k: v for k, v in out.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
