"""The run `league train` makes by default: how long it takes and how strong it ends.

Runs the real CLI as a new user would (`league train`, the shipped connect-four
config), then scores the final snapshot (`latest`) against the random, the scripted and
the tactical bot (sampled actions, `--opening` random moves first, seats alternating) and plays a
tournament of every snapshot of the run with the bots, to check that the final snapshot
rates at least as high as every earlier one (no forgetting).

    python bench/default_run.py [--games 200] [--opening 2] [--tournament-games 60]
        [--out bench/results/default_run.json] [--set key.path=value ...]

Run it alone on the machine: the run's length is wall-clock time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from throughput import calibrated, machine  # bench/ is on sys.path when this script runs

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> dict:
    """Run `python -m league ARGS --json` and return its JSON output."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "league", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"league {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=200)
    parser.add_argument("--opening", type=int, default=2)
    parser.add_argument("--tournament-games", type=int, default=60)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "default_run.json"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    runs = Path(tempfile.mkdtemp(prefix="default_run_"))
    sets = [a for o in args.overrides for a in ("--set", o)]
    with calibrated() as speeds:
        t = time.monotonic()
        summary = cli("train", "--runs-dir", str(runs), *sets)
        wall = time.monotonic() - t
    run = summary["run_dir"]
    # The tournament first: the evals below add games of the final snapshot alone (with
    # random openings), which would rate it from other games than the earlier snapshots.
    board = cli("tournament", "--run", run, "--top", "1000", "--games", str(args.tournament_games))
    scores = {}
    for bot in ("random", "scripted", "tactical"):
        scores[bot] = cli(
            "eval", "latest", bot, "--run", run, "--games", str(args.games),
            "--random-opening", str(args.opening), "--seed", "1",
        )  # fmt: skip
    rows = {r["player"]: r for r in board["leaderboard"]}
    final = scores["random"]["a"]
    snapshots = [r for r in board["leaderboard"] if r["kind"] == "main"]
    best_earlier = max((r for r in snapshots if r["player"] != final), key=lambda r: r["rating"])
    # On a plateau the point estimates order equal snapshots by chance: say also whether
    # the final's interval reaches the best earlier rating (not significantly below).
    within = rows[final]["rating_95ci"][1] >= best_earlier["rating"]
    out = {
        "machine": machine(),
        "overrides": args.overrides,
        "wall_seconds": round(wall, 1),
        "calibration": speeds,
        "train": {k: summary[k] for k in ("iterations", "env_steps", "seconds", "precision")},
        "final": final,
        "vs_random": scores["random"],
        "vs_scripted": scores["scripted"],
        "vs_tactical": scores["tactical"],
        "final_rating": rows[final]["rating"],
        "final_rating_95ci": rows[final]["rating_95ci"],
        "best_earlier": {k: best_earlier[k] for k in ("player", "rating", "rating_95ci")},
        "no_forgetting": rows[final]["rating"] >= best_earlier["rating"],
        "final_not_significantly_below": within,
        "leaderboard": board["leaderboard"],
    }
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(
        f"train {wall / 60:.1f} min ({summary['iterations']} iterations, "
        f"{summary['env_steps']:,} env steps); {final} vs random "
        f"{scores['random']['score']:.3f}, vs scripted {scores['scripted']['score']:.3f}, "
        f"vs tactical {scores['tactical']['score']:.3f}; "
        f"rating {rows[final]['rating']:.0f} (best earlier {best_earlier['player']} "
        f"{best_earlier['rating']:.0f}); no forgetting: {out['no_forgetting']} "
        f"(within the final's interval: {within})"
    )


if __name__ == "__main__":
    main()
