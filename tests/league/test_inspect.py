"""`league inspect` on OpenSpiel games, its warnings about games that end at once and about
thin team evidence, and what it proposes for pixel games."""

from __future__ import annotations

import json

import pyspiel
import pytest
import yaml

from conftest import CONFIGS
from envs import GameSpec, builtin_game
from envs.openspiel import OpenSpielEnv
from league.commands.cli import build_parser
from league.inspect import EARLY_END_WARNING, inspect_game, starter_config, write_config


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
    assert config["gamma"] == {"start": 1.0, "end": 1.0}  # as the shipped poker configs
    write_config(tmp_path / "leduc.yaml", config, header="test")  # loads it back
    assert _inspect("kuhn_poker", "--episodes", "1", "--json") == 0
    assert json.loads(capsys.readouterr().out)["game"] == "kuhn_poker"


def test_inspect_prints_the_team_evidence_and_warns_when_it_is_thin(capsys, tmp_path):
    assert _inspect("pettingzoo.classic.hanabi_v5:env", "--episodes", "1", "--json") == 0
    hanabi = json.loads(capsys.readouterr().out)
    assert hanabi["teams"] == {"player": ["player_0", "player_1"]}
    assert hanabi["mode"].startswith("cooperative")
    assert hanabi["team_evidence"]["paid_alike"] == [["player_0", "player_1"]]
    assert hanabi["team_evidence"]["teams_from"] == "rewards" and hanabi["warnings"] == []
    # Inference may stop mid-episode: the episodes it finished, not a count of none.
    assert "episodes" not in hanabi["team_evidence"]
    assert hanabi["team_evidence"]["env_steps"] > 0 <= hanabi["team_evidence"]["finished_episodes"]
    # The written config names the teams the trainer will train: alice and bob together.
    path = tmp_path / "crypto.yaml"
    assert _inspect("mpe2.simple_crypto_v3:parallel_env", "--write-config", str(path)) == 0
    text = capsys.readouterr().out
    assert "team_evidence" in text and "bob_alice" in text
    written = yaml.safe_load(path.read_text())
    assert written["game"]["teams"] == {"eve": ["eve_0"], "bob_alice": ["bob_0", "alice_0"]}
    assert _inspect("tests.fixtures.odd_games:paid_alike_once", "--episodes", "1") == 0
    (warning,) = capsys.readouterr().err.splitlines()
    assert warning.startswith("warning: teams 'red' and 'blue' were never paid differently")
    assert warning.endswith("they may be one team; set game.teams to say")


@pytest.mark.atari
def test_inspect_proposes_the_atari_preprocessing_for_pixel_frames(capsys, tmp_path):
    shipped = yaml.safe_load((CONFIGS / "volleyball_pong.yaml").read_text())["game"]
    path = tmp_path / "invaders.yaml"
    env = "pettingzoo.atari.space_invaders_v2:parallel_env"
    argv = ["--kwargs", '{"max_cycles": 30}', "--episodes", "1", "--write-config", str(path)]
    assert _inspect(env, *argv, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["spaces"]["first"]["observation_shape"] == [210, 160, 3]
    assert report["proposed_preprocessing"] == shipped["preprocessing"]
    assert yaml.safe_load(path.read_text())["game"]["preprocessing"] == shipped["preprocessing"]
    assert _inspect(env, *argv) == 0  # the table shows the proposal too
    assert "proposed_preprocessing" in capsys.readouterr().out
