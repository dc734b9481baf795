"""What the checks on a game's numbers cost sampling: a micro-benchmark.

The adapter checks each observation's shape and dtype against its space and each step's
rewards for NaN and inf; the rollout loop checks each batch of float observations for
NaN and inf (`np.isfinite` on the array it stacks for inference anyway). Here each check
is timed alone on the game's own values, `--calls` times, and multiplied by how often an
in-process rollout (`workers: 0`, a fresh policy, self-play) makes it per env step; the
cost is that time over the rollout's own time per env step.

A no-check A/B of whole rollouts would need a switch in the adapter that nothing else
uses, and on a shared machine its noise (several %) would drown a difference under 1%;
timing the checks alone measures the very operations added. The figure is indicative
only where the machine is shared: rerun it on a quiet one.

    python bench/value_checks.py [--games connect_four_v3 simple_tag_v3] [--seconds 5]
                                 [--out bench/results/value_checks.json]
"""

from __future__ import annotations

import argparse
import json
import math
import timeit
from pathlib import Path

import numpy as np

from bench.throughput import _config, sampling_rate
from envs import GameEnv, builtin_game
from envs.adapter import split_observation


def check_costs(game: str, calls: int) -> dict[str, float]:
    """Seconds per call of each check, on a state of `game` a few random moves in."""
    spec = builtin_game(game)
    env = GameEnv(spec, spec.info())
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(3):
        acting = env.acting()
        actions = {}
        for agent in acting:
            _, mask = env.observe(agent)
            space = env.env.action_space(agent)
            legal = np.flatnonzero(mask) if mask is not None else np.arange(space.n)
            actions[agent] = int(rng.choice(legal))
        rewards = env.step(actions).rewards
    agent = env.acting()[0]
    raw = env.env.observe(agent) if not env._parallel else env._obs[agent]
    info = env._raw.infos.get(agent, {}) if not env._parallel else env._infos.get(agent, {})
    obs = split_observation(raw, info)[0]
    stacked = np.stack([obs] * 8)
    shape, dtype = env._declared[agent]

    def per_call(stmt) -> float:
        return min(timeit.repeat(stmt, number=calls, repeat=5)) / calls

    return {
        "observation_shape_dtype": per_call(lambda: obs.shape != shape or obs.dtype != dtype),
        "rewards_finite": per_call(lambda: all(map(math.isfinite, rewards.values()))),
        "batch_finite": (
            per_call(lambda: not np.isfinite(stacked).all()) if stacked.dtype.kind == "f" else 0.0
        ),
    }


def rollout_profile(game: str, seconds: float) -> dict[str, float]:
    """Seconds per env step of in-process rollouts (`bench/throughput.py`'s sampling, a
    fresh policy in self-play), and agent steps and forward-pass batches per env step."""
    info = builtin_game(game).info()
    rate = sampling_rate(game, 0, seconds, [])
    # Each loop pass steps every env copy once and runs one forward pass per (player,
    # role) group (the latest policy or the opponent, for each role): at most that many
    # batch checks a pass, `envs` env steps a pass.
    roles = set(info.roles.values())
    return {
        "seconds_per_env_step": 1.0 / rate,
        "agent_steps_per_env_step": 1.0 if info.api == "aec" else float(len(info.agents)),
        "batches_per_env_step": 2 * len(roles) / _config(game, 0, []).train.envs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", nargs="+", default=["connect_four_v3", "simple_tag_v3"])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = {}
    for game in args.games:
        cost, prof = check_costs(game, args.calls), rollout_profile(game, args.seconds)
        per_step = (
            cost["observation_shape_dtype"] * prof["agent_steps_per_env_step"]
            + cost["rewards_finite"]
            + cost["batch_finite"] * prof["batches_per_env_step"]
        )
        out[game] = {
            "check_seconds_per_call": cost,
            **prof,
            "check_seconds_per_env_step": per_step,
            "cost_percent": 100.0 * per_step / prof["seconds_per_env_step"],
        }
        print(f"{game}: checks {per_step * 1e6:.2f} us per env step, "
              f"rollout {prof['seconds_per_env_step'] * 1e6:.0f} us: "
              f"{out[game]['cost_percent']:.2f}% of sampling")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
