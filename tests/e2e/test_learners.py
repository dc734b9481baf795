"""Each learner (`learner.algo`) behind the same league, through the real CLI."""

from __future__ import annotations

import pytest

from conftest import CONFIGS, ROOT, TINY_LEARNERS, cli_json, run_cli, tiny_overrides
from league.store import Registry, load_checkpoint

pytestmark = pytest.mark.slow

ALGOS = sorted(TINY_LEARNERS)


def _sets(overrides: list[str]) -> list[str]:
    return [arg for o in overrides for arg in ("--set", o)]


@pytest.mark.ray
@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("game", ["connect_four", "simple_tag", "tug_of_war"])
def test_every_learner_trains_every_kind_of_game_on_ray_workers(algo, game, tmp_path, ray_cluster):
    # Turn-based with masks, simultaneous with two roles, and a team game.
    if game == "tug_of_war":
        config = str(ROOT / "examples" / "tug_of_war.yaml")
        overrides = [*tiny_overrides("tictactoe", algo), "train.steps_per_iteration=128"]
    else:
        config = str(CONFIGS / f"{game}.yaml")
        overrides = tiny_overrides(game, algo)
    overrides = [o for o in overrides if o != "train.workers=0"]
    summary = cli_json(
        "train",
        config,
        "--runs-dir",
        str(tmp_path),
        "--address",
        ray_cluster,
        "--workers",
        "2",
        *_sets(overrides),
    )
    assert summary["learner"] == algo and summary["workers"] == 2
    assert summary["iterations"] == 2 and summary["env_steps"] > 0
    losses = {k for k in summary["metrics"] if k.startswith("losses")}
    assert losses, summary["metrics"]
    run_dir = tmp_path / summary["run_dir"].rsplit("/", 1)[-1]
    with Registry(run_dir) as reg:
        assert reg.integrity_ok()
        assert len(reg.snapshots()) == 2 * len({s["role"] for s in reg.snapshots()})
        for snap in reg.snapshots():
            assert reg.load_snapshot(snap["id"])
    # The league's evaluation plays the learner's snapshot (Q head and all).
    out = cli_json("eval", "--run", str(run_dir), "latest", "random", "--games", "4")
    assert out["games"] == 4


@pytest.mark.parametrize("algo", ALGOS)
def test_ctrl_c_writes_a_checkpoint_exits_130_and_resume_continues(algo, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    run_dir = tmp_path / "int"
    overrides = [
        *tiny_overrides("tictactoe", algo),
        "train.iterations=100000",
        "train.checkpoint_every=100000",
        "train.eval_every=0",
        "train.snapshot_every=2",
        "train.rating_games=0",
    ]
    args = ["train", "tictactoe", "--runs-dir", str(tmp_path), "--name", "int", "--json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "league", *args, *_sets(overrides)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list((run_dir / "tb").glob("events.*")) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(4)  # a few iterations in
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    import json

    stopped = json.loads(out)
    assert stopped["interrupted"] and stopped["iterations"] >= 1
    # The exit checkpoint holds whole iterations only, as many as the summary says.
    saved = load_checkpoint(run_dir / "checkpoint.safetensors")["counters"]
    assert saved["iteration"] == stopped["iterations"]
    assert saved["env_steps"] == stopped["env_steps"]
    target = str(stopped["iterations"] + 2)
    resumed = cli_json("train", "--resume", str(run_dir), "--iterations", target)
    assert resumed["learner"] == algo and resumed["iterations"] == int(target)
    assert resumed["env_steps"] > stopped["env_steps"]


def test_a_learner_that_cannot_handle_the_action_space_fails_at_config_load(tmp_path):
    config = tmp_path / "md.yaml"
    config.write_text(
        "game: {name: md, env: 'tests.fixtures.odd_games:multidiscrete'}\nlearner: {algo: acer}\n"
    )
    proc = run_cli("train", str(config), "--runs-dir", str(tmp_path), check=False)
    assert proc.returncode == 2
    assert "md.yaml: key 'learner.algo': 'acer' cannot learn role" in proc.stderr
    assert "MultiDiscrete[3, 2]" in proc.stderr
    assert not (tmp_path / "md").exists()  # nothing was created


def _train_connect_four(algo: str, tmp_path, *model: str):
    """Train connect four 2 tiny iterations through the CLI with model overrides;
    return the run directory, its Arena and the latest snapshot's network."""
    from league.evaluation import Arena

    overrides = [*tiny_overrides("connect_four", algo), *model]
    summary = cli_json(
        "train", str(CONFIGS / "connect_four.yaml"), "--runs-dir", str(tmp_path), *_sets(overrides)
    )
    assert summary["iterations"] == 2
    run_dir = tmp_path / summary["run_dir"].rsplit("/", 1)[-1]
    arena = Arena.open(str(run_dir), None)
    net = arena.factory("main")
    net.load_state_dict(arena.weights[arena.resolve("latest")])
    return run_dir, arena, net


@pytest.mark.parametrize("algo", ALGOS)
def test_every_learner_trains_a_mirrored_network_that_stays_symmetric(algo, tmp_path):
    import numpy as np
    import torch

    run_dir, arena, net = _train_connect_four(algo, tmp_path, "model.mirror=true")
    swap = list(arena.info.mirror.actions)
    obs = torch.as_tensor(np.random.default_rng(0).integers(0, 2, (16, 6, 7, 2)), dtype=torch.int8)
    member, mask = torch.zeros(16, dtype=torch.long), torch.ones(16, 7, dtype=torch.bool)
    with torch.no_grad():
        (dist, value), (m_dist, m_value) = net(obs, member, mask), net(obs.flip(2), member, mask)
    # Trained, the policy is still the same on a board and its mirror image.
    assert torch.allclose(m_dist.probs, dist.probs[:, swap], atol=1e-5)
    assert torch.allclose(m_value, value, atol=1e-5)
    out = cli_json("eval", "--run", str(run_dir), "latest", "random", "--games", "4")
    assert out["games"] == 4


@pytest.mark.parametrize("algo", ALGOS)
def test_every_learner_trains_a_spatial_action_head(algo, tmp_path):
    import numpy as np
    import torch

    # Two layers: columns 2 and 3 see 2 columns to each side, all inside the board.
    spatial = ("model.action_head=spatial", "model.conv_layers=2")
    run_dir, _, net = _train_connect_four(algo, tmp_path, *spatial)
    assert net.spatial
    # Trained, the head still reads each column alike: one stone shifted by a column
    # shifts its column's logit (relative to column 6, whose surroundings are empty).
    boards = np.zeros((2, 6, 7, 2), np.int8)
    boards[0, 5, 2, 1] = boards[1, 5, 3, 1] = 1
    obs, member = torch.as_tensor(boards), torch.zeros(2, dtype=torch.long)
    with torch.no_grad():
        logits = net(obs, member)[0].logits
    assert torch.allclose(logits[0, 2] - logits[0, 6], logits[1, 3] - logits[1, 6], atol=1e-5)
    out = cli_json("eval", "--run", str(run_dir), "latest", "random", "--games", "4")
    assert out["games"] == 4


def test_rnad_trains_kuhn_and_snapshots_its_averaged_network(tmp_path):
    # R-NaD in self-play on Kuhn through the CLI: each snapshot is the averaged (target)
    # network, not the online one the workers act with, and is scored exactly.
    overrides = [
        *tiny_overrides("kuhn_poker", "rnad"),
        "league.p_latest=1.0",
        "learner.ent_coef=0",
        "train.snapshot_every=1",
        "train.checkpoint_every=1",
    ]
    args = ["train", "kuhn_poker", "--runs-dir", str(tmp_path), "--name", "k"]
    summary = cli_json(*args, "--iterations", "3", *_sets(overrides))
    assert summary["learner"] == "rnad" and summary["iterations"] == 3
    assert "losses/reg_kl" in summary["metrics"]
    run_dir = tmp_path / "k"
    learner = load_checkpoint(run_dir / "checkpoint.safetensors")["learners"]["main"]
    assert learner["steps"] >= 3 and {"target", "reg", "prev_reg"} <= set(learner)
    with Registry(run_dir) as reg:
        snaps = reg.snapshots()
        scores = reg.scores("exploitability")
        weights = reg.load_snapshot(snaps[-1]["id"])
    assert [s["iteration"] for s in snaps] == [1, 2, 3]
    assert sorted(scores) == [s["id"] for s in snaps]
    assert all(0.0 <= scores[s["id"]] < 0.5 for s in snaps)
    import torch

    for key, value in weights.items():
        torch.testing.assert_close(value, learner["target"][key])
    assert any(not torch.equal(learner["policy"][k], v) for k, v in weights.items())
