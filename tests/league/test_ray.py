"""Rollouts on Ray workers: training, faults, and agreement with the serial path."""

from __future__ import annotations

import os
import signal
import threading

import pytest
import ray

from conftest import CONFIGS, tiny_overrides
from league.config import ModelConfig, load_config
from league.rollout.ray_workers import RayRunner
from league.store import Registry, new_run
from league.training import Trainer

pytestmark = pytest.mark.ray


def SNAP(i: int):
    """Snapshot i of role main."""
    from matchmaking import PlayerId

    return PlayerId.of_snapshot("main", i)


def _config(name: str, *extra: str, game: str = "connect_four"):
    overrides = [*tiny_overrides(game), "train.workers=2", "train.iterations=3", *extra]
    config = load_config(CONFIGS / f"{game}.yaml", overrides)
    return config.model_copy(update={"name": name})


def _run(config, tmp_path, *, on_iteration=None, address=None):
    run_dir = new_run(config, tmp_path)
    trainer = Trainer(config, run_dir, address=address)
    try:
        summary = trainer.train(
            on_iteration=lambda m: on_iteration(trainer, m) if on_iteration else None
        )
    finally:
        trainer.close()
    return summary, run_dir


@pytest.mark.parametrize("game", ["connect_four", "simple_tag"])
def test_two_ray_workers_train_turn_based_and_simultaneous_games(game, tmp_path, ray_cluster):
    summary, run_dir = _run(_config(game, game=game), tmp_path, address=ray_cluster)
    assert summary["workers"] == 2
    assert summary["iterations"] == 3
    assert summary["worker_restarts"] == 0
    with Registry(run_dir) as reg:
        assert len(reg.snapshots()) == 3 * (1 if game == "connect_four" else 2)
        assert reg.integrity_ok()


MODES = pytest.mark.parametrize(
    "mode", ["train.async=false", "train.async=true"], ids=["sync", "async"]
)


@MODES
def test_a_killed_worker_is_replaced_and_the_run_finishes(tmp_path, ray_cluster, mode):
    config = _config("killed", "train.iterations=4", "train.steps_per_iteration=2000", mode)
    killed = []

    def kill_one(trainer, _metrics):
        if trainer.counters.iteration == 1:
            pid = ray.get(trainer.runner.workers[0].pid.remote())
            # Kill it shortly after the next iteration has started on it.
            timer = threading.Timer(0.3, os.kill, (pid, signal.SIGKILL))
            timer.start()
            killed.append(pid)

    summary, _ = _run(config, tmp_path, on_iteration=kill_one)
    assert killed
    assert summary["iterations"] == 4
    assert summary["worker_restarts"] >= 1
    assert summary["metrics"]["charts/worker_restarts"] >= 1


@MODES
def test_an_env_that_raises_is_rebuilt_and_the_run_goes_on(tmp_path, ray_cluster, mode):
    config = _config(
        "flaky",
        mode,
        "game.name=flaky",
        "game.env=tests.fixtures.flaky_game:flaky_connect_four",
        "game.kwargs.every=53",
        "game.action_axes=[1]",  # for the default spatial head: actions name columns
        "league.bots={}",  # a plugged-in game has no scripted bot
    )
    summary, _ = _run(config, tmp_path)
    assert summary["iterations"] == 3
    assert summary["env_errors"] >= 1
    assert summary["worker_restarts"] == 0  # handled inside the worker


def test_serial_and_ray_runs_agree_in_shape_and_bookkeeping(tmp_path, ray_cluster):
    serial, serial_dir = _run(_config("serial", "train.workers=0"), tmp_path / "a")
    spread, spread_dir = _run(_config("spread"), tmp_path / "b")
    assert serial["workers"] == 0 and spread["workers"] == 2
    for key in ("iterations", "snapshots", "last_snapshot", "worker_restarts"):
        assert serial[key] == spread[key], key
    sampled = {f"league/win_rate_vs_{kind}" for kind in ("history", "latest", "bots")}  # if any
    assert set(serial["metrics"]) - sampled == set(spread["metrics"]) - sampled
    for summary in (serial, spread):
        assert summary["env_steps"] >= 3 * 128
    with Registry(serial_dir) as a, Registry(spread_dir) as b:
        assert [s["iteration"] for s in a.snapshots()] == [s["iteration"] for s in b.snapshots()]
        assert {m["kind"] for m in a.matches()} == {m["kind"] for m in b.matches()}
        assert sum(m["kind"] == "train" for m in a.matches()) == serial["episodes"]
        assert sum(m["kind"] == "train" for m in b.matches()) == spread["episodes"]


def test_weights_are_put_once_per_iteration(monkeypatch, ray_cluster):
    from envs import builtin_game
    from league.rollout import PolicyFactory

    spec = builtin_game("tictactoe_v3")
    info = spec.info()
    factory = PolicyFactory(info, ModelConfig(hidden=[16]))
    runner = RayRunner(spec, info, workers=2, envs=2, factory=factory)
    puts = []
    real_put = ray.put
    monkeypatch.setattr(ray, "put", lambda obj: puts.append(obj) or real_put(obj))
    try:
        runner.set_latest({"main": factory("main").state_dict()}, version=1)
        runner.add_snapshots({SNAP(1): factory("main").state_dict()})
        runner.add_snapshots({SNAP(1): factory("main").state_dict()})  # already there
        assert len(puts) == 2
    finally:
        runner.close()


def test_evicted_snapshots_are_released_and_never_played(ray_cluster):
    from envs import builtin_game
    from league.rollout import PolicyFactory, RolloutRequest
    from matchmaking import PlayerId, VersusMatchmaker

    spec = builtin_game("tictactoe_v3")
    info = spec.info()
    factory = PolicyFactory(info, ModelConfig(hidden=[16]))
    runner = RayRunner(spec, info, workers=1, envs=2, factory=factory)

    def play(player):
        matchmaker = VersusMatchmaker(info, player, PlayerId.of_bot("random"))
        return runner.run(RolloutRequest(matchmaker, seed=0, episodes=2))

    try:
        runner.add_snapshots({SNAP(i): factory("main").state_dict() for i in (1, 2)})
        assert len(play(SNAP(1)).episodes) == 2  # the worker built and cached main@1
        runner.keep_snapshots({SNAP(2)})
        assert set(runner._snapshots) == {SNAP(2)}  # the only references to the weights
        assert len(play(SNAP(2)).episodes) == 2
        with pytest.raises(ray.exceptions.RayTaskError, match="main@1"):
            play(SNAP(1))  # gone from the worker's cache too, not just unreferenced
    finally:
        runner.close()


def test_evaluation_games_run_on_ray_workers(ray_cluster):
    from league.evaluation import Arena

    arena = Arena.open(None, "connect_four_v3")
    try:
        stats = arena.play(
            arena.resolve("scripted"), arena.resolve("random"), games=40, workers=2, seed=1
        )
        again = arena.play(  # the same two workers, kept by the arena
            arena.resolve("scripted"), arena.resolve("random"), games=40, workers=2, seed=1
        )
    finally:
        arena.close()  # the workers go with the arena
    assert stats.games == 40 and stats.score > 0.9
    assert again == stats  # a kept runner plays as a new one: every call is seeded


def test_async_mode_learns_stale_fragments_but_never_past_max_staleness(tmp_path, ray_cluster):
    config = _config(
        "async",
        "train.async=true",
        "train.max_staleness=1",
        "train.fragment_length=4",
        "train.iterations=6",
    )
    seen = []
    summary, run_dir = _run(
        config, tmp_path, address=ray_cluster, on_iteration=lambda t, m: seen.append(dict(m))
    )
    assert summary["async"] is True and summary["iterations"] == 6
    lags = [m["league/staleness_max"] for m in seen if "league/staleness_max" in m]
    assert lags and max(lags) <= 1  # never past max_staleness ...
    assert max(lags) == 1  # ... and the workers did collect while the learner learned
    # Steps of fragments begun two or more versions back were dropped, and counted.
    assert summary["stale_fragments"] == seen[-1]["charts/stale_fragments"]
    with Registry(run_dir) as reg:
        assert reg.integrity_ok()
        assert len(reg.snapshots()) == 6
