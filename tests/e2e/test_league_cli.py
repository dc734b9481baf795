"""The league through the real CLI: all three kinds on Ray workers, killed and resumed;
their lineage in `league table`; `league exploit` against the run's agent."""

from __future__ import annotations

import pytest

from conftest import cli_json, run_cli, tiny_overrides, train_then_kill
from league.store import Registry

pytestmark = pytest.mark.slow

LEAGUE = [
    "league.agents.main_exploiters=1",
    "league.agents.league_exploiters=1",
    "league.agents.freeze.max_steps=5",
    "train.checkpoint_every=2",
]


def _sets(overrides):
    return [arg for o in overrides for arg in ("--set", o)]


def test_a_league_of_three_kinds_on_ray_is_killed_resumed_and_exploited(tmp_path, ray_cluster):
    run_dir = tmp_path / "lg"
    overrides = [*tiny_overrides("tictactoe"), *LEAGUE]
    args = ["train", "tictactoe", "--runs-dir", str(tmp_path), "--name", "lg"]
    ray = ["--address", ray_cluster, "--workers", "2"]
    saved = train_then_kill(
        [*args, *ray, "--iterations", "1000", *_sets(overrides)], run_dir, at_iteration=4
    )
    target = saved["counters"]["iteration"] + 2
    resumed = cli_json("train", "--resume", str(run_dir), "--iterations", str(target), *ray)
    assert resumed["iterations"] == target
    before = saved["league"]["freezes"]
    for key, agent in resumed["agents"].items():
        assert agent["freezes"] >= before[key]  # counters went on from the checkpoint
    assert resumed["agents"]["main/main_exploiter_0"]["freezes"] >= 1

    with Registry(run_dir) as reg:
        assert reg.integrity_ok()
        snaps = reg.snapshots()
        assert {s["kind"] for s in snaps} == {"main", "main_exploiter", "league_exploiter"}
        # nothing lost, nothing twice: one snapshot per agent and iteration
        assert len({(s["agent"], s["iteration"]) for s in snaps}) == len(snaps)

    # The table shows each player's kind.
    table = cli_json("table", "--run", str(run_dir))
    kinds = {row["kind"] for row in table["leaderboard"]}
    assert "main" in kinds and "bot" in kinds

    # How exploitable is the main agent's latest snapshot?
    out = cli_json(
        "exploit",
        "--run",
        str(run_dir),
        "--target",
        "latest",
        "--iterations",
        "2",
        "--games",
        "20",
    )
    main_latest = max((s for s in snaps if s["kind"] == "main"), key=lambda s: s["id"])
    assert out["target"] == f"main@{main_latest['id']}"
    assert out["games"] == 20 and 0.0 <= out["score"] <= 1.0
    low, high = out["score_95ci"]
    assert low <= out["score"] <= high
    assert [p["iteration"] for p in out["curve"]] == [1, 2]  # snapshot_every=1 in tiny runs
    with Registry(run_dir) as reg:
        br = reg.snapshots(kind="best_response")
        assert [s["parent"] for s in br] == [main_latest["id"]] * 2
        assert br[0]["agent"] == "main/best_response_0"
        rows = [m for m in reg.matches("eval") if out["best_response"] in m["participants"]]
        assert len(rows) == 20
    # A second best response is a new agent; resuming the run keeps both.
    again = cli_json("exploit", "--run", str(run_dir), "--iterations", "1", "--games", "4")
    assert again["agent"] == "main/best_response_1"
    cli_json("train", "--resume", str(run_dir), "--iterations", str(target + 1), "--workers", "0")
    with Registry(run_dir) as reg:
        assert len(reg.snapshots(kind="best_response")) == 3
    bad = run_cli(
        "exploit", "--run", str(run_dir), "--target", "random", "--iterations", "1", check=False
    )
    assert bad.returncode == 2 and "--target" in bad.stderr, bad.stderr
