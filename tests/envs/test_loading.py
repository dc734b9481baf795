"""Loading any PettingZoo game: import paths, teams, spaces, padding, plugins, outcomes."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest

from envs import GameEnv, GameError, GameSpec, infer_teams, list_games
from envs.games import ENTRY_POINT_GROUP, builtin_game
from league.config import ConfigError, ModelConfig, parse_config
from league.game_config import resolve_game
from league.rollout import PlayerPool, PolicyFactory, RolloutRequest, rollout
from matchmaking import OpponentSampler, PlayerId, SelfPlayMatchmaker, VersusMatchmaker


def _spec(**game):
    return resolve_game(parse_config({"game": game}, source="test.yaml"), source="test.yaml")


def test_import_path_game_with_inferred_symmetric_teams():
    info = _spec(name="tug", env="examples.tug_of_war:parallel_env").info()
    assert info.api == "parallel"
    assert info.teams == {"red": ("red_0", "red_1"), "blue": ("blue_0", "blue_1")}
    assert info.symmetric


def test_teams_from_config_with_regexes_and_forced_asymmetry():
    info = _spec(
        name="tug",
        env="examples.tug_of_war:parallel_env",
        teams={"left": ["red_.*"], "right": ["blue_0", "blue_1"]},
        symmetric=False,
    ).info()
    assert info.teams == {"left": ("red_0", "red_1"), "right": ("blue_0", "blue_1")}
    assert info.roles == {"left": "left", "right": "right"}


def test_leader_joins_its_kind_and_is_padded_into_the_team():
    assert infer_teams(["leadadversary_0", "adversary_0", "agent_0"]) == {
        "adversary": ["leadadversary_0", "adversary_0"],
        "agent": ["agent_0"],
    }
    spec = _spec(name="swc", env="mpe2.simple_world_comm_v3:parallel_env")
    assert [name for name, _ in spec.preprocessing] == ["pad_observations", "pad_action_space"]
    info = spec.info()
    assert set(info.teams) == {"adversary", "agent"}
    assert info.spaces["adversary"].n_actions == 20 and not info.symmetric


def test_unsupported_observation_space_names_agent_and_space():
    spec = _spec(name="to", env="tests.fixtures.odd_games:text_observation")
    with pytest.raises(GameError, match=r"agent 'red_0' has observation space Text\(1, 5"):
        spec.info()


def test_discrete_observations_are_one_hot_encoded():
    # Rock-paper-scissors observes the opponent's last move as Discrete(4).
    spec = _spec(name="rps", env="pettingzoo.classic.rps_v2:parallel_env")
    info = spec.info()
    sp = info.spaces["player_0"]
    assert (sp.obs_shape, sp.obs_dtype, sp.n_actions) == ((4,), "float32", 3)
    env = GameEnv(spec, info)
    env.reset(seed=0)
    obs, _ = env.observe("player_0")
    assert obs.tolist() == [0, 0, 0, 1]  # "none yet" is move 3 of Discrete(4)
    env.step({"player_0": 0, "player_1": 1})
    assert env.observe("player_0")[0].tolist() == [0, 1, 0, 0]  # the opponent played 1
    env.close()
    res = _play(spec, episodes=4)
    assert len(res.episodes) >= 4 and res.batches["main"].obs.shape[1:] == (4,)


def test_multidiscrete_actions_are_played_and_learned():
    spec = _spec(name="md", env="tests.fixtures.odd_games:multidiscrete")
    sp = spec.info().spaces["red"]
    assert sp.multi and sp.nvec == (3, 2) and sp.n_actions == 5
    res = _play(spec, episodes=4)  # the env asserts every action is a legal pair
    batch = res.batches["main"]
    assert batch.action.shape[1:] == (2,) and batch.probs.shape[1:] == (5,)
    res = _play(spec, "bots", episodes=2)  # the random bot plays pairs too
    assert len(res.episodes) >= 2


def test_bad_import_paths_name_the_key():
    with pytest.raises(ConfigError, match=r"test.yaml: key 'game.env'.*no_such_module"):
        _spec(name="x", env="no_such_module:env")
    with pytest.raises(ConfigError, match="has no callable 'nope'"):
        _spec(name="x", env="examples.tug_of_war:nope")
    with pytest.raises(ConfigError, match="package.module:callable"):
        _spec(name="x", env="examples.tug_of_war")
    with pytest.raises(ConfigError, match=r"key 'game'.*length must be an odd number"):
        _spec(name="x", env="examples.tug_of_war:parallel_env", kwargs={"length": 4})


def _play(spec, matchmaker_kind="self", episodes=6):
    info = spec.info()
    factory = PolicyFactory(info, ModelConfig(hidden=[16]))
    rng = np.random.default_rng(0)
    pool = PlayerPool(factory, info=info, rng=rng)
    for role in set(info.roles.values()):
        pool.set_latest(role, factory(role).state_dict(), 0)
    if matchmaker_kind == "self":
        roles = set(info.roles.values())
        mm = SelfPlayMatchmaker(info, {r: OpponentSampler(role=r) for r in roles})
    else:
        mm = VersusMatchmaker(info, None, PlayerId.of_bot("random"))
    envs = [GameEnv(spec, info) for _ in range(2)]
    return rollout(envs, pool, RolloutRequest(mm, episodes=episodes), rng)


def test_mask_in_info_is_obeyed():
    spec = _spec(name="masked", env="tests.fixtures.odd_games:masked")
    assert spec.info().spaces["red"].has_mask is False  # no Dict: the mask comes from info
    res = _play(spec, "bots")  # the env asserts that no masked action is ever played
    assert len(res.episodes) >= 6


def test_outcome_hook_decides_and_a_broken_hook_is_named():
    spec = _spec(
        name="tug",
        env="examples.tug_of_war:parallel_env",
        outcome="tests.fixtures.odd_games:red_never_wins",
    )
    res = _play(spec)
    assert all(e.result == {"red": 0.0, "blue": 1.0} for e in res.episodes)
    broken = _spec(
        name="tug",
        env="examples.tug_of_war:parallel_env",
        outcome="tests.fixtures.odd_games:broken_outcome",
    )
    with pytest.raises(GameError, match="outcome hook returned"):
        _play(broken)


def test_single_team_game_plays_without_opponents():
    spec = _spec(
        name="walkers",
        env="pettingzoo.sisl.multiwalker_v9:parallel_env",
        kwargs={"n_walkers": 2, "max_cycles": 20},
    )
    info = spec.info()
    assert list(info.teams) == ["walker"] and info.spaces["walker"].n_actions == 0
    res = _play(spec, episodes=2)
    batch = res.batches["main"]  # one team: one role
    assert batch.action.shape[1:] == (4,) and res.episodes[0].result == {}


def test_games_registered_by_entry_point_are_listed_and_loadable(monkeypatch):
    entry = importlib.metadata.EntryPoint(
        name="tug_plugin", value="tests.fixtures.odd_games:plugin_spec", group=ENTRY_POINT_GROUP
    )
    broken = importlib.metadata.EntryPoint(
        name="broken_plugin",
        value="tests.fixtures.odd_games:nothing_here",
        group=ENTRY_POINT_GROUP,
    )
    real = importlib.metadata.entry_points

    def fake(**kwargs):
        if kwargs.get("group") == ENTRY_POINT_GROUP:
            return [entry, broken]
        return real(**kwargs)

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    names = [g.name for g in list_games()]
    assert "tug_plugin" in names and "broken_plugin" not in names
    spec = builtin_game("tug_plugin")
    assert isinstance(spec, GameSpec) and spec.name == "tug_plugin"
    assert _spec(name="tug_plugin").info().teams["red"] == ("red_0", "red_1")
    with pytest.raises(GameError, match="broken_plugin"):
        builtin_game("broken_plugin")
