"""A league of main agents and exploiters: training, lineage, namespaces, exact resume."""

from __future__ import annotations

import pytest
import torch

from conftest import CONFIGS, tiny_overrides
from league.config import ConfigError, load_config
from league.store import CHECKPOINT_FILE, Registry, load_checkpoint, load_run_config, new_run
from league.training import Trainer

LEAGUE = [
    "league.agents.main_exploiters=1",
    "league.agents.league_exploiters=1",
    # Freeze on the step budget within an iteration or two, whatever the win rates.
    "league.agents.freeze.max_steps=10",
    "league.agents.league_exploiter_reset=0.5",
    # The opponent mix these tiny runs were written with (connect four's default before
    # it took the 80/20): with it every agent learns in each of their few iterations.
    "league.p_latest=0.5",
    "league.history=uniform",
    "league.bots={scripted: 0.8, random: 0.1}",
]


def _config(name, extra=()):
    overrides = [
        *tiny_overrides("connect_four"),
        "train.iterations=4",
        "train.snapshot_every=2",
        "train.checkpoint_every=2",
        "train.eval_every=2",
        *LEAGUE,
        *extra,
    ]
    return load_config(CONFIGS / "connect_four.yaml", overrides).model_copy(update={"name": name})


def _train(config, run_dir, *, resume=False, iterations=None, fresh_episodes_at=None):
    """Train; with `fresh_episodes_at` K, stop at iteration K, drop the episodes under way
    (all that a resumed run cannot restore) and go on in the same trainer."""
    trainer = Trainer(config, run_dir, resume=resume)
    seen: set[str] = set()  # every iteration's metric names
    try:
        if fresh_episodes_at is not None:
            trainer.train(iterations=fresh_episodes_at, on_iteration=seen.update)
            trainer.runner.drop_episodes()
        summary = trainer.train(iterations=iterations, on_iteration=seen.update)
        summary = {**summary, "seen_metrics": seen}
        weights = {
            f"{key}.{k}": v.clone()
            for key, learner in trainer.learners.items()
            for k, v in learner.policy.state_dict().items()
        }
        return summary, weights, trainer.league.state_dict()
    finally:
        trainer.close()


def test_every_kind_learns_freezes_and_resumes_exactly(tmp_path):
    straight_cfg = _config("straight")
    straight, w_straight, league_straight = _train(
        straight_cfg, new_run(straight_cfg, tmp_path), fresh_episodes_at=2
    )
    cfg = _config("resumed")
    run_dir = new_run(cfg, tmp_path)
    first, _, _ = _train(cfg, run_dir, iterations=2)
    assert load_checkpoint(run_dir / CHECKPOINT_FILE)["counters"]["iteration"] == 2
    resumed, w_resumed, league_resumed = _train(load_run_config(run_dir), run_dir, resume=True)

    # Every agent learned, in its own TensorBoard namespace.
    assert set(straight["agents"]) == {"main", "main/main_exploiter_0", "main/league_exploiter_0"}
    for key in straight["agents"]:
        assert any(m.startswith(f"losses/{key}/") for m in straight["seen_metrics"]), key
    # The exploiters froze (the step budget) and the main exploiter reset each time.
    agents = straight["agents"]
    assert agents["main/main_exploiter_0"]["freezes"] >= 2
    assert agents["main/main_exploiter_0"]["resets"] == agents["main/main_exploiter_0"]["freezes"]
    assert agents["main/league_exploiter_0"]["freezes"] >= 2
    # Resume restores every agent exactly: weights, counters, the league's state.
    assert resumed["agents"] == straight["agents"]
    assert resumed["env_steps"] == straight["env_steps"]
    assert league_resumed == league_straight
    assert w_resumed.keys() == w_straight.keys()
    for key, value in w_straight.items():
        torch.testing.assert_close(w_resumed[key], value, msg=key)

    with Registry(run_dir) as reg:
        snaps = reg.snapshots()
        assert reg.integrity_ok()
    kinds = {s["kind"] for s in snaps}
    assert kinds == {"main", "main_exploiter", "league_exploiter"}
    by_id = {s["id"]: s for s in snaps}
    mains = [s for s in snaps if s["kind"] == "main"]
    assert [s["iteration"] for s in mains] == [2, 4]
    assert mains[0]["parent"] is None and mains[1]["parent"] == mains[0]["id"]
    for s in snaps:
        assert s["role"] == "main"
        if s["parent"] is not None:  # a lineage never crosses agents
            assert by_id[s["parent"]]["agent"] == s["agent"]
    # A main exploiter restarts from fresh weights after each freeze: no parent.
    assert all(s["parent"] is None for s in snaps if s["kind"] == "main_exploiter")
    # Frozen exploiters joined the main agent's opponent pool.
    assert {s["id"] for s in snaps} <= set(_frozen_ids(league_resumed))


def _frozen_ids(league_state):
    """Snapshot ids of the league's frozen players."""
    return [int(p.partition("@")[2]) for p, _, _ in league_state["frozen"]]


def test_the_alphastar_mix_trains_main_agents_against_the_league(tmp_path):
    cfg = _config("alpha", ["league.agents.main_mix=alphastar", "train.iterations=3"])
    summary, _, league = _train(cfg, new_run(cfg, tmp_path))
    assert summary["iterations"] == 3
    assert league["frozen"]  # the exploiters' snapshots are there to be drawn
    assert summary["agents"]["main"]["kind"] == "main"


def test_a_reset_exploiter_starts_its_learning_rate_and_entropy_schedules_over(tmp_path):
    # Schedules that reach their end after one iteration; the main exploiter resets
    # after every iteration (its step budget), so it always learns at the start values.
    cfg = _config(
        "schedules",
        [
            "train.iterations=3",
            "learner.lr={start: 0.001, end: 0.0001, steps: 1}",
            "learner.ent_coef={start: 0.02, end: 0.002, steps: 1}",
        ],
    )
    trainer = Trainer(cfg, new_run(cfg, tmp_path))
    try:
        metrics = trainer.train()["metrics"]
        mx = "main/main_exploiter_0"
        assert trainer.league.resets[mx] >= 2
        assert trainer.league.started[mx] == 3  # reset after the last iteration
        assert metrics[f"league/lr/{mx}"] == pytest.approx(0.001)
        assert metrics["league/lr/main"] == pytest.approx(0.0001)  # the run's clock
        fresh, main = trainer.loop.step_params(mx), trainer.loop.step_params("main")
        assert (fresh.lr, fresh.ent_coef) == pytest.approx((0.001, 0.02))
        assert (main.lr, main.ent_coef) == pytest.approx((0.0001, 0.002))
        assert fresh.gamma == main.gamma  # the discount stays the run's
    finally:
        trainer.close()


def test_exploiters_restart_from_the_main_agents_weights(tmp_path):
    cfg = _config("restart", ["league.agents.restart_from=main", "train.iterations=2"])
    trainer = Trainer(cfg, new_run(cfg, tmp_path))
    try:
        initial = {k: v.clone() for k, v in trainer.learners["main"].policy.state_dict().items()}
        for agent in trainer.league.exploiters:  # the run starts them from main's weights
            for k, v in trainer.learners[agent.key].policy.state_dict().items():
                torch.testing.assert_close(v, initial[k], msg=k)
        summary = trainer.train()
        main = trainer.learners["main"].policy.state_dict()
        assert any(not torch.equal(main[k], initial[k]) for k in main)  # main learned
        agent = trainer.league.agent("main/main_exploiter_0")
        with torch.no_grad():
            for p in trainer.learners[agent.key].policy.parameters():
                p.add_(1.0)
        trainer.agents.reset(agent)
        # A reset copies main's current weights, with a fresh optimizer.
        restarted = trainer.learners[agent.key]
        for k, v in restarted.policy.state_dict().items():
            torch.testing.assert_close(v, main[k], msg=k)
        assert not restarted.optimizer.state_dict()["state"]
    finally:
        trainer.close()
    assert summary["agents"]["main/main_exploiter_0"]["resets"] >= 1


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("league.agents.restart_from=supervised", "restart_from"),
        ("league.agents.shares={main: 1.0, main_exploiter: 0}", "shares.main_exploiter"),
        ("league.agents.main_mix=rock", "main_mix"),
        ("league.agents.freeze.win_rate=1.5", "win_rate"),
    ],
)
def test_bad_league_agents_config_names_the_field(override, needle):
    with pytest.raises(ConfigError, match=needle):
        load_config(CONFIGS / "connect_four.yaml", [*LEAGUE, override])


def test_a_search_bot_sits_in_the_history(tmp_path):
    overrides = [*tiny_overrides("tictactoe"), "league.p_latest=0.0", "league.bots.mcts:4=1.0"]
    cfg = load_config(CONFIGS / "tictactoe.yaml", overrides).model_copy(update={"name": "m"})
    trainer = Trainer(cfg, new_run(cfg, tmp_path))
    try:
        metrics = trainer.iterate()
        metrics = trainer.iterate()  # the first iteration's pool was empty: all self-play
    finally:
        trainer.close()
    assert 0.0 <= metrics["league/win_rate_vs_bots"] <= 1.0


@pytest.mark.parametrize(
    ("config", "override", "needle"),
    [
        ("tictactoe", "league.bots.mcts:0=0.5", "mcts:0"),
        ("tictactoe", "league.bots.alphabeta=0.5", "league.bots.*no bot called 'alphabeta'"),
        ("simple_tag", "league.bots.mcts:8=0.5", "league.bots"),
    ],
)
def test_bad_bots_are_refused_with_the_key(tmp_path, config, override, needle):
    with pytest.raises(ConfigError, match=needle):  # at load, or when the game is built
        cfg = load_config(CONFIGS / f"{config}.yaml", [override]).model_copy(update={"name": "b"})
        Trainer(cfg, new_run(cfg, tmp_path))


def test_every_league_agent_has_its_own_reward_curves_in_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from league.store import TENSORBOARD_DIR

    config = _config("rewards", ["train.iterations=2"])
    run_dir = new_run(config, tmp_path)
    trainer = Trainer(config, run_dir)
    try:
        trainer.train()
        keys = list(trainer.learners)
    finally:
        trainer.close()
    assert len(keys) == 3  # the main agent and two exploiters
    tags = set(EventAccumulator(str(run_dir / TENSORBOARD_DIR)).Reload().Tags()["scalars"])
    for key in keys:  # before, one `rewards/shaped` curve: the last learner's
        assert f"rewards/shaped/{key}" in tags, sorted(t for t in tags if "rewards" in t)
        assert f"rewards/env/{key}" in tags
