"""Step any PettingZoo game, turn-based or simultaneous, through one interface."""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pettingzoo import AECEnv, ParallelEnv

from envs.spec import GameError, GameInfo, GameSpec

logger = logging.getLogger(__name__)

_SHARED = frozenset(
    {"action_spaces", "observation_spaces", "metadata", "possible_agents"}
    | {"screen", "clock", "window"}
)
"""Env attributes `copy_env` shares between copies: fixed for the game's life (spaces,
metadata, the agent list) or render state (a pygame screen or clock)."""


class APIUsageError(RuntimeError):
    """The adapter was driven out of order (e.g. step() before reset())."""


class BadValue(GameError):
    """The game handed out a reward that is not a finite number, or an observation of
    another shape or dtype than its declared space, or with NaN or inf in it. The message
    names the game, the agent, the step of the episode, the episode's seed and the value."""


NAN_REWARDS = ("stop", "zero")
"""What a NaN reward does (`train.nan_rewards`): stop the run, or count as 0 with a
warning."""
_warned: set[str] = set()
"""Games whose NaN rewards were counted as 0 already (one warning per game and process)."""


@dataclass
class StepResult:
    """What one unified step produced.

    `rewards` and `infos` cover every agent that received something during the
    step (in a turn-based game, the mover and everyone else). `terminated` lists
    agents whose episode ended; `truncated` maps agents cut off by a time limit
    to their final observation (for bootstrapping their value).
    """

    rewards: dict[str, float] = field(default_factory=dict)
    infos: dict[str, dict[str, Any]] = field(default_factory=dict)
    terminated: list[str] = field(default_factory=list)
    truncated: dict[str, np.ndarray] = field(default_factory=dict)
    over: bool = False


class GameEnv:
    """One env copy stepped as "these agents act now, here are their actions".

    A turn-based (AEC) game has one acting agent per step; a simultaneous
    (Parallel) game has every live agent acting. Dead AEC agents are stepped with
    `None` automatically and their last rewards folded into the step.
    """

    def __init__(self, spec: GameSpec, info: GameInfo) -> None:
        self.spec, self.info = spec, info
        self.env = spec.create()
        # Reads of agents, rewards and flags go to the unwrapped env: PettingZoo's
        # wrappers forward them through several __getattr__ layers per access.
        self._raw = self.env.unwrapped
        self._parallel = isinstance(self.env, ParallelEnv)
        self._obs: dict[str, Any] = {}
        self._infos: dict[str, dict[str, Any]] = {}
        self._live = False
        self.seed: int | None = None
        """The seed of the episode under way (None: unseeded), for error messages."""
        self.t = 0
        """Env steps taken in the episode under way."""
        self.nan_rewards = "stop"
        """What a NaN reward does: "stop" (a `BadValue`) or "zero" (counted as 0, with a
        warning); an infinite reward always stops."""
        self._declared = {
            agent: (info.spaces[team].obs_shape, np.dtype(info.spaces[team].obs_dtype))
            for team, members in info.teams.items()
            for agent in members
        }
        """Agent -> the observation shape and dtype its team's space declares."""

    @property
    def unwrapped(self) -> Any:
        """The game's own env under the preprocessing wrappers (its board, its render)."""
        return self._raw

    def render(self) -> Any:
        """The env's render in the render mode it was built with."""
        return self.env.render()

    def copy(self, *, bare: bool = False) -> GameEnv:
        """An independent copy of this env copy in its current state.

        The game's `clone` hook copies the PettingZoo env where it has one; otherwise
        `copy_env` does. With `bare`, the copy holds only the game under its wrappers (no
        preprocessing, no API checks): what search needs (legal moves, rewards, turns),
        several times faster to copy and to step. A game that cannot be copied gets a
        GameError saying how to give it a hook.
        """
        twin = object.__new__(GameEnv)
        twin.spec, twin.info, twin._parallel = self.spec, self.info, self._parallel
        try:
            if self.spec.clone is not None:
                env = self.spec.clone(self.env)
                twin.env = env.unwrapped if bare else env
            else:
                twin.env = copy_env(self._raw if bare else self.env)
        except Exception as err:
            raise GameError(
                f"game {self.spec.name!r} cannot be copied for search ({type(err).__name__}: "
                f"{err}); give its GameSpec a clone hook"
            ) from err
        twin._raw = twin.env.unwrapped
        twin._obs, twin._infos = dict(self._obs), dict(self._infos)
        twin._live, twin.seed, twin.t = self._live, self.seed, self.t
        # A bare copy's observations are the game's own, before preprocessing: unchecked.
        twin.nan_rewards, twin._declared = self.nan_rewards, {} if bare else self._declared
        return twin

    def reset(self, seed: int | None = None) -> None:
        """Start a new episode."""
        self.seed, self.t = seed, 0
        if self._parallel:
            self._obs, self._infos = self.env.reset(seed=seed)
        else:
            self.env.reset(seed=seed)
        self._live = True

    def acting(self) -> list[str]:
        """Return the agents that must act now (empty when the episode is over)."""
        if not self._live:
            return []
        if self._parallel:
            return [a for a in self.env.agents if a in self._obs]
        return [self._raw.agent_selection] if self._raw.agents else []

    def observe(self, agent: str) -> tuple[np.ndarray, np.ndarray | None]:
        """Return an agent's observation array and action mask (None if the game has none)."""
        if not self._live:
            raise APIUsageError("observe() called before reset() or after the episode ended")
        if self._parallel:
            raw, info = self._obs[agent], self._infos.get(agent, {})
        else:
            raw, info = self.env.observe(agent), self._raw.infos.get(agent, {})
        obs, mask = split_observation(raw, info)
        shape, dtype = self._declared.get(agent, (obs.shape, obs.dtype))
        if obs.shape != shape or obs.dtype != dtype:
            raise self.bad(
                agent,
                f"an observation of shape {obs.shape} and dtype {obs.dtype}, where its "
                f"space declares shape {shape} and dtype {dtype}",
            )
        return obs, mask

    def bad(self, agent: str, what: str) -> BadValue:
        """The error for a bad value `what` that `agent` got at this step."""
        seed = "unseeded" if self.seed is None else f"seed {self.seed}"
        return BadValue(
            f"game {self.spec.name!r}: agent {agent!r} got {what} at step {self.t} of the "
            f"episode with {seed}"
        )

    def _check_rewards(self, rewards: dict[str, float]) -> None:
        """Raise `BadValue` for a reward that is not finite (a NaN one counts as 0 with
        `nan_rewards` "zero")."""
        for agent, reward in rewards.items():
            if math.isfinite(reward):
                continue
            if reward != reward and self.nan_rewards == "zero":  # NaN
                rewards[agent] = 0.0
                if self.spec.name not in _warned:
                    _warned.add(self.spec.name)
                    logger.warning(
                        "%s; counted as 0 (train.nan_rewards is zero; warned once)",
                        self.bad(agent, "reward nan"),
                    )
                continue
            hint = " (train.nan_rewards: zero counts NaN as 0)" if reward != reward else ""
            raise BadValue(f"{self.bad(agent, f'reward {reward}')}{hint}")

    def step(self, actions: dict[str, Any]) -> StepResult:
        """Apply the acting agents' actions and report what happened."""
        if not self._live:
            raise APIUsageError("step() called before reset() or after the episode ended")
        out = StepResult()
        if self._parallel:
            obs, rewards, terms, truncs, infos = self.env.step(actions)
            self._obs, self._infos = obs, infos
            out.rewards = {a: float(r) for a, r in rewards.items()}
            out.infos = dict(infos)
            for agent in rewards:
                if terms.get(agent):
                    out.terminated.append(agent)
                elif truncs.get(agent):
                    out.truncated[agent] = split_observation(obs[agent], infos.get(agent, {}))[0]
            out.over = not self.env.agents or all(
                terms.get(a) or truncs.get(a) for a in self.env.agents
            )
        else:
            env, raw = self.env, self._raw
            (agent,) = self.acting()
            env.step(actions[agent])
            self._collect(out)
            while raw.agents and (
                raw.terminations[raw.agent_selection] or raw.truncations[raw.agent_selection]
            ):
                dead = raw.agent_selection
                if raw.terminations[dead]:
                    out.terminated.append(dead)
                else:
                    out.truncated[dead] = split_observation(
                        env.observe(dead), raw.infos.get(dead, {})
                    )[0]
                env.step(None)
                self._collect(out)
            out.over = not raw.agents
        self.t += 1
        if not all(map(math.isfinite, out.rewards.values())):
            self._check_rewards(out.rewards)
        if out.over:
            self._live = False
        return out

    def _collect(self, out: StepResult) -> None:
        for agent, reward in self._raw.rewards.items():
            out.rewards[agent] = out.rewards.get(agent, 0.0) + float(reward)
        for agent, info in self._raw.infos.items():
            out.infos[agent] = info

    def close(self) -> None:
        """Release the env."""
        self.env.close()


def copy_env(env: Any) -> Any:
    """Deep-copy a PettingZoo env and its wrappers attribute by attribute.

    `copy.deepcopy` alone would not do: PettingZoo envs are `EzPickle`s, which a copy
    rebuilds from their constructor arguments, un-reset, with the game state lost. What
    play never changes (spaces, metadata, the agent list) and render state (a pygame
    screen) are shared, not copied.
    """
    return _copy_env(env, {})


def _copy_env(env: Any, memo: dict[int, Any]) -> Any:
    twin = object.__new__(type(env))
    memo[id(env)] = twin
    for name, value in vars(env).items():
        if name in _SHARED:
            twin.__dict__[name] = value
        elif isinstance(value, (AECEnv, ParallelEnv)):
            twin.__dict__[name] = memo[id(value)] if id(value) in memo else _copy_env(value, memo)
        else:
            twin.__dict__[name] = copy.deepcopy(value, memo)
    return twin


def split_observation(raw: Any, info: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None]:
    """Separate an observation from its action mask (in the obs dict or in `info`)."""
    mask = None
    if isinstance(raw, dict):
        mask = raw.get("action_mask")
        raw = raw["observation"]
    if mask is None and isinstance(info, dict):
        mask = info.get("action_mask")
    return np.asarray(raw), (None if mask is None else np.asarray(mask, dtype=bool))
