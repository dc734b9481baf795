from __future__ import annotations

import numpy as np
import pytest
import torch

from agents import resolve_device
from conftest import CONFIGS, TINY_LEARNERS, tiny_overrides
from league.config import load_config
from league.store import (
    CHECKPOINT_FILE,
    Registry,
    RunError,
    load_checkpoint,
    load_run_config,
    new_run,
)
from league.training import Trainer


def _config(tmp_path, name="run", extra=(), algo="ppo"):
    overrides = [
        *tiny_overrides("connect_four", algo),
        "train.iterations=4",
        "train.snapshot_every=2",
        "train.checkpoint_every=2",
        "train.eval_every=2",
        *extra,
    ]
    config = load_config(CONFIGS / "connect_four.yaml", overrides)
    return config.model_copy(update={"name": name})


def _train(config, run_dir, *, resume=False, iterations=None, fresh_episodes_at=None):
    """Train; with `fresh_episodes_at` K, stop at iteration K, drop the episodes under way
    (all that a resumed run cannot restore) and go on in the same trainer."""
    trainer = Trainer(config, run_dir, resume=resume)
    try:
        if fresh_episodes_at is not None:
            trainer.train(iterations=fresh_episodes_at)
            trainer.runner.drop_episodes()
        summary = trainer.train(iterations=iterations)
        learner = trainer.learners["main"]
        weights = {k: v.clone() for k, v in learner.policy.state_dict().items()}
        pool = trainer.samplers["main"].state_dict()
        if config.learner.algo == "acer":  # its replay buffer and average network
            state = learner.state_dict()
            weights |= {f"average.{k}": v.clone() for k, v in state["average"].items()}
            weights |= {f"replay.{k}": torch.as_tensor(v) for k, v in state["replay"].items()}
        if config.learner.algo == "rnad":  # its averaged and regularisation networks
            state = learner.state_dict()
            for net in ("target", "reg", "prev_reg"):
                weights |= {f"{net}.{k}": v.clone() for k, v in state[net].items()}
            weights["steps"] = torch.tensor(state["steps"])
        return summary, weights, pool
    finally:
        trainer.close()


ANNEALED_LR = "learner.lr={start: 0.001, end: 0.0001, steps: 4}"


@pytest.mark.parametrize("algo", sorted(TINY_LEARNERS))
def test_resume_continues_counters_and_state_exactly(tmp_path, algo):
    # One run through 4 iterations (annealing the learning rate), that starts fresh
    # episodes after iteration 2 (the episodes under way are all a checkpoint lacks) ...
    straight_cfg = _config(tmp_path, "straight", [ANNEALED_LR], algo)
    straight_dir = new_run(straight_cfg, tmp_path)
    straight, w_straight, pool_straight = _train(straight_cfg, straight_dir, fresh_episodes_at=2)
    # ... and one stopped after 2 and resumed to 4 (for ACER: the same replay contents
    # and average network as well as the same weights; for R-NaD its averaged network,
    # both regularisation networks and its phase clock).
    cfg = _config(tmp_path, "resumed", [ANNEALED_LR], algo)
    run_dir = new_run(cfg, tmp_path)
    first, _, _ = _train(cfg, run_dir, iterations=2)
    assert first["iterations"] == 2
    state = load_checkpoint(run_dir / CHECKPOINT_FILE)
    assert state["counters"]["iteration"] == 2
    assert state["counters"]["env_steps"] == first["env_steps"]
    resumed, w_resumed, pool_resumed = _train(load_run_config(run_dir), run_dir, resume=True)

    assert resumed["iterations"] == straight["iterations"] == 4
    assert resumed["env_steps"] == straight["env_steps"]
    assert resumed["episodes"] == straight["episodes"]
    assert resumed["gamma"] == pytest.approx(straight["gamma"])
    assert pool_resumed == pool_straight
    assert w_resumed.keys() == w_straight.keys()
    for key, value in w_straight.items():
        torch.testing.assert_close(w_resumed[key], value)
    with Registry(run_dir) as reg:
        snaps = reg.snapshots()
        assert [s["iteration"] for s in snaps] == [2, 4]
        assert snaps[1]["parent"] == snaps[0]["id"]
        assert reg.integrity_ok()


def test_resume_drops_registry_rows_written_after_the_checkpoint(tmp_path):
    cfg = _config(tmp_path, extra=["train.checkpoint_every=100"])
    run_dir = new_run(cfg, tmp_path)
    trainer = Trainer(cfg, run_dir)
    try:
        trainer.train(iterations=2)
        trainer.checkpoint()  # at iteration 2
        trainer.iterate()
        trainer.iterate()  # iteration 4 registers a snapshot, no checkpoint follows
        assert len(trainer.registry.snapshots()) == 2
    finally:
        # Simulate a crash: close without the final checkpoint (the OS drops the lock).
        trainer.writer.close()
        trainer.runner.close()
        trainer.registry.close()
        trainer.lock.release()
    trainer = Trainer(load_run_config(run_dir), run_dir, resume=True)
    try:
        assert trainer.counters.iteration == 2
        assert [s["iteration"] for s in trainer.registry.snapshots()] == [2]
        assert trainer.samplers["main"].pool == [trainer.registry.snapshots()[0]["id"]]
        assert max(m["iteration"] for m in trainer.registry.matches()) <= 2
    finally:
        trainer.close()


def test_new_run_refuses_to_overwrite_and_resume_needs_a_run(tmp_path):
    cfg = _config(tmp_path)
    new_run(cfg, tmp_path)
    with pytest.raises(RunError, match="already holds a run"):
        new_run(cfg, tmp_path)
    with pytest.raises(RunError, match="not a run directory"):
        load_run_config(tmp_path / "nothing-here")


def test_training_metrics_are_namespaced_and_logged(tmp_path):
    cfg = _config(tmp_path)
    run_dir = new_run(cfg, tmp_path)
    trainer = Trainer(cfg, run_dir)
    try:
        metrics = trainer.iterate()
        metrics.update(trainer.iterate())
    finally:
        trainer.close()
    for key in (
        "losses/policy_loss",
        "losses/value_loss",
        "losses/entropy",
        "losses/approx_kl",
        "losses/clipfrac",
        "charts/SPS",
        "charts/gamma",
        "charts/tau",
        "charts/episode_length",
        "rewards/env",
        "league/win_rate_vs_latest",
        "league/win_rate_vs_random",
        "league/staleness",
        "league/staleness_max",
        "losses/sample_reuse",
        "charts/stale_fragments",
    ):
        assert key in metrics, key
    # Synchronous: fresh steps are 0 versions old, those of the episodes an iteration left
    # under way 1.
    assert 0.0 <= metrics["league/staleness"] < metrics["league/staleness_max"] == 1.0
    assert metrics["charts/stale_fragments"] == 0.0
    # PPO passes over its batch once per epoch, less the rows short of a whole minibatch.
    assert 0.5 * cfg.learner.ppo.epochs < metrics["losses/sample_reuse"] <= cfg.learner.ppo.epochs
    assert 0.0 <= metrics["league/win_rate_vs_random"] <= 1.0
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    with Registry(run_dir) as reg:
        kinds = {m["kind"] for m in reg.matches()}
        assert kinds == {"train", "eval"}


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_precision_sets_the_learner_torso_and_the_players_act_in_float32(tmp_path, precision):
    cfg = _config(tmp_path, extra=[f"precision={precision}", "train.iterations=2"])
    summary, weights, _pool = _train(cfg, new_run(cfg, tmp_path))
    # device auto: the GPU where torch sees one (the learner only; the players stay on the CPU)
    assert summary["precision"] == precision and summary["device"] == resolve_device("auto").type
    assert summary["iterations"] == 2
    assert all(w.dtype == torch.float32 and torch.isfinite(w).all() for w in weights.values())
    trainer = Trainer(cfg, tmp_path / "run", resume=True)
    try:
        assert trainer.learners["main"].policy.torso_dtype == getattr(torch, precision)
        trainer.iterate()  # the players are built on the first rollout
        assert trainer.runner.pool.latest["main"].policy.torso_dtype == torch.float32
    finally:
        trainer.close()


def test_snapshots_evicted_from_a_bounded_pool_leave_the_runner(tmp_path):
    from matchmaking import PlayerId

    cfg = _config(tmp_path, extra=["league.max_pool=2", "train.snapshot_every=1"])
    trainer = Trainer(cfg, new_run(cfg, tmp_path))
    try:
        trainer.train()
        kept = {PlayerId.of_snapshot("main", sid) for sid in trainer.samplers["main"].pool}
        assert len(kept) == 2
        assert set(trainer.runner.pool.weights) == kept
        assert set(trainer.runner.pool._cache) <= kept
        assert len(trainer.registry.snapshots()) == 4  # all still on disk
    finally:
        trainer.close()


def test_learning_rate_and_entropy_bonus_follow_their_schedules(tmp_path):
    ent = "learner.ent_coef={start: 0.02, end: 0.0, steps: 2}"
    cfg = _config(tmp_path, extra=[ANNEALED_LR, ent, "train.eval_every=0"])
    trainer = Trainer(cfg, new_run(cfg, tmp_path))
    learner = trainer.learners["main"]
    handed = []  # what the trainer hands the learner each iteration
    update = learner.update
    learner.update = lambda batch, params: handed.append(params) or update(batch, params)
    try:
        seen, ents = [], []
        for _ in range(3):
            metrics = trainer.iterate()
            group_lr = learner.optimizer.param_groups[0]["lr"]
            assert metrics["charts/lr"] == group_lr == handed[-1].lr
            assert metrics["charts/ent_coef"] == handed[-1].ent_coef
            assert metrics["charts/gamma"] == handed[-1].gamma
            seen.append(group_lr)
            ents.append(metrics["charts/ent_coef"])
    finally:
        trainer.close()
    # linear from 1e-3 to 1e-4 over 4 iterations, read at iterations 0, 1, 2
    np.testing.assert_allclose(seen, [0.001, 0.000775, 0.00055])
    np.testing.assert_allclose(ents, [0.02, 0.01, 0.0], atol=1e-12)


def test_history_quality_scores_drop_for_beaten_snapshots(tmp_path):
    cfg = _config(tmp_path, extra=["league.p_latest=0.0", "train.snapshot_every=1"])
    run_dir = new_run(cfg, tmp_path)
    trainer = Trainer(cfg, run_dir)
    try:
        trainer.iterate()  # snapshot 1 enters the pool
        # Every opponent drawn from now on is a snapshot; the quality scores are updated
        # as those episodes end (some in the iteration after the one they started in).
        trainer.iterate()
        trainer.iterate()
        scores = trainer.samplers["main"].scores()
    finally:
        trainer.close()
    assert len(scores) == 3
    assert min(scores.values()) < 0.0
    assert np.isfinite(list(scores.values())).all()


@pytest.mark.parametrize("bot", ["random", "tactical"])  # tactical: connect four's own
def test_bot_games_are_played_recorded_and_scored_apart(tmp_path, bot):
    extra = ["league.p_latest=0.0", "train.snapshot_every=1", f"league.bots={{{bot}: 1.0}}"]
    cfg = _config(tmp_path, extra=extra)
    run_dir = new_run(cfg, tmp_path)
    trainer = Trainer(cfg, run_dir)
    try:
        first = trainer.iterate()  # no history yet: latest against latest
        # Every history draw goes to the random bot (the games of the first iteration
        # still under way end in the next one or two).
        later = [trainer.iterate() for _ in range(3)]
        scores = trainer.samplers["main"].scores()
    finally:
        trainer.close()
    assert "league/win_rate_vs_latest" in first and "league/win_rate_vs_bots" not in first
    assert "league/win_rate_vs_bots" in later[0]
    assert not any("league/win_rate_vs_history" in m for m in later)
    assert set(scores.values()) == {0.0}  # bot games change no quality score
    with Registry(run_dir) as registry:
        train = [m for m in registry.matches("train") if m["iteration"] == 4]
    assert train and all(bot in m["participants"] for m in train)


def test_ctrl_c_stops_between_iterations_with_a_consistent_checkpoint(tmp_path):
    import os
    import signal

    cfg = _config(tmp_path, extra=["train.iterations=50", "train.eval_every=0"])
    run_dir = new_run(cfg, tmp_path)
    trainer = Trainer(cfg, run_dir)
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN under nohup, else Python's default
    try:
        # Ctrl-C after iteration 2 (the loop only reads the flag between iterations).
        summary = trainer.train(
            on_iteration=lambda _m: (
                trainer.counters.iteration == 2 and os.kill(os.getpid(), signal.SIGINT)
            )
        )
    finally:
        trainer.close()
    assert summary["interrupted"] is True and summary["iterations"] == 2
    saved = load_checkpoint(run_dir / CHECKPOINT_FILE)["counters"]
    assert saved["iteration"] == 2 and saved["env_steps"] == summary["env_steps"]
    assert signal.getsignal(signal.SIGINT) == before  # the trainer's handler is removed


def _resume_with(run_dir, *overrides):
    """A trainer resuming `run_dir` with `--set` overrides (closed by the caller)."""
    from league.store import load_run_config

    return Trainer(load_run_config(run_dir, list(overrides)), run_dir, resume=True)


def test_a_resumed_run_takes_a_changed_p_latest_and_refuses_a_changed_history(tmp_path):
    """`league train --resume RUN --set league.p_latest=0.5` samples with 0.5 (before, the
    checkpoint's value silently won); a change the pool cannot follow is refused by name."""
    from league.config import ConfigError

    config = load_config(
        CONFIGS / "connect_four.yaml",
        [*tiny_overrides("connect_four"), "league.p_latest=0.8", "league.history=quality"],
    ).model_copy(update={"name": "resume-settings"})
    run_dir = new_run(config, tmp_path)
    trainer = Trainer(config, run_dir)
    try:
        trainer.train()
        pool = len(trainer.samplers["main"])
    finally:
        trainer.close()
    assert pool >= 2

    trainer = _resume_with(run_dir, "league.p_latest=0.5", "league.quality_lr=0.05")
    try:
        sampler = trainer.samplers["main"]
        assert sampler.p_latest == 0.5 and sampler.state_dict()["quality_lr"] == 0.05
        assert len(sampler) == pool  # the pool and its scores kept
    finally:
        trainer.close()
    trainer = _resume_with(run_dir)  # without --set: the run's own settings
    try:
        assert trainer.samplers["main"].p_latest == 0.8
    finally:
        trainer.close()

    with pytest.raises(ConfigError, match=r"league.history cannot change from quality to pfsp"):
        _resume_with(run_dir, "league.history=pfsp")
    with pytest.raises(ConfigError, match=rf"league.max_pool 1 is below the {pool} snapshots"):
        _resume_with(run_dir, "league.max_pool=1")
    _resume_with(run_dir).close()  # the refusals took no lock and changed nothing
