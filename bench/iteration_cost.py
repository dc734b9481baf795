"""Time the two halves of a training iteration: collecting and learning.

Runs `Trainer.iterate` on a config for a few iterations (evaluation off) and prints
the mean collect and learn seconds per iteration and the env steps per second, so
that learner settings can be compared by their cost (the first 2 iterations are
warm-up and not counted).

    python bench/iteration_cost.py [--config configs/connect_four.yaml] [--iterations 10]
                                   [--set key.path=value ...]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from league.config import load_config
from league.store import new_run
from league.training import Trainer

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "connect_four.yaml"))
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    if args.iterations < 3:
        parser.error("--iterations must be at least 3 (2 are warm-up)")
    config = load_config(
        Path(args.config),
        [*args.overrides, f"train.iterations={args.iterations}", "train.eval_every=0"],
    )
    rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, new_run(config.model_copy(update={"name": "cost"}), Path(tmp)))
        try:
            trainer.train(on_iteration=rows.append)
            env_steps = trainer.counters.env_steps
        finally:
            trainer.close()
    timed = rows[2:]

    def mean(key: str) -> float:
        return float(np.mean([r[key] for r in timed]))

    print(
        json.dumps(
            {
                "overrides": args.overrides,
                "collect_seconds": round(mean("perf/collect_seconds"), 3),
                "learn_seconds": round(mean("perf/learn_seconds"), 3),
                "env_steps_per_s": round(mean("charts/SPS")),
                "env_steps_per_iteration": round(env_steps / len(rows)),
            }
        )
    )


if __name__ == "__main__":
    main()
