"""The built-in games and their factories."""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import logging
import os
from typing import Any

import numpy as np
from pettingzoo.utils.wrappers import BaseParallelWrapper

from envs.battle import BOTS as BATTLE_BOTS
from envs.battle import INFO_FIELDS as BATTLE_FIELDS
from envs.battle import battle, battle_outcome
from envs.boards import CONNECT_FOUR, TICTACTOE
from envs.bots import (
    connect_four_bot,
    connect_four_tactical_bot,
    simple_tag_bot,
    tictactoe_bot,
)
from envs.openspiel import clone as openspiel_clone
from envs.openspiel import load as openspiel_load
from envs.spec import GameError, GameSpec, Mirror

logger = logging.getLogger(__name__)


def _connect_four(**kwargs: Any):
    import pettingzoo

    return pettingzoo.make("aec", "classic/connect_four-v3", **kwargs)


def _tictactoe(**kwargs: Any):
    import pettingzoo

    return pettingzoo.make("aec", "classic/tictactoe-v3", **kwargs)


class ProximityInfo(BaseParallelWrapper):
    """Report a dense `proximity` field in each agent's info for MPE tag games.

    A chaser (adversary) gets minus its distance to the nearest runner; a runner
    gets its distance to the nearest chaser. Reward shaping may weight it.
    """

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, infos = self.env.reset(seed=seed, options=options)
        return obs, self._add(infos)

    def step(self, actions):
        obs, rewards, terms, truncs, infos = self.env.step(actions)
        return obs, rewards, terms, truncs, self._add(infos)

    def _add(self, infos: dict) -> dict:
        world = self.env.unwrapped.world
        chasers = [a for a in world.agents if a.adversary]
        runners = [a for a in world.agents if not a.adversary]
        out = {}
        for agent_id, info in infos.items():
            me = next(a for a in world.agents if a.name == agent_id)
            others = runners if me.adversary else chasers
            dist = min(
                (float(np.linalg.norm(me.state.p_pos - o.state.p_pos)) for o in others),
                default=0.0,
            )
            out[agent_id] = {**info, "proximity": -dist if me.adversary else dist}
        return out


def _simple_tag(**kwargs: Any):
    from mpe2 import simple_tag_v3

    return ProximityInfo(simple_tag_v3.parallel_env(**kwargs))


def atari_rom_path() -> str:
    """Return the ROM folder that ale-py ships (AutoROM downloads are not needed)."""
    import ale_py

    path = os.path.join(os.path.dirname(ale_py.__file__), "roms")
    if not os.path.isdir(path):
        raise GameError(f"ale-py's ROM folder {path} is missing; reinstall ale-py")
    return path


def _volleyball_pong(**kwargs: Any):
    import pettingzoo

    kwargs.setdefault("auto_rom_install_path", atari_rom_path())
    return pettingzoo.make("parallel", "atari/volleyball_pong-v3", **kwargs)


BUILTIN_GAMES: dict[str, GameSpec] = {
    spec.name: spec
    for spec in (
        GameSpec(
            name="connect_four_v3",
            make=_connect_four,
            bot=connect_four_bot,
            bots={"tactical": connect_four_tactical_bot},
            mirror=Mirror(obs_axis=1, actions=(6, 5, 4, 3, 2, 1, 0)),  # column c <-> 6 - c
            action_axes=(1,),  # action c: column c of the [6, 7, 2] board
            text_board=CONNECT_FOUR,
            description="Connect four (classic, turn-based, action masks), 1v1",
        ),
        GameSpec(
            name="tictactoe_v3",
            make=_tictactoe,
            bot=tictactoe_bot,
            # Square 3i + j is observation [i, j]: flipping j is a symmetry of the board.
            mirror=Mirror(obs_axis=1, actions=(2, 1, 0, 5, 4, 3, 8, 7, 6)),
            action_axes=(0, 1),
            text_board=TICTACTOE,
            description="Tic-tac-toe (classic, turn-based, action masks), 1v1",
        ),
        GameSpec(
            name="simple_tag_v3",
            make=_simple_tag,
            kwargs={"max_cycles": 25, "continuous_actions": False},
            components=("proximity",),
            bot=simple_tag_bot,  # predators chase, the prey flees (by the role it plays)
            description="MPE predator-prey (simultaneous), 3 adversaries vs 1 agent",
        ),
        GameSpec(
            name="battle_v4",
            make=battle,
            kwargs={"map_size": 20, "max_cycles": 300, "minimap_mode": True},
            components=BATTLE_FIELDS,
            bots=BATTLE_BOTS,
            outcome=battle_outcome,
            description="MAgent2 battle (grid, simultaneous), red vs blue, 12v12 on a 20x20 map",
        ),
        GameSpec(
            name="volleyball_pong_v3",
            make=_volleyball_pong,
            kwargs={"max_cycles": 1000},
            teams={"left": ["first_0", "third_0"], "right": ["second_0", "fourth_0"]},
            preprocessing=(
                ("color_reduction", {"mode": "full"}),
                ("resize", {"x_size": 42, "y_size": 42}),
                ("frame_stack", {"stack_size": 4}),
            ),
            description="Atari volleyball pong (pixels, simultaneous), 2v2",
        ),
        GameSpec(
            name="kuhn_poker",
            make=functools.partial(openspiel_load, "kuhn_poker"),
            clone=openspiel_clone,
            description="Kuhn poker (OpenSpiel, imperfect information, exact exploitability), 1v1",
        ),
        GameSpec(
            name="leduc_poker",
            make=functools.partial(openspiel_load, "leduc_poker"),
            clone=openspiel_clone,
            description="Leduc poker (OpenSpiel, imperfect information, exact exploitability), 1v1",
        ),
    )
}


ENTRY_POINT_GROUP = "league.games"
"""Packages register games under this entry-point group: `name = "pkg.mod:spec"`,
where `spec` is a GameSpec or a function returning one."""


def _plugin(entry: importlib.metadata.EntryPoint) -> GameSpec:
    try:
        obj = entry.load()
        spec = obj if isinstance(obj, GameSpec) else obj()
    except Exception as err:
        raise GameError(
            f"game {entry.name!r} registered by entry point {entry.value!r} failed to load: "
            f"{type(err).__name__}: {err}"
        ) from err
    if not isinstance(spec, GameSpec):
        raise GameError(
            f"entry point {entry.value!r} for game {entry.name!r} gave "
            f"{type(spec).__name__}, not a GameSpec"
        )
    return spec if spec.name == entry.name else dataclasses.replace(spec, name=entry.name)


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def builtin_game(name: str) -> GameSpec:
    """Return a built-in (or entry-point registered) game's spec by name."""
    if name in BUILTIN_GAMES:
        return BUILTIN_GAMES[name]
    plugins = _entry_points()
    if name in plugins:
        return _plugin(plugins[name])
    known = sorted([*BUILTIN_GAMES, *plugins])
    raise GameError(f"unknown game {name!r}; known games: {', '.join(known)}")


def list_games() -> list[GameSpec]:
    """Return the built-in and registered games, sorted by name (broken plugins skipped)."""
    games = dict(BUILTIN_GAMES)
    for name, entry in _entry_points().items():
        if name in games:
            continue
        try:
            games[name] = _plugin(entry)
        except GameError as err:
            logger.warning("%s", err)
    return [games[name] for name in sorted(games)]
