"""Shared fixtures: tiny configs and a helper to run the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"

# Tests share two cores: keep torch from spawning a thread pool per process.
torch.set_num_threads(1)


TINY_LEARNERS = {
    "ppo": ["learner.ppo.minibatch_size=64", "learner.ppo.epochs=1"],
    "trpo": ["learner.algo=trpo", "learner.trpo.vf_iters=1", "learner.trpo.vf_minibatch_size=64"],
    "acer": ["learner.algo=acer", "learner.acer.replay_start=64", "learner.acer.replay_ratio=1"],
    "rnad": ["learner.algo=rnad", "learner.rnad.minibatch_size=64", "learner.rnad.phase_steps=2"],
}
"""Per learner: --set overrides that make its updates cheap."""


def rollout_setup(name: str, n_envs: int = 4, *, p_latest: float = 0.8, kwargs=None):
    """A built-in game (its env factory's `kwargs` updated) ready for `rollout()`: its
    info, a policy factory, a pool holding each role's fresh policy (version 3), an
    opponent sampler per role, `n_envs` env copies and an RNG."""
    import dataclasses

    import numpy as np

    from envs import GameEnv, builtin_game
    from league.config import ModelConfig
    from league.rollout import PlayerPool, PolicyFactory
    from matchmaking import OpponentSampler

    spec = builtin_game(name)
    if kwargs:
        spec = dataclasses.replace(spec, kwargs={**spec.kwargs, **kwargs})
    info = spec.info()
    factory = PolicyFactory(info, ModelConfig(hidden=[32]))
    rng = np.random.default_rng(0)
    pool = PlayerPool(factory, info=info, rng=rng)
    roles = sorted(set(info.roles.values()))
    torch.manual_seed(0)
    for role in roles:
        pool.set_latest(role, factory(role).state_dict(), version=3)
    samplers = {role: OpponentSampler(role=role, p_latest=p_latest) for role in roles}
    envs = [GameEnv(spec, info) for _ in range(n_envs)]
    return info, factory, pool, samplers, envs, rng


def tiny_overrides(game: str, algo: str = "ppo") -> list[str]:
    """Return --set overrides that make a built-in game's config train in seconds."""
    common = [
        "train.workers=0",
        "train.iterations=2",
        "train.snapshot_every=1",
        "train.checkpoint_every=1",
        "train.eval_every=1",
        "train.eval_episodes=2",
        *TINY_LEARNERS[algo],
    ]
    per_game = {
        "connect_four": ["train.steps_per_iteration=128", "train.envs=4"],
        "tictactoe": ["train.steps_per_iteration=64", "train.envs=4"],
        "kuhn_poker": ["train.steps_per_iteration=64", "train.envs=4"],
        "leduc_poker": ["train.steps_per_iteration=64", "train.envs=4"],
        "simple_tag": ["train.steps_per_iteration=100", "train.envs=2"],
        "battle": [
            "train.steps_per_iteration=96",
            "train.envs=1",
            "train.fragment_length=4",
            "game.kwargs.max_cycles=20",
        ],
        "volleyball_pong": [
            "train.steps_per_iteration=64",
            "train.envs=1",
            "game.kwargs.max_cycles=16",
        ],
    }
    return common + per_game[game]


def run_cli(
    *args: str, cwd: Path | None = None, check: bool = True, input: str | None = None
) -> subprocess.CompletedProcess:
    """Run `python -m league ...` in a subprocess, as a user would (`input`: its stdin)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "league", *args],
        cwd=cwd or ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        input=input,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"league {' '.join(args)} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def train_then_kill(args: list[str], run_dir: Path, *, at_iteration: int = 4) -> dict:
    """Start `league ARGS` (a training run), SIGKILL it a moment after its checkpoint holds
    `at_iteration` (somewhere inside a later iteration); return that checkpoint."""
    import signal
    import time

    from league.store import load_checkpoint

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "league", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ckpt = run_dir / "checkpoint.safetensors"
    try:
        deadline = time.monotonic() + 240
        while not (
            ckpt.exists() and load_checkpoint(ckpt)["counters"]["iteration"] >= at_iteration
        ):
            assert proc.poll() is None, f"league {' '.join(args)} exited {proc.returncode}"
            assert time.monotonic() < deadline, f"the run never reached iteration {at_iteration}"
            time.sleep(0.2)
        time.sleep(0.7)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return load_checkpoint(ckpt)


def cli_json(*args: str, cwd: Path | None = None) -> dict:
    """Run the CLI with --json and parse the one JSON object it prints."""
    proc = run_cli(*args, "--json", cwd=cwd)
    return json.loads(proc.stdout)


@pytest.fixture
def tiny():
    """Expose the tiny-override helper to tests."""
    return tiny_overrides


@pytest.fixture(scope="session")
def c4_run(tmp_path_factory):
    """A tiny connect-four run with three snapshots, trained through the CLI."""
    tmp = tmp_path_factory.mktemp("c4")
    sets = [arg for o in tiny_overrides("connect_four") for arg in ("--set", o)]
    cli_json(
        "train", "connect_four", "--runs-dir", str(tmp), "--name", "c4", "--iterations", "3", *sets
    )
    return tmp / "c4"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop_processes_naming(marks: tuple[str, ...]) -> None:
    """SIGTERM every process whose command line names one of `marks`, then SIGKILL what is
    left after 10 s. Unlike `ray stop`, this leaves other Ray clusters on the machine (a
    parallel test worker's) running."""
    import signal
    import time

    from netns import processes_naming

    def naming() -> list[int]:
        return [pid for pid in processes_naming(marks) if pid != os.getpid()]

    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        for pid in naming():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while naming() and time.monotonic() < deadline:
            time.sleep(0.2)


@pytest.fixture(scope="session")
def ray_cluster():
    """Start a real Ray cluster on loopback once per session: a head and a second node.

    The test process joins it with `ray.init(address)`; CLI subprocesses join with
    `--address`. Stopped at the end of the session: only its own processes (every one
    names its temp directory or its address), so that the other test worker's runs live.
    """
    import tempfile

    import ray

    os.environ["RAY_AUTH_MODE"] = "disabled"  # loopback test cluster: no token set-up
    ray_bin = str(Path(sys.executable).parent / "ray")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    temp_dir = tempfile.mkdtemp(prefix="lgt-", dir="/tmp")  # short: Unix socket paths
    common = ["--node-ip-address=127.0.0.1", "--disable-usage-stats"]
    try:
        subprocess.run(
            [
                ray_bin,
                "start",
                "--head",
                f"--port={port}",
                "--num-cpus=2",
                "--include-dashboard=false",
                f"--temp-dir={temp_dir}",
                *common,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [ray_bin, "start", f"--address={address}", "--num-cpus=1", *common],
            check=True,
            capture_output=True,
            timeout=120,
        )
        ray.init(address=address, log_to_driver=False)
        yield address
    finally:
        ray.shutdown()
        _stop_processes_naming((temp_dir, address))
        shutil.rmtree(temp_dir, ignore_errors=True)
