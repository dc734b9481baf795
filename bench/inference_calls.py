"""Count a training run's forward passes by batch size, and the time each size takes.

Trains the shipped connect-four config in this process (`train.workers=0`, no Ray,
1 torch thread, as a rollout worker), with snapshots every 2 iterations so that the
history fills quickly, and times every `PolicyPlayer.act` call of the last
`--measure` iterations, bucketed by rows (1, 2-4, 5-16, more). It prints the
inference seconds per env step and each bucket's calls, share and milliseconds per
call: what shows whether small snapshot calls or the learning policy's large ones
cost the most.

    python bench/inference_calls.py [--iterations 30] [--measure 10] [--set key.path=value ...]

Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
import time
from pathlib import Path

import torch

from league.config import load_config
from league.rollout.players import PolicyPlayer
from league.store import new_run
from league.training import Trainer

ROOT = Path(__file__).resolve().parents[1]
BUCKETS = (1, 4, 16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--measure", type=int, default=10)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    torch.set_num_threads(1)
    calls: collections.Counter[str] = collections.Counter()
    spent: collections.Counter[str] = collections.Counter()
    act = PolicyPlayer.act

    def timed(self, obs, *rest, **kw):
        start = time.perf_counter()
        out = act(self, obs, *rest, **kw)
        rows = len(obs)
        key = next((f"<={b}" for b in BUCKETS if rows <= b), f">{BUCKETS[-1]}")
        calls[key] += 1
        spent[key] += time.perf_counter() - start
        return out

    PolicyPlayer.act = timed
    overrides = [
        "train.workers=0",
        "train.eval_every=0",
        "train.snapshot_every=2",
        f"train.iterations={args.iterations}",
        *args.overrides,
    ]
    config = load_config(ROOT / "configs" / "connect_four.yaml", overrides)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, new_run(config.model_copy(update={"name": "calls"}), Path(tmp)))
        try:
            for i in range(args.iterations):
                if i == args.iterations - args.measure:
                    calls.clear()
                    spent.clear()
                    steps0 = trainer.counters.env_steps
                trainer.iterate()
            steps = trainer.counters.env_steps - steps0
        finally:
            trainer.close()
    total = sum(spent.values())
    print(
        json.dumps(
            {
                "overrides": args.overrides,
                "env_steps": steps,
                "inference_us_per_env_step": round(total / steps * 1e6),
                "by_rows": {
                    k: {
                        "calls": calls[k],
                        "share": round(spent[k] / total, 3),
                        "ms_per_call": round(spent[k] / calls[k] * 1e3, 2),
                    }
                    for k in sorted(calls, key=lambda k: (k[0] == ">", int(k.strip("<=>"))))
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
