"""The memory game: a recurrent policy against a feed-forward one on the same budget.

Trains `examples/memory.yaml` (an LSTM policy) and the same config with
`model.recurrent=null` (feed-forward) through the CLI, as a user would, then plays each
final snapshot against the random bot. The score that matters is the fraction of right
answers (an agent's return is 1 when it names its cue at the last step, else 0): the
best possible is 1.0, a policy that cannot remember gets 1 / cues (0.5) at best.

    python bench/memory.py [--games 400] [--seeds 0] [--out bench/results/memory.json]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import yaml
from default_run import cli
from throughput import machine

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "memory.yaml"
VARIANTS = {"recurrent": [], "feed_forward": ["model.recurrent=null"]}


def run(variant: str, seed: int, games: int, runs: Path) -> dict:
    """Train one variant, then score its final snapshot against the random bot."""
    name = f"{variant}_{seed}"
    sets = [*VARIANTS[variant], f"seed={seed}"]
    start = time.monotonic()
    summary = cli("train", str(CONFIG), "--runs-dir", str(runs), "--name", name,
                   *[a for s in sets for a in ("--set", s)])  # fmt: skip
    seconds = time.monotonic() - start
    scored = cli("eval", "latest", "random", "--run", str(runs / name), "--games", str(games))
    team_size = yaml.safe_load(CONFIG.read_text())["game"]["kwargs"]["team_size"]
    answers = games * team_size
    right = scored["mean_return"] / team_size  # each right answer scores 1
    half = 1.96 * math.sqrt(max(right * (1 - right), 1e-12) / answers)
    return {
        "variant": variant,
        "seed": seed,
        "train_seconds": round(seconds, 1),
        "env_steps": summary["env_steps"],
        "iterations": summary["iterations"],
        "right_answers": right,
        "right_answers_95ci": [max(0.0, right - half), min(1.0, right + half)],
        "fraction_of_best": right / 1.0,
        "score_vs_random": scored["score"],
        "score_vs_random_95ci": scored["score_95ci"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=400)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "memory.json"))
    args = parser.parse_args()
    results = {"machine": machine(), "config": str(CONFIG.relative_to(ROOT)), "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for variant in VARIANTS:
                results["runs"].append(run(variant, seed, args.games, Path(tmp)))
                print(json.dumps(results["runs"][-1]), flush=True)
                Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
