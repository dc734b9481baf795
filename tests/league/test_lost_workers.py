"""Workers that cannot be placed (a lost node's CPUs): the run carries on, stops with a
checkpoint, or honours a stop within seconds; never waits in silence.

A lost node is stood in for on the loopback cluster by a "squatter": an actor queued for
a CPU before a worker is killed, so that it takes the CPU the worker's replacement
needs. (`tests/e2e/test_cluster.py` loses a real node, in network namespaces.)
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import ray

from conftest import CONFIGS, tiny_overrides
from league.config import ModelConfig, load_config
from league.rollout import PolicyFactory, RolloutRequest, WorkersLost
from league.rollout.ray_workers import RayRunner
from league.store import Registry, load_checkpoint, new_run
from league.training import Trainer
from matchmaking import PlayerId, VersusMatchmaker

pytestmark = pytest.mark.ray

PLACEMENT = 8
"""Seconds a worker may take to be placed: enough for a worker process to start while
the other test process loads both cores, short for a test that waits it out."""


@ray.remote(num_cpus=1)
class Squatter:
    """Holds one CPU while it lives."""

    def ready(self) -> bool:
        return True


def _free_cpus() -> int:
    return int(ray.available_resources().get("CPU", 0))


def _all_cpus_free() -> None:
    """Wait until the actors of earlier tests have released their CPUs."""
    total = ray.cluster_resources().get("CPU", 0)
    for _ in range(300):
        if ray.available_resources().get("CPU", 0) >= total:
            return
        time.sleep(0.1)
    raise AssertionError(f"CPUs still held after 30 s: {ray.available_resources()}")


def _config(name: str, workers: int, *extra: str):
    overrides = [
        *tiny_overrides("connect_four"),
        f"train.workers={workers}",
        "train.iterations=4",
        "train.eval_every=0",
        "train.rating_games=0",
        *extra,
    ]
    return load_config(CONFIGS / "connect_four.yaml", overrides).model_copy(update={"name": name})


def _lose_worker_0(trainer, squatters):
    """Queue a squatter for the next free CPU, then kill worker 0: its replacement finds
    no CPU, as when its node is gone."""
    squatter = Squatter.remote()
    squatters.append(squatter)
    pid = ray.get(trainer.runner.workers[0].pid.remote())
    os.kill(pid, signal.SIGKILL)
    # The runner notices the death at its next call, after this returns: by then the
    # squatter holds the CPU.
    ray.get(squatter.ready.remote(), timeout=60)


@pytest.fixture
def squatters(ray_cluster):
    held: list = []
    _all_cpus_free()
    yield held
    _release(held)


def _release(held: list) -> None:
    """Kill the squatters (the lost node is back) and wait for their CPUs."""
    while held:
        ray.kill(held.pop())
    _all_cpus_free()


def test_a_worker_that_is_never_placed_is_given_up_and_the_others_play(squatters):
    from envs import builtin_game

    spec = builtin_game("tictactoe_v3")
    info = spec.info()
    factory = PolicyFactory(info, ModelConfig(hidden=[16]))
    free = _free_cpus()
    runner = RayRunner(
        spec, info, workers=free + 1, envs=2, factory=factory, placement_timeout=PLACEMENT
    )
    try:
        matchmaker = VersusMatchmaker(info, PlayerId.of_bot("random"), PlayerId.of_bot("random"))
        result = runner.run(RolloutRequest(matchmaker, seed=0, episodes=12))
        assert len(result.episodes) >= 12  # the lost worker's share was played by the others
        assert runner.lost == 1 and len(runner.workers) == free
        assert free not in runner.workers  # the last one asked for found no CPU
    finally:
        runner.close()


def test_a_worker_that_cannot_be_placed_with_stop_raises_naming_the_resources(squatters):
    from envs import builtin_game

    spec = builtin_game("tictactoe_v3")
    info = spec.info()
    factory = PolicyFactory(info, ModelConfig(hidden=[16]))
    free = _free_cpus()
    runner = RayRunner(
        spec,
        info,
        workers=free + 1,
        envs=2,
        factory=factory,
        placement_timeout=PLACEMENT,
        on_lost_worker="stop",
    )
    try:
        matchmaker = VersusMatchmaker(info, PlayerId.of_bot("random"), PlayerId.of_bot("random"))
        with pytest.raises(
            WorkersLost, match=rf"could not be placed within {PLACEMENT} s.*CPU.*free"
        ):
            runner.run(RolloutRequest(matchmaker, seed=0, episodes=12))
    finally:
        runner.close()


@pytest.mark.parametrize("mode", ["train.async=false", "train.async=true"], ids=["sync", "async"])
def test_a_lost_worker_that_cannot_be_replaced_leaves_the_run_going_on_the_rest(
    tmp_path, squatters, mode
):
    workers = _free_cpus()
    config = _config(
        "carry-on", workers, f"train.placement_timeout={PLACEMENT}", mode, "train.iterations=6"
    )
    run_dir = new_run(config, tmp_path)
    trainer = Trainer(config, run_dir)
    seen = []

    def on_iteration(metrics):
        seen.append(dict(metrics))
        if trainer.counters.iteration == 1:
            _lose_worker_0(trainer, squatters)
        # Async: the worker's death shows whenever its result was due (iteration 2 to
        # 4); once its replacement waits for a CPU, its deadline passes before the next
        # iteration, which gives it up.
        if trainer.counters.iteration >= 2 and trainer.runner._placing:
            time.sleep(PLACEMENT + 0.5)

    try:
        summary = trainer.train(on_iteration=on_iteration)
    finally:
        trainer.close()
    assert summary["iterations"] == 6
    assert summary["worker_restarts"] == 1 and summary["workers_lost"] == 1
    assert summary["workers"] == workers - 1
    assert seen[0]["charts/workers"] == workers and seen[-1]["charts/workers"] == workers - 1


def test_with_on_lost_worker_stop_the_run_stops_with_a_checkpoint_and_resumes(tmp_path, squatters):
    workers = _free_cpus()
    config = _config(
        "stop", workers, f"train.placement_timeout={PLACEMENT}", "train.on_lost_worker=stop"
    )
    run_dir = new_run(config, tmp_path)
    trainer = Trainer(config, run_dir)
    try:
        with pytest.raises(WorkersLost) as lost:
            trainer.train(
                on_iteration=lambda m: (
                    trainer.counters.iteration == 1 and _lose_worker_0(trainer, squatters)
                )
            )
    finally:
        trainer.close()
    message = str(lost.value)
    assert f"rollout worker 0 could not be placed within {PLACEMENT} s" in message
    assert "train.on_lost_worker is stop" in message
    assert f"league train --resume {run_dir}" in message
    counters = load_checkpoint(run_dir / "checkpoint.safetensors")["counters"]
    assert counters["iteration"] == 1 and counters["worker_restarts"] == 1

    _release(squatters)  # the node is back
    resumed = Trainer(config, run_dir, resume=True)
    try:
        assert len(resumed.runner.workers) == workers
        summary = resumed.train()
    finally:
        resumed.close()
    assert summary["iterations"] == 4 and summary["worker_restarts"] == 1
    with Registry(run_dir) as reg:
        assert reg.integrity_ok()


def test_a_stop_while_a_rollout_waits_for_a_lost_worker_ends_the_run_in_seconds(
    tmp_path, squatters
):
    """SIGTERM while the iteration waits for a worker that will never be placed (a
    placement timeout of 10 minutes): the iteration is dropped, a checkpoint written,
    and the replacement counted; before, the run waited forever."""
    workers = _free_cpus()
    config = _config("stuck", workers, "train.placement_timeout=600")
    run_dir = new_run(config, tmp_path)
    trainer = Trainer(config, run_dir)
    timers = []

    def on_iteration(metrics):
        if trainer.counters.iteration == 1:
            _lose_worker_0(trainer, squatters)
            timers.append(threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGTERM)))
            # A watchdog: a second SIGTERM aborts a run that ignored the first.
            timers.append(threading.Timer(120.0, os.kill, (os.getpid(), signal.SIGTERM)))
            for timer in timers:
                timer.start()

    try:
        summary = trainer.train(on_iteration=on_iteration)
    finally:
        for timer in timers:
            timer.cancel()
        trainer.close()
    assert summary["stopped_by"] == "SIGTERM" and not summary["aborted"]
    assert summary["iterations"] == 1  # the stuck one was dropped, not half kept
    assert summary["worker_restarts"] == 1  # counted though its iteration never finished
    counters = load_checkpoint(run_dir / "checkpoint.safetensors")["counters"]
    assert counters["iteration"] == 1 and counters["worker_restarts"] == 1
