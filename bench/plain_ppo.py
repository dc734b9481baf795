"""A plain one-process PPO self-play loop on connect four: the baseline the platform's
throughput is compared with (issue "Cheaper samples").

No Ray, no league, no registry, no shaping: `--envs` PettingZoo copies stepped in one
process, one batched forward pass per step over every copy (both seats play the same
network, so every move is learned from), episodes cut into one stream per seat, and
the project's `PPO` learner on the shipped config's network and PPO settings, in float32
on `--threads` torch threads. It reports env steps per second over `--seconds` after a
warm-up iteration, and the share of the time spent learning.

    python bench/plain_ppo.py [--seconds 60] [--envs 32] [--threads 1]
                              [--config configs/connect_four.yaml] [--set key.path=value ...]
                              [--out bench/results/plain_ppo.json]

Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from pettingzoo.classic import connect_four_v3

from agents import PPO, Batch, StepParams
from league.config import load_config
from league.game_config import resolve_game
from league.rollout import PolicyFactory

ROOT = Path(__file__).resolve().parents[1]


class Streams:
    """Each env copy's two seats, their steps of the episode under way."""

    FIELDS = ("obs", "mask", "action", "logp", "value", "probs")

    def __init__(self, envs: int) -> None:
        self.open = [{} for _ in range(envs)]  # env -> agent -> field -> list
        self.done: list[dict[str, np.ndarray]] = []
        self.closed_rows = 0

    def add(self, i: int, agent: str, **step: np.ndarray) -> None:
        stream = self.open[i].setdefault(agent, {k: [] for k in self.FIELDS})
        for key in self.FIELDS:
            stream[key].append(step[key])

    def finish(self, i: int, rewards: dict[str, float]) -> None:
        """Close env `i`'s streams with each seat's final reward."""
        for agent, stream in self.open[i].items():
            cols = {k: np.stack(v) for k, v in stream.items()}
            reward = np.zeros(len(cols["action"]), np.float32)
            reward[-1] = rewards[agent]
            self.done.append(cols | {"reward": reward})
            self.closed_rows += len(reward)
        self.open[i] = {}

    def batch(self) -> Batch:
        """Every closed stream as one Batch (each stream contiguous, its last step done)."""
        cols = {k: np.concatenate([s[k] for s in self.done]) for k in (*self.FIELDS, "reward")}
        n = len(cols["action"])
        done = np.zeros(n, bool)
        done[np.cumsum([len(s["action"]) for s in self.done]) - 1] = True
        self.done, self.closed_rows = [], 0
        return Batch(
            **cols,
            member=np.zeros(n, np.int64),
            components=cols["reward"][:, None],
            done=done,
            truncated=np.zeros(n, bool),
            bootstrap=np.zeros(n, np.float32),
            version=np.zeros(n, np.int64),
            team=np.zeros(n, np.int64),
            episode=np.zeros(n, np.int64),
            state=np.zeros((n, 0), np.float32),
        )


def collect(envs: list, policy, streams: Streams, rows: int, rng: np.random.Generator) -> int:
    """Step every copy with one batched forward pass per step until `rows` learning
    steps are in closed streams; return the env steps taken."""
    env_steps = 0
    while streams.closed_rows < rows:
        observed = []
        for env in envs:
            obs, _, _, _, _ = env.last()
            observed.append(obs)
        obs = np.stack([o["observation"] for o in observed])
        mask = np.stack([o["action_mask"].astype(bool) for o in observed])
        out = policy.act(obs, np.zeros(len(envs), np.int64), mask)
        for i, env in enumerate(envs):
            agent = env.agent_selection
            streams.add(
                i,
                agent,
                obs=obs[i],
                mask=mask[i],
                action=out.action[i],
                logp=out.logp[i],
                value=out.value[i],
                probs=out.probs[i],
            )
            env.step(int(out.action[i]))
            env_steps += 1
            if any(env.terminations.values()) or any(env.truncations.values()):
                streams.finish(i, dict(env.rewards))
                env.reset(seed=int(rng.integers(2**31)))
    return env_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--envs", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--config", default=str(ROOT / "configs" / "connect_four.yaml"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    config = load_config(Path(args.config), args.overrides)
    info = resolve_game(config).info()
    policy = PolicyFactory.from_config(info, config.model)("main")
    learner = PPO(policy, config.learner.ppo, device=torch.device("cpu"))
    params = StepParams(gamma=1.0, lr=2.5e-4, ent_coef=0.01)
    envs = [connect_four_v3.env() for _ in range(args.envs)]
    for env in envs:
        env.reset(seed=int(rng.integers(2**31)))
    streams, rows = Streams(args.envs), config.train.steps_per_iteration
    learner.update(streams_batch(envs, policy, streams, rows, rng), params)  # warm-up
    steps, learning, start = 0, 0.0, time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        steps += collect(envs, policy, streams, rows, rng)
        t = time.perf_counter()
        learner.update(streams.batch(), params)
        learning += time.perf_counter() - t
    seconds = time.perf_counter() - start
    result = {
        "env_steps_per_s": steps / seconds,
        "learn_share": learning / seconds,
        "env_steps": steps,
        "seconds": seconds,
        "envs": args.envs,
        "threads": args.threads,
        "overrides": args.overrides,
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


def streams_batch(envs: list, policy, streams: Streams, rows: int, rng) -> Batch:
    """Collect `rows` learning steps and return them as a Batch."""
    collect(envs, policy, streams, rows, rng)
    return streams.batch()


if __name__ == "__main__":
    main()
