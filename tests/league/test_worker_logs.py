"""What Ray rollout workers log reaches the run's league.log through the driver, never
the terminal; and a worker writes no file of the run (its machine may not have one)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from conftest import run_cli
from league.config import ModelConfig, parse_config
from league.game_config import resolve_game
from league.rollout import PolicyFactory, RolloutRequest, RolloutResult, make_runner
from league.rollout.loop import TRACEBACKS
from matchmaking import PlayerId, VersusMatchmaker

pytestmark = pytest.mark.ray


@pytest.mark.slow
def test_an_env_that_always_raises_on_workers_ends_in_one_plain_message(tmp_path):
    # The run starts its own Ray, as a user's does (joining a cluster shows Ray's notice).
    config = tmp_path / "broken.yaml"
    config.write_text(
        "game: {name: broken, env: 'tests.fixtures.flaky_game:always_raises', teams: "
        "{player_0: [player_0], player_1: [player_1]}}\n"  # given: no random play to infer them
        "train: {workers: 2, iterations: 3, steps_per_iteration: 32, envs: 2}\n"
    )
    proc = run_cli("train", str(config), "--runs-dir", str(tmp_path), check=False)
    assert proc.returncode == 2, proc.stderr
    # No Ray-prefixed worker lines, no colour codes, no "[repeated 137x across cluster]".
    assert "\x1b[" not in proc.stderr and "repeated" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("league: error: game 'broken': the env raised 101 times")
    log = (tmp_path / "broken" / "league.log").read_text()
    # The worker's warnings and full tracebacks, written by the driver.
    assert log.count("env copy 0 of broken raised RuntimeError: injected env failure") >= 2
    assert "rollout worker 0 (pid " in log or "rollout worker 1 (pid " in log
    assert "Traceback (most recent call last)" in log and "flaky_game.py" in log


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _flaky_rollout(log_file: Path | None = None) -> tuple[RolloutResult, int]:
    """12 random-bot games of a connect four that raises every 53 steps, on one Ray
    worker; the result and the worker restarts."""
    teams = {"player_0": ["player_0"], "player_1": ["player_1"]}  # given: no random play
    game = {"name": "flaky", "env": "tests.fixtures.flaky_game:flaky_connect_four"}
    config = parse_config({"game": {**game, "kwargs": {"every": 53}, "teams": teams}}, source="t")
    spec = resolve_game(config, source="t")
    info = spec.info()
    factory = PolicyFactory(info, ModelConfig(hidden=[16]))
    runner = make_runner(spec, info, factory, workers=1, envs=2, log_file=log_file)
    try:
        random = PlayerId.of_bot("random")
        result = runner.run(
            RolloutRequest(VersusMatchmaker(info, random, random), seed=0, episodes=12)
        )
    finally:
        runner.close()
    assert 0 < len(result.episodes) <= 12
    assert result.env_errors >= 1  # 12 games of at least 7 moves: 53 steps are taken
    return result, runner.restarts


@pytest.mark.parametrize("run_dir", ["absent", "present"])
def test_a_worker_writes_no_file_of_the_run_and_its_log_comes_back(tmp_path, ray_cluster, run_dir):
    # "absent": the driver's run directory is not on the worker's machine (it used to
    # die at start-up opening league.log there); "present": it is, and stays untouched.
    run = tmp_path / "runs" / "flaky"
    if run_dir == "present":
        run.mkdir(parents=True)
    handler = _Records()
    TRACEBACKS.addHandler(handler)  # what a Trainer adds: its league.log
    try:
        result, restarts = _flaky_rollout(run / "league.log")
    finally:
        TRACEBACKS.removeHandler(handler)
    assert restarts == 0
    assert set(tmp_path.rglob("*")) == ({run.parent, run} if run_dir == "present" else set())
    warnings = [m for m in handler.messages if "raised RuntimeError: injected" in m]
    assert len(warnings) == result.env_errors
    assert all(m.startswith("rollout worker 0 (pid ") for m in handler.messages)
    assert any("Traceback (most recent call last)" in m for m in handler.messages)


def test_without_a_run_log_worker_warnings_are_logged_as_in_the_driver(ray_cluster, caplog):
    # `league eval --workers N` has no league.log: the workers' warnings are the
    # driver's, as in the serial path (plain lines, no Ray prefix).
    with caplog.at_level(logging.WARNING):
        result, _ = _flaky_rollout()
    warnings = [r.getMessage() for r in caplog.records if r.name == "league.rollout.loop"]
    assert len(warnings) == result.env_errors
    assert all(
        m.startswith("rollout worker 0 (pid ") and "raised RuntimeError" in m for m in warnings
    )
