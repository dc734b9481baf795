"""Memory: a small PettingZoo team game that only an agent with a memory can win.

At the first step every agent is shown a cue of its own: one of `cues` symbols, one-hot
in its observation. From the second step on the cue is hidden (zeros); the observation
then only says how far the episode has gone. At the last of `length` steps each agent
answers with an action: one that names its cue scores +1, any other 0 (the actions
before the last step do nothing). Two teams (red and blue, `team_size` agents each)
play at once; the team with more right answers wins, equal counts draw.

A feed-forward policy sees the same observation at the last step whatever its cue, so
it can do no better than guess (1 / `cues` of the answers right); a policy that
remembers the first step answers all of them. Both teams see the same kind of
observation, so one policy plays either side (a symmetric game).
"""

from __future__ import annotations

import functools
from typing import ClassVar

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv


class MemoryGame(ParallelEnv):
    """Remember your cue from the first step; name it at the last."""

    metadata: ClassVar[dict] = {"name": "memory_v0", "render_modes": []}

    def __init__(self, length: int = 8, cues: int = 2, team_size: int = 1) -> None:
        if length < 2:
            raise ValueError(f"length must be at least 2 (a cue, then an answer), not {length}")
        if cues < 2:
            raise ValueError(f"cues must be at least 2, not {cues}")
        if team_size < 1:
            raise ValueError(f"team_size must be at least 1, not {team_size}")
        self.length, self.cues = length, cues
        self.possible_agents = [f"{team}_{i}" for team in ("red", "blue") for i in range(team_size)]
        self.agents: list[str] = []
        self.cue: dict[str, int] = {}
        self.t = 0
        self.np_random = np.random.default_rng()

    @functools.cache  # noqa: B019 - spaces are constant per env, as PettingZoo recommends
    def observation_space(self, agent: str) -> spaces.Box:
        # the cue (one-hot, first step only) + the fraction of the episode gone
        return spaces.Box(0.0, 1.0, shape=(self.cues + 1,), dtype=np.float32)

    @functools.cache  # noqa: B019
    def action_space(self, agent: str) -> spaces.Discrete:
        return spaces.Discrete(self.cues)

    def _observe(self, agent: str) -> np.ndarray:
        obs = np.zeros(self.cues + 1, dtype=np.float32)
        if self.t == 0:
            obs[self.cue[agent]] = 1.0
        obs[-1] = min(self.t, self.length - 1) / (self.length - 1)
        return obs

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self.cue = {a: int(self.np_random.integers(self.cues)) for a in self.agents}
        self.t = 0
        return {a: self._observe(a) for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions: dict[str, int]):
        last = self.t == self.length - 1
        rewards = {a: float(last and int(actions[a]) == self.cue[a]) for a in self.agents}
        self.t += 1
        terms = {a: last for a in self.agents}
        truncs = {a: False for a in self.agents}
        obs = {a: self._observe(a) for a in self.agents}
        infos = {a: {} for a in self.agents}
        if last:
            self.agents = []
        return obs, rewards, terms, truncs, infos


def parallel_env(**kwargs) -> MemoryGame:
    """Create the game (what a league config's `game.env` points at)."""
    return MemoryGame(**kwargs)
