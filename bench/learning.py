"""Measure how fast the default connect-four league beats the random bot.

Trains with the shipped config for 10 minutes of wall-clock time, keeps the
weights at 2.5, 5 and 10 minutes, and scores each against the uniformly random
bot over 200 games (both seats, sampled actions, `--opening` random moves first, 2 by
default). Repeats with `p_latest: 1.0` (self-play against the latest version only) for
comparison. Also reports the greedy
score against the random bot and the sampled score against the scripted bot (which
wins when it can, blocks when it must, else plays centre-first), an opponent the
shipped config does not train against.

    python bench/learning.py [--minutes 10] [--marks 2.5 5 10] [--games 200]
                             [--out bench/results/learning.json] [--p-latest 0.8 1.0]
                             [--set key.path=value ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from league.config import load_config
from league.evaluation import Arena
from league.store import new_run
from league.training import Trainer, cpu_weights
from matchmaking import PlayerId

ROOT = Path(__file__).resolve().parents[1]


def run(
    p_latest: float,
    minutes: float,
    games: int,
    marks: list[float],
    overrides: list[str],
    opening: int = 2,
) -> dict:
    """Train one league for `minutes` and score the weights kept at each mark."""
    config = load_config(
        ROOT / "configs" / "connect_four.yaml",
        [
            *overrides,
            f"league.p_latest={p_latest}",
            "train.iterations=1000000",
            f"train.max_minutes={minutes}",
        ],
    )
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = new_run(config.model_copy(update={"name": "bench"}), Path(tmp))
        trainer = Trainer(config, run_dir)
        kept: dict[float, dict] = {}
        start = time.monotonic()

        def keep(_metrics: dict) -> None:
            elapsed = time.monotonic() - start
            for mark in marks:
                if mark not in kept and elapsed >= mark * 60:
                    kept[mark] = {
                        "weights": {"main": cpu_weights(trainer.learners["main"].policy)},
                        "seconds": elapsed,
                        "iteration": trainer.counters.iteration,
                        "env_steps": trainer.counters.env_steps,
                    }

        try:
            trainer.train(on_iteration=keep)
            keep({})
            # The last iteration may end just short of the final mark: keep the end state.
            for mark in marks:
                kept.setdefault(
                    mark,
                    {
                        "weights": {"main": cpu_weights(trainer.learners["main"].policy)},
                        "seconds": time.monotonic() - start,
                        "iteration": trainer.counters.iteration,
                        "env_steps": trainer.counters.env_steps,
                    },
                )
            rows = []
            for mark in marks:
                k = kept[mark]
                arena = Arena(trainer.spec, trainer.info, trainer.factory)
                me = PlayerId.of_snapshot("main", 0)
                arena.weights[me] = k["weights"]["main"]
                random_bot, scripted_bot = arena.resolve("random"), arena.resolve("scripted")
                kw = {"games": games, "seed": 1, "random_opening": opening}
                stats = arena.play(me, random_bot, **kw)
                greedy = arena.play(me, random_bot, greedy=True, **kw)
                scripted = arena.play(me, scripted_bot, **kw)
                rows.append(
                    {
                        "minutes": mark,
                        "seconds": round(k["seconds"], 1),
                        "iteration": k["iteration"],
                        "env_steps": k["env_steps"],
                        "score": stats.score,
                        "wins": stats.wins,
                        "draws": stats.draws,
                        "losses": stats.losses,
                        "greedy_score": greedy.score,
                        "scripted_score": scripted.score,
                    }
                )
        finally:
            trainer.close()
    return {"p_latest": p_latest, "overrides": overrides, "opening": opening, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--games", type=int, default=200)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "learning.json"))
    parser.add_argument(
        "--p-latest", type=float, nargs="+", default=[0.8, 1.0], help="runs to make, in order"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override for every run (as `league train --set`), for experiments",
    )
    parser.add_argument(
        "--opening",
        type=int,
        default=2,
        help="random opening moves of each scoring game (the bot ladder's convention: 2)",
    )
    parser.add_argument(
        "--marks",
        type=float,
        nargs="+",
        help="minutes at which to keep and score the weights (default: a quarter, a half "
        "and all of --minutes)",
    )
    args = parser.parse_args()
    marks = sorted(args.marks or [args.minutes / 4, args.minutes / 2, args.minutes])
    if marks[-1] > args.minutes:
        parser.error(f"--marks: {marks[-1]} is past --minutes {args.minutes}")
    results = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"Python {platform.python_version()}, torch {torch.__version__}",
        "runs": [
            run(p, args.minutes, args.games, marks, args.overrides, args.opening)
            for p in args.p_latest
        ],
    }
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(
        "| p_latest | minutes | iteration | env steps | score vs random (W/D/L) | greedy "
        "| vs scripted bot |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results["runs"]:
        for row in r["rows"]:
            print(
                f"| {r['p_latest']} | {row['minutes']} | {row['iteration']} | "
                f"{row['env_steps']:,} | {row['score']:.3f} "
                f"({row['wins']}/{row['draws']}/{row['losses']}) | {row['greedy_score']:.3f} "
                f"| {row['scripted_score']:.3f} |"
            )


if __name__ == "__main__":
    main()
