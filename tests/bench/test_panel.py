"""The held-out panel's arithmetic (bench/panel.py) and the rule that keeps it held out."""

from __future__ import annotations

import importlib.util
import math

import pytest

from conftest import CONFIGS, ROOT
from league.config import load_config
from matchmaking.ratings import expected

_spec = importlib.util.spec_from_file_location("bench_panel", ROOT / "bench" / "panel.py")
panel = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(panel)

RATINGS = {"scripted": 300.0, "tactical": 500.0, "mcts:25": 700.0}


def test_a_player_scoring_as_its_rating_predicts_gets_that_rating():
    games = {"scripted": 100, "tactical": 60, "mcts:25": 40}
    results = {m: (expected(550.0, r), games[m]) for m, r in RATINGS.items()}
    out = panel.fixed_panel_rating(results, RATINGS)
    assert out["rating"] == pytest.approx(550.0, abs=1e-6)
    assert out["bounded"]
    # 1.96 / sqrt(Fisher information), in Elo points.
    info = sum(n * expected(550, RATINGS[m]) * (1 - expected(550, RATINGS[m]))
               for m, n in games.items())  # fmt: skip
    half = 1.959963984540054 * (400 / math.log(10)) / math.sqrt(info)
    assert out["rating_95ci"] == pytest.approx([550 - half, 550 + half])


def test_an_even_score_against_one_member_is_its_rating():
    out = panel.fixed_panel_rating({"tactical": (0.5, 80)}, RATINGS)
    assert out["rating"] == pytest.approx(500.0, abs=1e-6)


def test_winning_every_game_has_no_finite_rating():
    out = panel.fixed_panel_rating({"scripted": (1.0, 50), "tactical": (1.0, 50)}, RATINGS)
    assert not out["bounded"] and out["rating"] > 7000


def test_a_member_without_a_rating_or_no_games_is_refused():
    with pytest.raises(ValueError, match="mcts:400"):
        panel.fixed_panel_rating({"mcts:400": (0.5, 10)}, RATINGS)
    with pytest.raises(ValueError, match="no games"):
        panel.fixed_panel_rating({}, RATINGS)


def test_the_round_robin_recovers_known_ratings_with_random_at_zero():
    truth = {"random": 0.0, "scripted": 400 * math.log10(3), "tactical": 400 * math.log10(9)}
    results = []
    names = list(truth)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            p = expected(truth[a], truth[b])  # a table of 2,000 games a pair
            wins = round(2000 * p)
            results += [(a, b, 1.0)] * wins + [(a, b, 0.0)] * (2000 - wins)
    ratings = panel.round_robin_ratings(results)
    assert ratings["random"] == 0.0
    for name, value in truth.items():
        assert ratings[name] == pytest.approx(value, abs=3.0)


def test_a_config_that_trains_against_a_member_is_judged_on_the_others():
    assert panel.panel_for({"scripted": 0.8, "random": 0.1}) == tuple(
        m for m in panel.PANEL if m != "scripted"
    )
    assert panel.panel_for({}) == panel.PANEL


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_the_panel_stays_out_of_every_shipped_config(path):
    bots = set(load_config(path).league.bots)
    assert not bots & set(panel.PANEL), f"{path.name} trains against {bots & set(panel.PANEL)}"
