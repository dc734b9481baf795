"""MAgent2's battle through the real CLI: its shipped config trains on a tiny budget, the
run's snapshot plays the scripted teams by name, `inspect` finds the two teams, and a
bad map size is one line."""

from __future__ import annotations

import pytest

from conftest import CONFIGS, cli_json, run_cli, tiny_overrides

pytest.importorskip("magent2")
pytestmark = pytest.mark.slow


def test_battle_trains_and_its_snapshot_plays_the_scripted_teams(tmp_path):
    sets = [arg for o in tiny_overrides("battle") for arg in ("--set", o)]
    summary = cli_json("train", str(CONFIGS / "battle.yaml"), "--runs-dir", str(tmp_path), *sets)
    assert summary["game"] == "battle_v4" and summary["iterations"] == 2
    assert summary["env_steps"] > 0 and summary["snapshots"] >= 2
    run = str(tmp_path / "battle")
    for bot in ("rush", "hold", "focus"):
        out = cli_json("eval", "latest", bot, "--run", run, "--games", "4")
        assert out["b"] == bot and out["games"] == 4
        assert out["wins"] + out["draws"] + out["losses"] == 4
    # The scripted teams against each other, by name, without a run.
    out = cli_json("eval", "rush", "random", "--game", "battle_v4", "--games", "4")
    assert out["wins"] == 4


def test_inspect_finds_the_two_teams():
    report = cli_json(
        "inspect",
        "magent2.environments.battle_v4:parallel_env",
        "--kwargs",
        '{"map_size": 20, "max_cycles": 20}',
        "--episodes",
        "1",
    )
    assert report["api"] == "parallel" and report["symmetric"] is True
    assert sorted(report["teams"]) == ["blue", "red"]
    assert len(report["teams"]["red"]) == len(report["teams"]["blue"]) == 12


def test_a_bad_map_size_is_one_line(tmp_path):
    proc = run_cli(
        "train",
        str(CONFIGS / "battle.yaml"),
        "--runs-dir",
        str(tmp_path),
        "--set",
        "game.kwargs.map_size=9",
        check=False,
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    # The value came from --set, so the line names the flag, not the config file.
    assert "game.kwargs.map_size 9" in lines[0] and "--set game.kwargs.map_size=9" in lines[0]
    assert not list(tmp_path.iterdir())  # no run directory was made


def test_simple_tags_scripted_sides_play_from_the_cli():
    # One bot, told its role: it chases as the predators and flees as the prey.
    out = cli_json("eval", "scripted", "random", "--game", "simple_tag_v3", "--games", "4")
    assert out["a"] == "scripted" and out["games"] == 4
