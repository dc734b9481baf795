"""MAgent2's battle as shipped: the scripted teams, the outcome rule, the info fields and
the map-size check."""

from __future__ import annotations

import numpy as np
import pytest

from envs import GameError, builtin_game
from envs.battle import (
    ATTACK_BASE,
    ATTACKS,
    BOTS,
    MOVES,
    N_ACTIONS,
    STAY,
    alive_by_team,
    battle,
    battle_outcome,
)
from envs.bots import simple_tag_bot
from league.config import ConfigError, parse_config
from league.game_config import resolve_game

pytest.importorskip("magent2")

SMALL = {"map_size": 20, "max_cycles": 300}


def _bot(name: str, rng: np.random.Generator):
    if name == "random":
        return lambda obs: int(rng.integers(N_ACTIONS))
    fn = BOTS[name]
    return (lambda obs: fn(obs, None)) if name == "hold" else (lambda obs: fn(obs, None, rng=rng))


def _play(
    red: str, blue: str, seed: int, *, check=None, minimap: bool = False
) -> tuple[dict, dict, int]:
    """One battle; returns each team's summed info fields, the outcome and its length."""
    rng = np.random.default_rng(seed)
    env = battle(**SMALL, minimap_mode=minimap)
    obs, infos = env.reset(seed=seed)
    bots = {"red": _bot(red, rng), "blue": _bot(blue, rng)}
    last, totals, steps = dict(infos), {"red": {}, "blue": {}}, 0
    while env.agents:
        actions = {a: bots[a.split("_")[0]](obs[a]) for a in env.agents}
        if check is not None:  # red's moves
            for a, action in actions.items():
                if a.startswith("red"):
                    check(obs[a], action)
        obs, _, _, _, infos = env.step(actions)
        steps += 1
        last.update(infos)
        for agent, info in infos.items():
            team = totals[agent.split("_")[0]]
            for key, value in info.items():
                team[key] = team.get(key, 0.0) + value
    return totals, battle_outcome({"red": 0.0, "blue": 0.0}, last), steps


def test_the_action_tables_match_magent2():
    # 13 moves of the radius-2 disc (action 6 stays) and 8 attacks, as magent2 numbers them.
    assert len(MOVES) == 13 and MOVES[STAY] == (0, 0) and ATTACK_BASE == 13
    assert N_ACTIONS == 21 == builtin_game("battle_v4").info().spaces["red"].n_actions
    env = battle(**SMALL)
    env.reset(seed=0)
    base, view2attack = env.unwrapped.env.get_view2attack(env.unwrapped.handles[0])
    assert base == ATTACK_BASE
    for k, (dy, dx) in enumerate(ATTACKS):
        assert view2attack[6 + dy, 6 + dx] == k


@pytest.mark.parametrize("minimap", [False, True])
@pytest.mark.parametrize("name", sorted(BOTS))
def test_each_bot_plays_legal_actions_and_attacks_only_enemies(name, minimap):
    # Without the minimap the enemy is channel 3; with it (9 channels), channel 4.
    enemy = 4 if minimap else 3

    def check(obs, action):
        assert obs.shape == (13, 13, 9 if minimap else 5)
        assert isinstance(action, int) and 0 <= action < N_ACTIONS
        if action >= ATTACK_BASE:  # an attack is aimed at an enemy's cell
            dy, dx = ATTACKS[action - ATTACK_BASE]
            assert obs[6 + dy, 6 + dx, enemy] == 1.0
        elif action != STAY:  # a move goes to a free cell
            dy, dx = MOVES[action]
            assert obs[6 + dy, 6 + dx, [0, 1, enemy]].sum() == 0

    _play(name, "random", seed=3, check=check, minimap=minimap)


@pytest.mark.parametrize("minimap", [False, True])
def test_rush_beats_random_and_hold(minimap):
    # Each game ends with a side wiped out or at max_cycles: 10 games a side, all won.
    for other in ("random", "hold"):
        for seed in range(5):
            assert _play("rush", other, seed, minimap=minimap)[1] == {"red": 1.0, "blue": 0.0}
            assert _play(other, "rush", seed, minimap=minimap)[1] == {"red": 0.0, "blue": 1.0}


def test_the_info_fields_count_what_happened():
    totals, outcome, _ = _play("rush", "random", seed=1)
    red, blue = totals["red"], totals["blue"]
    assert outcome["red"] == 1.0
    # Every blue agent that died was killed by red, which was paid for it.
    assert blue["deaths"] == red["kills"] > 0
    # Each landed attack deals 2 HP: red's hits are blue's damage, to the recovery's
    # 0.1 HP a step.
    assert red["damage_dealt"] >= blue["damage_taken"] - 0.5 * blue["deaths"]
    assert red["damage_dealt"] % 2 == 0
    # Proximity: minus the distance to the nearest enemy over the map's side; at the
    # start red's front and blue's are 8 cells apart on the 20-cell map.
    env = battle(**SMALL)
    env.reset(seed=0)
    _, _, _, _, infos = env.step({a: STAY for a in env.agents})
    assert max(i["proximity"] for i in infos.values()) == pytest.approx(-8 / 20)


def _infos(red_alive: int, blue_alive: int, size: int = 3) -> dict:
    infos = {f"red_{i}": {"alive": float(i < red_alive)} for i in range(size)}
    infos |= {f"blue_{i}": {"alive": float(i < blue_alive)} for i in range(size)}
    return infos


@pytest.mark.parametrize(
    ("red", "blue", "result"),
    [
        (3, 0, {"red": 1.0, "blue": 0.0}),  # blue wiped out
        (1, 2, {"red": 0.0, "blue": 1.0}),  # time limit, blue has more left
        (2, 2, {"red": 0.5, "blue": 0.5}),  # level: a draw
        (0, 0, {"red": 0.5, "blue": 0.5}),
    ],
)
def test_the_team_with_more_agents_alive_wins(red, blue, result):
    # The returns say nothing: red scored more, yet the living decide.
    assert battle_outcome({"red": 99.0, "blue": -5.0}, _infos(red, blue)) == result
    assert alive_by_team(_infos(red, blue), ["red", "blue"]) == {"red": red, "blue": blue}


@pytest.mark.parametrize("size", [7, 81, "big", 20.5])
def test_an_unsupported_map_size_is_one_clear_line(size):
    config = parse_config(
        {"game": {"name": "battle_v4", "kwargs": {"map_size": size}}}, source="b.yaml"
    )
    with pytest.raises(ConfigError) as err:
        resolve_game(config, source="b.yaml")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("b.yaml: key 'game'") and "game.kwargs.map_size" in message
    assert repr(size) in message or str(size) in message
    with pytest.raises(GameError, match="map_size"):
        battle(map_size=size)


def _tag_touches(predators: str, prey: str, games: int = 20) -> float:
    """Touches per episode in simple tag between a scripted or random side and another."""
    spec = builtin_game("simple_tag_v3")
    rng = np.random.default_rng(0)
    total = 0.0
    for seed in range(games):
        env = spec.create()
        obs, _ = env.reset(seed=seed)
        while env.agents:
            actions = {}
            for a in env.agents:
                role = "adversary" if a.startswith("adversary") else "agent"
                kind = predators if role == "adversary" else prey
                actions[a] = (
                    simple_tag_bot(obs[a], None, role=role)
                    if kind == "scripted"
                    else int(rng.integers(5))
                )
            obs, rewards, _, _, _ = env.step(actions)
            total += rewards["adversary_0"] / 10.0
    return total / games


def test_simple_tags_scripted_sides_chase_and_flee():
    spec = builtin_game("simple_tag_v3")
    assert set(spec.named_bots()) == {"scripted"}
    chase, idle = _tag_touches("scripted", "random"), _tag_touches("random", "random")
    assert chase > 2 * idle  # predators that chase touch a random prey more than random ones
    assert _tag_touches("scripted", "scripted") < chase / 2  # a prey that flees is touched less
    with pytest.raises(ValueError, match="default layout"):
        simple_tag_bot(np.zeros(10), None, role="agent")
