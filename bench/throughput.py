"""Measure rollout and training throughput against the raw env-stepping limit.

For connect_four_v3 and simple_tag_v3, interleaved, `--repeats` times (medians):
  (a) raw env stepping with random legal actions and no policy, in 1 and 2 processes;
  (b) our rollout sampling (policy inference, shaping, bookkeeping) on 1 and 2 Ray workers;
  (c) end-to-end PPO training with 2 Ray workers (collect + learn), env steps/s;
plus the peak memory (PSS summed over the driver and every Ray process) during (c).

    python bench/throughput.py [--repeats 3] [--seconds 8] [--out bench/throughput.json]
                               [--games connect_four_v3 ...] [--set key.path=value ...]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import ray
import torch

from envs import ShapingParams, builtin_game
from league.config import load_config
from league.rollout import PolicyFactory, RolloutRequest
from league.rollout.ray_workers import RayRunner, start_ray
from league.store import new_run
from league.training import Trainer
from matchmaking import OpponentSampler, SelfPlayMatchmaker

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"connect_four_v3": "connect_four", "simple_tag_v3": "simple_tag"}


def _raw_worker(game: str, seconds: float, out: mp.Queue) -> None:
    """Step one env copy with uniformly random legal actions; report env steps/s."""
    spec = builtin_game(game)
    env = spec.create()
    rng = np.random.default_rng()
    steps, start = 0, time.monotonic()
    if spec.info().api == "aec":
        while time.monotonic() - start < seconds:
            env.reset(seed=int(rng.integers(2**31)))
            for _agent in env.agent_iter():
                obs, _, term, trunc, _ = env.last()
                action = None
                if not (term or trunc):
                    action = int(rng.choice(np.flatnonzero(obs["action_mask"])))
                    steps += 1
                env.step(action)
    else:
        n = {a: env.action_space(a).n for a in env.possible_agents}
        while time.monotonic() - start < seconds:
            env.reset(seed=int(rng.integers(2**31)))
            while env.agents:
                env.step({a: int(rng.integers(n[a])) for a in env.agents})
                steps += 1
    out.put(steps / (time.monotonic() - start))


def raw_rate(game: str, procs: int, seconds: float) -> float:
    """Return the summed env steps/s of `procs` processes stepping the raw env."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    workers = [ctx.Process(target=_raw_worker, args=(game, seconds, out)) for _ in range(procs)]
    for w in workers:
        w.start()
    rates = [out.get() for _ in workers]
    for w in workers:
        w.join()
    return sum(rates)


def _config(game: str, workers: int, overrides: list[str]):
    """The game's shipped config with the `--set` overrides, on `workers` workers."""
    return load_config(
        ROOT / "configs" / f"{CONFIGS[game]}.yaml",
        [
            *overrides,
            f"train.workers={workers}",
            "train.eval_every=0",
            "train.iterations=1000000",
        ],
    )


def sampling_rate(game: str, workers: int, seconds: float, overrides: list[str]) -> float:
    """Return env steps/s of our rollouts (fresh policy, self-play) on `workers` Ray workers."""
    config = _config(game, workers, overrides)
    spec = builtin_game(game)
    info = spec.info()
    factory = PolicyFactory.from_config(info, config.model)
    runner = RayRunner(spec, info, workers=workers, envs=config.train.envs, factory=factory)
    roles = sorted(set(info.roles.values()))
    try:
        runner.set_latest({r: factory(r).state_dict() for r in roles}, version=0)
        matchmaker = SelfPlayMatchmaker(info, {r: OpponentSampler(role=r) for r in roles})
        shaping = ShapingParams(weights=dict(config.reward.weights))
        runner.run(RolloutRequest(matchmaker, shaping, min_steps=500))  # warm-up
        steps, start, seed = 0, time.monotonic(), 1
        while time.monotonic() - start < seconds:
            request = RolloutRequest(
                matchmaker, shaping, seed=seed, min_steps=config.train.steps_per_iteration
            )
            res = runner.run(request)
            steps += res.env_steps
            seed += 1
        return steps / (time.monotonic() - start)
    finally:
        runner.close()


def _ray_pss() -> int:
    """Sum the PSS of this process and every Ray process on the machine."""
    total = 0
    me = psutil.Process()
    for proc in psutil.process_iter(["cmdline", "name"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            if proc.pid == me.pid or "ray" in cmd or "raylet" in (proc.info["name"] or ""):
                total += proc.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def training_rate(
    game: str, workers: int, seconds: float, overrides: list[str]
) -> tuple[float, int]:
    """Return end-to-end PPO env steps/s and the peak PSS (bytes) while training."""
    config = _config(game, workers, overrides)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = new_run(config.model_copy(update={"name": "bench"}), Path(tmp))
        trainer = Trainer(config, run_dir)
        peak, stop = [0], threading.Event()

        def watch() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], _ray_pss())
                stop.wait(0.5)

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        try:
            trainer.iterate()  # warm-up
            steps0, start = trainer.counters.env_steps, time.monotonic()
            while time.monotonic() - start < seconds:
                trainer.iterate()
            rate = (trainer.counters.env_steps - steps0) / (time.monotonic() - start)
        finally:
            stop.set()
            thread.join()
            trainer.close()
    return rate, peak[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--games", nargs="+", default=list(CONFIGS))
    parser.add_argument("--out", default=str(ROOT / "bench" / "throughput.json"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    start_ray()
    samples: dict[str, dict[str, list[float]]] = {g: {} for g in args.games}
    peaks: dict[str, list[int]] = {g: [] for g in args.games}
    rest = (args.seconds, args.overrides)
    for rep in range(args.repeats):
        for game in args.games:
            cases = {
                "raw_1proc": lambda g=game: raw_rate(g, 1, args.seconds),
                "raw_2proc": lambda g=game: raw_rate(g, 2, args.seconds),
                "sampling_1worker": lambda g=game: sampling_rate(g, 1, *rest),
                "sampling_2workers": lambda g=game: sampling_rate(g, 2, *rest),
            }
            for case, fn in cases.items():
                samples[game].setdefault(case, []).append(fn())
            rate, peak = training_rate(game, 2, *rest)
            samples[game].setdefault("ppo_2workers", []).append(rate)
            peaks[game].append(peak)
            print(
                f"repeat {rep + 1}: {game} "
                + ", ".join(f"{k}={v[-1]:.0f}" for k, v in samples[game].items()),
                flush=True,
            )
    results = {
        "machine": f"{platform.machine()}, {psutil.cpu_count()} CPUs, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}, "
        f"torch {torch.__version__}, ray {ray.__version__}",
        "repeats": args.repeats,
        "seconds_per_sample": args.seconds,
        "overrides": args.overrides,
        "games": {},
    }
    for game in args.games:
        med = {k: statistics.median(v) for k, v in samples[game].items()}
        limit = med["raw_2proc"]
        results["games"][game] = {
            "median_env_steps_per_s": med,
            "samples": samples[game],
            "ratio_to_2proc_limit": {k: v / limit for k, v in med.items()},
            "sampling_2_over_1": med["sampling_2workers"] / med["sampling_1worker"],
            "peak_pss_gib_2workers": max(peaks[game]) / 2**30,
        }
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
