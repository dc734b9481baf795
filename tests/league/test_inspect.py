"""`league inspect` on OpenSpiel games, and its warning about games that end at once."""

from __future__ import annotations

import json

import pyspiel

from envs import GameSpec, builtin_game
from envs.openspiel import OpenSpielEnv
from league.commands.cli import build_parser
from league.commands.inspect import EARLY_END_WARNING, inspect_game, starter_config, write_config


class _EndsAfterOneMove(OpenSpielEnv):
    """Kuhn poker cut off after its first move with nothing paid (what Shimmy 2.0.1's
    OpenSpiel wrapper does under PettingZoo 1.27)."""

    def step(self, action):
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        self.state.apply_action(int(action))
        self.truncations = dict.fromkeys(self.agents, True)
        self.rewards = dict.fromkeys(self.agents, 0.0)
        self._cumulative_rewards = dict.fromkeys(self.agents, 0.0)


def _inspect(*argv: str) -> int:
    args = build_parser().parse_args(["inspect", *argv])
    return args.func(args)


def _ends_after_one_move(**kwargs):
    return _EndsAfterOneMove(pyspiel.load_game("kuhn_poker"), **kwargs)


def test_inspect_warns_when_every_random_episode_ends_after_one_step():
    report = inspect_game(GameSpec(name="cut_kuhn", make=_ends_after_one_move), episodes=3)
    assert report["episode_length"]["max"] == 1
    assert report["warnings"] == [EARLY_END_WARNING]
    assert inspect_game(builtin_game("kuhn_poker"), episodes=3)["warnings"] == []


def test_inspect_takes_an_openspiel_game_and_writes_a_config_for_it(capsys, tmp_path):
    assert _inspect("openspiel:leduc_poker", "--episodes", "2", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["api_test"] == "passed" and report["symmetric"] is True
    assert report["spaces"]["player_0"]["observation_shape"] == [30]
    assert report["episode_length"]["max"] > 1 and report["warnings"] == []
    config = starter_config("openspiel:leduc_poker", {}, report)
    assert config["name"] == "leduc_poker" and config["game"]["env"] == "openspiel:leduc_poker"
    write_config(tmp_path / "leduc.yaml", config, header="test")  # loads it back
    assert _inspect("kuhn_poker", "--episodes", "1", "--json") == 0
    assert json.loads(capsys.readouterr().out)["game"] == "kuhn_poker"
