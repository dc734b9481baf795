"""OpenSpiel games as PettingZoo AEC envs: information-state observations, chance, refusals."""

from __future__ import annotations

import pickle

import numpy as np
import pyspiel
import pytest
from pettingzoo.test import api_test

from envs import GameEnv, GameError, builtin_game
from envs.openspiel import OpenSpielEnv, clone, game_of, load, spec_for
from league.config import ConfigError, parse_config
from league.game_config import resolve_game

FOLD, CALL, RAISE = 0, 1, 2  # Leduc's actions (Kuhn: 0 pass, 1 bet)


def _play(env: OpenSpielEnv, actions: list[int]) -> None:
    for action in actions:
        env.step(action)


def _random_episode(env: OpenSpielEnv, seed: int) -> tuple[int, dict[str, float]]:
    """Play one episode with random legal moves: (moves made, summed rewards per agent)."""
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    moves, totals = 0, dict.fromkeys(env.possible_agents, 0.0)
    for agent in env.agent_iter():
        obs, reward, terminated, truncated, _ = env.last()
        totals[agent] += reward
        if terminated or truncated:
            env.step(None)
            continue
        env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
        moves += 1
    return moves, totals


@pytest.mark.parametrize(
    ("name", "params"), [("kuhn_poker", {}), ("leduc_poker", {}), ("goofspiel", {"num_cards": 4})]
)
def test_openspiel_games_pass_the_pettingzoo_api_test(name, params):
    api_test(load(name, **params), num_cycles=100)


def test_a_kuhn_episode_lasts_several_moves_and_pays_zero_sum():
    env = load("kuhn_poker")
    for seed in range(10):
        moves, totals = _random_episode(env, seed)
        assert 2 <= moves <= 3
        assert sum(totals.values()) == 0 and totals["player_0"] != 0
        assert list(totals.values()) == env.state.returns()


def test_observation_is_the_information_state_tensor_with_the_seat():
    env = load("leduc_poker")
    env.reset(seed=0)
    assert env.observation_space("player_0")["observation"].shape == (30,)
    assert env.game.observation_tensor_size() == 16  # what Shimmy would have observed
    while not env.state.is_terminal():
        for player, agent in enumerate(env.possible_agents):
            obs = env.observe(agent)["observation"]
            assert obs.dtype == np.float32
            np.testing.assert_array_equal(obs, env.state.information_state_tensor(player))
            np.testing.assert_array_equal(obs[:2], np.eye(2)[player])  # the seat
        env.step(CALL)


def test_leduc_observations_remember_the_betting_history():
    """Two round-one histories with the same pot: OpenSpiel's observation tensor cannot
    tell them apart in round two, the information state can."""
    raise_call, call_raise_call = load("leduc_poker"), load("leduc_poker")
    raise_call.reset(seed=7)
    call_raise_call.reset(seed=7)
    _play(raise_call, [RAISE, CALL])
    _play(call_raise_call, [CALL, RAISE, CALL])
    for env in (raise_call, call_raise_call):
        assert env.state.round() == 2 and env.agent_selection == "player_0"
    assert raise_call.state.observation_tensor(0) == call_raise_call.state.observation_tensor(0)
    assert not np.array_equal(
        raise_call.observe("player_0")["observation"],
        call_raise_call.observe("player_0")["observation"],
    )


def test_masks_match_the_legal_actions_and_illegal_moves_are_refused():
    env = load("leduc_poker")
    env.reset(seed=1)
    mask = env.observe("player_0")["action_mask"]
    assert mask.dtype == np.int8 and list(np.flatnonzero(mask)) == env.state.legal_actions()
    assert list(np.flatnonzero(mask)) == [CALL, RAISE]  # nothing to fold against yet
    assert not env.observe("player_1")["action_mask"].any()  # not player_1's turn
    with pytest.raises(ValueError, match=r"action 0 is illegal for player_0; legal: \[1, 2\]"):
        env.step(FOLD)
    env.step(RAISE)
    mask = env.observe("player_1")["action_mask"]
    assert list(np.flatnonzero(mask)) == [FOLD, CALL, RAISE]


def test_seeding_reproduces_the_chance_outcomes():
    env = load("leduc_poker")
    deals = []
    for seed in (3, 3, 4, 5, 6):
        env.reset(seed=seed)
        _play(env, [CALL, CALL])  # to round two: the public card is dealt too
        deals.append(env.state.history())
    assert deals[0] == deals[1]
    assert len({tuple(d) for d in deals}) > 2


def test_clone_copies_the_state_and_the_rng():
    env = load("leduc_poker")
    env.reset(seed=2)
    env.step(CALL)
    twin = clone(env)
    _play(twin, [CALL])  # deals the public card with the twin's copy of the rng
    assert env.state.history() == twin.state.history()[:-2]
    _play(env, [CALL])
    assert env.state.history() == twin.state.history()
    env.step(RAISE)
    assert twin.state.history() != env.state.history()
    game = GameEnv(builtin_game("leduc_poker"), builtin_game("leduc_poker").info())
    game.reset(seed=0)
    copy = game.copy()
    copy.step({"player_0": CALL})
    assert game.acting() == ["player_0"] and copy.acting() == ["player_1"]


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("kuhn_pokr", "not an OpenSpiel game; did you mean kuhn_poker"),
        ("tic_tac_toe", "no information-state tensor"),
        ("oshi_zumo", "simultaneous game, loaded turn-based.*no information-state tensor"),
        ("blackjack", "no information-state tensor"),
        ("bridge_uncontested_bidding", "sampled"),
        ("mfg_garnet", "MEAN_FIELD"),
        ("repeated_game", "Missing parameter"),
    ],
)
def test_unplayable_games_are_refused_with_the_reason(name, why):
    with pytest.raises(GameError, match=f"{name}.*{why}"):
        load(name)


def test_a_game_with_one_player_or_bad_parameters_is_refused():
    with pytest.raises(GameError, match="'kuhn_poker'.*Unknown parameter 'bogus'"):
        load("kuhn_poker", bogus=1)
    with pytest.raises(GameError, match="'first_sealed_auction' cannot be played.*1 player"):
        load("first_sealed_auction", players=1)


def test_a_simultaneous_game_is_played_in_turn_without_seeing_the_other_move():
    env = load("matrix_rps")
    assert env.game.get_type().dynamics == pyspiel.GameType.Dynamics.SEQUENTIAL
    seen = []
    for first in (0, 2):
        env.reset(seed=0)
        env.step(first)
        assert env.agent_selection == "player_1"
        seen.append(env.observe("player_1")["observation"])
    np.testing.assert_array_equal(*seen)


def test_render_and_game_of():
    env = load("kuhn_poker", render_mode="ansi")
    env.reset(seed=0)
    assert env.render() == str(env.state)
    assert game_of(env) is env.game
    spec = builtin_game("kuhn_poker")
    assert str(game_of(GameEnv(spec, spec.info()))) == "kuhn_poker()"
    assert game_of(builtin_game("tictactoe_v3").create()) is None
    with pytest.raises(GameError, match="render_mode 'human'"):
        load("kuhn_poker", render_mode="human")


def test_resolve_game_builds_an_openspiel_spec_that_pickles():
    config = parse_config({"game": {"env": "openspiel:kuhn_poker"}}, source="x.yaml")
    spec = resolve_game(config, source="x.yaml")
    info = spec.info()
    assert spec.name == "kuhn_poker" and info.symmetric and len(info.teams) == 2
    assert info.spaces["player_0"].obs_shape == (11,) and info.spaces["player_0"].has_mask
    again = pickle.loads(pickle.dumps(spec))
    assert game_of(again.create()).num_players() == 2
    named = {"name": "three", "env": "openspiel:kuhn_poker", "kwargs": {"players": 3}}
    spec = resolve_game(parse_config({"game": named}, source="x.yaml"), source="x.yaml")
    assert spec.name == "three" and len(spec.info().teams) == 3
    assert pickle.loads(pickle.dumps(spec_for("leduc_poker", {}))).kwargs == {}


def test_resolve_game_refuses_an_unplayable_openspiel_game():
    config = parse_config({"game": {"env": "openspiel:chess"}}, source="x.yaml")
    with pytest.raises(ConfigError, match=r"x.yaml: key 'game.env': .*'chess'.*information-state"):
        resolve_game(config, source="x.yaml")


@pytest.mark.parametrize("name", ["kuhn_poker", "leduc_poker"])
def test_builtin_poker_games_are_symmetric_one_against_one(name):
    spec = builtin_game(name)
    info = spec.info()
    assert spec.name == name and "exact exploitability" in spec.description
    assert info.symmetric and info.roles == {"player_0": "main", "player_1": "main"}
    assert pickle.loads(pickle.dumps(spec)).create().game.get_type().short_name == name


def test_openspiels_parameter_syntax_is_read_as_kwargs():
    from envs.openspiel import split_params

    assert split_params("dark_hex(num_rows=3,num_cols=3)") == (
        "dark_hex",
        {"num_rows": 3, "num_cols": 3},
    )
    assert split_params("kuhn_poker") == ("kuhn_poker", {})
    spec = spec_for("leduc_poker(players=2)", {})
    assert (spec.name, spec.kwargs) == ("leduc_poker", {"players": 2})
    with pytest.raises(GameError, match="given both in the name and kwargs"):
        spec_for("leduc_poker(players=2)", {"players": 2})
    with pytest.raises(GameError, match="is not key=value"):
        spec_for("leduc_poker(players)", {})


def test_an_unknown_name_suggests_only_similar_ones():
    with pytest.raises(GameError, match="did you mean phantom_ttt"):
        spec_for("phantom_tt", {})
    with pytest.raises(GameError) as err:
        spec_for("zzzzqqq", {})
    assert "did you mean" not in str(err.value)
