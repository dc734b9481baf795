"""Games of one team through the real CLI: a cooperative run is evaluated by its return, and
the teams that inspect reports are the teams that training trains."""

from __future__ import annotations

import pytest
import yaml

from conftest import cli_json, run_cli

pytestmark = pytest.mark.slow

TINY = [
    "--set",
    "train.workers=0",
    "--set",
    "train.steps_per_iteration=60",
    "--set",
    "train.envs=2",
    "--set",
    "train.snapshot_every=1",
    "--set",
    "learner.ppo.epochs=1",
    "--set",
    "learner.ppo.minibatch_size=32",
]


@pytest.fixture(scope="session")
def spread(tmp_path_factory):
    """A tiny run of mpe2's simple_spread (three agents, one cooperative team), with the
    config `league inspect` writes for it."""
    tmp = tmp_path_factory.mktemp("spread")
    config = tmp / "spread.yaml"
    env = "mpe2.simple_spread_v3:parallel_env"
    run_cli("inspect", env, "--kwargs", '{"max_cycles": 10}', "--write-config", str(config))
    summary = cli_json(
        "train", str(config), "--runs-dir", str(tmp), "--name", "spread", "--iterations", "2", *TINY
    )
    assert summary["mode"] == "cooperative" and summary["snapshots"] >= 2
    return tmp / "spread"


def _refused(*args: str) -> str:
    """Run a command that must refuse: exit 2, one line on stderr, no traceback."""
    proc = run_cli(*args, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    return proc.stderr


def test_eval_of_a_one_team_run_reports_each_players_mean_return(spread):
    out = cli_json("eval", "latest", "random", "--run", str(spread), "--games", "6")
    assert out["mode"] == "cooperative" and out["a"] == "main@2" and out["games"] == 6
    low, high = out["return_95ci"]
    assert low < out["mean_return"] < high and out["mean_length"] == 10
    assert "score" not in out and "wins" not in out  # nobody to win against
    baseline = out["baseline"]
    assert baseline["player"] == "random" and baseline["games"] == 6
    assert baseline["return_95ci"][0] < baseline["mean_return"] < baseline["return_95ci"][1]
    proc = run_cli("eval", "latest", "random", "--run", str(spread), "--games", "4")
    assert "has one team (cooperative)" in proc.stdout
    assert "main@2: mean return" in proc.stdout and "random: mean return" in proc.stdout


def test_tournament_of_a_one_team_run_ranks_players_by_mean_return(spread):
    out = cli_json("tournament", "--run", str(spread), "--games", "4")
    assert out["mode"] == "cooperative"
    rows = out["leaderboard"]
    assert {r["player"] for r in rows} == {"main@1", "main@2", "random"}
    returns = [r["mean_return"] for r in rows]
    assert returns == sorted(returns, reverse=True)
    assert all(r["games"] == 4 and len(r["return_95ci"]) == 2 for r in rows)
    assert [p.rsplit("/", 1)[-1] for p in out["plots"]] == ["return.png"]
    proc = run_cli("tournament", "--run", str(spread), "--games", "2")
    assert "mean return" in proc.stdout and "main@2" in proc.stdout


def test_commands_without_meaning_for_one_team_refuse_in_one_line(spread, tmp_path):
    assert "league tournament --run" in _refused("table", "--run", str(spread))
    assert "has one team (cooperative)" in _refused("play", "--run", str(spread))
    assert "no opponent to exploit" in _refused(
        "exploit", "--run", str(spread), "--iterations", "1"
    )
    gif = tmp_path / "spread.gif"
    proc = run_cli("replay", "latest", "random", "--run", str(spread), "--out", str(gif))
    assert proc.stdout.startswith("main@2 alone (one team): return ") and gif.exists()


def test_the_teams_inspect_reports_are_the_teams_a_run_trains_and_keeps(tmp_path):
    # Hanabi: every player shares one score, so one cooperative team, evaluated by return.
    config = tmp_path / "hanabi.yaml"
    report = cli_json("inspect", "pettingzoo.classic.hanabi_v5:env", "--write-config", str(config))
    assert report["teams"] == {"player": ["player_0", "player_1"]}
    summary = cli_json(
        "train", str(config), "--runs-dir", str(tmp_path), "--iterations", "1", *TINY
    )
    assert summary["mode"] == "cooperative"
    out = cli_json("eval", "latest", "random", "--run", summary["run_dir"], "--games", "2")
    assert out["mode"] == "cooperative" and out["baseline"]["player"] == "random"
    # simple_crypto, from a config without teams: the run saves the teams inferred at its
    # start (alice and bob against eve) and trains a policy for each.
    config = tmp_path / "crypto.yaml"
    crypto = {"name": "crypto", "game": {"name": "crypto", "env": "mpe2.simple_crypto_v3:env"}}
    config.write_text(yaml.safe_dump(crypto))
    report = cli_json("inspect", "mpe2.simple_crypto_v3:env", "--episodes", "1")
    summary = cli_json(
        "train", str(config), "--runs-dir", str(tmp_path), "--iterations", "1", *TINY
    )
    saved = yaml.safe_load((tmp_path / "crypto" / "config.yaml").read_text())
    assert (
        saved["game"]["teams"]
        == report["teams"]
        == {"eve": ["eve_0"], "bob_alice": ["bob_0", "alice_0"]}
    )
    assert set(summary["agents"]) == {"eve", "bob_alice"}
