"""The team panel's arithmetic (bench/team_panel.py): battle figures from finished games,
touches in simple tag, the rating code it shares with bench/panel.py, its refusal of a
game it has no bots for, and the ablation's table and schedules (bench/team_ablation.py)."""

from __future__ import annotations

import importlib.util
import math
import sys
from types import SimpleNamespace

import pytest

from conftest import ROOT
from matchmaking import ratings

sys.path.insert(0, str(ROOT / "bench"))


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


team_panel = _load("team_panel")
panel = _load("panel")
ablation = _load("team_ablation")

TAG = "simple_tag_v3"
TEAMS = {"red": [f"red_{i}" for i in range(3)], "blue": [f"blue_{i}" for i in range(3)]}


def _episode(focal: str, red_alive: int, blue_alive: int) -> SimpleNamespace:
    infos = {f"red_{i}": {"alive": float(i < red_alive)} for i in range(3)}
    infos |= {f"blue_{i}": {"alive": float(i < blue_alive)} for i in range(3)}
    alive = {"red": red_alive, "blue": blue_alive}
    other = "blue" if focal == "red" else "red"
    result = 1.0 if alive[focal] > alive[other] else 0.5 if alive[focal] == alive[other] else 0.0
    return SimpleNamespace(focal=focal, infos=infos, result={focal: result, other: 1 - result})


def test_the_rating_code_is_the_one_bench_panel_uses():
    assert team_panel.fixed_panel_rating is ratings.fixed_panel_rating
    assert panel.fixed_panel_rating is ratings.fixed_panel_rating


def test_battle_figures_from_hand_built_games():
    episodes = [
        _episode("red", 3, 0),  # A as red wipes blue out: 3 kills, no loss
        _episode("blue", 1, 2),  # A as blue wins 2 to 1: 2 kills, 1 loss
        _episode("red", 1, 1),  # A as red, a draw: 2 kills, 2 losses
        _episode("blue", 3, 0),  # A as blue, wiped out: 0 kills, 3 losses
    ]
    out = team_panel.battle_scores(episodes, TEAMS)
    assert (out["games"], out["wins"], out["draws"], out["losses"]) == (4, 2, 1, 1)
    assert out["score"] == pytest.approx(2.5 / 4)
    assert out["score_95ci"] == pytest.approx(list(ratings.wilson_interval(2.5, 4)))
    assert out["as"]["red"]["score"] == pytest.approx(0.75)
    assert out["as"]["blue"]["score"] == pytest.approx(0.5)
    assert (out["kills"], out["deaths"]) == (3 + 2 + 2 + 0, 0 + 1 + 2 + 3)
    assert out["kill_ratio"] == pytest.approx(7 / 6)
    assert out["alive_end"] == pytest.approx((3 + 2 + 1 + 0) / 4)
    assert out["enemy_alive_end"] == pytest.approx((0 + 1 + 1 + 3) / 4)
    flawless = team_panel.battle_scores([_episode("red", 3, 0)], TEAMS)
    assert math.isinf(flawless["kill_ratio"])


def test_touches_are_read_from_the_predators_reward():
    # Three predators, each paid 10 for every contact: a team return of 60 is 2 touches.
    games = [SimpleNamespace(returns={"adversary": r}) for r in (60.0, 0.0)]
    out = team_panel.touch_scores(games, adversaries=3)
    assert out["touches"] == pytest.approx(1.0) and out["games"] == 2


def test_a_game_without_scripted_teams_is_one_clear_error():
    with pytest.raises(team_panel.PanelError) as err:
        team_panel.panel_members("connect_four_v3")
    assert "\n" not in str(err.value)
    assert "'connect_four_v3'" in str(err.value) and "battle_v4" in str(err.value)
    assert team_panel.panel_members("battle_v4")[0] == "random"


def test_the_ablation_stretches_the_schedules_and_tabulates_final_snapshots():
    # configs/battle.yaml: 300 iterations, gamma over 300, tau 0 (no schedule); the
    # tau_anneal arm anneals tau over 200, which a 30-iteration run scales to 20.
    assert ablation.scaled_schedules(30) == ["gamma.steps=30"]
    arm = ablation.ARMS["tau_anneal"]
    assert ablation.scaled_schedules(30, arm) == ["gamma.steps=30", "reward.tau.steps=20"]
    members = team_panel.panel_members("battle_v4")
    score = {"score": 0.75, "kill_ratio": 2.0, "alive_end": 7.5}
    row = {"env_steps": 12345, "rating": 900.0, "rating_95ci": [800.0, 1000.0], "bounded": True}
    row["scores"] = dict.fromkeys(members, score)
    text = ablation.table({"shipped": {0: [row]}, "tau_anneal": {1: [{**row, "bounded": False}]}})
    lines = text.splitlines()
    assert lines[0].startswith("| arm | seed | env steps | panel rating")
    assert "| shipped | 0 | 12,345 | 900 (800 to 1000) | 0.75 |" in lines[2]
    assert "won every game" in lines[3]
    assert set(ablation.ARMS) >= {"shipped", "tau_anneal", "tau_1", "env_reward", "gamma_fixed"}


@pytest.mark.parametrize(("config", "game"), [("battle", "battle_v4"), ("simple_tag", TAG)])
def test_no_shipped_config_trains_against_the_team_panel(config, game):
    from conftest import CONFIGS
    from league.config import load_config

    loaded = load_config(CONFIGS / f"{config}.yaml")
    assert loaded.game.name == game
    assert not set(loaded.league.bots) & set(team_panel.panel_members(game)) - {"random"}
