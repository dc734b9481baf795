"""Evaluation, scripted bots, user bots, tournaments and training-time ratings."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import CONFIGS, ROOT, tiny_overrides
from envs.bots import connect_four_bot, connect_four_tactical_bot, tictactoe_bot
from league.config import load_config
from league.evaluation import Arena, EvalError, leaderboard, schedule_pairs, tournament
from league.rollout.players import BotError
from league.store import Registry, new_run
from league.training import Trainer

BOTS = ROOT / "tests" / "fixtures" / "bots.py"


def test_connect_four_bot_wins_blocks_and_prefers_the_centre():
    obs = np.zeros((6, 7, 2), np.int8)
    assert connect_four_bot(obs, np.ones(7)) == 3
    obs[5, 0:3, 0] = 1  # three of ours on the bottom row: complete it
    obs[5, 4:7, 1] = 1  # and three of theirs: winning comes first
    assert connect_four_bot(obs, np.ones(7)) == 3
    obs = np.zeros((6, 7, 2), np.int8)
    obs[2:5, 6, 1] = 1  # their vertical three in column 6: block it
    assert connect_four_bot(obs, np.ones(7)) == 6
    mask = np.zeros(7)
    mask[[0, 6]] = 1
    assert connect_four_bot(np.zeros((6, 7, 2), np.int8), mask) in (0, 6)


def test_connect_four_tactical_bot_wins_blocks_and_otherwise_plays_at_random():
    rng = np.random.default_rng(0)
    obs = np.zeros((6, 7, 2), np.int8)
    obs[5, 0:3, 0] = 1  # our three and theirs on the bottom row: winning comes first
    obs[5, 4:7, 1] = 1
    assert {connect_four_tactical_bot(obs, np.ones(7), rng=rng) for _ in range(20)} == {3}
    obs = np.zeros((6, 7, 2), np.int8)
    obs[2:5, 6, 1] = 1  # their vertical three in column 6: always blocked
    assert {connect_four_tactical_bot(obs, np.ones(7), rng=rng) for _ in range(20)} == {6}
    obs = np.zeros((6, 7, 2), np.int8)
    obs[5, 1:4, 1] = 1  # their three on row 5 (cols 1-3): both ends win, 0 comes first
    obs[5, 4, 0] = 1  # ours blocks the right end
    assert connect_four_tactical_bot(obs, np.ones(7), rng=rng) == 0
    # Their three on row 4 (cols 0-2) waits for column 3: never play under it.
    obs = np.zeros((6, 7, 2), np.int8)
    obs[4, 0:3, 1] = 1
    obs[5, 0:2, 0] = obs[5, 2, 1] = 1
    moves = [connect_four_tactical_bot(obs, np.ones(7), rng=rng) for _ in range(200)]
    assert 3 not in moves and set(moves) == {0, 1, 2, 4, 5, 6}
    # The empty board: any column, drawn from the generator (seeded, so reproducible).
    empty = np.zeros((6, 7, 2), np.int8)
    first = [
        connect_four_tactical_bot(empty, np.ones(7), rng=np.random.default_rng(s))
        for s in range(50)
    ]
    again = [
        connect_four_tactical_bot(empty, np.ones(7), rng=np.random.default_rng(s))
        for s in range(50)
    ]
    assert first == again and set(first) == set(range(7))


def test_the_tactical_bot_plays_by_name_between_random_and_scripted():
    arena = Arena.open(None, "connect_four_v3")
    tactical = arena.resolve("tactical")
    vs_random = arena.play(tactical, arena.resolve("random"), games=60, seed=3)
    vs_scripted = arena.play(
        tactical, arena.resolve("scripted"), games=60, random_opening=2, seed=3
    )
    assert vs_random.score > 0.8 and vs_scripted.score < 0.5
    again = arena.play(tactical, arena.resolve("random"), games=60, seed=3)
    assert (again.wins, again.draws, again.losses) == (
        vs_random.wins,
        vs_random.draws,
        vs_random.losses,
    )
    with pytest.raises(EvalError, match="unknown player 'tactical'.*random, scripted, mcts:N"):
        Arena.open(None, "tictactoe_v3").resolve("tactical")


def test_tictactoe_bot_wins_then_blocks():
    obs = np.zeros((3, 3, 2), np.int8)
    obs[0, 0, 0] = obs[0, 1, 0] = 1
    obs[1, 0, 1] = obs[1, 1, 1] = 1
    assert tictactoe_bot(obs, np.ones(9)) == 2  # win on the top row
    obs[0, 1, 0] = 0
    obs[2, 2, 0] = 1
    assert tictactoe_bot(obs, np.ones(9)) == 5  # block their middle row


@pytest.mark.parametrize("game,floor", [("connect_four_v3", 0.9), ("tictactoe_v3", 0.8)])
def test_scripted_bot_is_clearly_better_than_random(game, floor):
    arena = Arena.open(None, game)
    stats = arena.play(arena.resolve("scripted"), arena.resolve("random"), games=60, seed=3)
    assert stats.games == 60
    assert stats.score > floor
    low, high = stats.interval
    assert low < stats.score < high or stats.score == 1.0


def test_user_bot_file_plays_and_broken_bots_name_their_file():
    arena = Arena.open(None, "connect_four_v3")
    good = arena.resolve(f"{BOTS}:first_legal")
    assert arena.play(good, arena.resolve("random"), games=6).games == 6
    with pytest.raises(BotError, match=r"bots\.py raised ZeroDivisionError"):
        arena.play(arena.resolve(f"{BOTS}:raises"), arena.resolve("random"), games=2)
    with pytest.raises(BotError, match=r"bots\.py returned illegal action 99"):
        arena.play(arena.resolve(f"{BOTS}:illegal"), arena.resolve("random"), games=2)
    with pytest.raises(BotError, match="has no function 'nope'"):
        arena.play(arena.resolve(f"{BOTS}:nope"), arena.resolve("random"), games=2)
    with pytest.raises(EvalError, match="does not exist"):
        arena.resolve("missing_bot.py:act")
    # A bot that takes `rng` draws from the league's seeded generator: reproducible games.
    seeded = [arena.play(arena.resolve(f"{BOTS}:seeded"), good, games=8, seed=5) for _ in range(2)]
    assert seeded[0].games == 8 and seeded[0].wins == seeded[1].wins


def test_unknown_players_and_missing_run_are_clear_errors():
    arena = Arena.open(None, "tictactoe_v3")
    with pytest.raises(EvalError, match="--run"):
        arena.resolve("latest")
    with pytest.raises(EvalError, match="no scripted bot"):
        Arena.open(None, "kuhn_poker").resolve("scripted")
    with pytest.raises(EvalError, match="--run RUN_DIR or --game"):
        Arena.open(None, None)


def test_random_opening_turns_replays_into_distinct_games():
    arena = Arena.open(None, "tictactoe_v3")
    replay = arena.play(arena.resolve("scripted"), arena.resolve("scripted"), games=20)
    assert replay.distinct_games <= 2  # two deterministic players: one game per seating
    varied = arena.play(
        arena.resolve("scripted"), arena.resolve("scripted"), games=20, random_opening=2, seed=1
    )
    assert varied.distinct_games > 5


def test_pairs_are_scheduled_least_played_first():
    results = [("a", "b", 1.0)] * 3 + [("a", "c", 0.5)]
    pairs = schedule_pairs(["a", "b", "c"], results)
    assert pairs[0] == ("b", "c")
    assert pairs[-1] == ("a", "b")
    assert schedule_pairs(["a", "b"], [], can_meet=lambda a, b: False) == []


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    overrides = [*tiny_overrides("connect_four"), "train.iterations=3", "train.rating_games=4"]
    config = load_config(CONFIGS / "connect_four.yaml", overrides).model_copy(
        update={"name": "rated"}
    )
    run_dir = new_run(config, tmp)
    trainer = Trainer(config, run_dir)
    try:
        metrics = trainer.train()["metrics"]
    finally:
        trainer.close()
    return run_dir, metrics


def test_training_rates_each_new_snapshot(trained_run):
    run_dir, metrics = trained_run
    assert np.isfinite(metrics["league/rating"])
    with Registry(run_dir) as reg:
        sides = {k for m in reg.matches("eval") for k in m["sides"].values()}
    assert {"random", "scripted", "main@1", "main@2", "main@3"} <= sides


def test_tournament_rates_the_scripted_bot_above_random(trained_run):
    run_dir, _ = trained_run
    arena = Arena.open(run_dir, None)
    try:
        board = tournament(arena, top=2, games=10, seed=0)
    finally:
        arena.close()
    ratings = {r["player"]: r for r in board.rows}
    assert ratings["random"]["rating"] == 0.0
    assert ratings["random"]["rating_95ci"] == [0.0, 0.0]
    assert ratings["scripted"]["rating"] > 200
    assert ratings["main@3"]["env_steps"] > 0
    assert board.payoff.shape == (len(board.players), len(board.players))
    with Registry(run_dir) as reg:
        again = leaderboard(reg)  # every rated player; the tournament showed its own
        shown = [r["player"] for r in board.rows]
        assert [r["player"] for r in again.rows if r["player"] in shown] == shown


def test_mcts_400_never_loses_to_random_at_tictactoe_and_mostly_draws_itself():
    arena = Arena.open(None, "tictactoe_v3")
    mcts, random_bot = arena.resolve("mcts:400"), arena.resolve("random")
    stats = arena.play(mcts, random_bot, games=100, seed=0)
    assert stats.losses == 0 and stats.wins > 80
    mirror = arena.play(mcts, mcts, games=10, seed=1)
    assert mirror.draws > 5


def test_bad_mcts_names_and_games_mcts_cannot_search_are_clear_errors():
    arena = Arena.open(None, "tictactoe_v3")
    for name in ("mcts:0", "mcts:many", "mcts:"):
        with pytest.raises(EvalError, match="mcts:N needs N, the simulations per move"):
            arena.resolve(name)
    with pytest.raises(EvalError, match="mcts searches turn-based games; 'simple_tag_v3'"):
        Arena.open(None, "simple_tag_v3").resolve("mcts:10")


def test_a_tournament_ladder_takes_mcts_and_the_games_other_bots(trained_run):
    run_dir, _ = trained_run
    arena = Arena.open(run_dir, None)
    try:
        board = tournament(arena, top=1, games=4, seed=0, bots=("mcts:20", "tactical"))
    finally:
        arena.close()
    ratings = {r["player"]: r["rating"] for r in board.rows}
    assert set(ratings) == {"main@3", "random", "scripted", "mcts:20", "tactical"}
    assert ratings["random"] == 0.0


def test_a_tournament_of_six_builds_one_runner_and_plays_as_fresh_ones(
    c4_run, tmp_path, monkeypatch
):
    """Every pair of a tournament shares the arena's runner (before: one per pair), and a
    kept runner plays a seeded match exactly as a new one does."""
    import shutil

    import league.evaluation.arena as arena_module

    run_dir = tmp_path / "run"
    shutil.copytree(c4_run, run_dir)
    built = []
    real = arena_module.make_runner
    monkeypatch.setattr(
        arena_module, "make_runner", lambda *a, **k: built.append(k) or real(*a, **k)
    )
    arena = Arena.open(run_dir, None)
    try:
        board = tournament(arena, top=3, games=2, bots=("tactical",))
        kept = arena.play(arena.resolve("scripted"), arena.resolve("random"), games=2, seed=5)
    finally:
        arena.close()
    assert len(board.players) == 6 and len(built) == 1
    fresh = Arena.open(None, "connect_four_v3")
    try:
        new = fresh.play(fresh.resolve("scripted"), fresh.resolve("random"), games=2, seed=5)
    finally:
        fresh.close()
    assert kept.wins == new.wins and kept.mean_length == new.mean_length
