"""Plug in PettingZoo games by config alone: the README example and games beyond the built-ins."""

from __future__ import annotations

import re
import shlex
import shutil

import pytest
import yaml

from conftest import ROOT, cli_json, run_cli
from league.store import Registry

pytestmark = pytest.mark.slow

TINY = [
    "--set",
    "train.workers=0",
    "--set",
    "train.snapshot_every=1",
    "--set",
    "train.eval_every=1",
    "--set",
    "train.eval_episodes=2",
    "--set",
    "train.rating_games=2",
    "--set",
    "learner.ppo.epochs=1",
    "--set",
    "learner.ppo.minibatch_size=64",
]


def readme_commands(section: str) -> list[str]:
    """Return the `league ...` lines of the bash blocks in a README section."""
    text = (ROOT / "README.md").read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", body, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.startswith("league ")]


def test_readme_add_your_own_game_commands_work_verbatim(tmp_path):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    commands = readme_commands("Add your own game")
    assert len(commands) >= 4
    for command in commands:
        run_cli(*shlex.split(command)[1:], cwd=tmp_path)
    with Registry(tmp_path / "runs" / "tug_of_war") as reg:
        assert len(reg.snapshots()) >= 1
        assert reg.matches("eval")
    written = yaml.safe_load((tmp_path / "my_game.yaml").read_text())
    assert written["game"]["env"] == "examples.tug_of_war:parallel_env"


@pytest.mark.parametrize(
    "config,budget",
    [
        ("leduc_holdem", ["train.steps_per_iteration=128", "train.envs=4"]),
        (
            "pistonball",
            ["train.steps_per_iteration=60", "train.envs=1", "game.kwargs.max_cycles=10"],
        ),
        ("simple_world_comm", ["train.steps_per_iteration=120", "train.envs=2"]),
        ("pong", ["train.steps_per_iteration=32", "train.envs=1", "game.kwargs.max_cycles=16"]),
        (
            "multiwalker",
            ["train.steps_per_iteration=60", "train.envs=1", "game.kwargs.max_cycles=10"],
        ),
    ],
)
def test_example_games_train_snapshot_and_evaluate(config, budget, tmp_path):
    sets = [arg for b in budget for arg in ("--set", b)]
    summary = cli_json(
        "train",
        str(ROOT / "examples" / "configs" / f"{config}.yaml"),
        "--runs-dir",
        str(tmp_path),
        "--iterations",
        "2",
        *TINY,
        *sets,
    )
    assert summary["iterations"] == 2 and summary["snapshots"] >= 2
    run_dir = tmp_path / config
    with Registry(run_dir) as reg:
        assert reg.integrity_ok()
        roles = {s["role"] for s in reg.snapshots()}
    cooperative = summary["mode"] == "cooperative"
    assert cooperative == (config in ("pistonball", "multiwalker"))
    if not cooperative and len(roles) == 1:
        out = cli_json("eval", "latest", "random", "--run", str(run_dir), "--games", "2")
        assert out["games"] == 2


@pytest.mark.parametrize(
    "env",
    ["mpe2.simple_world_comm_v3:parallel_env", "pettingzoo.classic.leduc_holdem_v4:env"],
)
def test_inspect_writes_a_config_that_trains_unchanged(env, tmp_path):
    path = tmp_path / "written.yaml"
    report = cli_json("inspect", env, "--write-config", str(path), cwd=tmp_path)
    assert report["api_test"] == "passed"
    assert report["config_written"] == str(path)
    before = path.read_text()
    summary = cli_json(
        "train",
        str(path),
        "--runs-dir",
        str(tmp_path),
        "--iterations",
        "1",
        "--workers",
        "0",
        cwd=tmp_path,
    )
    assert summary["iterations"] == 1
    assert path.read_text() == before


def test_inspect_reports_what_it_detects():
    report = cli_json("inspect", "mpe2.simple_world_comm_v3:parallel_env", "--episodes", "1")
    assert report["api"] == "parallel"
    assert report["teams"]["adversary"][0] == "leadadversary_0"
    assert report["symmetric"] is False
    assert report["preprocessing"] == ["pad_observations", "pad_action_space"]
    assert report["episode_length"]["max"] == 25
    assert report["raw_steps_per_s"] > 0
    single = cli_json(
        "inspect",
        "pettingzoo.sisl.multiwalker_v9:parallel_env",
        "--kwargs",
        '{"n_walkers": 2, "max_cycles": 5}',
        "--episodes",
        "1",
    )
    assert single["mode"].startswith("cooperative")
    proc = run_cli("inspect", "tests.fixtures.odd_games:text_observation", check=False)
    assert proc.returncode == 2 and "observation space Text(1, 5" in proc.stderr
    multi = cli_json("inspect", "tests.fixtures.odd_games:multidiscrete", "--episodes", "1")
    assert multi["spaces"]["red"]["actions"] == "MultiDiscrete[3, 2]"
