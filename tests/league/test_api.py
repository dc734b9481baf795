"""`league.api`: the Python functions the CLI is built on, and README's example."""

from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import ROOT, tiny_overrides
from league import api
from league.evaluation import EvalError


def test_readme_python_example_runs(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    block = re.search(
        r"runs as a test: tests/league/test_api.py -->\n```python\n(.*?)```", readme, re.S
    )
    assert block, "README's Python API example is gone"
    monkeypatch.chdir(tmp_path)  # its run goes to ./runs
    scope: dict = {}
    exec(compile(block.group(1), "README.md", "exec"), scope)
    assert scope["summary"].iterations == 3
    assert scope["stats"].games == 40
    assert {"random", "scripted"} <= set(scope["board"].players)
    assert (tmp_path / "runs" / "demo" / "league.db").exists()


@pytest.fixture(scope="session")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    summary = api.train(
        "connect_four", name="api", runs_dir=tmp, overrides=tiny_overrides("connect_four")
    )
    return summary


def test_train_returns_the_summary_and_resume_continues(run):
    assert run.iterations == 2 and run.game == "connect_four_v3"
    more = api.train(resume=run.run_dir, overrides=["train.iterations=3"])
    assert more.iterations == 3 and more.run_dir == run.run_dir


def test_evaluate_and_load_player_act_on_a_pettingzoo_game(run):
    from pettingzoo.classic import connect_four_v3

    stats = api.evaluate("scripted", "random", game="connect_four_v3", games=20, seed=3)
    assert stats.games == 20 and stats.score > 0.8
    player = api.load_player(run.run_dir, "latest")
    env = connect_four_v3.env()
    env.reset(seed=1)
    for _ in range(6):  # a few moves, each legal
        obs = env.observe(env.agent_selection)
        action = player.act(obs)
        assert obs["action_mask"][action] == 1
        env.step(action)
    masked = np.zeros(7, dtype=bool)
    masked[4] = True
    assert player.act(env.observe(env.agent_selection)["observation"], masked) == 4
    with pytest.raises(EvalError, match="not a snapshot"):
        api.load_player(run.run_dir, "random")


def test_train_refuses_a_bad_override_before_creating_a_run(tmp_path):
    from league.config import ConfigError

    with pytest.raises(ConfigError, match="p_latest"):
        api.train("connect_four", runs_dir=tmp_path, overrides=["league.p_latest=2"])
    assert not any(tmp_path.iterdir())


def test_the_api_speaks_api(run, tmp_path):
    """Its errors are importable from it, an existing run is named as the API resumes
    it, the results are typed, and the registry leaves no -wal/-shm files behind."""
    for name in ("ConfigError", "GameError", "RunError", "EvalError"):
        assert name in api.__all__ and issubclass(getattr(api, name), Exception)
    runs = run.run_dir.parent
    with pytest.raises(api.RunError, match=r"api\.train\(resume="):
        api.train("connect_four", name="api", runs_dir=runs)
    assert isinstance(run, api.RunSummary) and run.to_json()["run_dir"] == str(run.run_dir)
    assert not list(run.run_dir.glob("league.db-*"))
    board = api.table(run.run_dir)
    assert isinstance(board, api.Leaderboard)
    from league.store import Registry

    with Registry(run.run_dir, read_only=True) as registry:
        newest = registry.latest_snapshot()
    assert f"{newest['role']}@{newest['id']}" in {row["player"] for row in board.rows}


def test_api_never_imports_the_command_line():
    """`league.api` sits below `league.commands` (docs/architecture.md's layers)."""
    import subprocess
    import sys

    code = "import sys, league.api; print(any('league.commands' in m for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
