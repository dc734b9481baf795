"""End to end on OpenSpiel's poker: train on Ray workers, kill, resume, then score the
run exactly (exploitability, the Nash mixture), rate it, table it and export it."""

from __future__ import annotations

import json

import numpy as np
import pyspiel
import pytest

from conftest import cli_json, run_cli, tiny_overrides, train_then_kill
from envs.game_tree import InfoStates, exploitability, uniform_table
from league.store import Registry

pytestmark = pytest.mark.slow


def test_kuhn_on_ray_is_killed_resumed_and_scored_exactly(tmp_path, ray_cluster):
    run_dir = tmp_path / "kuhn"
    sets = [arg for o in tiny_overrides("kuhn_poker") for arg in ("--set", o)]
    sets += ["--set", "train.steps_per_iteration=512", "--set", "league.history=nash"]
    ray = ["--address", ray_cluster, "--workers", "2"]
    args = ["train", "kuhn_poker", "--runs-dir", str(tmp_path), "--name", "kuhn"]
    saved = train_then_kill([*args, *sets, *ray, "--iterations", "1000"], run_dir)
    target = saved["counters"]["iteration"] + 2
    resumed = cli_json("train", "--resume", str(run_dir), "--iterations", str(target), *ray)
    assert resumed["iterations"] == target and resumed["game"] == "kuhn_poker"

    with Registry(run_dir) as reg:
        assert reg.integrity_ok()
        snapshots = reg.snapshots()
        stored = reg.scores("exploitability")
    ids = [s["id"] for s in snapshots]
    # Nothing lost, nothing twice (a snapshot the kill rolled back leaves a gap in the ids).
    assert [s["iteration"] for s in snapshots] == list(range(1, target + 1))
    assert ids == sorted(set(ids))
    assert sorted(stored) == ids  # every snapshot scored as it froze, none left over

    report = cli_json("exploitability", "all", "--run", str(run_dir))
    rows = report["snapshots"]
    assert [r["id"] for r in rows] == ids
    for row in rows:  # the command recomputes what training stored
        assert row["exploitability"] == pytest.approx(stored[row["id"]], abs=1e-9)
        assert 0.0 <= row["exploitability"] < 0.5
    assert sum(r["nash"] for r in rows) == pytest.approx(1.0)
    best_member = min(r["exploitability"] for r in rows)
    assert report["nash_mixture"]["exploitability"] <= max(r["exploitability"] for r in rows)
    assert report["uniform_mixture"]["exploitability"] < 0.5 and best_member >= 0.0
    latest = cli_json("exploitability", "--run", str(run_dir))["snapshots"]
    assert latest == [{"id": ids[-1], "exploitability": pytest.approx(stored[ids[-1]])}]
    human = run_cli("exploitability", "all", "--run", str(run_dir)).stdout
    assert "nash mixture" in human and "uniform mixture" in human

    board = cli_json("tournament", "--run", str(run_dir), "--top", "3", "--games", "20")
    table = cli_json("table", "--run", str(run_dir))
    for out in (board, table):
        players = {r["player"]: r for r in out["leaderboard"]}
        assert sum(r["nash"] for r in players.values()) == pytest.approx(1.0)
        assert players[f"main@{ids[-1]}"]["exploitability"] == pytest.approx(stored[ids[-1]])
        assert players["random"]["exploitability"] is None
    assert "exploitability" in run_cli("table", "--run", str(run_dir)).stdout


def test_an_exported_poker_policy_reads_openspiels_information_state(tmp_path):
    """`league export` of a Kuhn snapshot: its `obs` input is the information-state
    tensor, so OpenSpiel alone checks the file (here: its exploitability)."""
    import onnxruntime

    sets = [arg for o in tiny_overrides("kuhn_poker") for arg in ("--set", o)]
    cli_json("train", "kuhn_poker", "--runs-dir", str(tmp_path), "--name", "k", *sets)
    out = tmp_path / "kuhn.onnx"
    meta = cli_json(
        "export", "latest", "--run", str(tmp_path / "k"), "--format", "onnx", "--out", str(out)
    )
    session = onnxruntime.InferenceSession(str(out))
    names = [i.name for i in session.get_inputs()]
    game = pyspiel.load_game("kuhn_poker")
    states = InfoStates.of(game)
    feeds = {"obs": states.obs, "member": np.zeros(states.size, dtype=np.int64)}
    if "mask" in names:
        feeds["mask"] = states.mask
    probs = session.run(None, {k: v for k, v in feeds.items() if k in names})[0]
    assert meta["inputs"][0] == "obs"
    stored = cli_json("exploitability", "--run", str(tmp_path / "k"))["snapshots"][0]
    assert exploitability(game, probs) == pytest.approx(stored["exploitability"], abs=1e-5)
    assert exploitability(game, uniform_table(states)) == pytest.approx(0.458333, abs=1e-6)


def test_the_populations_mixture_exports_as_a_table_openspiel_reads(tmp_path):
    """`league export mixture:uniform --format table`: OpenSpiel's own TabularPolicy and
    exploitability read the file and agree with the league's figure."""
    from open_spiel.python import policy as os_policy
    from open_spiel.python.algorithms import exploitability as os_exploitability

    sets = [arg for o in tiny_overrides("kuhn_poker") for arg in ("--set", o)]
    cli_json("train", "kuhn_poker", "--runs-dir", str(tmp_path), "--name", "k", *sets)
    run = str(tmp_path / "k")
    for player in ("mixture:uniform", "mixture:nash", "latest"):
        out = tmp_path / f"{player.replace(':', '_')}.json"
        meta = cli_json("export", player, "--run", run, "--format", "table", "--out", str(out))
        data = json.loads(out.read_text())
        game = pyspiel.load_game(data["game"])
        tab = os_policy.TabularPolicy(game)
        for key, probs in data["policy"].items():
            tab.policy_for_key(key)[:] = probs
        expected = os_exploitability.exploitability(game, tab)
        assert meta["exploitability"] == pytest.approx(expected, abs=1e-9)
        assert sum(data["members"].values()) == pytest.approx(1.0)
    assert sorted(json.loads((tmp_path / "mixture_uniform.json").read_text())["members"]) == [
        "1",
        "2",
    ]
    refused = run_cli("export", "mixture:nash", "--run", run, "--out", "x.onnx", check=False)
    assert refused.returncode == 2 and "mixture" in refused.stderr


def test_table_lists_every_snapshot_the_unrated_final_one_included(tmp_path):
    """After `league train kuhn_poker --iterations 6` the table lists the snapshot that
    `league export latest` writes (the final one, not rated yet), marked unrated, with
    its exact exploitability."""
    sets = ["--set", "train.workers=0", "--set", "train.steps_per_iteration=64"]
    sets += ["--set", "train.envs=4"]
    args = ["train", "kuhn_poker", "--runs-dir", str(tmp_path), "--name", "k", *sets]
    cli_json(*args, "--iterations", "6")
    run = str(tmp_path / "k")
    with Registry(run, read_only=True) as reg:
        snapshots = [f"{s['role']}@{s['id']}" for s in reg.snapshots()]
        stored = reg.scores("exploitability")
    rows = {r["player"]: r for r in cli_json("table", "--run", run)["leaderboard"]}
    assert set(snapshots) <= set(rows)
    exported = cli_json("export", "latest", "--run", run, "--out", str(tmp_path / "k.onnx"))
    final = rows[snapshots[-1]]
    assert exported["player"] == snapshots[-1]
    assert final["rating"] is None and final["games"] == 0
    assert final["exploitability"] == pytest.approx(stored[int(snapshots[-1].split("@")[1])])
    human = run_cli("table", "--run", run).stdout
    assert snapshots[-1] in human and "unrated" in human
