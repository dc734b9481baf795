"""UCT search on copies of a turn-based game (the `mcts:N` bot's engine)."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest
from pettingzoo.utils.wrappers import BaseWrapper

from envs import GameEnv, GameError, builtin_game
from envs.adapter import copy_env
from envs.mcts import mcts_action


def _game(name: str) -> GameEnv:
    spec = builtin_game(name)
    return GameEnv(spec, spec.info())


def _connect_four_after(moves: list[int]) -> GameEnv:
    game = _game("connect_four_v3")
    game.reset(seed=0)
    for column in moves:
        (agent,) = game.acting()
        game.step({agent: column})
    return game


def test_a_copy_is_independent_of_the_original():
    game = _connect_four_after([3, 3])
    twin = game.copy()
    (agent,) = twin.acting()
    twin.step({agent: 0})
    assert game.unwrapped.board != twin.unwrapped.board
    assert game.acting() == ["player_0"] and twin.acting() == ["player_1"]


@pytest.mark.parametrize("seed", range(3))
def test_it_takes_a_one_move_win(seed):
    # X stacks three in column 1; O scatters. X to move wins in column 1.
    game = _connect_four_after([0, 6, 0, 6, 0, 5])
    assert mcts_action(game, 400, np.random.default_rng(seed)) == 0


@pytest.mark.parametrize("seed", range(3))
def test_it_blocks_a_one_move_loss(seed):
    # O stacks three in column 7; X has no win of its own. X must block column 7.
    game = _connect_four_after([0, 6, 0, 6, 1, 6])
    assert mcts_action(game, 400, np.random.default_rng(seed)) == 6


class _NoCopy(BaseWrapper):
    """A game whose env holds something that cannot be copied."""

    def __init__(self, env):
        super().__init__(env)
        self.connection = threading.Lock()


def test_a_game_that_cannot_be_copied_needs_a_clone_hook():
    tictactoe = builtin_game("tictactoe_v3")
    spec = dataclasses.replace(tictactoe, make=lambda **kw: _NoCopy(tictactoe.make()))
    game = GameEnv(spec, spec.info())
    game.reset(seed=0)
    with pytest.raises(GameError, match="cannot be copied for search .*give its GameSpec a clone"):
        game.copy()
    hooked = dataclasses.replace(spec, clone=lambda env: _NoCopy(copy_env(env.env)))
    twin = GameEnv(hooked, spec.info())
    twin.reset(seed=0)
    assert mcts_action(twin, 20, np.random.default_rng(0)) in range(9)
