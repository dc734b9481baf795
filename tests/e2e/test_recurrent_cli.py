"""Recurrent team policies through the real CLI: train on Ray workers, kill, resume,
evaluate, hold a tournament, export (the state in and out), play, and refusals."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest

from conftest import ROOT, cli_json, run_cli, tiny_overrides, train_then_kill
from examples.memory_game import MemoryGame
from league.store import Registry, load_checkpoint

pytestmark = pytest.mark.slow

MEMORY = ROOT / "examples" / "memory.yaml"
# The default connect-four head is spatial (feed-forward only): an LSTM core takes a dense one.
LSTM = ["--set", "model.action_head=dense"]
LSTM += ["--set", "model.recurrent={kind: lstm, size: 16, chunk_length: 4}"]


@pytest.mark.ray
def test_a_recurrent_run_on_ray_workers_is_killed_resumed_evaluated_and_exported(
    tmp_path, ray_cluster
):
    # The memory game with its recurrent config, fragments of 3 steps (8-step episodes:
    # most fragments start mid-episode), on two Ray workers; SIGKILL, then resume.
    run_dir = tmp_path / "m"
    sets = {
        "train.fragment_length": 3,
        "train.steps_per_iteration": 256,
        "train.envs": 4,
        "train.snapshot_every": 1,
        "train.checkpoint_every": 2,
        "train.eval_every": 1,
        "train.eval_episodes": 4,
        "model.recurrent.size": 16,
        "learner.ppo.minibatch_size": 64,
    }
    args = ["train", str(MEMORY), "--runs-dir", str(tmp_path), "--name", "m"]
    args += [arg for key, value in sets.items() for arg in ("--set", f"{key}={value}")]
    args += ["--address", ray_cluster, "--workers", "2", "--iterations", "1000"]
    saved = train_then_kill(args, run_dir, at_iteration=4)["counters"]
    target = saved["iteration"] + 2
    resumed = cli_json(
        "train", "--resume", str(run_dir), "--iterations", str(target),
        "--address", ray_cluster, "--workers", "2",
    )  # fmt: skip
    assert resumed["iterations"] == target and resumed["env_steps"] > saved["env_steps"]
    with Registry(run_dir) as reg:
        assert reg.integrity_ok()
        assert [s["iteration"] for s in reg.snapshots()] == list(range(1, target + 1))
    assert load_checkpoint(run_dir / "checkpoint.safetensors")["counters"]["iteration"] == target

    scored = cli_json("eval", "latest", "random", "--run", str(run_dir), "--games", "20")
    assert scored["games"] == 20 and 0 <= scored["mean_return"] <= 2  # two agents a team
    table = cli_json("tournament", "--run", str(run_dir), "--top", "2", "--games", "4")
    assert len(table["leaderboard"]) == 3  # two snapshots and the random bot

    meta = cli_json(
        "export", "--run", str(run_dir), "--format", "onnx", "--out", str(tmp_path / "m.onnx")
    )
    assert meta["inputs"] == ["obs", "member", "mask", "state"] and meta["state_size"] == 32
    assert meta["outputs"] == ["probs", "value", "state_out"]
    # One episode through the exported file, the state fed back step by step.
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    game = MemoryGame(length=8, team_size=2)
    obs, _ = game.reset(seed=0)
    state = np.zeros((1, meta["state_size"]), np.float32)
    for _ in range(8):
        feeds = {
            "obs": obs["red_0"][None],
            "member": np.zeros(1, np.int64),
            "mask": np.ones((1, 2), bool),
            "state": state,
        }
        probs, value, new_state = session.run(None, feeds)
        assert probs.shape == (1, 2) and np.isclose(probs.sum(), 1.0)
        assert not np.array_equal(new_state, state)
        state = new_state
        obs, *_ = game.step({a: int(probs.argmax()) for a in game.agents})


def test_a_recurrent_trpo_agent_trains_and_plays_a_person_at_connect_four(tmp_path):
    # A turn-based game with a recurrent TRPO policy: trained through the CLI, resumed,
    # then played by a person through a pipe (`league play` carries its state).
    sets = [a for o in tiny_overrides("connect_four", "trpo") for a in ("--set", o)]
    common = ["--runs-dir", str(tmp_path), "--name", "r", *sets, *LSTM]
    first = cli_json("train", "connect_four", *common)
    assert first["learner"] == "trpo"
    resumed = cli_json("train", "--resume", str(tmp_path / "r"), "--iterations", "3")
    assert resumed["iterations"] == 3
    moves = "\n".join(str(c) for c in range(1, 8) for _ in range(6)) + "\n"
    proc = run_cli("play", "--run", str(tmp_path / "r"), input=moves)
    assert "against main@3" in proc.stdout and "recorded in" in proc.stdout
    # The README's ONNX example plays the exported recurrent agent, carrying its state.
    out = tmp_path / "r.onnx"
    cli_json("export", "--run", str(tmp_path / "r"), "--format", "onnx", "--out", str(out))
    example = [sys.executable, "examples/onnx_connect_four.py", str(out), "--games", "4"]
    played = subprocess.run(example, cwd=ROOT, capture_output=True, text=True, check=True)
    assert 0 <= json.loads(played.stdout)["score"] <= 1


def test_acer_with_a_recurrent_policy_is_refused_at_config_load(tmp_path):
    proc = run_cli(
        "train", "connect_four", "--runs-dir", str(tmp_path),
        "--set", "learner.algo=acer", *LSTM, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "learner.algo 'acer' cannot train a recurrent policy" in proc.stderr
    assert not (tmp_path / "connect_four").exists()
