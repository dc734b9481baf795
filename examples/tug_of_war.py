"""Tug of war: a tiny 2v2 PettingZoo team game written from scratch.

A marker sits in the middle of a track. Every step each agent pulls towards its own
end (1), rests (0) or slips and pulls the wrong way (2). The marker moves one cell
for each pull more that one team makes than the other. A team scores +1 (the other
-1) when the marker reaches its end; after `max_cycles` steps it is a draw.

Observations are mirrored for the blue team, so both teams see "my end is on the
right": one policy can play either side (a symmetric game).
"""

from __future__ import annotations

import functools
from typing import ClassVar

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

REST, PULL, SLIP = 0, 1, 2


class TugOfWar(ParallelEnv):
    """Two teams of two pull a marker along a track of `length` cells."""

    metadata: ClassVar[dict] = {"name": "tug_of_war_v0", "render_modes": []}

    def __init__(self, length: int = 9, max_cycles: int = 40, team_size: int = 2) -> None:
        if length < 3 or length % 2 == 0:
            raise ValueError(f"length must be an odd number >= 3, not {length}")
        self.length, self.max_cycles = length, max_cycles
        self.possible_agents = [f"{team}_{i}" for team in ("red", "blue") for i in range(team_size)]
        self.agents: list[str] = []
        self.position = length // 2
        self.t = 0

    @functools.cache  # noqa: B019 - spaces are constant per env, as PettingZoo recommends
    def observation_space(self, agent: str) -> spaces.Box:
        # one-hot marker position (from the agent's side) + time left
        return spaces.Box(0.0, 1.0, shape=(self.length + 1,), dtype=np.float32)

    @functools.cache  # noqa: B019
    def action_space(self, agent: str) -> spaces.Discrete:
        return spaces.Discrete(3)

    def _observe(self, agent: str) -> np.ndarray:
        obs = np.zeros(self.length + 1, dtype=np.float32)
        pos = self.position if agent.startswith("red") else self.length - 1 - self.position
        obs[pos] = 1.0
        obs[-1] = 1.0 - self.t / self.max_cycles
        return obs

    def reset(self, seed: int | None = None, options: dict | None = None):
        self.agents = list(self.possible_agents)
        self.position, self.t = self.length // 2, 0
        return {a: self._observe(a) for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions: dict[str, int]):
        pull = {"red": 0, "blue": 0}
        for agent, action in actions.items():
            team = agent.split("_")[0]
            pull[team] += {REST: 0, PULL: 1, SLIP: -1}[int(action)]
        self.position = int(np.clip(self.position + pull["red"] - pull["blue"], 0, self.length - 1))
        self.t += 1
        winner = (
            "red" if self.position == self.length - 1 else "blue" if self.position == 0 else None
        )
        rewards = {a: 0.0 for a in self.agents}
        if winner is not None:
            for a in self.agents:
                rewards[a] = 1.0 if a.startswith(winner) else -1.0
        done = winner is not None
        truncated = not done and self.t >= self.max_cycles
        terms = {a: done for a in self.agents}
        truncs = {a: truncated for a in self.agents}
        obs = {a: self._observe(a) for a in self.agents}
        infos = {a: {} for a in self.agents}
        if done or truncated:
            self.agents = []
        return obs, rewards, terms, truncs, infos


def parallel_env(**kwargs) -> TugOfWar:
    """Create the game (what a league config's `game.env` points at)."""
    return TugOfWar(**kwargs)
