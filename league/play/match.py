"""One match played step by step, with a hook after every step.

Training and evaluation play many env copies at once through the rollout loop;
a person at the terminal (`league play`) and a recorded animation (`league
replay`, the trainer's TensorBoard clips) need one match whose every step can be
watched. Actions are chosen and the outcome decided exactly as in the rollout loop
(`env_action`, `decide_outcome`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from envs import GameEnv, GameError, GameInfo, GameSpec
from envs.rules import decide_outcome, env_action
from league.rollout.loop import Episode
from league.rollout.players import ask
from matchmaking import PlayerId


@dataclass
class MatchResult:
    """Who sat where, how it ended, and how long it took (env steps)."""

    players: dict[str, PlayerId]
    """Team -> the player on it."""
    result: dict[str, float]
    """Team -> 1 win, 0.5 draw, 0 loss."""
    length: int
    returns: dict[str, float]

    def match_row(self, focal: str) -> dict[str, Any]:
        """The registry `matches` row of this match (an evaluation match)."""
        episode = Episode(
            id=0,
            players=dict(self.players),
            learn=[],
            focal=focal,
            result=self.result,
            length=self.length,
            returns=self.returns,
        )
        return episode.match_row(0)


def render_env(spec: GameSpec, info: GameInfo, mode: str | None) -> GameEnv:
    """An env copy of the game built with `render_mode=mode` (None: no rendering).

    A game whose env does not list `mode` among its render modes gets a GameError
    that names the modes it has.
    """
    if mode is None:
        return GameEnv(spec, info)
    modes = spec.render_modes()
    if mode not in modes:
        raise GameError(
            f"game {spec.name!r} has no {mode!r} render (its render modes: "
            f"{', '.join(modes) or 'none'})"
        )
    return GameEnv(dataclasses.replace(spec, kwargs={**spec.kwargs, "render_mode": mode}), info)


def play_match(
    env: GameEnv,
    actors: Mapping[str, Any],
    players: Mapping[str, PlayerId],
    *,
    seed: int,
    on_step: Callable[[GameEnv, dict[str, Any]], None] | None = None,
) -> MatchResult:
    """Play one episode with `actors[team]` choosing for every agent of `team` (anything
    `players.ask` takes: a pool's player, a searcher, a `HumanPlayer`).

    `on_step(env, actions)` runs after the reset (with no actions) and after every
    env step (with the actions just taken, agent -> action).
    """
    info = env.info
    env.reset(seed=seed)
    if on_step is not None:
        on_step(env, {})
    returns = dict.fromkeys(info.teams, 0.0)
    infos: dict[str, dict] = {}
    states: dict[str, np.ndarray] = {}  # agent -> recurrent state (after its last step)
    length = 0
    while acting := env.acting():
        actions = {}
        for agent in acting:
            team = info.team_of[agent]
            spaces = info.spaces[team]
            obs, mask = env.observe(agent)
            if spaces.discrete:
                mask = mask if mask is not None else np.ones(spaces.n_actions, dtype=bool)
                mask = mask[None]
            else:
                mask = None
            actor = actors[team]
            state = states[agent][None] if agent in states else None
            out = ask(actor, [env], obs[None], np.array([info.member_of[agent]]), mask, state)
            if out.state is not None:
                states[agent] = out.state[0]
            chosen = out.action.tolist()[0] if spaces.discrete else out.action[0]
            actions[agent] = env_action(chosen, spaces)
        res = env.step(actions)
        length += 1
        for agent, reward in res.rewards.items():
            returns[info.team_of[agent]] += reward
        infos.update(res.infos)
        if on_step is not None:
            on_step(env, actions)
    result = decide_outcome(returns, infos, info, env.spec.outcome)
    return MatchResult(dict(players), result, length, returns)
