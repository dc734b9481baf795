"""One iteration of an uncapped Atari game: seconds per iteration and peak memory.

Writes the starter config of `pettingzoo.atari.boxing_v2` exactly as a new user gets it
(`league inspect ... --write-config`: default episode length, 7,139 env steps), then
trains it for `--iterations` iterations on the default Ray workers, three ways:
  uncapped         the written config (fragments of `train.fragment_length` steps);
  capped           the same with `game.kwargs.max_cycles=--cap` (how the built-in pixel
                   configs kept iterations short before fragments);
  whole_episodes   the written config with fragments longer than any episode, so every
                   stream ships only when its episode ends (the old behaviour), one iteration.
For each: seconds per iteration, env steps per iteration, and the peak PSS summed over
the driver and every Ray process.

    python bench/fragments.py [--iterations 3] [--cap 2000] [--cases uncapped capped ...]
                              [--out bench/results/fragments.json]

The results file is rewritten after each case, so a case cut short (whole_episodes can
take many minutes) leaves the others.

Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from pathlib import Path

from throughput import machine, peak_pss

from league.config import load_config
from league.game_config import resolve_game
from league.inspect import inspect_game, starter_config, write_config
from league.store import new_run
from league.training import Trainer

ROOT = Path(__file__).resolve().parents[1]
ENV = "pettingzoo.atari.boxing_v2:parallel_env"


def written_config(directory: Path) -> Path:
    """Write boxing's starter config as `league inspect --write-config` does."""
    from league.config import parse_config

    probe = resolve_game(parse_config({"game": {"name": "boxing_v2", "env": ENV}}, source=ENV))
    report = inspect_game(probe, episodes=1)
    path = directory / "boxing.yaml"
    write_config(path, starter_config(ENV, {}, report), header=f"written by: league inspect {ENV}")
    return path


def measure(path: Path, overrides: list[str], iterations: int) -> dict:
    """Train `iterations` iterations; return per-iteration seconds, env steps and peak PSS."""
    config = load_config(path, [*overrides, "train.eval_every=0", "train.rating_games=0"])
    seen: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, new_run(config, Path(tmp)))
        start = time.monotonic()
        with contextlib.ExitStack() as stack:
            stack.callback(trainer.close)
            peak = stack.enter_context(peak_pss())
            trainer.train(iterations=iterations, on_iteration=lambda m: seen.append(dict(m)))
    return {
        "overrides": overrides,
        "iteration_seconds": [round(m["perf/iteration_seconds"], 2) for m in seen],
        "collect_seconds": [round(m["perf/collect_seconds"], 2) for m in seen],
        "env_steps": seen[-1]["charts/env_steps"],
        "episodes_finished": trainer.counters.episodes,
        "total_seconds": round(time.monotonic() - start, 1),
        "peak_pss_gib": round(peak[0] / 2**30, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--cap", type=int, default=2000)
    parser.add_argument("--cases", nargs="+", default=["uncapped", "capped", "whole_episodes"])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "fragments.json"))
    args = parser.parse_args()
    results: dict = {"machine": machine(), "game": ENV, "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        path = written_config(Path(tmp))
        results["config"] = path.read_text()
        cases = {
            "uncapped": ([], args.iterations),
            "capped": ([f"game.kwargs.max_cycles={args.cap}"], args.iterations),
            "whole_episodes": (["train.fragment_length=1000000"], 1),
        }
        for name in args.cases:
            overrides, iterations = cases[name]
            results["cases"][name] = measure(path, overrides, iterations)
            print(name, json.dumps(results["cases"][name]), flush=True)
            Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
