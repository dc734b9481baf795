"""`league inspect`: what the league sees in a PettingZoo game, and a starter config."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from envs import GameEnv, GameInfo, GameSpec
from envs.adapter import BadValue
from envs.openspiel import OPENSPIEL_PREFIX
from envs.rules import env_action
from league.config import load_config
from league.game_config import resolve_game
from league.rollout.players import RandomPlayer

_SMALL_IMAGE = 42
"""Side that image observations are resized to in a written config (fits the CNN)."""
_FRAME_STACK = 4
"""Frames stacked in a written config for pixel observations (as the Atari configs)."""
_LONG_EPISODE = 1000
"""Env steps past which the starter config plays fewer evaluation and rating games."""
EARLY_END_WARNING = (
    "every random episode ended after one step with zero reward: the env may truncate games early"
)
"""Warned when no random episode lasts past its first step nor pays anything."""


def inspect_game(spec: GameSpec, *, episodes: int = 3, seed: int = 0) -> dict[str, Any]:
    """Detect API kind, teams and spaces; run PettingZoo's API test; play random episodes
    (`warnings`: what looks wrong in them, such as every episode ending after one step).

    `team_evidence` is what the teams were inferred from (`envs.teams`: the rewards random
    play paid, and agent names), its doubts among the `warnings`; `proposed_preprocessing`
    the steps a config should add for pixel observations (what `--write-config` writes)."""
    info = spec.info()
    api_test = run_api_test(spec, info)
    start = time.monotonic()
    try:
        lengths, rewards, paid = _random_episodes(spec, info, episodes, seed)
        bad = None
    except BadValue as err:  # a NaN reward, a changing observation: what training refuses
        lengths, rewards, paid, bad = [], [], [], str(err)
    seconds = time.monotonic() - start
    steps = sum(lengths)
    warnings = [] if bad is None else [f"random play stopped: {bad}"]
    if lengths and all(n == 1 for n in lengths) and not any(paid):
        warnings.append(EARLY_END_WARNING)
    evidence = spec.team_evidence
    if evidence is not None:
        warnings.extend(evidence.warnings)
    return {
        "game": spec.name,
        "api": info.api,
        "agents": list(info.agents),
        "teams": {team: list(members) for team, members in info.teams.items()},
        "team_evidence": evidence.to_json() if evidence is not None else {"teams_from": "given"},
        "symmetric": info.symmetric,
        "mode": "cooperative (one team, no opponent)" if len(info.teams) == 1 else "competitive",
        "spaces": {team: _space_json(sp) for team, sp in info.spaces.items()},
        "preprocessing": [name for name, _ in spec.preprocessing],
        "proposed_preprocessing": pixel_preprocessing(info, spec.preprocessing),
        "reward_range_seen": [float(min(rewards, default=0.0)), float(max(rewards, default=0.0))],
        "episode_length": {
            "mean": float(np.mean(lengths)) if lengths else None,
            "max": max(lengths, default=None),
        },
        "raw_steps_per_s": steps / max(seconds, 1e-9),
        "api_test": api_test,
        "warnings": warnings,
    }


def _random_episodes(
    spec: GameSpec, info: GameInfo, episodes: int, seed: int
) -> tuple[list[int], list[float], list[bool]]:
    """Play `episodes` episodes of random legal moves; return their lengths, every reward
    paid, and whether each episode paid any."""
    rng = np.random.default_rng(seed)
    env = GameEnv(spec, info)
    bots = {team: RandomPlayer(info.spaces[team], rng) for team in info.teams}
    lengths: list[int] = []
    rewards: list[float] = []
    paid: list[bool] = []
    try:
        for episode in range(episodes):
            env.reset(seed=seed + episode)
            length, before = 0, len(rewards)
            while env.acting():
                actions = {}
                for agent in env.acting():
                    obs, mask = env.observe(agent)
                    sp = info.spaces[info.team_of[agent]]
                    act = bots[info.team_of[agent]].act(
                        obs[None], np.zeros(1, np.int64), None if mask is None else mask[None]
                    )
                    actions[agent] = env_action(act.action[0], sp)
                rewards.extend(env.step(actions).rewards.values())
                length += 1
            lengths.append(length)
            paid.append(any(r != 0 for r in rewards[before:]))
    finally:
        env.close()
    return lengths, rewards, paid


def _space_json(sp: Any) -> dict[str, Any]:
    """A team's observation and action spaces, as `league inspect --json` shows them."""
    if sp.discrete:
        actions: Any = sp.n_actions
    elif sp.multi:
        actions = f"MultiDiscrete{list(sp.nvec)}"
    else:
        actions = f"Box{list(sp.action_shape)}"
    return {
        "observation_shape": list(sp.obs_shape),
        "observation_dtype": sp.obs_dtype,
        "image": sp.image,
        "action_mask": sp.has_mask,
        "actions": actions,
    }


def pixel_preprocessing(info: GameInfo, steps: Sequence[tuple[str, Any]]) -> list[dict]:
    """The preprocessing a config should add for pixel observations, as the shipped Atari
    configs do (`configs/volleyball_pong.yaml`): grayscale, resize to 42x42, stack 4
    frames, so the network sees motion in small frames. Empty for other observations, or
    when the game already resizes its frames."""
    if "resize" in [name for name, _ in steps]:
        return []
    shapes = [sp.obs_shape for sp in info.spaces.values() if sp.image]
    if not shapes:
        return []
    out: list[dict] = []
    if any(shape[-1] == 3 for shape in shapes):
        out.append({"color_reduction": {"mode": "full"}})
    out.append({"resize": {"x_size": _SMALL_IMAGE, "y_size": _SMALL_IMAGE}})
    out.append({"frame_stack": {"stack_size": _FRAME_STACK}})
    return out


def run_api_test(spec: GameSpec, info: GameInfo) -> str:
    """Run PettingZoo's API test on a fresh copy; return "passed" or the failure."""
    from pettingzoo.test import api_test, parallel_api_test

    env = spec.create()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            if info.api == "parallel":
                parallel_api_test(env, num_cycles=50)
            else:
                api_test(env, num_cycles=50)
    except Exception as err:  # the test's own assertion, reported rather than raised
        return f"failed: {type(err).__name__}: {err}"
    finally:
        env.close()
    return "passed"


def starter_config(env_path: str, kwargs: dict[str, Any], report: dict[str, Any]) -> dict:
    """Return a config dict that `league train` accepts as it is."""
    if env_path.startswith(OPENSPIEL_PREFIX):
        name = env_path.removeprefix(OPENSPIEL_PREFIX)
    else:
        name = env_path.rpartition(":")[0].rsplit(".", 1)[-1]
    game: dict[str, Any] = {"name": name, "env": env_path, "kwargs": kwargs}
    game["teams"] = report["teams"]
    if report["proposed_preprocessing"]:
        game["preprocessing"] = report["proposed_preprocessing"]
    horizon = max(report["episode_length"]["max"] or 0, 10)
    gamma_end = float(min(0.9997, 1.0 - 1.0 / (2 * horizon)))
    # A game with a game tree (OpenSpiel's poker) pays at its end: no discount, as the
    # shipped poker configs.
    gamma = {"start": 1.0, "end": 1.0} if env_path.startswith(OPENSPIEL_PREFIX) else None
    train: dict[str, Any] = {
        "iterations": 100,
        "steps_per_iteration": 2048,
        "envs": 8,
        "snapshot_every": 10,
        "eval_every": 10,
    }
    if horizon > _LONG_EPISODE:  # evaluation plays whole episodes: a few of them
        train |= {"eval_episodes": 4, "rating_games": 4}
    return {
        "name": name,
        "game": game,
        "train": train,
        "model": {"kind": "auto"},
        "gamma": gamma
        or {
            "start": min(0.99, gamma_end),
            "end": gamma_end,
            "steps": 100,
            "interpolation": "horizon",
        },
        "reward": {"weights": {"env": 1.0}},
        "league": {"p_latest": 0.8, "history": "quality"},
    }


def write_config(path: Path, config: dict, *, header: str) -> None:
    """Write the config as YAML and check that it loads."""
    path.write_text(f"# {header}\n" + yaml.safe_dump(config, sort_keys=False))
    resolve_game(load_config(path), source=str(path))
