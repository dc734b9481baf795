from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import api_test, parallel_api_test

from envs import BUILTIN_GAMES, GameEnv, GameError, GameSpec, builtin_game, infer_teams


@pytest.mark.parametrize("name", sorted(BUILTIN_GAMES))
def test_builtin_game_passes_pettingzoo_api_test(name):
    spec = BUILTIN_GAMES[name]
    if name == "volleyball_pong_v3":
        spec = GameSpec(**{**spec.__dict__, "kwargs": {**spec.kwargs, "max_cycles": 30}})
    env = spec.create()
    if spec.info().api == "parallel":
        parallel_api_test(env, num_cycles=30)
    else:
        api_test(env, num_cycles=30)


def test_team_inference():
    assert infer_teams(["adversary_0", "adversary_1", "adversary_2", "agent_0"]) == {
        "adversary": ["adversary_0", "adversary_1", "adversary_2"],
        "agent": ["agent_0"],
    }
    assert infer_teams(["player_0", "player_1"]) == {
        "player_0": ["player_0"],
        "player_1": ["player_1"],
    }
    assert infer_teams(["piston_0", "piston_1"]) == {"piston": ["piston_0", "piston_1"]}


def test_builtin_infos():
    c4 = builtin_game("connect_four_v3").info()
    assert c4.api == "aec" and c4.symmetric and c4.roles == {"player_0": "main", "player_1": "main"}
    tag = builtin_game("simple_tag_v3").info()
    assert tag.api == "parallel" and not tag.symmetric
    assert tag.roles == {"adversary": "adversary", "agent": "agent"}
    assert tag.spaces["adversary"].obs_shape != tag.spaces["agent"].obs_shape
    vp = builtin_game("volleyball_pong_v3").info()
    assert vp.teams == {"left": ("first_0", "third_0"), "right": ("second_0", "fourth_0")}
    assert vp.spaces["left"].image and vp.spaces["left"].obs_shape == (42, 42, 4)


def test_unknown_game_is_named():
    with pytest.raises(GameError, match="nope_v1"):
        builtin_game("nope_v1")


def test_explicit_team_with_unknown_agent_is_an_error():
    spec = builtin_game("connect_four_v3")
    bad = GameSpec(name="c4", make=spec.make, teams={"a": ["player_0"], "b": ["ghost_.*"]})
    with pytest.raises(GameError, match="ghost"):
        bad.info()


def _play(env: GameEnv, rng: np.random.Generator) -> tuple[int, dict]:
    env.reset(seed=1)
    steps, totals = 0, {}
    while env.acting():
        actions = {}
        for agent in env.acting():
            _, mask = env.observe(agent)
            legal = np.flatnonzero(mask) if mask is not None else np.arange(5)
            actions[agent] = int(rng.choice(legal))
        res = env.step(actions)
        for agent, r in res.rewards.items():
            totals[agent] = totals.get(agent, 0.0) + r
        steps += 1
    return steps, totals


def test_turn_based_adapter_plays_a_whole_game():
    spec = builtin_game("connect_four_v3")
    env = GameEnv(spec, spec.info())
    steps, totals = _play(env, np.random.default_rng(0))
    assert 7 <= steps <= 42
    assert sorted(totals.values()) in ([-1.0, 1.0], [0.0, 0.0])
    assert env.acting() == []


def test_simultaneous_adapter_reports_truncation_with_final_obs():
    spec = builtin_game("simple_tag_v3")
    spec = GameSpec(**{**spec.__dict__, "kwargs": {**spec.kwargs, "max_cycles": 5}})
    env = GameEnv(spec, spec.info())
    env.reset(seed=0)
    last = None
    for _ in range(5):
        last = env.step({a: 0 for a in env.acting()})
    assert last.over
    assert set(last.truncated) == {"adversary_0", "adversary_1", "adversary_2", "agent_0"}
    assert last.truncated["agent_0"].shape == (14,)
    assert "proximity" in last.infos["agent_0"]


def test_step_before_reset_is_a_clear_error():
    spec = builtin_game("tictactoe_v3")
    env = GameEnv(spec, spec.info())
    with pytest.raises(RuntimeError, match="before reset"):
        env.step({})
