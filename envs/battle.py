"""MAgent2's battle, red against blue: its env factory, the info fields reward shaping may
weight, who won, and scripted teams to measure a League team against.

An agent sees a 13x13 window centred on itself (row = y, column = x, the agent at
[6, 6]) with 5 channels: walls, its own team's presence and HP (HP / 10), the enemy's
presence and HP. Its 21 actions (read from magent2's gridworld: `get_view2attack` and
stepping an agent one action at a time):

- 0-12: move to a cell of the radius-2 disc, row-major by (dy, dx): (-2, 0), (-1, -1),
  (-1, 0), (-1, 1), (0, -2), ... (2, 0); action 6 is (0, 0), staying put (`MOVES`).
- 13-20: attack a neighbouring cell, row-major, the centre skipped: (-1, -1), (-1, 0),
  (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1) (`ATTACKS`).

An attack deals 2 of an agent's 10 HP; HP recovers 0.1 a step; a kill pays 5.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pettingzoo.utils.wrappers import BaseParallelWrapper

from envs.spec import GameError, name_prefix

MIN_MAP_SIZE = 12
"""MAgent2's smallest battle map (its own assertion)."""
MAX_MAP_SIZE = 80
"""The largest map offered: 256 agents a side, already far beyond what trains here."""
KILL_REWARD = 5.0
"""magent2's battle pays a kill 5 (its `KILL_REWARD`, not a keyword)."""
DAMAGE = 2.0
"""HP an attack takes (magent2's battle `damage`)."""

_CENTRE = 6
MOVES: tuple[tuple[int, int], ...] = tuple(
    (dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if dy * dy + dx * dx <= 4
)
"""Action a < 13 moves by MOVES[a] = (dy, dx)."""
STAY = MOVES.index((0, 0))
ATTACKS: tuple[tuple[int, int], ...] = tuple(
    (dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)
)
"""Action 13 + k attacks the neighbour at ATTACKS[k] = (dy, dx)."""
ATTACK_BASE = len(MOVES)
N_ACTIONS = ATTACK_BASE + len(ATTACKS)

_WALL, _OWN, _OWN_HP = 0, 1, 2


def _enemy_channels(obs: np.ndarray) -> tuple[int, int]:
    """The enemy's presence and HP channels: 3 and 4, or 4 and 5 with `minimap_mode`
    (which adds each team's density over the whole map after its HP, and the agent's
    position: 9 channels)."""
    return (4, 5) if obs.shape[-1] >= 9 else (3, 4)


INFO_FIELDS = ("damage_dealt", "damage_taken", "kills", "deaths", "alive", "proximity")
"""What `BattleInfo` adds to each agent's info every step (numbers, for reward shaping)."""


def battle(**kwargs: Any):
    """MAgent2's battle_v4 as a Parallel env with `BattleInfo`'s fields; `map_size` is
    checked first, so a bad one is one line naming it."""
    try:
        from magent2.environments import battle_v4
    except ImportError:
        raise GameError("game 'battle_v4' needs magent2: pip install 'league[games]'") from None

    size = kwargs.get("map_size", 45)
    if isinstance(size, bool) or not isinstance(size, int):
        raise GameError(
            f"game 'battle_v4': game.kwargs.map_size must be a whole number from "
            f"{MIN_MAP_SIZE} to {MAX_MAP_SIZE}, not {size!r}"
        )
    if not MIN_MAP_SIZE <= size <= MAX_MAP_SIZE:
        raise GameError(
            f"game 'battle_v4': game.kwargs.map_size {size} is not supported: it must be "
            f"from {MIN_MAP_SIZE} (MAgent2's smallest map) to {MAX_MAP_SIZE}"
        )
    hit = kwargs.get("attack_opponent_reward", 0.2)
    if not hit > 0:
        raise GameError(
            "game 'battle_v4': game.kwargs.attack_opponent_reward must be above 0 (the "
            f"reward that tells a landed attack), not {hit!r}"
        )
    return BattleInfo(battle_v4.parallel_env(**kwargs), kwargs)


class BattleInfo(BaseParallelWrapper):
    """Add each agent's `damage_dealt`, `damage_taken`, `kills`, `deaths` (this step),
    `alive` and `proximity` (after it: minus the distance to the nearest enemy, in cells
    over the map's side, Chebyshev, wherever the enemy is) to its info.

    A landed attack and a kill are read from the agent's own reward, which magent2 builds
    from fixed terms: `step_reward` every step, `attack_penalty` for any attack,
    `attack_opponent_reward` for one that hits an enemy, 5 a kill, `dead_penalty` for
    dying. Who died comes from the engine's living agents, HP from the agent's own
    observation (its cell, own-HP channel).
    """

    def __init__(self, env: Any, kwargs: dict[str, Any]) -> None:
        super().__init__(env)
        from magent2.environments.battle.battle import default_reward_args

        self._terms = {**default_reward_args, **kwargs}
        self._hp: dict[str, float] = {}

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, infos = self.env.reset(seed=seed, options=options)
        self._hp = {a: _own_hp(o) for a, o in obs.items()}
        zero = dict.fromkeys(INFO_FIELDS, 0.0)
        return obs, {a: {**infos.get(a, {}), **zero, "alive": 1.0} for a in obs}

    def step(self, actions):
        obs, rewards, terms, truncs, infos = self.env.step(actions)
        living, near = self._living()
        terms_ = self._terms
        out = {}
        for agent in rewards:
            died = agent not in living
            attacked = int(actions.get(agent, STAY)) >= ATTACK_BASE
            kills = float(round(rewards[agent] / KILL_REWARD))
            rest = rewards[agent] - kills * KILL_REWARD - terms_["attack_penalty"] * attacked
            # A dying agent's reward carries the dead penalty (and no step reward).
            rest -= terms_["dead_penalty"] if died else terms_["step_reward"]
            landed = attacked and rest > terms_["attack_opponent_reward"] / 2
            hp = 0.0 if died else _own_hp(obs[agent])
            out[agent] = {
                **infos.get(agent, {}),
                "damage_dealt": DAMAGE * landed,
                "damage_taken": max(0.0, self._hp.get(agent, hp) - hp),
                "kills": max(kills, 0.0),
                "deaths": float(died),
                "alive": 0.0 if died else 1.0,
                "proximity": -near.get(agent, 0.0),
            }
            self._hp[agent] = hp
        return obs, rewards, terms, truncs, out

    def _living(self) -> tuple[set[str], dict[str, float]]:
        """The agents alive now, and each one's distance to the nearest enemy (Chebyshev,
        over the map's side). magent2 numbers agents as `possible_agents` lists them and
        keeps the ids of the living after each step (a dead agent's observation is not
        its own, so its HP cannot tell)."""
        raw = self.env.unwrapped
        names = raw.possible_agents
        teams = [
            ([names[int(i)] for i in raw.env.get_agent_id(h)], raw.env.get_pos(h))
            for h in raw.handles
        ]
        near = {}
        for k, (members, pos) in enumerate(teams):
            enemies = np.concatenate([p for j, (_, p) in enumerate(teams) if j != k])
            if not len(members) or not len(enemies):
                continue
            gaps = np.abs(pos[:, None, :] - enemies[None, :, :]).max(axis=2).min(axis=1)
            near |= dict(zip(members, (gaps / raw.map_size).tolist(), strict=True))
        return {a for members, _ in teams for a in members}, near


def _own_hp(obs: np.ndarray) -> float:
    """An agent's HP (0-10) from its own observation."""
    return float(obs[_CENTRE, _CENTRE, _OWN_HP]) * 10.0


def alive_by_team(infos: dict[str, dict], teams: list[str] | tuple[str, ...]) -> dict[str, int]:
    """Agents alive at the end, per team, from each agent's last info (`alive`); an agent
    is on the team its name starts with (`red_3` on `red`)."""
    out = dict.fromkeys(teams, 0)
    for agent, info in infos.items():
        team = name_prefix(agent)
        if team in out:
            out[team] += int(info.get("alive", 0.0) > 0.5)
    return out


def battle_outcome(returns: dict[str, float], infos: dict[str, dict]) -> dict[str, float]:
    """The team with more agents alive at the end wins; level is a draw."""
    alive = alive_by_team(infos, list(returns))
    best = max(alive.values())
    winners = [t for t, n in alive.items() if n == best]
    if len(winners) == len(alive):
        return dict.fromkeys(alive, 0.5)
    return {t: (1.0 / len(winners) if t in winners else 0.0) for t in alive}


# Scripted teams. Each agent acts on its own view; the view is shared enough that
# "focus" agents beside the same enemy pick the same target.


def _enemies(obs: np.ndarray) -> np.ndarray:
    """Enemy cells in view as [(dy, dx)]. Shape [K, 2]."""
    return np.argwhere(obs[:, :, _enemy_channels(obs)[0]] > 0.5) - _CENTRE


def _adjacent(obs: np.ndarray) -> list[int]:
    """Indices k of ATTACKS whose cell holds an enemy."""
    enemy = _enemy_channels(obs)[0]
    return [k for k, (dy, dx) in enumerate(ATTACKS) if obs[_CENTRE + dy, _CENTRE + dx, enemy] > 0.5]


def _free_moves(obs: np.ndarray) -> list[int]:
    """Moves whose target cell holds no wall and no agent (staying is always free)."""
    taken = (obs[:, :, _WALL] + obs[:, :, _OWN] + obs[:, :, _enemy_channels(obs)[0]]) > 0.5
    return [
        a for a, (dy, dx) in enumerate(MOVES) if a == STAY or not taken[_CENTRE + dy, _CENTRE + dx]
    ]


def _towards(obs: np.ndarray, target: np.ndarray) -> int:
    """The free move that brings the agent nearest `target` (dy, dx): Chebyshev distance,
    then Euclidean."""

    def cost(a: int) -> tuple[int, int]:
        d = target - np.array(MOVES[a])
        return int(np.abs(d).max()), int(d @ d)

    return min(_free_moves(obs), key=cost)


def _advance(obs: np.ndarray, rng: np.random.Generator) -> int:
    """No enemy in view: away from the walls in view (towards the middle of the map, where
    the enemy is), else a random free move."""
    walls = np.argwhere(obs[:, :, _WALL] > 0.5) - _CENTRE
    if len(walls):
        away = -walls.mean(axis=0)
        if np.abs(away).max() > 0:
            return _towards(obs, np.round(away / np.abs(away).max() * 2).astype(int))
    free = _free_moves(obs)
    return int(free[rng.integers(len(free))])


def hold_bot(observation: np.ndarray, action_mask: np.ndarray | None) -> int:
    """Attack an adjacent enemy (the first in action order), otherwise stay put."""
    adjacent = _adjacent(observation)
    return ATTACK_BASE + adjacent[0] if adjacent else STAY


def rush_bot(
    observation: np.ndarray, action_mask: np.ndarray | None, *, rng: np.random.Generator
) -> int:
    """Attack an adjacent enemy (one at random), otherwise move towards the nearest enemy
    in view (towards the middle of the map when none is in view)."""
    adjacent = _adjacent(observation)
    if adjacent:
        return ATTACK_BASE + int(adjacent[rng.integers(len(adjacent))])
    enemies = _enemies(observation)
    if not len(enemies):
        return _advance(observation, rng)
    nearest = enemies[np.argmin(np.abs(enemies).max(axis=1) * 100 + (enemies**2).sum(axis=1))]
    return _towards(observation, nearest)


def focus_bot(
    observation: np.ndarray, action_mask: np.ndarray | None, *, rng: np.random.Generator
) -> int:
    """Rush, but attack the weakest enemy in reach (lowest HP, then action order):
    neighbours of the same enemy pick the same target and kill it before it recovers.
    (Closing on the weakest enemy in view instead of the nearest played worse: 0.4-0.55
    against rush, where this scores about 0.7.)"""
    adjacent = _adjacent(observation)
    if not adjacent:
        return rush_bot(observation, action_mask, rng=rng)
    hp = observation[:, :, _enemy_channels(observation)[1]]
    return ATTACK_BASE + min(
        adjacent, key=lambda k: (hp[_CENTRE + ATTACKS[k][0], _CENTRE + ATTACKS[k][1]], k)
    )


BOTS = {"hold": hold_bot, "rush": rush_bot, "focus": focus_bot}
"""The battle's scripted teams by name (with `random`, the team panel's ladder)."""
