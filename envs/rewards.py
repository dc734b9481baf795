"""Shape per-agent rewards: weighted components, team spirit, zero-sum, time decay.

The recipe is OpenAI Five's (Berner et al. 2019, "Dota 2 with Large Scale Deep
Reinforcement Learning", appendix on reward shaping).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ENV_COMPONENT = "env"
"""The name of the env's own reward among the reward components."""


@dataclass(frozen=True)
class ShapingParams:
    """The shaping applied to one step's rewards.

    `weights` maps component names (`env`, or a numeric `info` field) to weights;
    `tau` is team spirit (0: own reward, 1: team mean); `zero_sum` subtracts the
    enemy agents' mean; rewards at episode step t are multiplied by
    `decay_base ** (t / decay_period)` when `decay_period > 0`.
    """

    weights: Mapping[str, float] = field(default_factory=lambda: {ENV_COMPONENT: 1.0})
    tau: float = 0.0
    zero_sum: bool = False
    decay_base: float = 1.0
    decay_period: int = 0

    @property
    def components(self) -> tuple[str, ...]:
        """Return the component names, the env reward first."""
        return (ENV_COMPONENT, *sorted(k for k in self.weights if k != ENV_COMPONENT))

    def weight_vector(self) -> np.ndarray:
        """Return the weights in `components` order. Shape [C]."""
        return np.array([self.weights.get(c, 0.0) for c in self.components], dtype=np.float64)


def reward_components(
    names: Sequence[str],
    agents: Sequence[str],
    rewards: Mapping[str, float],
    infos: Mapping[str, Mapping[str, Any]],
) -> np.ndarray:
    """Gather each agent's raw reward components for one step. Shape [n_agents, C].

    Component `env` is the env reward; any other name is read from that agent's
    `info` dict (missing or non-numeric: 0).
    """
    out = np.zeros((len(agents), len(names)), dtype=np.float64)
    for i, agent in enumerate(agents):
        info = infos.get(agent) or {}
        for j, name in enumerate(names):
            if name == ENV_COMPONENT:
                out[i, j] = rewards.get(agent, 0.0)
            else:
                value = info.get(name, 0.0)
                out[i, j] = float(value) if isinstance(value, (int, float, np.number)) else 0.0
    return out


def shape_rewards(
    components: np.ndarray, weights: np.ndarray, mix: np.ndarray, *, decay: float = 1.0
) -> np.ndarray:
    """Turn one step's raw components into shaped rewards. Shape [n_agents].

    Args:
        components: Shape [n_agents, C], raw reward components of one step.
        weights: Shape [C], the weight of each component.
        mix: Shape [n_agents, n_agents], team spirit then zero-sum as one matrix
            (`mixing_matrix`; the rollout builds it once per team layout).
        decay: factor applied last (`time_decay` for this step).
    """
    return mix @ (components @ weights) * decay


def mixing_matrix(team_index: np.ndarray, *, tau: float, zero_sum: bool) -> np.ndarray:
    """Return M such that team spirit then zero-sum is `M @ reward`. Shape [n, n].

    Team spirit gives each agent (1 - tau) * own + tau * team mean; zero-sum then
    subtracts the mean of all enemy agents. Both steps are linear in the weighted
    reward, so the rollout builds M once per call and shapes each step with one
    small product (`shape_rewards`).
    """
    n = len(team_index)
    same = team_index[:, None] == team_index[None, :]
    mix = np.eye(n)
    if tau:
        team_mean = same / same.sum(axis=1, keepdims=True)
        mix = (1.0 - tau) * mix + tau * team_mean
    if zero_sum and not same.all():
        enemy = ~same
        enemy_mean = enemy / np.maximum(enemy.sum(axis=1, keepdims=True), 1)
        mix = (np.eye(n) - enemy_mean) @ mix
    return mix


def time_decay(params: ShapingParams, step: int) -> float:
    """Return the time-decay factor for episode step `step`."""
    if params.decay_period <= 0:
        return 1.0
    return float(params.decay_base ** (step / params.decay_period))
