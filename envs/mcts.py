"""Monte Carlo tree search (UCT with random rollouts) on copies of a turn-based game.

The `mcts:N` bot: for the agent to move, run N simulations from the current state;
each copies the game (`GameEnv.copy(bare=True)`), walks down the tree by UCT, adds one node,
plays uniformly random legal moves to the end and adds the summed rewards of each
node's mover's team along the path. The most visited move is played. As in
OpenSpiel's `mcts.py` (Kocsis and Szepesvari 2006), without its extras.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyspiel

from envs.adapter import GameEnv
from envs.openspiel import game_of
from envs.spec import GameError, GameInfo, GameSpec

_PERFECT = pyspiel.GameType.Information.PERFECT_INFORMATION

UCT_C = 2.0
"""Exploration constant: OpenSpiel's default, for returns in [-1, 1]."""


@dataclass
class _Node:
    """A state reached by `mover`'s team taking an action; its statistics from that side."""

    mover: str | None
    untried: list[int]
    visits: int = 0
    total: float = 0.0
    children: dict[int, _Node] = field(default_factory=dict)

    def uct_child(self, c: float) -> tuple[int, _Node]:
        """The child with the highest upper confidence bound."""
        log_n = math.log(self.visits)
        return max(
            self.children.items(),
            key=lambda kv: kv[1].total / kv[1].visits + c * math.sqrt(log_n / kv[1].visits),
        )


def legal_actions(game: GameEnv) -> list[int]:
    """The acting agent's legal actions (all of its Discrete actions without a mask)."""
    (agent,) = game.acting()
    _, mask = game.observe(agent)
    if mask is not None:
        return np.flatnonzero(mask).tolist()
    space = game.info.spaces[game.info.team_of[agent]]
    return list(range(space.n_actions))


def _step(game: GameEnv, action: int, returns: dict[str, float]) -> str:
    """Play `action` for the acting agent; add the rewards; return the mover's team."""
    (agent,) = game.acting()
    result = game.step({agent: action})
    for who, reward in result.rewards.items():
        returns[who] = returns.get(who, 0.0) + reward
    return game.info.team_of[agent]


def check_searchable(game: GameEnv) -> None:
    """Refuse a game MCTS cannot search: simultaneous moves or no Discrete actions."""
    info = game.info
    if info.api != "aec":
        raise GameError(f"mcts searches turn-based games; {info.name!r} is simultaneous")
    if not all(s.discrete for s in info.spaces.values()):
        raise GameError(f"mcts needs Discrete actions; {info.name!r} has other action spaces")


def check_search_fits(spec: GameSpec, info: GameInfo) -> None:
    """Refuse (GameError) a game MCTS cannot search: simultaneous, not Discrete, or one
    whose env cannot be copied (tried on a fresh copy)."""
    game = GameEnv(spec, info)
    try:
        check_searchable(game)
        tree = game_of(game.env)
        if tree is not None and tree.get_type().information != _PERFECT:
            raise GameError(
                f"game {spec.name!r} has hidden information: mcts:N searches copies of the "
                "true state, so it would see the cards it must not (no search bot for it)"
            )
        game.reset(seed=0)
        game.copy(bare=True)
    finally:
        game.close()


def mcts_action(
    game: GameEnv, simulations: int, rng: np.random.Generator, *, c: float = UCT_C
) -> int:
    """The most visited action after `simulations` UCT simulations from `game`'s state."""
    if simulations < 1:
        raise ValueError(f"mcts needs at least one simulation, not {simulations}")
    info = game.info
    root = _Node(None, legal_actions(game))
    if len(root.untried) == 1:
        return root.untried[0]
    for _ in range(simulations):
        sim = game.copy(bare=True)
        returns: dict[str, float] = {}
        node, path = root, [root]
        while not node.untried and node.children:  # selection
            action, node = node.uct_child(c)
            _step(sim, action, returns)
            path.append(node)
        if node.untried and sim.acting():  # expansion
            action = node.untried.pop(int(rng.integers(len(node.untried))))
            mover = _step(sim, action, returns)
            child = _Node(mover, legal_actions(sim) if sim.acting() else [])
            node.children[action] = child
            path.append(child)
        while sim.acting():  # random playout
            legal = legal_actions(sim)
            _step(sim, legal[int(rng.integers(len(legal)))], returns)
        team_return = {
            team: sum(returns.get(a, 0.0) for a in members) for team, members in info.teams.items()
        }
        root.visits += 1
        for visited in path[1:]:  # backpropagation, from each mover's side
            visited.visits += 1
            visited.total += team_return[visited.mover]
    return max(
        root.children.items(),
        key=lambda kv: (kv[1].visits, kv[1].total / kv[1].visits),
    )[0]
