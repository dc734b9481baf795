"""Exact figures in training: each snapshot of a game with a game tree scored as it
freezes, the Nash pool filled with exact payoffs (or games), the population's mixtures."""

from __future__ import annotations

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import CONFIGS, tiny_overrides
from envs import GameError, builtin_game
from envs.adapter import GameEnv
from envs.game_tree import exploitability, uniform_table
from league.config import load_config
from league.evaluation import leaderboard
from league.evaluation.exact import ExactGame, league_snapshots, population
from league.rollout import PolicyFactory
from league.store import TENSORBOARD_DIR, Registry, new_run
from league.training import Trainer


def _kuhn(tmp_path, *extra, game="kuhn_poker", iterations=4):
    overrides = [
        *tiny_overrides(game),
        f"train.iterations={iterations}",
        "train.steps_per_iteration=256",
        "train.snapshot_every=1",
        *extra,
    ]
    config = load_config(CONFIGS / f"{game}.yaml", overrides).model_copy(update={"name": "run"})
    return config, new_run(config, tmp_path)


def _train(config, run_dir):
    """Train a run to its end and close it."""
    trainer = Trainer(config, run_dir)
    try:
        trainer.train()
    finally:
        trainer.close()


def _exact(game="kuhn_poker"):
    spec = builtin_game(game)
    info = spec.info()
    config = load_config(CONFIGS / f"{game}.yaml", [])
    return ExactGame.of(spec, PolicyFactory.from_config(info, config.model)), spec, info


def test_only_two_player_zero_sum_game_trees_get_an_exact_view():
    exact, _, _ = _exact()
    assert exact is not None and exact.states.size == 12
    c4 = builtin_game("connect_four_v3")
    config = load_config(CONFIGS / "connect_four.yaml", [])
    assert ExactGame.of(c4, PolicyFactory.from_config(c4.info(), config.model)) is None
    # A recurrent policy's probabilities follow its state, not the information state alone.
    spec = builtin_game("kuhn_poker")
    lstm = load_config(CONFIGS / "kuhn_poker.yaml", ["model.recurrent={size: 8}"])
    assert ExactGame.of(spec, PolicyFactory.from_config(spec.info(), lstm.model)) is None


def test_a_networks_table_is_what_it_plays_in_the_env():
    exact, spec, info = _exact("leduc_poker")
    policy = exact.factory("main")
    table = exact.table(policy)
    np.testing.assert_allclose(table.sum(axis=1), 1.0, atol=1e-6)
    assert np.all(table[~exact.states.mask] == 0)
    env = GameEnv(spec, info)
    env.reset(seed=3)
    checked = 0
    while env.acting():
        (agent,) = env.acting()
        obs, mask = env.observe(agent)
        key = env.unwrapped.state.information_state_string(int(agent[-1]))
        out = policy.act(obs[None], np.zeros(1, dtype=np.int64), mask[None])
        np.testing.assert_allclose(out.probs[0], table[exact.states.index[key]], atol=1e-5)
        env.step({agent: int(np.flatnonzero(mask)[-1])})  # raise while it can
        checked += 1
    assert checked >= 2


def test_training_scores_every_snapshot_exactly_and_logs_it_against_env_steps(tmp_path):
    config, run_dir = _kuhn(tmp_path)
    trainer = Trainer(config, run_dir)
    try:
        trainer.train()
        policy = trainer.learners["main"].policy
        final = trainer.scorer.exact.exploitability(trainer.scorer.exact.table(policy))
    finally:
        trainer.close()
    with Registry(run_dir) as reg:
        scores = reg.scores("exploitability")
        snaps = reg.snapshots()
    assert sorted(scores) == [s["id"] for s in snaps] == [1, 2, 3, 4]
    assert scores[4] == pytest.approx(final)
    assert all(0 <= v < 0.6 for v in scores.values())
    events = EventAccumulator(str(run_dir / TENSORBOARD_DIR)).Reload()
    points = events.Scalars("league/exploitability")
    assert [p.step for p in points] == [s["env_steps"] for s in snaps]
    assert [p.value for p in points] == pytest.approx([scores[s["id"]] for s in snaps])


def test_a_rollback_drops_the_scores_of_the_snapshots_it_drops(tmp_path):
    config, run_dir = _kuhn(tmp_path)
    _train(config, run_dir)
    with Registry(run_dir) as reg:
        reg.rollback_after(2)
        assert sorted(reg.scores("exploitability")) == [1, 2]
        with pytest.raises(KeyError):
            reg.set_score(4, "exploitability", 0.1)


def test_a_nash_pool_gets_exact_payoffs_between_all_its_snapshots(tmp_path):
    config, run_dir = _kuhn(tmp_path, "league.history=nash", "league.p_latest=0.5")
    trainer = Trainer(config, run_dir)
    try:
        trainer.train()
        sampler = trainer.samplers["main"]
        exact = trainer.scorer.exact
        tables = [trainer.scorer.table(sid) for sid in sampler.pool]
        weights = sampler.nash_weights()
    finally:
        trainer.close()
    assert sampler.method == "nash" and sampler.pool == [1, 2, 3, 4]
    assert all(not sampler.pairs_missing(sid) for sid in sampler.pool)
    np.testing.assert_allclose(sampler.payoff_matrix(), exact.payoffs(tables), atol=1e-9)
    assert sum(weights.values()) == pytest.approx(1.0)
    with Registry(run_dir) as reg:
        pop = population(exact, reg, league_snapshots(reg))
    np.testing.assert_allclose(pop.nash, list(weights.values()), atol=1e-6)
    assert pop.nash_exploitability <= max(pop.exploitability) + 1e-9


def test_a_nash_pool_of_a_game_without_a_tree_plays_games_for_its_payoffs(tmp_path):
    config = load_config(
        CONFIGS / "tictactoe.yaml",
        [
            *tiny_overrides("tictactoe"),
            "train.iterations=3",
            "train.snapshot_every=1",
            "train.rating_games=0",
            "league.history=nash",
            "league.nash_games=6",
        ],
    ).model_copy(update={"name": "ttt"})
    trainer = Trainer(config, new_run(config, tmp_path))
    try:
        trainer.train()
        sampler = trainer.samplers["main"]
    finally:
        trainer.close()
    assert sampler.pool == [1, 2, 3]
    assert all(sampler.pair_games(a, b) == 6 for a, b in [(1, 2), (1, 3), (2, 3)])
    with Registry(tmp_path / "ttt") as reg:
        pairs = [frozenset(m["participants"]) for m in reg.matches("eval")]
    assert pairs.count(frozenset({"main@3", "main@1"})) == 6
    assert trainer.scorer.exact is None


def test_the_population_of_one_policy_is_that_policy(tmp_path):
    config, run_dir = _kuhn(tmp_path, iterations=1)
    _train(config, run_dir)
    exact, _, _ = _exact()
    with Registry(run_dir) as reg:
        pop = population(exact, reg, [1])
        stored = reg.scores("exploitability")[1]
    assert pop.nash.tolist() == [1.0]
    assert pop.nash_exploitability == pytest.approx(stored)
    assert pop.uniform_exploitability == pytest.approx(stored)
    assert exploitability(exact.game, uniform_table(exact.states)) > stored - 0.5


def test_the_leaderboard_gives_nash_weights_and_stored_exploitability(tmp_path):
    config, run_dir = _kuhn(tmp_path, "train.rating_games=10")
    _train(config, run_dir)
    with Registry(run_dir) as reg:
        board = leaderboard(reg)
        stored = reg.scores("exploitability")
    rows = {r["player"]: r for r in board.rows}
    assert sum(r["nash"] for r in rows.values()) == pytest.approx(1.0)
    assert rows["main@2"]["exploitability"] == pytest.approx(stored[2])
    assert rows["random"]["exploitability"] is None
    assert all(-0.5 <= r["vs_nash"] - 0.5 <= 0.5 for r in rows.values())


def test_a_tree_too_big_is_refused_with_its_size_and_costs_a_run_nothing():
    from envs.openspiel import spec_for
    from league.config import ModelConfig
    from league.evaluation.exact import ExactGame
    from league.rollout import PolicyFactory

    spec = spec_for("dark_hex(num_rows=3,num_cols=3)", {})
    factory = PolicyFactory.from_config(spec.info(), ModelConfig())
    with pytest.raises(GameError, match="has more than 2,000,000 nodes"):
        ExactGame.load(spec, factory)
    assert ExactGame.of(spec, factory, seconds=0.5) is None  # a run's start: sized, not built
